package main

import (
	"cmp"
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/enrichmeter/enrichmeter/examples/internal/enrich"
	"github.com/enrichmeter/enrichmeter/usage"
)

// sampleQuotas are the allowances of a made-up plan, as a billing page
// would state them. They reach the page only as a real service's quotas
// do: seedSample runs a guard that enforces them, which shares them in
// Redis.
var sampleQuotas = map[usage.Provider]usage.Quota{
	usage.Apollo:             {Limit: 10_000, Period: usage.PerMonth, AnchorDay: 1},
	usage.ContactOut:         {Limit: 2_000, Period: usage.PerMonth, AnchorDay: 15},
	usage.Exa:                {Limit: 1_000, Period: usage.PerDay},
	usage.Claude:             {Limit: 50_000, Period: usage.PerMonth, AnchorDay: 1},
	usage.ClaudeInputTokens:  {Limit: 18_000_000, Period: usage.PerMonth, AnchorDay: 1},
	usage.ClaudeOutputTokens: {Limit: 5_000_000, Period: usage.PerMonth, AnchorDay: 1},
}

// sampleDays is how many days back the sample reaches: a month's period,
// the charts' 30 days and the burn's 7 days all fall inside it.
const sampleDays = 40

// Sample workday volumes: calls per provider, and Claude's tokens per call.
var (
	sampleCalls = map[usage.Provider]float64{
		usage.Apollo: 260, usage.ContactOut: 75, usage.Exa: 620, usage.EDGAR: 140, usage.Claude: 310,
	}
	sampleTokensPerCall = map[usage.Provider]float64{
		usage.ClaudeInputTokens: 2400, usage.ClaudeOutputTokens: 450,
		usage.ClaudeCacheReadTokens: 5200, usage.ClaudeCacheWriteTokens: 900,
	}
)

// sampleContactOut is ContactOut's use of its current period in the sample:
// past its 2,000.
const sampleContactOut = 2279

// seedSample writes sampleDays of made-up daily counts up to now into rdb, as
// trackers would have: quieter weekends, a slow rise, today only as far as
// the day has gone, ContactOut over its quota, Claude's input tokens on
// course to run out of sampleQuotas' allowance whatever day of the month now
// is, and Apollo's own report of what is left. The counts depend only on now.
// Then a usage.Guard that enforces sampleQuotas refreshes once, as a
// service's guard does at start-up: it shares the quotas in Redis, written
// at now, and records the alerts it fires, such as ContactOut's 80 % and
// 100 %.
func seedSample(ctx context.Context, rdb *redis.Client, now time.Time) error {
	rng := rand.New(rand.NewPCG(1, 2))
	counts := map[string]int64{}
	for d := range sampleDays {
		t := now.AddDate(0, 0, -d)
		f := (0.85 + 0.15*float64(sampleDays-d)/sampleDays) // the rise
		if wd := t.UTC().Weekday(); wd == time.Saturday || wd == time.Sunday {
			f *= 0.4
		}
		if d == 0 { // today, so far
			f *= max(float64(now.Sub(now.UTC().Truncate(24*time.Hour)))/float64(24*time.Hour), 0.02)
		}
		for _, p := range enrich.Providers {
			counts[usage.Key(p, t)] = int64(sampleCalls[p] * f * (0.8 + 0.4*rng.Float64()))
		}
		for _, p := range tokenCounters {
			counts[usage.Key(p, t)] = int64(float64(counts[usage.Key(usage.Claude, t)]) * sampleTokensPerCall[p] * (0.9 + 0.2*rng.Float64()))
		}
	}
	if err := overQuota(ctx, rdb, now, counts); err != nil {
		return err
	}
	_, err := rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		for k, n := range counts {
			pipe.Set(ctx, k, n, usage.DefaultTTL)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	if err := runOutMidway(ctx, rdb, now, counts, usage.ClaudeInputTokens); err != nil {
		return err
	}

	tracker := usage.NewTracker(rdb, usage.WithClock(func() time.Time { return now }))
	tracker.SetReported(usage.Apollo, usage.Reported{At: now.Add(-4 * time.Minute), Status: 200, Values: map[string]string{
		"x-rate-limit-24-hour": "600", "x-24-hour-usage": "188", "x-24-hour-requests-left": "412",
		"x-rate-limit-minute": "50", "x-minute-usage": "2", "x-minute-requests-left": "48",
	}})
	err = tracker.Flush(ctx)
	if err == nil {
		err = shareQuotas(ctx, tracker)
	}
	if err := cmp.Or(err, tracker.Close(ctx)); err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	return nil
}

// shareQuotas runs a guard that enforces sampleQuotas on tracker for one
// refresh, as a service's guard does at start-up: it shares the quotas in
// Redis and records the alerts it fires. (A guard records them only when it
// has somewhere to send them.)
func shareQuotas(ctx context.Context, tracker *usage.Tracker) error {
	guard, err := usage.NewGuard(tracker, sampleQuotas, usage.WithAlert(func(usage.Alert) {}))
	if err != nil {
		return err
	}
	return cmp.Or(guard.Refresh(ctx), guard.Close(ctx))
}

// overQuota scales ContactOut's days of its current period, in counts, so
// that they add up to sampleContactOut.
func overQuota(ctx context.Context, rdb *redis.Client, now time.Time, counts map[string]int64) error {
	b, err := usage.NewReader(rdb, usage.WithClock(func() time.Time { return now })).
		Burn(ctx, usage.ContactOut, sampleQuotas[usage.ContactOut])
	if err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	var keys []string
	var sum int64
	for t := b.PeriodStart; !t.After(now); t = t.AddDate(0, 0, 1) {
		k := usage.Key(usage.ContactOut, t)
		keys, sum = append(keys, k), sum+counts[k]
	}
	left, busiest := int64(sampleContactOut), keys[0]
	for _, k := range keys {
		counts[k] = counts[k] * sampleContactOut / max(sum, 1)
		left -= counts[k]
		if counts[k] > counts[busiest] {
			busiest = k
		}
	}
	counts[busiest] += left
	return nil
}

// runOutMidway scales p's sample days in counts, already in rdb, by one
// factor, so that at the burn rate of the last 7 days its quota runs out
// halfway through what is left of the period: on course to run out on any
// day of the period, never over.
func runOutMidway(ctx context.Context, rdb *redis.Client, now time.Time, counts map[string]int64, p usage.Provider) error {
	b, err := usage.NewReader(rdb, usage.WithClock(func() time.Time { return now })).Burn(ctx, p, sampleQuotas[p])
	if err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	daysLeft := b.PeriodEnd.Sub(now).Hours() / 24
	f := float64(b.Quota.Limit) / (float64(b.Used) + b.DailyAverage*daysLeft/2)
	_, err = rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		for d := range sampleDays {
			k := usage.Key(p, now.AddDate(0, 0, -d))
			pipe.Set(ctx, k, int64(float64(counts[k])*f), usage.DefaultTTL)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	return nil
}
