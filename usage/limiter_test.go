package usage_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/enrichmeter/enrichmeter/internal/testsupport"
	"github.com/enrichmeter/enrichmeter/usage"
)

// newLimiter returns a limiter of a new tracker of rdb, both closed when t
// ends.
func newLimiter(t *testing.T, rdb usage.Redis, prefix string, limits map[usage.Provider]usage.Limit, opts ...usage.LimiterOption) (*usage.Limiter, *errorLog) {
	t.Helper()
	errs := newErrorLog()
	tr := usage.NewTracker(rdb, usage.WithPrefix(prefix), usage.WithErrorHandler(errs.handle))
	closeAtCleanup(t, tr)
	l, err := usage.NewLimiter(tr, limits, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := l.Close(ctxTimeout(t, 5*time.Second)); err != nil {
			t.Error(err)
		}
	})
	return l, errs
}

// calls records when calls started, from many goroutines.
type calls struct {
	mu sync.Mutex
	at []time.Time
}

func (c *calls) add(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.at = append(c.at, t)
}

// sorted returns the times in order.
func (c *calls) sorted() []time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := slices.Clone(c.at)
	slices.SortFunc(out, func(a, b time.Time) int { return a.Compare(b) })
	return out
}

// maxIn returns the most calls of at, sorted, that fall in any window of
// length w.
func maxIn(at []time.Time, w time.Duration) int {
	most := 0
	for i, j := 0, 0; i < len(at); i++ {
		for at[i].Sub(at[j]) >= w {
			j++
		}
		most = max(most, i-j+1)
	}
	return most
}

// flood makes each limiter call Wait for p as fast as it may, on its own
// goroutine, until ctx is done, and records when each call was let through.
func flood(ctx context.Context, limiters []*usage.Limiter, p usage.Provider, c *calls) *sync.WaitGroup {
	var wg sync.WaitGroup
	for _, l := range limiters {
		wg.Go(func() {
			for l.Wait(ctx, p) == nil {
				c.add(time.Now())
			}
		})
	}
	return &wg
}

// edgar is SEC EDGAR's limit. The fleet's pace, a pause that holds every
// process and a process that stops are tested at a fake server's side, in
// package providers (TestFleetKeepsSECsRate and the two after it).
var edgar = map[usage.Provider]usage.Limit{usage.EDGAR: {Rate: 10, Burst: 1}}

// TestLimiterFallsBackWhileRedisIsDown takes Redis away: calls go on at the
// process's share of the rate, the error handler hears of it, and the
// limiter takes leases from Redis again once it is back.
func TestLimiterFallsBackWhileRedisIsDown(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		p := newProxied(t, b, proxyOptions{readTimeout: 200 * time.Millisecond, maxRetries: -1})
		l, errs := newLimiter(t, p.rdb, b.prefix, edgar, usage.WithFleetSize(2))
		ctx := ctxTimeout(t, 10*time.Second)
		if err := l.Wait(ctx, usage.EDGAR); err != nil {
			t.Fatal(err)
		}
		p.each(func(x *testsupport.Proxy) { x.SetDown(true) })
		var c calls
		wctx, cancel := context.WithTimeout(ctx, 2500*time.Millisecond)
		defer cancel()
		flood(wctx, []*usage.Limiter{l}, usage.EDGAR, &c).Wait()
		at := c.sorted()
		errs.waitFor(t, "word of the local share", func(err error) bool { return strings.Contains(err.Error(), "1/2 of the rate") })
		// Half of 10 a second, once the lease in hand is spent.
		if n := len(at); n < 6 || n > 16 {
			t.Errorf("%d calls in 2.5 s with Redis down, want about 12 (5 a second and the lease in hand)", n)
		}
		if most := maxIn(at[len(at)/2:], time.Second); most > 6 {
			t.Errorf("%d calls in a second on the local share, want at most 6", most)
		}
		p.each(func(x *testsupport.Proxy) { x.SetDown(false) })
		done := make(chan struct{})
		go func() {
			defer close(done)
			for range 15 {
				if err := l.Wait(ctx, usage.EDGAR); err != nil {
					t.Error(err)
					return
				}
			}
		}()
		<-done
	})
}

