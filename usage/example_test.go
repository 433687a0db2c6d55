package usage_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/enrichmeter/enrichmeter/usage"
)

// exampleRedis starts an in-process Redis for the examples; a real program
// passes its own *redis.Client or *redis.ClusterClient.
func exampleRedis() (*redis.Client, func()) {
	mr, err := miniredis.Run()
	if err != nil {
		log.Fatal(err)
	}
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	return rdb, func() { rdb.Close(); mr.Close() }
}

func ExampleNewTracker() {
	rdb, stop := exampleRedis()
	defer stop()

	tracker := usage.NewTracker(rdb)
	// Close delivers what is still pending; give it a deadline at shutdown.
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := tracker.Close(ctx); err != nil {
			log.Printf("usage: %v; %d calls not delivered", err, tracker.Stats().Pending)
		}
	}()

	tracker.Track(usage.ContactOut) // after each successful ContactOut call
	fmt.Println(tracker.Stats())
	// Output: tracked=1 flushed=0 pending=1 dropped=0
}

func ExampleTracker_Track() {
	rdb, stop := exampleRedis()
	defer stop()
	at := time.Date(2026, 11, 26, 3, 15, 3, 0, time.UTC)
	tracker := usage.NewTracker(rdb, usage.WithClock(func() time.Time { return at }))

	for range 3 {
		tracker.Track(usage.Exa) // counts in memory: no I/O, no allocation
	}
	tracker.Track("Not A Provider") // dropped and counted, never sent
	if err := tracker.Close(context.Background()); err != nil {
		log.Fatal(err)
	}

	n, _ := rdb.Get(context.Background(), usage.Key(usage.Exa, at)).Result()
	fmt.Println(usage.Key(usage.Exa, at), "=", n)
	fmt.Println(tracker.Stats())
	// Output:
	// api_usage:exa:2026-11-26 = 3
	// tracked=4 flushed=3 pending=0 dropped=1
}

func ExampleReader_Daily() {
	rdb, stop := exampleRedis()
	defer stop()
	ctx := context.Background()
	today := time.Date(2026, 11, 26, 15, 0, 0, 0, time.UTC)
	// Counts as a tracker, or the TypeScript app, wrote them.
	rdb.Set(ctx, "api_usage:apollo:2026-11-24", 120, 0)
	rdb.Set(ctx, "api_usage:apollo:2026-11-26", 45, 0)

	r := usage.NewReader(rdb)
	days, err := r.Daily(ctx, usage.Apollo, today.AddDate(0, 0, -3), today)
	if err != nil {
		log.Fatal(err)
	}
	for _, d := range days {
		fmt.Println(d.Day.Format("2006-01-02"), d.Count)
	}
	// Output:
	// 2026-11-23 0
	// 2026-11-24 120
	// 2026-11-25 0
	// 2026-11-26 45
}

func ExampleReader_Burn() {
	rdb, stop := exampleRedis()
	defer stop()
	ctx := context.Background()
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	for d := 1; d <= 26; d++ {
		rdb.Set(ctx, usage.Key(usage.Claude, time.Date(2026, 11, d, 0, 0, 0, 0, time.UTC)), 300, 0)
	}

	r := usage.NewReader(rdb, usage.WithClock(func() time.Time { return now }))
	b, err := r.Burn(ctx, usage.Claude, usage.Quota{Limit: 9000, Period: usage.PerMonth, AnchorDay: 1})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("used %d of %d, %d left, burning %.0f a day\n", b.Used, b.Quota.Limit, b.Remaining, b.DailyAverage)
	fmt.Println("runs out", b.Exhausts.Format(time.RFC3339), "before the reset on", b.PeriodEnd.Format("2006-01-02"))
	// Output:
	// used 7800 of 9000, 1200 left, burning 323 a day
	// runs out 2026-11-30T05:08:34Z before the reset on 2026-12-01
}

