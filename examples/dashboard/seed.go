package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync/atomic"
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

// seedSample writes sampleDays of made-up daily counts up to now into rdb
// (seedCounts), as trackers would have, and the last breakDownDays of them
// by Claude's model and by subject (breakDown), through a tracker's
// Meter.Model and Meter.For: the spend and the top spenders are priced from
// them. Then, as a service does at start-up, it records
// Apollo's own report of what is left and SEC EDGAR's 429, runs a
// usage.Guard that enforces sampleQuotas for one refresh, which shares the
// quotas in Redis, written at now, and records the alerts it fires (such as
// ContactOut's 80 % and 100 %), and pauses SEC EDGAR through a
// usage.Limiter for samplePause from Redis's clock.
func seedSample(ctx context.Context, rdb *redis.Client, now time.Time) error {
	counts, err := seedCounts(ctx, rdb, now)
	if err != nil {
		return err
	}
	if err := breakDown(ctx, rdb, now, counts); err != nil {
		return fmt.Errorf("seed: %w", err)
	}

	tracker := usage.NewTracker(rdb, usage.WithClock(func() time.Time { return now }))
	tracker.SetReported(usage.Apollo, usage.Reported{At: now.Add(-4 * time.Minute), Status: 200, Values: map[string]string{
		"x-rate-limit-24-hour": "600", "x-24-hour-usage": "188", "x-24-hour-requests-left": "412",
		"x-rate-limit-minute": "50", "x-minute-usage": "2", "x-minute-requests-left": "48",
	}})
	tracker.SetReported(usage.EDGAR, usage.Reported{At: now, Status: 429, Values: map[string]string{
		"retry-after": strconv.Itoa(int(samplePause / time.Second)),
	}})
	err = tracker.Flush(ctx)
	if err == nil {
		err = shareQuotas(ctx, tracker)
	}
	if err == nil {
		err = pause(ctx, rdb, tracker, usage.EDGAR, samplePause)
	}
	if err := cmp.Or(err, tracker.Close(ctx)); err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	return nil
}

// seedCounts writes sampleDays of made-up daily counts up to now into rdb
// and returns them, by key: quieter weekends, a slow rise, today only as far
// as the day has gone, ContactOut over its quota, Claude's input tokens on
// course to run out of sampleQuotas' allowance whatever day of the month now
// is. The counts depend only on now.
func seedCounts(ctx context.Context, rdb *redis.Client, now time.Time) (map[string]int64, error) {
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
		return nil, err
	}
	_, err := rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		for k, n := range counts {
			pipe.Set(ctx, k, n, usage.DefaultTTL)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("seed: %w", err)
	}
	if err := runOutMidway(ctx, rdb, now, counts, usage.ClaudeInputTokens); err != nil {
		return nil, err
	}
	return counts, nil
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
			counts[k] = int64(float64(counts[k]) * f)
			pipe.Set(ctx, k, counts[k], usage.DefaultTTL)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	return nil
}

// The sample's breakdowns: Claude's models, and the subjects (the
// platform's customers) calls and tokens were for.
var (
	sampleModels = []string{"claude-sonnet-4-5-20250929", "claude-haiku-4-5-20251001", "claude-opus-4-5-20251101"}
	// sampleSubjects are the customers, the busiest first, each with its
	// share of the calls and its mix of sampleModels, in tenths of a percent.
	sampleSubjects = []struct {
		name   string
		weight int64
		models [3]int64
	}{
		{"acme", 300, [3]int64{720, 200, 80}},
		{"globex", 180, [3]int64{450, 50, 500}},
		{"initech", 120, [3]int64{300, 700, 0}},
		{"umbrella", 90, [3]int64{720, 200, 80}},
		{"hooli", 70, [3]int64{600, 100, 300}},
		{"stark", 60, [3]int64{720, 200, 80}},
		{"wayne", 50, [3]int64{900, 100, 0}},
		{"wonka", 40, [3]int64{200, 800, 0}},
		{"tyrell", 30, [3]int64{720, 200, 80}},
		{"soylent", 25, [3]int64{720, 200, 80}},
		{"cyberdyne", 15, [3]int64{720, 200, 80}},
		{"aperture", 10, [3]int64{720, 200, 80}},
		{"oscorp", 10, [3]int64{720, 200, 80}},
		{"vandelay", 10, [3]int64{720, 200, 80}},
	}
)

// sampleSubjectLimit is the sample tracker's daily limit of subjects
// (usage.WithSubjectLimit): the last of sampleSubjects count as "other".
const sampleSubjectLimit = 10

// samplePause is how long the sample's limiter pauses SEC EDGAR, as a 429
// with Retry-After of 600 asks: it shows for the first 10 minutes the
// sample is served.
const samplePause = 10 * time.Minute

