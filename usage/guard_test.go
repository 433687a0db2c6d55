package usage_test

import (
	"context"
	"errors"
	"math"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/enrichmeter/enrichmeter/internal/testsupport"
	"github.com/enrichmeter/enrichmeter/usage"
)

// newGuard returns a guard of tr, closed when t ends.
func newGuard(t *testing.T, tr *usage.Tracker, quotas map[usage.Provider]usage.Quota, opts ...usage.GuardOption) *usage.Guard {
	t.Helper()
	g, err := usage.NewGuard(tr, quotas, append([]usage.GuardOption{usage.WithRefreshInterval(time.Hour)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = g.Close(ctxTimeout(t, 5*time.Second)) })
	return g
}

// checkUsed fails t unless the guard's estimate for p is want.
func checkUsed(t *testing.T, g *usage.Guard, p usage.Provider, want int64) {
	t.Helper()
	if got, ok := g.Used(p); !ok || got != want {
		t.Fatalf("Used(%s) = %d, %v; want %d", p, got, ok, want)
	}
}

func TestGuardAddsTheFleetToThisTrackersCounts(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		ctx := ctxTimeout(t, 10*time.Second)
		clock := newFakeClock(noon)
		seed(t, b, usage.Exa, noon, 90, 1000) // another process: 90 today, 1000 yesterday
		tr := usage.NewTracker(b.rdb, usage.WithPrefix(b.prefix), usage.WithClock(clock.Now), usage.WithFlushInterval(time.Hour))
		closeAtCleanup(t, tr)
		g := newGuard(t, tr, map[usage.Provider]usage.Quota{usage.Exa: {Limit: 100}})
		if err := g.Refresh(ctx); err != nil {
			t.Fatal(err)
		}
		checkUsed(t, g, usage.Exa, 90)

		for range 5 {
			tr.Track(usage.Exa) // pending
		}
		checkUsed(t, g, usage.Exa, 95)
		if err := tr.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		for range 3 {
			tr.Track(usage.Exa)
		}
		checkUsed(t, g, usage.Exa, 98) // flushed units are not counted twice...
		if err := g.Refresh(ctx); err != nil {
			t.Fatal(err)
		}
		checkUsed(t, g, usage.Exa, 98) // ...before or after a refresh
		if err := g.Allow(usage.Exa); err != nil {
			t.Fatalf("Allow at 98 of 100: %v", err)
		}
		tr.Track(usage.Exa)
		tr.Track(usage.Exa)
		err := g.Allow(usage.Exa)
		var qe *usage.QuotaError
		if !errors.As(err, &qe) || qe.Provider != usage.Exa || qe.Used != 100 || qe.Quota.Limit != 100 ||
			!qe.Resets.Equal(time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)) {
			t.Fatalf("Allow at 100 of 100 = %v, want a QuotaError resetting at midnight", err)
		}
		if err := g.Allow(usage.Apollo); err != nil {
			t.Errorf("Allow of a provider without a quota = %v", err)
		}

		// A new day is a new period, before any refresh.
		clock.Set(noon.Add(24 * time.Hour))
		checkUsed(t, g, usage.Exa, 0)
		tr.Track(usage.Exa)
		checkUsed(t, g, usage.Exa, 1)
	})
}

