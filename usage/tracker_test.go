package usage_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/enrichmeter/enrichmeter/internal/testsupport"
	"github.com/enrichmeter/enrichmeter/usage"
)

var noon = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

func TestTrackConcurrentTotalsAreExact(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		const goroutines, calls = 8, 5000
		providers := []usage.Provider{usage.Apollo, usage.Exa, usage.Claude, usage.ContactOut}
		// A short interval makes flushes run while calls are counted.
		tr := usage.NewTracker(b.rdb, usage.WithPrefix(b.prefix), usage.WithFlushInterval(2*time.Millisecond))
		var wg sync.WaitGroup
		for g := range goroutines {
			wg.Go(func() {
				for i := range calls {
					tr.Track(providers[(g+i)%len(providers)])
				}
			})
		}
		wg.Wait()
		if err := tr.Close(ctxTimeout(t, 10*time.Second)); err != nil {
			t.Fatalf("Close: %v", err)
		}
		checkStats(t, tr, usage.Stats{Tracked: goroutines * calls, Flushed: goroutines * calls})

		// Sum the days around now, in case the test ran across midnight.
		r := usage.NewReader(b.rdb, usage.WithPrefix(b.prefix))
		now := time.Now()
		for _, p := range providers {
			days, err := r.Daily(context.Background(), p, now.Add(-24*time.Hour), now.Add(24*time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			var sum int64
			for _, d := range days {
				sum += d.Count
			}
			if want := int64(goroutines * calls / len(providers)); sum != want {
				t.Errorf("%s: %d calls in Redis, want %d", p, sum, want)
			}
		}
	})
}

func TestTrackSetsTTLAndDefaultKey(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		clock := newFakeClock(noon)
		tr := usage.NewTracker(b.rdb, usage.WithPrefix(b.prefix), usage.WithClock(clock.Now))
		closeAtCleanup(t, tr)
		tr.Track(usage.ContactOut)
		if err := tr.Flush(ctxTimeout(t, 5*time.Second)); err != nil {
			t.Fatal(err)
		}
		key := b.keyFor(usage.ContactOut, noon)
		if b.prefix == usage.DefaultPrefix && key != "api_usage:contactout:2026-11-26" {
			t.Fatalf("key = %q", key)
		}
		ttl, err := b.rdb.TTL(context.Background(), key).Result()
		if err != nil {
			t.Fatal(err)
		}
		if ttl > 90*24*time.Hour || ttl < 90*24*time.Hour-time.Minute {
			t.Errorf("TTL %s = %v, want about 90 days", key, ttl)
		}
		// The value is a plain integer string, as the TypeScript app reads it.
		if v, err := b.rdb.Get(context.Background(), key).Result(); err != nil || v != "1" {
			t.Errorf("GET %s = %q, %v; want \"1\"", key, v, err)
		}
	})
}

func TestTrackSplitsDaysAtUTCMidnight(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		before := time.Date(2026, 11, 26, 23, 59, 59, 999_000_000, time.UTC)
		after := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)
		clock := newFakeClock(before)
		tr := usage.NewTracker(b.rdb, usage.WithPrefix(b.prefix), usage.WithClock(clock.Now), usage.WithFlushInterval(time.Hour))
		closeAtCleanup(t, tr)
		ctx := ctxTimeout(t, 5*time.Second)
		for range 3 {
			tr.Track(usage.Exa)
		}
		clock.Set(after)
		for range 5 {
			tr.Track(usage.Exa)
		}
		if err := tr.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		// A flush after midnight retires the old day; later calls still count.
		for range 2 {
			tr.Track(usage.Exa)
		}
		if err := tr.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		if got := get(t, b.rdb, b.keyFor(usage.Exa, before)); got != 3 {
			t.Errorf("day before midnight: %d, want 3", got)
		}
		if got := get(t, b.rdb, b.keyFor(usage.Exa, after)); got != 7 {
			t.Errorf("day after midnight: %d, want 7", got)
		}
		checkStats(t, tr, usage.Stats{Tracked: 10, Flushed: 10})
	})
}