// breakDownDays is how many days back the sample's breakdowns reach: the
// month so far, and the 30 days of the money chart and the top spenders.
const breakDownDays = 31

// breakDown counts the sample's calls and tokens of the last breakDownDays,
// already in counts and in rdb, by subject and Claude's by model too,
// through a usage.Tracker as a service's does (Meter.Model, Meter.For), a
// day at a time, with sampleSubjectLimit subjects a day. It first sets each
// counter to what is not broken down, so that the counters end where counts
// says: 5 % of the calls for no subject, 2 % of the tokens for no model.
func breakDown(ctx context.Context, rdb *redis.Client, now time.Time, counts map[string]int64) error {
	type part struct {
		model, subject string
		n              int64
	}
	parts := map[string][]part{} // by key
	rest := map[string]int64{}   // by key: counted for no model and no subject
	for d := range breakDownDays {
		t := now.AddDate(0, 0, -d)
		for _, p := range slices.Concat(enrich.Providers, tokenCounters) {
			k := usage.Key(p, t)
			n := counts[k]
			withModel := p == usage.Claude || slices.Contains(tokenCounters, p)
			rest[k] = n * 5 / 100
			if withModel && p != usage.Claude {
				rest[k] = n * 2 / 100
			}
			var weights []int64
			var each []part
			for _, s := range sampleSubjects {
				if !withModel {
					weights, each = append(weights, s.weight), append(each, part{subject: s.name})
					continue
				}
				for i, m := range sampleModels {
					weights, each = append(weights, s.weight*s.models[i]), append(each, part{model: m, subject: s.name})
				}
			}
			for i, n := range split(n-rest[k], weights) {
				each[i].n = n
			}
			parts[k] = each
		}
	}
	_, err := rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		for k, n := range rest {
			pipe.Set(ctx, k, n, usage.DefaultTTL)
		}
		return nil
	})
	if err != nil {
		return err
	}

	var at atomic.Int64 // the tracker's clock, in Unix nanoseconds
	tracker := usage.NewTracker(rdb, usage.WithClock(func() time.Time { return time.Unix(0, at.Load()).UTC() }),
		usage.WithSubjectLimit(sampleSubjectLimit), usage.WithFlushInterval(time.Hour))
	meters := map[usage.Provider]*usage.Meter{}
	for d := breakDownDays - 1; d >= 0; d-- {
		t := now.AddDate(0, 0, -d)
		at.Store(t.UnixNano())
		for _, p := range slices.Concat(enrich.Providers, tokenCounters) {
			if meters[p] == nil {
				meters[p] = tracker.Meter(p)
			}
			for _, x := range parts[usage.Key(p, t)] {
				if x.n > 0 {
					meters[p].Model(x.model).For(x.subject).Add(x.n)
				}
			}
		}
	}
	err = tracker.Flush(ctx)
	if st := tracker.Stats(); err == nil && st.Dropped > 0 {
		err = fmt.Errorf("the breakdown's tracker dropped %d counts", st.Dropped)
	}
	return cmp.Or(err, tracker.Close(ctx))
}

// split divides n in parts proportional to weights, exactly: the remainder
// of the rounding goes to the first part.
func split(n int64, weights []int64) []int64 {
	var sum int64
	for _, w := range weights {
		sum += w
	}
	out := make([]int64, len(weights))
	left := n
	for i, w := range weights {
		out[i] = n * w / max(sum, 1)
		left -= out[i]
	}
	if len(out) > 0 {
		out[0] += left
	}
	return out
}

// pause pauses p across the fleet for d through a usage.Limiter on tracker,
// whose Redis rdb is, as the providers package does on a 429 with
// Retry-After, and returns once the pause is in Redis. Its end is d after
// Redis's clock.
func pause(ctx context.Context, rdb *redis.Client, tracker *usage.Tracker, p usage.Provider, d time.Duration) error {
	l, err := usage.NewLimiter(tracker, usage.DefaultLimits())
	if err != nil {
		return err
	}
	l.Pause(p, d)
	// The limiter's goroutine writes the pause; Close does not wait for
	// it. A reader at the epoch sees every pause recorded, ended or not.
	r := usage.NewReader(rdb, usage.WithClock(func() time.Time { return time.Unix(0, 0) }))
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	for {
		pauses, err := r.Pauses(ctx)
		if _, ok := pauses[p]; ok || err != nil {
			return cmp.Or(err, l.Close(ctx))
		}
		select {
		case <-ctx.Done():
			return errors.Join(fmt.Errorf("the pause of %s was not written: %w", p, ctx.Err()), l.Close(context.Background()))
		case <-time.After(2 * time.Millisecond):
		}
	}
}
