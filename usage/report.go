package usage

import (
	"fmt"
	"sync/atomic"
	"time"
)

// The error handler ([WithErrorHandler]) runs on a goroutine of its own, the
// reporter, so a slow handler holds up neither writes nor the flusher, which
// keeps the day state right near midnight. Errors reach it through t.errs; a
// report that finds the queue full is left out.

// report queues err for the error handler without waiting.
func (t *Tracker) report(err error) {
	select {
	case t.errs <- err:
	default:
	}
}

// reporter calls the error handler with each queued error, one at a time,
// until stop is closed; then it passes on what is still queued and returns.
func (t *Tracker) reporter(stop <-chan struct{}) {
	for {
		select {
		case err := <-t.errs:
			t.cfg.onError(err)
		case <-stop:
			for {
				select {
				case err := <-t.errs:
					t.cfg.onError(err)
				default:
					return
				}
			}
		}
	}
}

// reportDrops reports the first drop since the last report.
func (t *Tracker) reportDrops() {
	if err := t.core.takeDropErr(); err != nil {
		t.report(fmt.Errorf("usage: dropped a call: %w", err))
	}
}

// rateLimited returns an error handler that passes at most one error per
// every to emit, with how many it left out since the last.
func rateLimited(every time.Duration, now func() time.Time, emit func(err error, suppressed int64)) func(error) {
	var last atomic.Int64 // unix nanoseconds of the last emitted error
	var skipped atomic.Int64
	return func(err error) {
		t := now().UnixNano()
		prev := last.Load()
		if prev != 0 && t-prev < int64(every) || !last.CompareAndSwap(prev, t) {
			skipped.Add(1)
			return
		}
		emit(err, skipped.Swap(0))
	}
}