func TestTrackKeepsCountsWhileRedisIsDown(t *testing.T) {
	t.Run("miniredis restart", func(t *testing.T) {
		forEachBackend(t, func(t *testing.T, b backend) {
			if b.mr == nil {
				t.Skip("stops the server: miniredis only; real servers go down through a proxy below")
			}
			testOutage(t, b, fastFailClient(t, b.node.Addr), b.mr.Close, func() {
				if err := b.mr.Restart(); err != nil {
					t.Fatal(err)
				}
			})
		})
	})
	t.Run("proxy down", func(t *testing.T) {
		forEachBackend(t, func(t *testing.T, b backend) {
			p := newProxied(t, b, proxyOptions{maxRetries: -1})
			testOutage(t, b, p.rdb,
				func() { p.each(func(x *testsupport.Proxy) { x.SetDown(true) }) },
				func() { p.each(func(x *testsupport.Proxy) { x.SetDown(false) }) })
		})
	})
}

// fastFailClient returns a client that gives up on a dead server at once
// instead of retrying with backoff, to keep outage tests short.
func fastFailClient(t *testing.T, addr string) *redis.Client {
	rdb := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialerRetries: 1})
	t.Cleanup(func() { _ = rdb.Close() })
	return rdb
}

// testOutage counts calls, stops Redis, counts more, checks nothing is lost
// while Redis is down, and that all of it arrives once Redis is back.
func testOutage(t *testing.T, b backend, rdb usage.Redis, stop, start func()) {
	clock := newFakeClock(noon)
	errs := newErrorLog()
	tr := usage.NewTracker(rdb, usage.WithPrefix(b.prefix), usage.WithClock(clock.Now),
		usage.WithFlushInterval(5*time.Millisecond), usage.WithErrorHandler(errs.handle))
	closeAtCleanup(t, tr)
	ctx := ctxTimeout(t, 10*time.Second)
	for range 100 {
		tr.Track(usage.Apollo)
	}
	if err := tr.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	stop()
	for range 50 {
		tr.Track(usage.Apollo)
	}
	if err := tr.Flush(ctx); err == nil {
		t.Fatal("Flush with Redis down returned nil")
	}
	errs.waitFor(t, "the background flusher's failure", anyError)
	for range 25 {
		tr.Track(usage.Apollo)
	}
	checkStats(t, tr, usage.Stats{Tracked: 175, Flushed: 100, Pending: 75})
	start()
	if err := tr.Close(ctx); err != nil {
		t.Fatalf("Close after Redis came back: %v", err)
	}
	if got := get(t, b.rdb, b.keyFor(usage.Apollo, noon)); got != 175 {
		t.Errorf("Redis holds %d calls, want 175", got)
	}
	checkStats(t, tr, usage.Stats{Tracked: 175, Flushed: 175})
}

func TestTrackLostRepliesAreNotCountedTwice(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		// Short read timeouts, and go-redis' own retries, which re-send the
		// pipeline whose reply was lost.
		p, tr := newProxiedTracker(t, b, proxyOptions{readTimeout: 100 * time.Millisecond, maxRetries: 2})
		ctx := ctxTimeout(t, 20*time.Second)
		key := b.keyFor(usage.Exa, noon)
		tr.Track(usage.Exa)
		if err := tr.Flush(ctx); err != nil { // loads the script
			t.Fatal(err)
		}

		for range 40 {
			tr.Track(usage.Exa)
		}
		p.each(func(x *testsupport.Proxy) { x.DropReplies(true) })
		if err := tr.Flush(ctx); err == nil {
			t.Fatal("Flush without replies returned nil")
		}
		if p.droppedBytes() == 0 {
			t.Fatal("the proxy dropped no reply")
		}
		// Redis applied the write (once, though it was sent three times)...
		if got := get(t, b.rdb, key); got != 41 {
			t.Fatalf("after lost replies Redis holds %d, want 41", got)
		}
		checkStats(t, tr, usage.Stats{Tracked: 41, Flushed: 1, Pending: 40})
		for range 2 {
			tr.Track(usage.Exa)
		}
		// ...and re-sending the unconfirmed batch does not apply it again.
		p.each(func(x *testsupport.Proxy) {
			x.DropReplies(false)
			x.CutConnections()
		})
		if err := tr.Flush(ctx); err != nil {
			t.Fatalf("Flush with replies back: %v", err)
		}
		if got := get(t, b.rdb, key); got != 43 {
			t.Errorf("Redis holds %d, want 43", got)
		}
		checkStats(t, tr, usage.Stats{Tracked: 43, Flushed: 43})
	})
}

