package usage_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/enrichmeter/enrichmeter/usage"
)

// seed writes counts for p on the days before now: counts[0] is today's.
func seed(t *testing.T, b backend, p usage.Provider, now time.Time, counts ...int64) {
	t.Helper()
	for i, n := range counts {
		if n == 0 {
			continue
		}
		k := b.keyFor(p, now.AddDate(0, 0, -i))
		if err := b.rdb.Set(context.Background(), k, n, time.Hour).Err(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestReaderDaily(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		seed(t, b, usage.Exa, noon, 5, 0, 7, 0, 0, 11)
		r := usage.NewReader(b.rdb, usage.WithPrefix(b.prefix))
		ctx := ctxTimeout(t, 5*time.Second)
		got, err := r.Daily(ctx, usage.Exa, noon.AddDate(0, 0, -6), noon.Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		want := []int64{0, 11, 0, 0, 7, 0, 5}
		if len(got) != len(want) {
			t.Fatalf("Daily returned %d days, want %d", len(got), len(want))
		}
		for i, d := range got {
			day := time.Date(2026, 11, 20+i, 0, 0, 0, 0, time.UTC)
			if !d.Day.Equal(day) || d.Day.Location() != time.UTC || d.Count != want[i] {
				t.Errorf("day %d = %v %d, want %v %d", i, d.Day, d.Count, day, want[i])
			}
		}
		one, err := r.Daily(ctx, usage.Exa, noon, noon)
		if err != nil || len(one) != 1 || one[0].Count != 5 {
			t.Errorf("Daily of one day = %v, %v; want [5]", one, err)
		}
	})
}

func TestReaderDailyErrors(t *testing.T) {
	mr := newMiniredisClient(t)
	r := usage.NewReader(mr)
	ctx := ctxTimeout(t, 5*time.Second)
	if err := mr.Set(ctx, usage.Key(usage.Claude, noon), "many", 0).Err(); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name     string
		p        usage.Provider
		from, to time.Time
		want     string
	}{
		{"invalid provider", "Claude!", noon, noon, "invalid provider"},
		{"to before from", usage.Exa, noon, noon.AddDate(0, 0, -1), "is before from"},
		{"span too long", usage.Exa, noon.AddDate(-11, 0, 0), noon, "at most"},
		{"not an integer", usage.Claude, noon, noon, "api_usage:claude:2026-11-26"},
	}
	for _, c := range cases {
		_, err := r.Daily(ctx, c.p, c.from, c.to)
		if err == nil || !strings.HasPrefix(err.Error(), "usage: ") || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: Daily = %v, want an error with %q", c.name, err, c.want)
		}
	}

	down := fastFailClient(t, "127.0.0.1:1")
	if _, err := usage.NewReader(down).Daily(ctx, usage.Exa, noon, noon); err == nil || !strings.HasPrefix(err.Error(), "usage: daily exa") {
		t.Errorf("Daily on a dead server = %v, want a usage error", err)
	}
}

func TestReaderBurn(t *testing.T) {
	at := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	cases := []struct {
		name       string
		now        string
		counts     []int64 // today first
		quota      usage.Quota
		start, end string
		used, left int64
		avg        float64
		exhausts   string // empty: none
	}{
		{
			name: "daily quota runs out today", now: "2026-11-26T12:00:00Z",
			counts: []int64{600, 1300}, quota: usage.Quota{Limit: 700},
			start: "2026-11-26T00:00:00Z", end: "2026-11-27T00:00:00Z",
			used: 600, left: 100, avg: 1900.0 / 6.5,
			// 1900 calls in 6.5 days: 100 more take 100/1900*6.5 days, 8h12m38s.
			exhausts: "2026-11-26T20:12:38Z",
		},
		{
			name: "monthly quota, anchor mid-month", now: "2026-11-26T00:00:00Z",
			counts: []int64{0, 100, 100, 100, 100, 100, 100}, quota: usage.Quota{Limit: 5000, Period: usage.PerMonth, AnchorDay: 15},
			start: "2026-11-15T00:00:00Z", end: "2026-12-15T00:00:00Z",
			used: 600, left: 4400, avg: 100,
			exhausts: "",
		},
		{
			name: "monthly quota, anchor before today's day rolls back a month", now: "2026-11-10T06:00:00Z",
			counts: []int64{10}, quota: usage.Quota{Limit: 100, Period: usage.PerMonth, AnchorDay: 20},
			start: "2026-10-20T00:00:00Z", end: "2026-11-20T00:00:00Z",
			used: 10, left: 90, avg: 10 / 6.25,
			exhausts: "",
		},
		{
			name: "anchor 31 falls on the last day of February", now: "2027-03-05T00:00:00Z",
			counts: []int64{}, quota: usage.Quota{Limit: 100, Period: usage.PerMonth, AnchorDay: 31},
			start: "2027-02-28T00:00:00Z", end: "2027-03-31T00:00:00Z",
			left: 100,
		},
		{
			name: "exhausted", now: "2026-11-26T12:00:00Z",
			counts: []int64{1200}, quota: usage.Quota{Limit: 1000},
			start: "2026-11-26T00:00:00Z", end: "2026-11-27T00:00:00Z",
			used: 1200, left: 0, avg: 1200 / 6.5,
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
				if got.Used != c.used || got.Remaining != c.left {
					t.Errorf("used %d, remaining %d; want %d, %d", got.Used, got.Remaining, c.used, c.left)
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