func TestGuardMonthlyQuotaSpansDays(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		ctx := ctxTimeout(t, 10*time.Second)
		clock := newFakeClock(noon)
		seed(t, b, usage.ClaudeOutputTokens, noon, 0, 400, 300) // this month, before today
		tr := usage.NewTracker(b.rdb, usage.WithPrefix(b.prefix), usage.WithClock(clock.Now), usage.WithFlushInterval(time.Hour))
		closeAtCleanup(t, tr)
		g := newGuard(t, tr, map[usage.Provider]usage.Quota{usage.ClaudeOutputTokens: {Limit: 1000, Period: usage.PerMonth}})
		tr.Add(usage.ClaudeOutputTokens, 250)
		if err := g.Refresh(ctx); err != nil {
			t.Fatal(err)
		}
		checkUsed(t, g, usage.ClaudeOutputTokens, 950)
		clock.Set(noon.Add(24 * time.Hour)) // tomorrow, same month
		tr.Add(usage.ClaudeOutputTokens, 50)
		checkUsed(t, g, usage.ClaudeOutputTokens, 1000)
		var qe *usage.QuotaError
		if err := g.Allow(usage.ClaudeOutputTokens); !errors.As(err, &qe) || !qe.Resets.Equal(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)) {
			t.Errorf("Allow = %v, want a QuotaError resetting on December 1", err)
		}
	})
}

func TestGuardKeepsItsViewWhileRedisIsDown(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		ctx := ctxTimeout(t, 10*time.Second)
		seed(t, b, usage.Apollo, noon, 50)
		p, tr := newProxiedTracker(t, b, proxyOptions{maxRetries: -1})
		g := newGuard(t, tr, map[usage.Provider]usage.Quota{usage.Apollo: {Limit: 60}})
		if err := g.Refresh(ctx); err != nil {
			t.Fatal(err)
		}
		p.each(func(x *testsupport.Proxy) { x.SetDown(true) })
		if err := g.Refresh(ctx); err == nil {
			t.Fatal("Refresh with Redis down returned nil")
		}
		for range 10 {
			tr.Track(usage.Apollo)
		}
		checkUsed(t, g, usage.Apollo, 60)
		if err := g.Allow(usage.Apollo); err == nil {
			t.Error("Allow at 60 of 60 with Redis down returned nil")
		}
		p.each(func(x *testsupport.Proxy) { x.SetDown(false) })
	})
}

func TestGuardAllowDoesNotAllocate(t *testing.T) {
	tr := usage.NewTracker(newMiniredisClient(t), usage.WithClock(newFakeClock(noon).Now), usage.WithFlushInterval(time.Hour))
	closeAtCleanup(t, tr)
	g := newGuard(t, tr, map[usage.Provider]usage.Quota{usage.Exa: {Limit: 1 << 40}})
	tr.Track(usage.Exa)
	if n := testing.AllocsPerRun(1000, func() {
		if g.Allow(usage.Exa) != nil || g.Allow(usage.Apollo) != nil {
			t.Fatal("refused")
		}
	}); n != 0 {
		t.Errorf("Allow: %v allocations, want 0", n)
	}
}

func TestNewGuardRejectsBadQuotas(t *testing.T) {
	tr := usage.NewTracker(newMiniredisClient(t))
	closeAtCleanup(t, tr)
	for _, quotas := range []map[usage.Provider]usage.Quota{
		{usage.Exa: {}},
		{"Not Valid": {Limit: 1}},
		{usage.Money: {Limit: 1}},
	} {
		if _, err := usage.NewGuard(tr, quotas); err == nil {
			t.Errorf("NewGuard(%v) succeeded", quotas)
		}
	}
	if _, err := usage.NewGuard(nil, nil); err == nil {
		t.Error("NewGuard(nil) succeeded")
	}
	for _, th := range []float64{0, -0.5, 1.01, 80, math.NaN()} {
		_, err := usage.NewGuard(tr, map[usage.Provider]usage.Quota{usage.Exa: {Limit: 1}}, usage.WithAlert(func(usage.Alert) {}, 0.8, th))
		if err == nil || !strings.Contains(err.Error(), "threshold") {
			t.Errorf("NewGuard with alert threshold %v = %v, want an error naming the threshold", th, err)
		}
	}
	// Guard and tracker options are different types, so passing one where
	// the other belongs does not compile rather than doing nothing.
	trackerOpt, guardOpt := reflect.TypeFor[usage.Option](), reflect.TypeFor[usage.GuardOption]()
	if trackerOpt.Implements(guardOpt) || guardOpt.Implements(trackerOpt) {
		t.Error("usage.Option and usage.GuardOption are interchangeable")
	}
	var g *usage.Guard
	if err := g.Allow(usage.Exa); err != nil {
		t.Errorf("nil Guard: Allow = %v", err)
	}
}

