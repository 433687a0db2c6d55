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