// TestALostReplyStaysAppliedOnceForTheCountersLife loses the reply of an
// applied write and sends it again only after Redis was away for a month:
// the marker that says it was applied lives as long as the counter, so it is
// not applied twice. On real servers, where time cannot be moved, the
// marker's TTL is checked to be the counter's.
func TestALostReplyStaysAppliedOnceForTheCountersLife(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		p, tr := newProxiedTracker(t, b, proxyOptions{readTimeout: 100 * time.Millisecond, maxRetries: -1})
		ctx := ctxTimeout(t, 20*time.Second)
		key := b.keyFor(usage.Exa, noon)
		tr.Track(usage.Exa)
		if err := tr.Flush(ctx); err != nil { // loads the script
			t.Fatal(err)
		}
		for range 39 {
			tr.Track(usage.Exa)
		}
		p.each(func(x *testsupport.Proxy) { x.DropReplies(true) })
		if err := tr.Flush(ctx); err == nil {
			t.Fatal("Flush without replies returned nil")
		}
		if got := get(t, b.rdb, key); got != 40 {
			t.Fatalf("after a lost reply Redis holds %d, want 40", got)
		}
		marker := "{" + key + "}:applied"
		counterTTL, markerTTL := b.rdb.PTTL(ctx, key).Val(), b.rdb.PTTL(ctx, marker).Val()
		if d := counterTTL - markerTTL; d < -time.Second || d > time.Second {
			t.Errorf("marker %s lives %v, the counter %v: want the same", marker, markerTTL, counterTTL)
		}
		if b.mr != nil {
			b.mr.FastForward(30 * 24 * time.Hour)
		}
		p.each(func(x *testsupport.Proxy) {
			x.DropReplies(false)
			x.CutConnections()
		})
		if err := tr.Flush(ctx); err != nil {
			t.Fatalf("Flush with replies back: %v", err)
		}
		if got := get(t, b.rdb, key); got != 40 {
			t.Errorf("Redis holds %d after the resend, want 40: applied once", got)
		}
		checkStats(t, tr, usage.Stats{Tracked: 40, Flushed: 40})
	})
}

func TestTrackDoesNotWaitForHungRedis(t *testing.T) {
	addr, stop := testsupport.Hang(t)
	// No read timeout, and the client ignores context deadlines: a write to
	// this server never returns until the server goes away.
	rdb := redis.NewClient(&redis.Options{Addr: addr, ReadTimeout: -1, WriteTimeout: -1, MaxRetries: -1})
	defer rdb.Close()
	tr := usage.NewTracker(rdb, usage.WithFlushInterval(time.Millisecond), usage.WithErrorHandler(func(error) {}))

	tr.Track(usage.Claude)
	// Flush gives up on a write that hangs, and says so: from here on a
	// write is stuck in the client.
	if err := tr.Flush(ctxTimeout(t, 20*time.Millisecond)); err == nil || !strings.Contains(err.Error(), "had no answer") {
		t.Fatalf("Flush against a hung server = %v, want an unanswered write", err)
	}
	const calls = 200_000
	lat := make([]time.Duration, calls-1)
	for i := range lat {
		start := time.Now()
		tr.Track(usage.Claude)
		lat[i] = time.Since(start)
	}
	slices.Sort(lat)
	p999 := lat[len(lat)*999/1000]
	t.Logf("Track while Redis hangs: p50 %v, p99.9 %v, max %v", lat[len(lat)/2], p999, lat[len(lat)-1])
	if !testing.Short() && p999 > time.Millisecond {
		t.Errorf("Track p99.9 = %v while Redis hangs, want microseconds", p999)
	}

	const deadline = 200 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	start := time.Now()
	err := tr.Close(ctx)
	if elapsed := time.Since(start); elapsed > deadline+500*time.Millisecond {
		t.Errorf("Close took %v with a %v deadline", elapsed, deadline)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Close = %v, want %v", err, context.DeadlineExceeded)
	}
	if s := tr.Stats(); s.Pending != calls || s.Tracked != calls {
		t.Errorf("Stats() = %v, want all %d calls pending", s, calls)
	}
	tr.Track(usage.Claude)
	if s := tr.Stats(); s.Dropped != 1 {
		t.Errorf("Track after Close: Stats() = %v, want 1 dropped", s)
	}
	// When the server goes away the hung write ends; goleak in TestMain
	// checks that nothing is left running.
	stop()
}