// alertLog collects alerts.
type alertLog struct {
	mu     sync.Mutex
	alerts []usage.Alert
}

func (l *alertLog) fire(a usage.Alert) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.alerts = append(l.alerts, a)
}

func (l *alertLog) thresholds() []float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []float64
	for _, a := range l.alerts {
		out = append(out, a.Threshold)
	}
	return out
}

func TestAlertsFireOncePerThresholdAcrossTheFleet(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		ctx := ctxTimeout(t, 20*time.Second)
		clock := newFakeClock(noon)
		quota := map[usage.Provider]usage.Quota{usage.Claude: {Limit: 100, Period: usage.PerMonth}}
		log := &alertLog{}
		// start makes one process: a tracker and its guard.
		start := func() (*usage.Tracker, *usage.Guard) {
			tr := usage.NewTracker(b.rdb, usage.WithPrefix(b.prefix), usage.WithClock(clock.Now), usage.WithFlushInterval(time.Hour))
			closeAtCleanup(t, tr)
			return tr, newGuard(t, tr, quota, usage.WithAlert(log.fire))
		}
		// step counts n calls in each process, delivers them, and lets
		// every guard look.
		step := func(n int, procs ...*usage.Tracker) {
			for _, tr := range procs {
				for range n {
					tr.Track(usage.Claude)
				}
				if err := tr.Flush(ctx); err != nil {
					t.Fatal(err)
				}
			}
		}
		refreshAll := func(gs ...*usage.Guard) {
			for _, g := range gs {
				if err := g.Refresh(ctx); err != nil {
					t.Fatal(err)
				}
			}
		}
		t1, g1 := start()
		t2, g2 := start()
		t3, g3 := start()
		step(20, t1, t2, t3) // 60
		refreshAll(g1, g2, g3)
		if got := log.thresholds(); len(got) != 0 {
			t.Fatalf("alerts at 60 of 100: %v", got)
		}
		step(7, t1, t2, t3) // 81
		refreshAll(g1, g2, g3)
		refreshAll(g3, g2, g1)
		if got := log.thresholds(); len(got) != 1 || got[0] != 0.8 {
			t.Fatalf("alerts at 81 of 100: %v, want one 0.8", got)
		}
		a := log.alerts[0]
		if a.Provider != usage.Claude || a.Used != 81 || a.BurnErr != nil || a.Burn.Used != 81 ||
			!a.Resets.Equal(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)) {
			t.Errorf("alert = %+v", a)
		}

		// A restarted process does not fire what the fleet fired.
		if err := g3.Close(ctx); err != nil {
			t.Fatal(err)
		}
		_, g4 := start()
		refreshAll(g4)
		step(10, t1, t2) // 101
		refreshAll(g4, g1, g2, g4)
		if got := log.thresholds(); len(got) != 2 || got[1] != 1 {
			t.Fatalf("alerts at 101 of 100: %v, want 0.8 then 1", got)
		}
		// Readers see each alert once, as the guard that fired it saw it.
		r := usage.NewReader(b.rdb, usage.WithPrefix(b.prefix), usage.WithClock(clock.Now))
		fired, err := r.Alerts(ctx)
		if err != nil || len(fired) != 2 || fired[0].Threshold != 0.8 || fired[0].Used != 81 || fired[1].Threshold != 1 ||
			fired[1].Provider != usage.Claude || fired[1].Quota != quota[usage.Claude] || !fired[1].Resets.Equal(a.Resets) {
			t.Fatalf("Reader.Alerts = %+v, %v; want the 0.8 at 81 and the 1", fired, err)
		}

		// A new period fires again.
		clock.Set(time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC))
		step(85, t1)
		refreshAll(g1, g2, g4)
		if got := log.thresholds(); len(got) != 3 || got[2] != 0.8 {
			t.Fatalf("alerts in December at 85 of 100: %v, want a second 0.8", got)
		}
		if fired, err := r.Alerts(ctx); err != nil || len(fired) != 1 || fired[0].Used != 85 {
			t.Errorf("Reader.Alerts in December = %+v, %v; want only December's 0.8", fired, err)
		}
	})
}