func ExampleTracker_Add() {
	rdb, stop := exampleRedis()
	defer stop()
	at := time.Date(2026, 11, 26, 3, 15, 3, 0, time.UTC)
	tracker := usage.NewTracker(rdb, usage.WithClock(func() time.Time { return at }))

	// One Claude call that read 1,200 input tokens and wrote 350.
	tracker.Track(usage.Claude)
	tracker.Add(usage.ClaudeInputTokens, 1200)
	tracker.Add(usage.ClaudeOutputTokens, 350)
	if err := tracker.Close(context.Background()); err != nil {
		log.Fatal(err)
	}

	for _, p := range []usage.Provider{usage.Claude, usage.ClaudeInputTokens, usage.ClaudeOutputTokens} {
		n, _ := rdb.Get(context.Background(), usage.Key(p, at)).Result()
		fmt.Println(usage.Key(p, at), "=", n)
	}
	fmt.Println(tracker.Stats()) // in units: one call, and 1,550 tokens
	// Output:
	// api_usage:claude:2026-11-26 = 1
	// api_usage:claude_input_tokens:2026-11-26 = 1200
	// api_usage:claude_output_tokens:2026-11-26 = 350
	// tracked=1 flushed=1 pending=0 dropped=0; tokens: tracked=1550 flushed=1550 pending=0 dropped=0
}

func ExampleNewGuard() {
	rdb, stop := exampleRedis()
	defer stop()
	ctx := context.Background()
	at := time.Date(2026, 11, 26, 3, 15, 3, 0, time.UTC)
	clock := usage.WithClock(func() time.Time { return at })
	rdb.Set(ctx, usage.Key(usage.Exa, at), 998, 0) // the rest of the fleet, so far today

	tracker := usage.NewTracker(rdb, clock)
	defer tracker.Close(ctx)
	guard, err := usage.NewGuard(tracker, map[usage.Provider]usage.Quota{usage.Exa: {Limit: 1000, Period: usage.PerDay}})
	if err != nil {
		log.Fatal(err)
	}
	defer guard.Close(ctx)
	if err := guard.Refresh(ctx); err != nil { // at start-up: see the fleet before the first call
		log.Fatal(err)
	}

	for i := range 3 {
		if err := guard.Allow(usage.Exa); err != nil {
			fmt.Println("call", i+1, "refused:", err)
			continue
		}
		tracker.Track(usage.Exa) // after the call succeeded
		fmt.Println("call", i+1, "allowed")
	}
	// Output:
	// call 1 allowed
	// call 2 allowed
	// call 3 refused: usage: exa quota spent: 1000 of 1000 this day, resets 2026-11-27T00:00:00Z
}

func ExampleWithAlert() {
	rdb, stop := exampleRedis()
	defer stop()
	ctx := context.Background()
	at := time.Date(2026, 11, 26, 15, 0, 0, 0, time.UTC)
	clock := usage.WithClock(func() time.Time { return at })

	tracker := usage.NewTracker(rdb, clock)
	defer tracker.Close(ctx)
	alert := usage.WithAlert(func(a usage.Alert) {
		fmt.Printf("%s passed %.0f%% of its quota: %d of %d, resets %s\n",
			a.Provider, a.Threshold*100, a.Used, a.Quota.Limit, a.Resets.Format("Jan 2"))
	})
	quota := map[usage.Provider]usage.Quota{usage.ClaudeOutputTokens: {Limit: 1_000_000, Period: usage.PerMonth}}
	guard, err := usage.NewGuard(tracker, quota, alert, usage.WithRefreshInterval(time.Hour))
	if err != nil {
		log.Fatal(err)
	}
	defer guard.Close(ctx)

	tracker.Add(usage.ClaudeOutputTokens, 850_000)
	for range 3 { // every refresh sees the threshold crossed; it fires once
		if err := guard.Refresh(ctx); err != nil {
			log.Fatal(err)
		}
	}
	// Output:
	// claude_output_tokens passed 80% of its quota: 850000 of 1000000, resets Dec 1
}

func ExampleReader_Reported() {
	rdb, stop := exampleRedis()
	defer stop()
	ctx := context.Background()
	tracker := usage.NewTracker(rdb)
	// The providers package's WithReportedQuota does this from each
	// response's headers.
	tracker.SetReported(usage.Apollo, usage.Reported{
		At:     time.Date(2026, 11, 26, 3, 15, 3, 0, time.UTC),
		Status: 200,
		Values: map[string]string{"x-24-hour-requests-left": "412", "x-rate-limit-24-hour": "600"},
	})
	if err := tracker.Close(ctx); err != nil { // writes it
		log.Fatal(err)
	}

	rep, err := usage.NewReader(rdb).Reported(ctx, usage.Apollo)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("Apollo says %s of %s left today (as of %s)\n",
		rep.Values["x-24-hour-requests-left"], rep.Values["x-rate-limit-24-hour"], rep.At.Format(time.Kitchen))
	// Output: Apollo says 412 of 600 left today (as of 3:15AM)
}