func TestTrackDropsInvalidProviders(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		errs := newErrorLog()
		tr := usage.NewTracker(b.rdb, usage.WithPrefix(b.prefix), usage.WithErrorHandler(errs.handle))
		bad := []usage.Provider{"", "Exa", "exa:2026-11-26", "exa*", usage.Provider(strings.Repeat("x", 65)), "a\nb"}
		for _, p := range bad {
			tr.Track(p)
		}
		tr.Track(usage.Exa)
		if err := tr.Close(ctxTimeout(t, 5*time.Second)); err != nil {
			t.Fatal(err)
		}
		checkStats(t, tr, usage.Stats{Tracked: 7, Flushed: 1, Dropped: 6})
		got := errs.all()
		if len(got) == 0 || !strings.Contains(got[0].Error(), "invalid provider") {
			t.Errorf("error handler got %v, want an invalid-provider error", got)
		}
		keys := testsupport.Keys(t, b.rdb, "*"+b.prefix+"*")
		if len(keys) != 2 { // the counter and its marker
			t.Errorf("keys in Redis: %q, want only exa's counter and marker", keys)
		}
		for _, k := range keys {
			if !strings.Contains(k, ":exa:") {
				t.Errorf("unexpected key %q in Redis", k)
			}
		}
	})
}

func TestTrackCapsPendingKeys(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		errs := newErrorLog()
		tr := usage.NewTracker(b.rdb, usage.WithPrefix(b.prefix), usage.WithMaxKeys(2),
			usage.WithErrorHandler(errs.handle), usage.WithFlushInterval(time.Hour))
		for _, p := range []usage.Provider{"p1", "p2", "p3", "p1", "p3"} {
			tr.Track(p)
		}
		checkStats(t, tr, usage.Stats{Tracked: 5, Pending: 3, Dropped: 2})
		if err := tr.Close(ctxTimeout(t, 5*time.Second)); err != nil {
			t.Fatal(err)
		}
		if got := errs.all(); len(got) == 0 || !errors.Is(got[0], usage.ErrTooManyKeys) {
			t.Errorf("error handler got %v, want ErrTooManyKeys", got)
		}
	})
}

func TestCloseWhileTracking(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		clock := newFakeClock(noon)
		tr := usage.NewTracker(b.rdb, usage.WithPrefix(b.prefix), usage.WithClock(clock.Now), usage.WithFlushInterval(time.Millisecond))
		const goroutines, calls = 8, 20_000
		var wg, started sync.WaitGroup
		started.Add(goroutines)
		for range goroutines {
			wg.Go(func() {
				for i := range calls {
					if i == calls/10 {
						started.Done()
					}
					tr.Track(usage.EDGAR)
				}
			})
		}
		started.Wait() // Close comes while every goroutine is tracking
		ctx := ctxTimeout(t, 10*time.Second)
		var closeErrs [2]error
		var cwg sync.WaitGroup
		for i := range closeErrs {
			cwg.Go(func() { closeErrs[i] = tr.Close(ctx) })
		}
		cwg.Wait()
		wg.Wait()
		for _, err := range closeErrs {
			if err != nil {
				t.Fatalf("Close: %v", err)
			}
		}
		s := tr.Stats()
		if s.Tracked != goroutines*calls || s.Pending != 0 || s.Flushed+s.Dropped != s.Tracked {
			t.Fatalf("Stats() = %v, want %d tracked, all flushed or dropped", s, goroutines*calls)
		}
		if got := get(t, b.rdb, b.keyFor(usage.EDGAR, noon)); got != s.Flushed {
			t.Errorf("Redis holds %d, Stats says %d flushed", got, s.Flushed)
		}
		if err := tr.Close(ctx); err != nil {
			t.Errorf("third Close: %v", err)
		}
		if err := tr.Flush(ctx); !errors.Is(err, usage.ErrClosed) {
			t.Errorf("Flush after Close = %v, want ErrClosed", err)
		}
	})
}