func TestGuardSharesItsQuotas(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		ctx := ctxTimeout(t, 10*time.Second)
		clock := newFakeClock(noon)
		r := usage.NewReader(b.rdb, usage.WithPrefix(b.prefix))
		if got, err := r.Quotas(ctx); err != nil || len(got) != 0 {
			t.Fatalf("Quotas with no guard = %v, %v; want none", got, err)
		}
		tr := usage.NewTracker(b.rdb, usage.WithPrefix(b.prefix), usage.WithClock(clock.Now), usage.WithFlushInterval(time.Hour))
		closeAtCleanup(t, tr)
		quotas := map[usage.Provider]usage.Quota{
			usage.Apollo:             {Limit: 10_000, Period: usage.PerMonth, AnchorDay: 15},
			usage.ClaudeOutputTokens: {Limit: 5_000_000, Period: usage.PerMonth},
			usage.Exa:                {Limit: 1_000},
		}
		g := newGuard(t, tr, quotas)
		if err := g.Refresh(ctx); err != nil {
			t.Fatal(err)
		}
		got, err := r.Quotas(ctx)
		if err != nil || len(got) != len(quotas) {
			t.Fatalf("Quotas = %v, %v; want the guard's %v", got, err, quotas)
		}
		for p, q := range quotas {
			if got[p].Quota != q || !got[p].At.Equal(noon) {
				t.Errorf("Quotas()[%s] = %+v, want %+v written at %v", p, got[p], q, noon)
			}
		}

		// Another process's guard, configured otherwise, writes last and
		// wins; what it does not name stays.
		other := usage.NewTracker(b.rdb, usage.WithPrefix(b.prefix), usage.WithClock(clock.Now), usage.WithFlushInterval(time.Hour))
		closeAtCleanup(t, other)
		clock.Set(noon.Add(time.Minute))
		g2 := newGuard(t, other, map[usage.Provider]usage.Quota{usage.Exa: {Limit: 2_000}})
		if err := g2.Refresh(ctx); err != nil {
			t.Fatal(err)
		}
		// A malformed entry is named and left out; the others are read.
		if err := b.rdb.HSet(ctx, "{"+b.prefix+"}:quotas", "contactout", `{"limit":-3,"period":"week"}`).Err(); err != nil {
			t.Fatal(err)
		}
		got, err = r.Quotas(ctx)
		var entry *usage.EntryError
		if !errors.As(err, &entry) || entry.Field != "contactout" {
			t.Errorf("Quotas with a malformed entry: error %v, want an *EntryError naming contactout", err)
		}
		if got[usage.Exa].Limit != 2_000 || got[usage.Apollo].Quota != quotas[usage.Apollo] || len(got) != 3 {
			t.Errorf("Quotas after a second guard = %+v, want exa at 2,000 beside the first guard's others", got)
		}
	})
}

// TestGuardDoesNotCountARetiredCellTwice refreshes after the tracker has
// delivered and retired its cells: their units are in Redis, once.
func TestGuardDoesNotCountARetiredCellTwice(t *testing.T) {
	ctx := ctxTimeout(t, 5*time.Second)
	tr := usage.NewTracker(newMiniredisClient(t), usage.WithClock(newFakeClock(noon).Now), usage.WithFlushInterval(time.Hour))
	g := newGuard(t, tr, map[usage.Provider]usage.Quota{usage.Exa: {Limit: 100}})
	for range 5 {
		tr.Track(usage.Exa)
	}
	if err := tr.Close(ctx); err != nil {
		t.Fatal(err)
	}
	tr.Track(usage.Exa) // dropped, after Close
	if err := g.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	checkUsed(t, g, usage.Exa, 5)
}

