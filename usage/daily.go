package usage

import (
	"context"
	"fmt"
	"time"
)

// DayCount is one provider's count of successful calls on one UTC day.
type DayCount struct {
	Day   time.Time // UTC midnight that starts the day
	Count int64
}

// Daily returns p's count for every UTC day from the day of from to the day of
// to, both included, oldest first, with zero for days without a key. It reads
// all days in one pipelined round trip of GETs, so it works on Redis Cluster,
// where the days' keys live in different slots. A span longer than 3660 days,
// to before from, or an invalid provider is an error. Of [Money], it
// returns what each day cost, in Micros.
func (r *Reader) Daily(ctx context.Context, p Provider, from, to time.Time) ([]DayCount, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if r.rdbErr != nil {
		return nil, r.rdbErr
	}
	first, last := dayOf(from), dayOf(to)
	if last < first {
		return nil, fmt.Errorf("usage: daily %s: to (%s) is before from (%s)", p, to.UTC().Format(dayLayout), from.UTC().Format(dayLayout))
	}
	n := int(last-first) + 1
	if n > maxDays {
		return nil, fmt.Errorf("usage: daily %s: %d days asked, at most %d", p, n, maxDays)
	}
	if p == Money {
		out, err := r.dailyMoney(ctx, first, last)
		if err != nil && !isContextErr(err) {
			err = fmt.Errorf("usage: daily %s: %w", p, err)
		}
		return out, err
	}
	counts, keyErrs, err := r.readDays(ctx, []span{{p, first, last + 1}})
	switch {
	case isContextErr(err) && ctx.Err() != nil:
		return nil, err
	case err != nil:
		return nil, fmt.Errorf("usage: daily %s: read %d keys: %w", p, n, err)
	case keyErrs[0] != nil:
		return nil, fmt.Errorf("usage: daily %s: %w", p, keyErrs[0])
	}
	out := make([]DayCount, n)
	for i, c := range counts[0] {
		out[i] = DayCount{Day: (first + day(i)).time(), Count: c}
	}
	return out, nil
}

// dailyMoney returns what each day of [first, last] cost, as Daily does
// for a counter.
func (r *Reader) dailyMoney(ctx context.Context, first, last day) ([]DayCount, error) {
	lines, err := r.spend(ctx, first, last)
	if lines == nil && err != nil {
		return nil, err
	}
	out := make([]DayCount, int(last-first)+1)
	for i := range out {
		out[i].Day = (first + day(i)).time()
	}
	for _, l := range lines {
		c := &out[dayOf(l.Day)-first].Count
		*c = int64(addCost(Micros(*c), l.Cost))
	}
	return out, err
}