func TestPackageTrack(t *testing.T) {
	usage.Track(usage.Exa) // no default yet: does nothing
	var nilTracker *usage.Tracker
	nilTracker.Track(usage.Exa)

	mr := newMiniredisClient(t)
	tr := usage.NewTracker(mr)
	closeAtCleanup(t, tr)
	usage.SetDefault(tr)
	t.Cleanup(func() { usage.SetDefault(nil) })
	usage.Track(usage.Exa)
	usage.Track(usage.Exa)
	checkStats(t, tr, usage.Stats{Tracked: 2, Pending: 2})
}

func TestUnusableClientsDropAndSayWhy(t *testing.T) {
	ring := redis.NewRing(&redis.RingOptions{Addrs: map[string]string{"a": newMiniredisClient(t).Options().Addr}})
	t.Cleanup(func() { _ = ring.Close() })
	cases := []struct {
		name string
		rdb  usage.Redis
		want string
	}{
		{"nil", nil, "nil Redis"},
		{"typed nil client", (*redis.Client)(nil), "nil Redis"},
		{"typed nil cluster client", (*redis.ClusterClient)(nil), "nil Redis"},
		{"ring", ring, "Ring is not supported"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			errs := newErrorLog()
			tr := usage.NewTracker(c.rdb, usage.WithErrorHandler(errs.handle), usage.WithFlushInterval(time.Millisecond))
			tr.Track(usage.Exa)
			tr.Add(usage.ClaudeInputTokens, 40)
			errs.waitFor(t, "the dropped call", func(err error) bool { return strings.Contains(err.Error(), c.want) })
			if err := tr.Flush(ctxTimeout(t, time.Second)); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("Flush = %v, want an error with %q", err, c.want)
			}
			if err := tr.Close(ctxTimeout(t, time.Second)); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("Close = %v, want an error with %q", err, c.want)
			}
			checkStats(t, tr, usage.Stats{Tracked: 1, Dropped: 1, Tokens: usage.Units{Tracked: 40, Dropped: 40}})
			_, err := usage.NewReader(c.rdb).Daily(context.Background(), usage.Exa, noon, noon)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("Daily = %v, want an error with %q", err, c.want)
			}
		})
	}
}

func TestTrackAllocatesOnlyForANewDay(t *testing.T) {
	clock := newFakeClock(noon)
	tr := usage.NewTracker(newMiniredisClient(t), usage.WithClock(clock.Now), usage.WithFlushInterval(time.Hour))
	closeAtCleanup(t, tr)
	tr.Track(usage.Exa)
	tr.Add(usage.ClaudeInputTokens, 1)
	if n := testing.AllocsPerRun(1000, func() {
		tr.Track(usage.Exa)
		tr.Add(usage.ClaudeInputTokens, 7)
	}); n != 0 {
		t.Errorf("Track and Add on the steady path: %v allocations, want 0", n)
	}
	if n := testing.AllocsPerRun(100, func() {
		clock.Set(clock.Now().Add(24 * time.Hour))
		tr.Track(usage.Exa)
	}); n != 1 {
		t.Errorf("first Track of a day: %v allocations, want 1 (the day's slot)", n)
	}
}

// TestNewProvidersCostStaysFlat checks that the first call of a new
// provider costs as much with 4,000 providers known as with 2,000: no call
// copies the provider index once it is large (a copy would be over 100 KB).
func TestNewProvidersCostStaysFlat(t *testing.T) {
	const n = 4000
	tr := usage.NewTracker(newMiniredisClient(t), usage.WithMaxKeys(2*n), usage.WithFlushInterval(time.Hour))
	closeAtCleanup(t, tr)
	names := make([]usage.Provider, n)
	for i := range names {
		names[i] = usage.Provider(fmt.Sprintf("p%d", i))
	}
	bytesPerCall := func(ps []usage.Provider) uint64 {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for _, p := range ps {
			tr.Track(p)
		}
		runtime.ReadMemStats(&after)
		return (after.TotalAlloc - before.TotalAlloc) / uint64(len(ps))
	}
	first, second := bytesPerCall(names[:n/2]), bytesPerCall(names[n/2:])
	t.Logf("bytes allocated per new provider: %d with up to 2,000 known, %d with up to 4,000", first, second)
	if second > 1024 {
		t.Errorf("a new provider among 2,000 to 4,000 allocates %d bytes, want under 1 KiB", second)
	}
	checkStats(t, tr, usage.Stats{Tracked: n, Pending: n})
}