// TestGuardReadsOtherProvidersPastABadKey puts a hash where one provider's
// counter should be: that provider keeps the guard's last view, and every
// other provider is still read, so the fleet's use of it is still refused.
func TestGuardReadsOtherProvidersPastABadKey(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		ctx := ctxTimeout(t, 10*time.Second)
		clock := newFakeClock(noon)
		if err := b.rdb.HSet(ctx, b.keyFor(usage.Apollo, noon), "f", "v").Err(); err != nil {
			t.Fatal(err)
		}
		seed(t, b, usage.Exa, noon, 1000, 0) // another process spent Exa's quota
		tr := usage.NewTracker(b.rdb, usage.WithPrefix(b.prefix), usage.WithClock(clock.Now), usage.WithFlushInterval(time.Hour))
		closeAtCleanup(t, tr)
		g := newGuard(t, tr, map[usage.Provider]usage.Quota{
			usage.Exa:    {Limit: 100, Period: usage.PerDay},
			usage.Apollo: {Limit: 100, Period: usage.PerDay},
		})
		err := g.Refresh(ctx)
		if err == nil || !strings.Contains(err.Error(), b.keyFor(usage.Apollo, noon)) {
			t.Errorf("Refresh = %v, want an error naming the apollo key", err)
		}
		checkUsed(t, g, usage.Exa, 1000)
		var qe *usage.QuotaError
		if err := g.Allow(usage.Exa); !errors.As(err, &qe) {
			t.Errorf("Allow(exa) at 1000 of 100 = %v, want a *QuotaError", err)
		}
		if err := g.Allow(usage.Apollo); err != nil {
			t.Errorf("Allow(apollo), unread = %v, want nil from the last view", err)
		}
		// The bad key keeps neither the quotas nor the alert from the
		// readers, though the guard has no WithAlert.
		r := usage.NewReader(b.rdb, usage.WithPrefix(b.prefix), usage.WithClock(clock.Now))
		if quotas, err := r.Quotas(ctx); err != nil || len(quotas) != 2 {
			t.Errorf("Quotas after a refresh past a bad key = %v, %v; want exa's and apollo's", quotas, err)
		}
		if fired, err := r.Alerts(ctx); err != nil || len(fired) != 2 || fired[0].Provider != usage.Exa || fired[1].Threshold != 1 {
			t.Errorf("Alerts = %+v, %v; want exa's 80 %% and 100 %%", fired, err)
		}
	})
}

// TestAlertFiresWhenItsClaimsReplyIsLost lets a guard's alert claim reach
// Redis and cuts the connection before the reply comes back: a later claim
// (the cluster client's own retry, or the next refresh) finds that the claim
// is its own and fires the alert, once.
func TestAlertFiresWhenItsClaimsReplyIsLost(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		p, tr := newProxiedTracker(t, b, proxyOptions{maxRetries: -1})
		log := &alertLog{}
		g := newGuard(t, tr, map[usage.Provider]usage.Quota{usage.Exa: {Limit: 10, Period: usage.PerDay}},
			usage.WithAlert(log.fire, 1))
		for range 12 {
			tr.Track(usage.Exa)
		}
		p.each(func(x *testsupport.Proxy) { x.CutAfter(":alert:") })
		if err := g.Refresh(ctxTimeout(t, 5*time.Second)); err != nil {
			t.Fatal(err)
		}
		claims, err := b.rdb.Keys(context.Background(), "{"+b.prefix+"}:alert:*").Result()
		if err != nil || len(claims) != 1 || p.droppedBytes() == 0 {
			t.Fatalf("claims in Redis = %v, %v, %d reply bytes dropped; want the claim whose reply was cut", claims, err, p.droppedBytes())
		}
		for range 3 {
			if err := g.Refresh(ctxTimeout(t, 5*time.Second)); err != nil {
				t.Fatal(err)
			}
		}
		if got := log.thresholds(); len(got) != 1 || got[0] != 1 {
			t.Errorf("alerts fired %v, want the 100 %% one once", got)
		}
	})
}

