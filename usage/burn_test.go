package usage_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/enrichmeter/enrichmeter/usage"
)

func TestReaderBurn(t *testing.T) {
	at := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	monthly := func(limit int64, anchor int) usage.Quota {
		return usage.Quota{Limit: limit, Period: usage.PerMonth, AnchorDay: anchor}
	}
	cases := []struct {
		name             string
		now              string
		counts           []int64 // today first
		quota            usage.Quota
		start, end       string
		used, left, over int64
		avg              float64
		exhausts         string // empty: none
	}{
		{
			name: "daily quota runs out today", now: "2026-11-26T12:00:00Z",
			counts: []int64{600, 1300}, quota: usage.Quota{Limit: 700},
			start: "2026-11-26T00:00:00Z", end: "2026-11-27T00:00:00Z",
			used: 600, left: 100, avg: 1900 / 1.5,
			// Half of today has passed, so it joins yesterday: 1900 units in
			// a day and a half; 100 more take 100/1900 of 36 hours, 1h53m41s.
			exhausts: "2026-11-26T13:53:41Z",
		},
		{
			name: "monthly quota, anchor mid-month", now: "2026-11-26T00:00:00Z",
			counts: []int64{0, 100, 100, 100, 100, 100, 100}, quota: monthly(5000, 15),
			start: "2026-11-15T00:00:00Z", end: "2026-12-15T00:00:00Z",
			used: 600, left: 4400, avg: 100,
		},
		{
			name: "anchor after today's day rolls back a month; first day of use", now: "2026-11-10T06:00:00Z",
			counts: []int64{10}, quota: monthly(100, 20),
			start: "2026-10-20T00:00:00Z", end: "2026-11-20T00:00:00Z",
			used: 10, left: 90, avg: 10, // no whole day yet: today's units, not 10 in 6 hours stretched to 40 a day
			exhausts: "2026-11-19T06:00:00Z",
		},
		{
			name: "anchor 31 falls on the last day of February; no data", now: "2027-03-05T00:00:00Z",
			counts: []int64{}, quota: monthly(100, 31),
			start: "2027-02-28T00:00:00Z", end: "2027-03-31T00:00:00Z",
			left: 100,
		},
		{
			name: "minutes after midnight on the first day", now: "2026-11-26T00:05:00Z",
			counts: []int64{10}, quota: monthly(100_000, 1),
			start: "2026-11-01T00:00:00Z", end: "2026-12-01T00:00:00Z",
			used: 10, left: 99_990, avg: 10, // not 10 in 5 minutes stretched to 2,880 a day
		},
		{
			name: "limit far above use", now: "2026-11-26T12:00:00Z",
			counts: []int64{0, 0, 3}, quota: monthly(100_000, 1),
			start: "2026-11-01T00:00:00Z", end: "2026-12-01T00:00:00Z",
			used: 3, left: 99_997, avg: 3 / 2.5, // would run out in 228 years: not this period
		},
		{
			name: "period starts today", now: "2026-11-26T08:00:00Z",
			counts: []int64{50, 500}, quota: monthly(1000, 26),
			start: "2026-11-26T00:00:00Z", end: "2026-12-26T00:00:00Z",
			used: 50, left: 950, avg: 500, // yesterday; a third of today is not yet half
			exhausts: "2026-11-28T05:36:00Z",
		},
		{
			// A batch of 171 calls at 06:44 on a provider's first day is
			// 171 so far, not 609 a day: it lasts the month.
			name: "a batch on the first day", now: "2026-12-05T06:45:00Z",
			counts: []int64{171}, quota: monthly(5000, 1),
			start: "2026-12-01T00:00:00Z", end: "2027-01-01T00:00:00Z",
			used: 171, left: 4829, avg: 171,
		},
		{
			// Steady days, then a batch early today: the whole days set
			// the rate until half of today has passed.
			name: "a batch early today after steady days", now: "2026-12-05T02:00:00Z",
			counts: []int64{900, 100, 100, 100, 100, 100, 100}, quota: monthly(5000, 1),
			start: "2026-12-01T00:00:00Z", end: "2027-01-01T00:00:00Z",
			used: 1300, left: 3700, avg: 100,
		},
		{
			name: "the same batch seen at 18:00", now: "2026-12-05T18:00:00Z",
			counts: []int64{900, 100, 100, 100, 100, 100, 100}, quota: monthly(5000, 1),
			start: "2026-12-01T00:00:00Z", end: "2027-01-01T00:00:00Z",
			used: 1300, left: 3700, avg: 1500 / 6.75,
			exhausts: "2026-12-22T09:36:00Z", // 3700 at 222.2 a day: 16.65 days
		},
		{
			name: "steady traffic averages exactly at 18:00", now: "2026-12-05T18:00:00Z",
			counts: []int64{75, 100, 100, 100}, quota: monthly(100_000, 1),
			start: "2026-12-01T00:00:00Z", end: "2027-01-01T00:00:00Z",
			used: 375, left: 99_625, avg: 100,
		},
		{
			name: "over quota", now: "2026-11-26T12:00:00Z",
			counts: []int64{1200}, quota: usage.Quota{Limit: 1000},
			start: "2026-11-26T00:00:00Z", end: "2026-11-27T00:00:00Z",
			used: 1200, over: 200, avg: 2400,
			exhausts: "2026-11-26T12:00:00Z",
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			forEachBackend(t, func(t *testing.T, b backend) {
				now := at(c.now)
				seed(t, b, usage.Apollo, now, c.counts...)
				r := usage.NewReader(b.rdb, usage.WithPrefix(b.prefix), usage.WithClock(func() time.Time { return now }))
				got, err := r.Burn(ctxTimeout(t, 5*time.Second), usage.Apollo, c.quota)
				if err != nil {
					t.Fatal(err)
				}
				if !got.PeriodStart.Equal(at(c.start)) || !got.PeriodEnd.Equal(at(c.end)) {
					t.Errorf("period = %v..%v, want %s..%s", got.PeriodStart, got.PeriodEnd, c.start, c.end)
				}
				if got.Used != c.used || got.Remaining != c.left || got.Over != c.over {
					t.Errorf("used %d, remaining %d, over %d; want %d, %d, %d", got.Used, got.Remaining, got.Over, c.used, c.left, c.over)
				}
				if d := got.DailyAverage - c.avg; d > 1e-9 || d < -1e-9 {
					t.Errorf("DailyAverage = %v, want %v", got.DailyAverage, c.avg)
				}
				switch {
				case c.exhausts == "" && !got.Exhausts.IsZero():
					t.Errorf("Exhausts = %v, want none", got.Exhausts)
				case c.exhausts != "" && got.Exhausts.Sub(at(c.exhausts)).Abs() > time.Second:
					t.Errorf("Exhausts = %v, want %s", got.Exhausts, c.exhausts)
				}
			})
		})
	}
}

func TestReaderBurnRejectsBadQuotas(t *testing.T) {
	r := usage.NewReader(newMiniredisClient(t))
	for _, q := range []usage.Quota{{}, {Limit: -1}, {Limit: 1, Period: 7}, {Limit: 1, Period: usage.PerMonth, AnchorDay: 32}} {
		if _, err := r.Burn(context.Background(), usage.Exa, q); err == nil || !strings.HasPrefix(err.Error(), "usage: quota") {
			t.Errorf("Burn(%+v) = %v, want a quota error", q, err)
		}
	}
}
