package usage

import (
	"context"
	"fmt"
	"time"
)

// A Tracker counts successful calls per provider per UTC day and sends the
// counts to Redis in the background, one pipelined round trip per flush
// interval. Counting never waits for Redis: [Tracker.Track] only adds to an
// in-memory counter.
//
// Every write is idempotent: each carries the tracker's id and a sequence
// number that a Lua script checks and records in the same step as the
// increment, so a write whose reply was lost is sent again without being
// counted twice, and a key that Redis refuses holds back only its own
// counts. How a count moves from Track to Redis is drawn at the top of
// cells.go and round.go.
//
// A Tracker is safe for concurrent use. The zero value is not usable; use
// [NewTracker], and [Tracker.Close] it to deliver what is pending and stop its
// goroutines.
type Tracker struct {
	cfg      config
	core     *counts  // the cells Track counts into
	w        *writer  // writes what core counted to Redis
	reports  *reports // the quotas providers reported, written in w's rounds
	errs     *reporter
	models   *names // the models the day admitted to breakdowns
	subjects *names // and the subjects
	cancel   context.CancelFunc
	done     chan struct{} // closed when the flusher and reporter have returned
}

// NewTracker returns a Tracker that writes to rdb and starts its background
// goroutines. A nil rdb, typed or not, or a client this package refuses (see
// [Redis]) makes a tracker that drops every call and whose [Tracker.Flush]
// and [Tracker.Close] return the reason.
func NewTracker(rdb Redis, opts ...Option) *Tracker {
	cfg := newConfig(opts)
	ctx, cancel := context.WithCancel(context.Background())
	t := &Tracker{
		cfg:      cfg,
		core:     newCounts(&cfg, checkClient(rdb)),
		reports:  newReports(cfg.prefix),
		errs:     newReporter(cfg.onError),
		models:   &names{limit: cfg.modelLimit},
		subjects: &names{limit: cfg.subjectLimit, at: true},
		cancel:   cancel,
		done:     make(chan struct{}),
	}
	t.w = newWriter(rdb, t.core, &cfg)
	t.w.parts = []roundPart{t.reports}
	if cfg.meterProvider != nil {
		t.w.onWrite = newMetrics(cfg.meterProvider, t.w.snapshot, cfg.clock, t.report)
	}
	go t.run(ctx)
	return t
}

// Track counts one successful call to p, in the UTC day of the tracker's
// clock. It never blocks, panics or does I/O, and it does not allocate
// except on a provider's first call of each UTC day (see [Tracker.Add]). A
// call with an invalid provider, after [Tracker.Close], or beyond
// [WithMaxKeys] is dropped and counted in [Stats].Dropped; the first drop in
// each flush interval is reported to the error handler. Track on a nil
// *Tracker does nothing.
//
// Track is shorthand for Add(p, 1), without the amount check.
func (t *Tracker) Track(p Provider) {
	if t != nil {
		t.core.add(p, 1)
	}
}

// Add adds n to p's counter for the UTC day of the tracker's clock, with
// Track's guarantees: it never blocks, panics or does I/O, every unit reaches
// Redis once, and its counts share Track's keys, so Track(p) and Add(p, 1)
// count the same. It is for counters of amounts, such as tokens
// ([ClaudeInputTokens]). An n outside 1..[MaxAdd] is dropped, as an invalid
// provider is.
//
// Add and Track allocate only on a provider's first call of each UTC day
// (the day's cell), and on the first call of a new provider while the
// tracker knows at most 256 providers (a copy of its provider index, at most
// 256 entries); beyond that, a new provider joins the index at the next
// flush, and its calls until then take a locked path.
func (t *Tracker) Add(p Provider, n int64) {
	if t == nil {
		return
	}
	if !validAmount(n) {
		t.dropAmount(series{p: p}, n)
		return
	}
	t.core.add(p, n)
}

func validAmount(n int64) bool { return n >= 1 && n <= MaxAdd }

// dropAmount drops an amount outside 1..MaxAdd added to s.
func (t *Tracker) dropAmount(s series, n int64) {
	t.core.drop(classOf(s), dropBadAmount, n, func() error {
		return fmt.Errorf("usage: add %d to %s: amount not in 1..%d", n, s.p, int64(MaxAdd))
	})
}