// TestGuardLetsTheFlusherIn gives a guard a refresh interval shorter than a
// round trip to Redis (each reply waits 15 ms): the tracker's background
// flusher still gets its turn and delivers every count.
func TestGuardLetsTheFlusherIn(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		p := newProxied(t, b, proxyOptions{})
		p.each(func(x *testsupport.Proxy) { x.SetDelay(15 * time.Millisecond) })
		tr := usage.NewTracker(p.rdb, usage.WithPrefix(b.prefix), usage.WithFlushInterval(50*time.Millisecond))
		closeAtCleanup(t, tr)
		g, err := usage.NewGuard(tr, map[usage.Provider]usage.Quota{usage.Exa: {Limit: 1 << 40}}, usage.WithRefreshInterval(usage.MinFlushInterval))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = g.Close(ctxTimeout(t, 5*time.Second)) })
		for range 30 {
			tr.Track(usage.Exa)
		}
		deadline := time.Now().Add(5 * time.Second)
		for tr.Stats().Flushed < 30 {
			if time.Now().After(deadline) {
				t.Fatalf("after 5 s of 50 ms flushes beside the guard: %+v", tr.Stats())
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
}

// TestGuardRefreshesAfterItsTrackerCloses closes a tracker while a write
// hangs, so the flusher's last ticks found the write semaphore taken: the
// guard, which lets such a waiting round go first, still refreshes once the
// flusher has stopped, and sees what another process counted.
func TestGuardRefreshesAfterItsTrackerCloses(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		p := newProxied(t, b, proxyOptions{maxRetries: -1, readTimeout: -1})
		tr := usage.NewTracker(p.rdb, usage.WithPrefix(b.prefix), usage.WithFlushInterval(usage.MinFlushInterval))
		closeAtCleanup(t, tr)
		g, err := usage.NewGuard(tr, map[usage.Provider]usage.Quota{usage.Exa: {Limit: 1 << 40}}, usage.WithRefreshInterval(usage.MinFlushInterval))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = g.Close(ctxTimeout(t, 5*time.Second)) })
		tr.Track(usage.Exa)
		p.each(func(x *testsupport.Proxy) { x.DropReplies(true) })
		if err := tr.Flush(ctxTimeout(t, 300*time.Millisecond)); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Flush with the replies dropped = %v, want the deadline", err) // the write hangs; ticks find it running
		}
		if err := tr.Close(ctxTimeout(t, 100*time.Millisecond)); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Close while the write hangs = %v, want the deadline", err)
		}
		p.each(func(x *testsupport.Proxy) {
			x.DropReplies(false)
			x.CutConnections()
		})
		// Wait out a refresh that was already waiting for the semaphore.
		if err := g.Refresh(ctxTimeout(t, 5*time.Second)); err != nil {
			t.Fatal(err)
		}
		other := usage.NewTracker(b.rdb, usage.WithPrefix(b.prefix), usage.WithFlushInterval(time.Hour))
		closeAtCleanup(t, other)
		for range 500 {
			other.Track(usage.Exa)
		}
		if err := other.Flush(ctxTimeout(t, 5*time.Second)); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(5 * time.Second)
		for used, _ := g.Used(usage.Exa); used < 500; used, _ = g.Used(usage.Exa) {
			if time.Now().After(deadline) {
				t.Fatalf("5 s after the other process counted 500, the guard sees %d", used)
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
}
