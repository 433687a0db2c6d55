package providers

import (
	"sync"
	"testing"
	"time"
)

func TestLatencyRingKeepsTheLatest(t *testing.T) {
	var r latencyRing
	for i := range 300 {
		r.push(i%numOutcomes, time.Duration(i)*time.Millisecond)
	}
	var got []time.Duration
	r.drain(func(o int, d time.Duration) {
		if want := int(d/time.Millisecond) % numOutcomes; o != want {
			t.Errorf("sample %v has outcome %d, want %d", d, o, want)
		}
		got = append(got, d)
	})
	if len(got) != ringSize || got[0] != 44*time.Millisecond || got[len(got)-1] != 299*time.Millisecond {
		t.Fatalf("drained %d samples from %v to %v, want the latest %d, 44ms to 299ms", len(got), got[0], got[len(got)-1], ringSize)
	}
	r.drain(func(int, time.Duration) { t.Fatal("a drained sample came back") })

	// Pushes and drains at once: every sample is taken at most once.
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 1000 {
				r.push(outcome2xx, time.Microsecond)
			}
		})
	}
	taken := 0
	wg.Go(func() {
		for range 100 {
			r.drain(func(int, time.Duration) { taken++ })
		}
	})
	wg.Wait()
	r.drain(func(int, time.Duration) { taken++ })
	if taken > 4000 || taken == 0 {
		t.Errorf("took %d of 4,000 samples pushed", taken)
	}
}