func TestLimiterWaitErrors(t *testing.T) {
	rdb := newMiniredisClient(t)
	l, errs := newLimiter(t, rdb, usage.DefaultPrefix, edgar, usage.WithMaxPause(time.Minute))
	// A pause of a day is an error of the provider's: held for the cap,
	// and said.
	l.Pause(usage.EDGAR, 24*time.Hour)
	errs.waitFor(t, "word of the capped pause", func(err error) bool { return strings.Contains(err.Error(), "held for 1m0s") })
	if until := time.Until(l.PausedUntil(usage.EDGAR)); until < 50*time.Second || until > time.Minute {
		t.Errorf("paused for %v, want the cap, a minute", until)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	start := time.Now()
	err := l.Wait(ctx, usage.EDGAR)
	var we *usage.WaitError
	if !errors.As(err, &we) || !we.Paused || we.Provider != usage.EDGAR || time.Since(start) > 500*time.Millisecond {
		t.Errorf("Wait with a deadline before the pause ends = %v after %v, want a *WaitError at once", err, time.Since(start))
	}
	if l.Allow(usage.EDGAR) {
		t.Error("Allow while paused = true")
	}
	// A pause that ended before it came is the provider's error too.
	l.Pause(usage.EDGAR, -5*time.Second)
	errs.waitFor(t, "word of the negative pause", func(err error) bool { return strings.Contains(err.Error(), "pause of -5s") })
	// Providers without a limit are never held.
	if err := l.Wait(ctx, usage.Exa); err != nil || !l.Allow(usage.Exa) {
		t.Errorf("a provider without a limit: Wait = %v, Allow false", err)
	}
	cancelled, cancel2 := context.WithCancel(context.Background())
	cancel2()
	if err := l.Wait(cancelled, usage.EDGAR); !errors.Is(err, context.Canceled) {
		t.Errorf("Wait with a cancelled context = %v, want context.Canceled", err)
	}
	got, err := usage.NewReader(rdb).Pauses(ctx)
	if end, ok := got[usage.EDGAR]; err != nil || !ok || time.Until(end) < 50*time.Second {
		t.Errorf("Reader.Pauses = %v, %v; want edgar paused for about a minute", got, err)
	}
}

func TestNewLimiterRejectsBadLimits(t *testing.T) {
	tr := usage.NewTracker(newMiniredisClient(t))
	closeAtCleanup(t, tr)
	for _, limits := range []map[usage.Provider]usage.Limit{
		{usage.EDGAR: {}},
		{usage.EDGAR: {Rate: -1}},
		{usage.EDGAR: {Rate: 1, Burst: -1}},
		{"Not Valid": {Rate: 1}},
	} {
		if _, err := usage.NewLimiter(tr, limits); err == nil || !strings.HasPrefix(err.Error(), "usage: limiter") {
			t.Errorf("NewLimiter(%v) = %v, want an error", limits, err)
		}
	}
	if _, err := usage.NewLimiter(nil, usage.DefaultLimits()); err == nil {
		t.Error("NewLimiter(nil) succeeded")
	}
	var l *usage.Limiter
	if err := l.Wait(context.Background(), usage.EDGAR); err != nil || !l.Allow(usage.EDGAR) {
		t.Error("a nil Limiter holds calls")
	}
}

// TestPauseBeforeCloseIsShared pauses a provider and closes the limiter at
// once: the pause still reaches Redis for the rest of the fleet.
func TestPauseBeforeCloseIsShared(t *testing.T) {
	rdb := newMiniredisClient(t)
	tr := usage.NewTracker(rdb)
	closeAtCleanup(t, tr)
	l, err := usage.NewLimiter(tr, edgar)
	if err != nil {
		t.Fatal(err)
	}
	l.Pause(usage.EDGAR, time.Minute)
	if err := l.Close(ctxTimeout(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	got, err := usage.NewReader(rdb).Pauses(ctxTimeout(t, 5*time.Second))
	if _, ok := got[usage.EDGAR]; err != nil || !ok {
		t.Errorf("Pauses after a pause and Close = %v, %v; want edgar's", got, err)
	}
}

// TestAllowAfterCloseWhileTheFleetHoldsTheHorizon: a pacer whose lease found
// the fleet's whole horizon reserved asks again later; closed meanwhile,
// its Allow still goes on from the local share, as Close says.
func TestAllowAfterCloseWhileTheFleetHoldsTheHorizon(t *testing.T) {
	rdb := testsupport.Redis(t)
	prefix := testsupport.UniqueName("lim")
	testsupport.DeleteKeysAtCleanup(t, rdb, prefix)
	ctx := ctxTimeout(t, 10*time.Second)
	now, err := rdb.Time(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	// The fleet's schedule runs two minutes ahead: no lease has a slot.
	if err := rdb.Set(ctx, "{"+prefix+"}:pace:edgar", now.Add(2*time.Minute).UnixMicro(), time.Hour).Err(); err != nil {
		t.Fatal(err)
	}
	tr := usage.NewTracker(rdb, usage.WithPrefix(prefix))
	closeAtCleanup(t, tr)
	l, err := usage.NewLimiter(tr, edgar)
	if err != nil {
		t.Fatal(err)
	}
	if l.Allow(usage.EDGAR) {
		t.Fatal("Allow with the fleet's horizon reserved = true")
	}
	time.Sleep(300 * time.Millisecond) // the lease comes back empty
	if err := l.Close(ctx); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Second)
	for !l.Allow(usage.EDGAR) {
		if time.Now().After(deadline) {
			t.Fatal("Allow after Close refused every call for 2 s: no local share")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
