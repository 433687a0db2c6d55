package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/enrichmeter/enrichmeter/examples/internal/enrich"
	"github.com/enrichmeter/enrichmeter/usage"
)

// TestSeedSample checks the sample month's story at the tests' now: the
// same counts on every run, ContactOut at 2,279 of 2,000, Claude's input
// tokens running out before the month ends, Apollo's own report, every
// counter busy on each of the 30 charted days, and the sample's quotas and
// alerts shared as a guard shares them.
func TestSeedSample(t *testing.T) {
	var dumps [2]map[string]string
	for i := range dumps {
		mr := miniredis.RunT(t)
		rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
		t.Cleanup(func() { _ = rdb.Close() })
		if err := seedSample(context.Background(), rdb, now); err != nil {
			t.Fatal(err)
		}
		dumps[i] = map[string]string{}
		for _, k := range mr.Keys() {
			if v, err := mr.Get(k); err == nil && strings.HasPrefix(k, usage.DefaultPrefix+":") {
				dumps[i][k] = v
			}
		}
		if i == 1 {
			checkSample(t, rdb)
		}
	}
	if len(dumps[0]) != 9*sampleDays {
		t.Errorf("%d counter keys, want %d", len(dumps[0]), 9*sampleDays)
	}
	for k, v := range dumps[0] {
		if dumps[1][k] != v {
			t.Errorf("%s is %s, then %s", k, v, dumps[1][k])
		}
	}
}

// TestSeedSampleTellsItsStoryOnEveryDay seeds the sample at three hours of
// every day of a 28-day and a 31-day month: ContactOut is over its quota
// and Claude's input tokens are on course to run out, whatever the day.
func TestSeedSampleTellsItsStoryOnEveryDay(t *testing.T) {
	ctx := context.Background()
	for _, month := range []time.Time{time.Date(2027, 2, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)} {
		for at := month.Add(30 * time.Minute); at.Month() == month.Month(); at = at.Add(8 * time.Hour) {
			rdb := redis.NewClient(&redis.Options{Addr: miniredis.RunT(t).Addr()})
			if err := seedSample(ctx, rdb, at); err != nil {
				t.Fatal(err)
			}
			r := usage.NewReader(rdb, usage.WithClock(func() time.Time { return at }))
			if b, err := r.Burn(ctx, usage.ContactOut, sampleQuotas[usage.ContactOut]); err != nil || b.Used != sampleContactOut {
				t.Errorf("at %v: contactout burn = %+v, %v; want %d used", at, b, err, sampleContactOut)
			}
			if b, err := r.Burn(ctx, usage.ClaudeInputTokens, sampleQuotas[usage.ClaudeInputTokens]); err != nil || burnState(b) != stateRunsOut {
				t.Errorf("at %v: claude input tokens burn = %+v, %v; want it to run out this month", at, b, err)
			}
			_ = rdb.Close()
		}
	}
}

func checkSample(t *testing.T, rdb *redis.Client) {
	ctx := context.Background()
	r := usage.NewReader(rdb, usage.WithClock(func() time.Time { return now }))
	if b, err := r.Burn(ctx, usage.ContactOut, sampleQuotas[usage.ContactOut]); err != nil || b.Used != 2279 || b.Over != 279 {
		t.Errorf("contactout burn = %+v, %v; want 2279 of 2000", b, err)
	}
	if b, err := r.Burn(ctx, usage.ClaudeInputTokens, sampleQuotas[usage.ClaudeInputTokens]); err != nil || burnState(b) != stateRunsOut {
		t.Errorf("claude input tokens burn = %+v, %v; want it to run out this month", b, err)
	}
	if rep, err := r.Reported(ctx, usage.Apollo); err != nil || rep.Values["x-24-hour-requests-left"] != "412" {
		t.Errorf("apollo reported %+v, %v", rep, err)
	}
	quotas, err := r.Quotas(ctx)
	if err != nil || len(quotas) != len(sampleQuotas) {
		t.Errorf("shared quotas = %v, %v; want sampleQuotas", quotas, err)
	}
	for p, q := range sampleQuotas {
		if got := quotas[p]; got.Quota != q || !got.At.Equal(now) {
			t.Errorf("%s's shared quota = %+v, want %+v written at %v", p, got, q, now)
		}
	}
	alerts, err := r.Alerts(ctx)
	var fired []string
	for _, a := range alerts {
		fired = append(fired, fmt.Sprintf("%s %v %v", a.Provider, a.Threshold, a.At.Format(time.RFC3339)))
	}
	want := []string{"claude_input_tokens 0.8 2026-11-26T12:00:00Z", "contactout 0.8 2026-11-26T12:00:00Z", "contactout 1 2026-11-26T12:00:00Z"}
	if slices.Sort(fired); err != nil || !slices.Equal(fired, want) {
		t.Errorf("alerts fired = %q, %v; want %q", fired, err, want)
	}
	for _, p := range slices.Concat(enrich.Providers, tokenCounters) {
		days, err := r.Daily(ctx, p, now.AddDate(0, 0, -29), now)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range days {
			if d.Count <= 0 {
				t.Errorf("%s has no count on %s", p, d.Day.Format(time.DateOnly))
			}
		}
	}
}
