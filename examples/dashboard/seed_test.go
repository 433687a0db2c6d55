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
		mr.SetTime(now)
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
			if strings.HasPrefix(k, "{"+usage.DefaultPrefix+"}:models:") || strings.HasPrefix(k, "{"+usage.DefaultPrefix+"}:subjects:") {
				fields, err := mr.HKeys(k)
				if err != nil {
					t.Fatal(err)
				}
				for _, f := range fields {
					dumps[i][k+" "+f] = mr.HGet(k, f)
				}
			}
		}
		if i == 1 {
			checkSample(t, rdb)
		}
	}
	keys := 0
	for k := range dumps[0] {
		if !strings.Contains(k, " ") {
			keys++
		}
	}
	if keys != 9*sampleDays || len(dumps[0]) < 100*sampleDays {
		t.Errorf("%d counter keys and %d breakdown fields, want %d and at least %d", keys, len(dumps[0])-keys, 9*sampleDays, 100*sampleDays)
	}
	for k, v := range dumps[0] {
		if dumps[1][k] != v {
			t.Errorf("%s is %s, then %s", k, v, dumps[1][k])
		}
	}
}

// TestSeedSampleTellsItsStoryOnEveryDay seeds the sample's counts at three
// hours of every day of a 28-day and a 31-day month: ContactOut is over its
// quota and Claude's input tokens are on course to run out, whatever the
// day. At the first and the last of those hours of each month it seeds the
// whole sample, whose breakdowns leave the counters as they were.
func TestSeedSampleTellsItsStoryOnEveryDay(t *testing.T) {
	ctx := context.Background()
	for _, month := range []time.Time{time.Date(2027, 2, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)} {
		for at := month.Add(30 * time.Minute); at.Month() == month.Month(); at = at.Add(8 * time.Hour) {
			rdb := redis.NewClient(&redis.Options{Addr: miniredis.RunT(t).Addr()})
			seed := func() error { _, err := seedCounts(ctx, rdb, at); return err }
			if at.Equal(month.Add(30*time.Minute)) || at.Add(8*time.Hour).Month() != month.Month() { // the breakdowns take 100 times longer
				seed = func() error { return seedSample(ctx, rdb, at) }
			}
			if err := seed(); err != nil {
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
	// The limiter's pause, 10 minutes from the miniredis's clock, at now.
	if pauses, err := r.Pauses(ctx); err != nil || len(pauses) != 1 || !pauses[usage.EDGAR].Equal(now.Add(samplePause)) {
		t.Errorf("pauses = %v, %v; want edgar's until %v", pauses, err, now.Add(samplePause))
	}
	checkSampleSpend(t, r)
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

// checkSampleSpend checks the sample's breakdowns: each day's tokens of the
// three models, priced, and of no model add up to Claude's counters; the
// top subjects are the busiest customers, with those past the day's limit
// as other.
func checkSampleSpend(t *testing.T, r *usage.Reader) {
	t.Helper()
	ctx := context.Background()
	from := now.AddDate(0, 0, 1-sampleDays)
	lines, err := r.Spend(ctx, from, now)
	if err != nil {
		t.Fatal(err)
	}
	sums := map[time.Time]*usage.Tokens{}
	models := map[string]bool{}
	for _, l := range lines {
		if l.Provider != usage.Claude {
			t.Errorf("a spend line of %s's calls, which have no price: %+v", l.Provider, l)
			continue
		}
		if sums[l.Day] == nil {
			sums[l.Day] = &usage.Tokens{}
		}
		sums[l.Day].Input += l.Tokens.Input
		sums[l.Day].Output += l.Tokens.Output
		sums[l.Day].CacheRead += l.Tokens.CacheRead
		sums[l.Day].CacheWrite += l.Tokens.CacheWrite
		switch {
		case l.Model == "" && (l.Priced || l.Tokens.Total() == 0):
			t.Errorf("the tokens of no model on %v: %+v, want some, unpriced", l.Day, l)
		case l.Model != "" && (!l.Priced || l.Cost <= 0 || !slices.Contains(sampleModels, l.Model)):
			t.Errorf("a model's line on %v: %+v, want one of the sample's models, priced", l.Day, l)
		}
		models[l.Model] = true
	}
	if len(models) != 4 || len(sums) != sampleDays {
		t.Errorf("spend has models %v on %d days, want the 3 models and none on each of %d", models, len(sums), sampleDays)
	}
	for d, sum := range sums {
		for p, got := range map[usage.Provider]int64{usage.ClaudeInputTokens: sum.Input, usage.ClaudeOutputTokens: sum.Output,
			usage.ClaudeCacheReadTokens: sum.CacheRead, usage.ClaudeCacheWriteTokens: sum.CacheWrite} {
			days, err := r.Daily(ctx, p, d, d)
			if err != nil || days[0].Count != got {
				t.Errorf("%s on %v: %v, %v in the counter, %d by model", p, d.Format(time.DateOnly), days, err, got)
			}
		}
	}
	top, err := r.TopSubjects(ctx, from, now, 0, usage.BySpend)
	if err != nil {
		t.Fatal(err)
	}
	var subjects []string
	for _, u := range top {
		subjects = append(subjects, u.Subject)
	}
	if len(subjects) != sampleSubjectLimit+1 || subjects[0] != "acme" || !slices.Contains(subjects, usage.OtherName) || slices.Contains(subjects, "vandelay") {
		t.Errorf("subjects by spend = %q, want acme first and the %d busiest, the others as other", subjects, sampleSubjectLimit)
	}
}