func ExampleMeter_For() {
	rdb, stop := exampleRedis()
	defer stop()
	ctx := context.Background()
	at := time.Date(2026, 11, 26, 3, 15, 3, 0, time.UTC)
	clock := usage.WithClock(func() time.Time { return at })
	tracker := usage.NewTracker(rdb, clock)

	exa := tracker.Meter(usage.Exa)
	exa.For("acme").Track() // a call made for the customer acme
	exa.For("acme").Track()
	exa.For("globex").Track()
	// Claude's tokens, by model and customer: the providers package does
	// this for every Messages response it reads.
	tracker.Meter(usage.ClaudeOutputTokens).Model("claude-sonnet-4-5-20250929").For("globex").Add(200_000)
	if err := tracker.Close(ctx); err != nil {
		log.Fatal(err)
	}

	prices := usage.DefaultPrices()
	prices.Calls = map[usage.Provider]usage.Micros{usage.Exa: 5_000} // half a cent a search, on our plan
	r := usage.NewReader(rdb, clock, usage.WithPrices(prices))
	top, err := r.TopSubjects(ctx, at, at, 10, usage.BySpend)
	if err != nil {
		log.Fatal(err)
	}
	for _, u := range top {
		fmt.Println(u.Subject, u.Calls, "calls", u.Tokens.Total(), "tokens", u.Cost)
	}
	// Output:
	// globex 1 calls 200000 tokens $3.005000
	// acme 2 calls 0 tokens $0.010000
}

func ExampleReader_Spend() {
	rdb, stop := exampleRedis()
	defer stop()
	ctx := context.Background()
	at := time.Date(2026, 11, 26, 3, 15, 3, 0, time.UTC)
	clock := usage.WithClock(func() time.Time { return at })
	tracker := usage.NewTracker(rdb, clock)
	sonnet := "claude-sonnet-4-5-20250929"
	tracker.Meter(usage.ClaudeInputTokens).Model(sonnet).Add(1_234_567)
	tracker.Meter(usage.ClaudeOutputTokens).Model(sonnet).Add(89_012)
	tracker.Meter(usage.ClaudeInputTokens).Model("claude-haiku-4-5").Add(50_000)
	if err := tracker.Close(ctx); err != nil {
		log.Fatal(err)
	}

	r := usage.NewReader(rdb, clock) // DefaultPrices
	lines, err := r.Spend(ctx, at, at)
	if err != nil {
		log.Fatal(err)
	}
	for _, l := range lines {
		fmt.Println(l.Model, l.Tokens.Input, l.Tokens.Output, l.Cost)
	}
	burn, err := r.Burn(ctx, usage.Money, usage.Quota{Limit: int64(100 * usage.Dollar), Period: usage.PerMonth})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("this month:", usage.Micros(burn.Used), "of", usage.Micros(burn.Quota.Limit))
	// Output:
	// claude-haiku-4-5 50000 0 $0.050000
	// claude-sonnet-4-5-20250929 1234567 89012 $5.038881
	// this month: $5.088881 of $100.000000
}

func ExampleNewLimiter() {
	rdb, stop := exampleRedis()
	defer stop()
	ctx := context.Background()
	tracker := usage.NewTracker(rdb)
	defer tracker.Close(ctx)

	// SEC EDGAR's 10 calls a second, shared by every process whose tracker
	// shares this Redis.
	limiter, err := usage.NewLimiter(tracker, usage.DefaultLimits())
	if err != nil {
		log.Fatal(err)
	}
	defer limiter.Close(ctx)

	start := time.Now()
	for range 3 {
		if err := limiter.Wait(ctx, usage.EDGAR); err != nil {
			log.Fatal(err)
		}
		// call EDGAR
	}
	fmt.Println("3 calls took at least 200 ms:", time.Since(start) >= 200*time.Millisecond)
	// Output: 3 calls took at least 200 ms: true
}
