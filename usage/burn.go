package usage

import (
	"context"
	"time"
)

// burnWindow is how many days, today included, the burn rate averages over.
const burnWindow = 7

// BurnReport is a provider's use of its quota in the current period.
type BurnReport struct {
	Provider    Provider
	Quota       Quota
	PeriodStart time.Time // UTC, included
	PeriodEnd   time.Time // UTC, excluded: when the quota resets
	Used        int64     // units counted since PeriodStart
	Remaining   int64     // Limit - Used, at least 0
	Over        int64     // Used - Limit, at least 0: how far past the quota
	// DailyAverage is the burn rate, units per day, over whole UTC days:
	// the days from the first of the last 7 that has units up to yesterday.
	// Today joins them once half of it has passed, weighted by the share
	// that has passed, so steady traffic averages exactly. Until then it is
	// left out, and when no earlier day has units the average is today's
	// units so far: a batch of calls is never stretched into a day's rate.
	// Zero when those days have none.
	DailyAverage float64
	// Exhausts is when the quota runs out at DailyAverage: the reader's now
	// when nothing remains, and the zero time when there is no usage or it
	// would not run out before PeriodEnd.
	Exhausts time.Time
}

// Burn reports p's use of q in the period that contains the reader's now, the
// average daily burn over the last 7 days, and when the quota will run out at
// that rate. It reads all the days it needs in one round trip. p may be any
// counter, calls or an amount such as [ClaudeOutputTokens].
func (r *Reader) Burn(ctx context.Context, p Provider, q Quota) (BurnReport, error) {
	if err := q.validate(); err != nil {
		return BurnReport{}, err
	}
	now := r.cfg.clock().UTC()
	start, end := q.period(now)
	windowStart := dayOf(now).time().AddDate(0, 0, 1-burnWindow)
	from := start
	if windowStart.Before(from) {
		from = windowStart
	}
	days, err := r.Daily(ctx, p, from, now)
	if err != nil {
		return BurnReport{}, err
	}
	return burn(p, q, now, start, end, windowStart, days), nil
}

// burn computes the report from the daily counts, oldest first, that cover
// both the period and the burn window.
func burn(p Provider, q Quota, now, start, end, windowStart time.Time, days []DayCount) BurnReport {
	rep := BurnReport{Provider: p, Quota: q, PeriodStart: start, PeriodEnd: end}
	today := dayOf(now).time()
	var whole, todays int64 // units of the whole days averaged, and of today
	var first time.Time     // the first day of the window that has units
	for _, d := range days {
		if !d.Day.Before(start) {
			rep.Used += d.Count
		}
		switch {
		case d.Day.Before(windowStart) || first.IsZero() && d.Count == 0:
		case d.Day.Equal(today):
			todays = d.Count
		default:
			whole += d.Count
			if first.IsZero() {
				first = d.Day
			}
		}
	}
	rep.Remaining = max(q.Limit-rep.Used, 0)
	rep.Over = max(rep.Used-q.Limit, 0)
	n := 0.0 // whole days averaged
	if !first.IsZero() {
		n = today.Sub(first).Hours() / 24
	}
	switch passed := now.Sub(today).Hours() / 24; {
	case passed >= 0.5:
		rep.DailyAverage = float64(whole+todays) / (n + passed)
	case n > 0:
		rep.DailyAverage = float64(whole) / n
	default:
		rep.DailyAverage = float64(todays)
	}
	switch {
	case rep.Remaining == 0:
		rep.Exhausts = now
	case rep.DailyAverage > 0:
		// In float seconds, compared before converting: a limit far above
		// the use would overflow a time.Duration.
		left := float64(rep.Remaining) / rep.DailyAverage * 86400
		if left < end.Sub(now).Seconds() {
			rep.Exhausts = now.Add(time.Duration(left * float64(time.Second)))
		}
	}
	return rep
}
