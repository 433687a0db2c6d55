package usage_test

import (
	"sync"
	"testing"
	"time"

	"github.com/enrichmeter/enrichmeter/usage"
)

func TestMeterCountsAsTrackDoes(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		before := time.Date(2026, 11, 26, 23, 59, 59, 0, time.UTC)
		clock := newFakeClock(before)
		tr := usage.NewTracker(b.rdb, usage.WithPrefix(b.prefix), usage.WithClock(clock.Now), usage.WithFlushInterval(time.Millisecond))
		closeAtCleanup(t, tr)
		m := tr.Meter(usage.Exa)
		if m.Provider() != usage.Exa {
			t.Fatalf("Provider() = %q", m.Provider())
		}
		const goroutines, calls = 4, 5000
		var wg sync.WaitGroup
		for g := range goroutines {
			wg.Go(func() {
				for i := range calls {
					if g == 0 && i == calls/2 {
						clock.Set(before.Add(2 * time.Second)) // midnight, while the others count
					}
					m.Track()
					tr.Track(usage.Exa) // the same counter through the tracker
				}
			})
		}
		wg.Wait()
		m.Add(10)
		if err := tr.Close(ctxTimeout(t, 10*time.Second)); err != nil {
			t.Fatal(err)
		}
		m.Track() // after Close: dropped
		const want = 2*goroutines*calls + 10
		checkStats(t, tr, usage.Stats{Tracked: want + 1, Flushed: want, Dropped: 1})
		got := get(t, b.rdb, b.keyFor(usage.Exa, before)) + get(t, b.rdb, b.keyFor(usage.Exa, before.Add(time.Hour)))
		if got != want {
			t.Errorf("Redis holds %d over the two days, want %d", got, want)
		}
	})
}

// TestMeterOutlivesIdleDays checks that a Meter keeps counting after its
// provider went unused for days, which prunes providers from the tracker's
// index, and after the key cap reclaimed its idle slot.
func TestMeterOutlivesIdleDays(t *testing.T) {
	clock := newFakeClock(noon)
	rdb := newMiniredisClient(t)
	errs := newErrorLog()
	tr := usage.NewTracker(rdb, usage.WithClock(clock.Now), usage.WithFlushInterval(time.Millisecond), usage.WithMaxKeys(1), usage.WithErrorHandler(errs.handle))
	closeAtCleanup(t, tr)
	m := tr.Meter(usage.Apollo)
	m.Track()
	ctx := ctxTimeout(t, 10*time.Second)
	if err := tr.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	later := noon.AddDate(0, 0, 5)
	clock.Set(later)
	tr.Track(usage.Exa) // takes the one key: apollo's was idle
	if err := tr.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	m.Track()
	m.Track()
	if err := tr.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if got := get(t, rdb, usage.Key(usage.Apollo, later)); got != 2 {
		t.Errorf("apollo holds %d five days later, want 2", got)
	}
	checkStats(t, tr, usage.Stats{Tracked: 4, Flushed: 4})
}

func TestMeterOfAnInvalidProviderDrops(t *testing.T) {
	tr := usage.NewTracker(newMiniredisClient(t), usage.WithFlushInterval(time.Hour))
	closeAtCleanup(t, tr)
	m := tr.Meter("Not Valid")
	m.Track()
	m.Add(5)
	checkStats(t, tr, usage.Stats{Tracked: 6, Dropped: 6})

	var nilTracker *usage.Tracker
	nilMeter := nilTracker.Meter(usage.Exa)
	nilMeter.Track() // does nothing
	nilMeter.Add(1)
}

func TestMeterDoesNotAllocate(t *testing.T) {
	tr := usage.NewTracker(newMiniredisClient(t), usage.WithClock(newFakeClock(noon).Now), usage.WithFlushInterval(time.Hour))
	closeAtCleanup(t, tr)
	m := tr.Meter(usage.Exa)
	m.Track()
	if n := testing.AllocsPerRun(1000, func() { m.Track(); m.Add(3) }); n != 0 {
		t.Errorf("Meter on the steady path: %v allocations, want 0", n)
	}
}
