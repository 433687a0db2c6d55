package main

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/enrichmeter/enrichmeter/examples/internal/enrich"
	"github.com/enrichmeter/enrichmeter/usage"
)

// TestSeedSample checks the sample month's story at the tests' now: the
// same counts on every run, ContactOut at 2,279 of 2,000, Claude's input
// tokens running out before the month ends, Apollo's own report, and every
// counter busy on each of the 30 charted days.
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
			if v, err := mr.Get(k); err == nil {
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