// SetReported keeps r as the latest quota p reported; the flusher writes it
// to Redis at its next round, at most once per flush interval whatever the
// number of reports, and the last write wins across the fleet. It does no
// I/O and never blocks for long. Reports of an invalid provider, or with a
// zero At, are ignored.
func (t *Tracker) SetReported(p Provider, r Reported) {
	if t == nil || r.At.IsZero() || p.invalidAt() >= 0 || t.core.noClient != nil {
		return
	}
	t.reports.set(p, r)
}

// Stats returns a consistent snapshot of the tracker's counts. It is safe to
// call at any time, including after [Tracker.Close].
func (t *Tracker) Stats() Stats {
	return statsOf(t.w.snapshot())
}

// report passes err to the error handler, without waiting.
func (t *Tracker) report(err error) { t.errs.report(err) }

// reportDrops reports the first drop since the last report.
func (t *Tracker) reportDrops() {
	if err := t.core.takeDropErr(); err != nil {
		t.report(fmt.Errorf("usage: dropped a call: %w", err))
	}
}

// run is the flusher. Every interval it starts a round, unless one is still
// running, keeps the day and the provider index up to date, and reports
// what went wrong; it never waits for Redis, so it keeps the day right while
// Redis hangs. When Close cancels ctx it reports the last drops, stops the
// reporter it started and returns once the reporter has.
func (t *Tracker) run(ctx context.Context) {
	defer close(t.done)
	stopReporter, reporterDone := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(reporterDone)
		t.errs.run(stopReporter)
	}()
	defer func() {
		t.w.rounds.wanted.Store(false) // no tick waits for a round any more
		t.reportDrops()
		close(stopReporter)
		<-reporterDone
	}()

	tick := time.NewTicker(t.cfg.flushInterval)
	defer tick.Stop()
	dayTimer := time.NewTimer(t.core.syncDay())
	defer dayTimer.Stop()
	indexDay := t.core.today()
	for {
		select {
		case <-ctx.Done():
			return
		case <-dayTimer.C:
			dayTimer.Reset(t.core.syncDay())
			continue
		case <-tick.C:
		}
		dayTimer.Reset(t.core.syncDay())
		today := t.core.today()
		t.core.tidy(today != indexDay)
		indexDay = today
		if t.core.noClient == nil {
			t.w.tick(ctx, t.report)
		}
		t.reportDrops()
	}
}

// Flush sends everything counted so far to Redis and waits for the result
// until ctx is done. It returns nil when all of it is confirmed; otherwise
// the keys Redis refused (each a [*KeyError]), the write error, or, when ctx
// ends first, an error that matches ctx.Err() with [errors.Is] and also
// names the last write error. Counts not confirmed stay pending and are sent
// again later, never applied twice. It returns [ErrClosed] after
// [Tracker.Close]. Flush is safe to call concurrently with every other
// method; rounds never overlap.
func (t *Tracker) Flush(ctx context.Context) error {
	if t.core.isClosed() {
		return ErrClosed
	}
	if t.core.noClient != nil {
		return t.core.noClient
	}
	return t.w.flush(ctx, false)
}

// Close closes the tracker at once, whatever ctx: later calls to
// [Tracker.Track] and [Tracker.Add] are dropped and [Tracker.Flush] returns
// [ErrClosed]. Then it sends everything pending and returns when it is
// confirmed, or when ctx is done, even if the Redis client or the error
// handler hangs. While Redis cannot be reached or is not ready (LOADING,
// BUSY, CLUSTERDOWN and the like) it tries again, backing off from 50 ms to
// 1 s, until ctx is done, so a Redis that restarts within the deadline gets
// the counts; keys Redis refuses end it at once. It returns nil when nothing
// is left pending, and otherwise the error, as Flush does; the units left
// are in Stats().Pending, and calling Close again, with a fresh deadline,
// retries them. A write still running when ctx is done finishes in the
// background. Close waits, within ctx, for the tracker's goroutines to
// return; one inside the error handler returns when the handler does. Close
// is safe to call more than once and concurrently with every other method.
func (t *Tracker) Close(ctx context.Context) error {
	t.core.close()
	t.cancel()
	err := t.core.noClient
	if err == nil {
		err = t.w.flush(ctx, true)
	}
	select {
	case <-t.done:
	case <-ctx.Done():
	}
	return err
}
