package usage

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"maps"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// A Tracker counts successful calls per provider per UTC day and sends the
// counts to Redis in the background, one pipelined round trip per flush
// interval. Counting never waits for Redis: [Tracker.Track] only adds to an
// in-memory counter.
//
// Every write is idempotent: each carries the tracker's id and a sequence
// number that a Lua script checks and records in the same step as the
// INCRBY, so a write whose reply was lost is sent again without being counted
// twice, and a key that Redis refuses holds back only its own counts. How a
// count moves from Track to Redis is drawn at the top of flush.go.
//
// A Tracker is safe for concurrent use. The zero value is not usable; use
// [NewTracker], and [Tracker.Close] it to deliver what is pending and stop its
// goroutines.
type Tracker struct {
	rdb    Redis
	rdbErr error // why rdb cannot be used; then every call is dropped
	cfg    config
	id     string // random; names this tracker's markers in Redis

	// index maps each provider with a recent slot to its entry. Track reads
	// it without locking; it is replaced, never changed, under mu.
	index   atomic.Pointer[map[Provider]*entry]
	day     atomic.Pointer[dayState]
	dropped [numDropReasons]atomic.Int64
	dropErr atomic.Pointer[error] // first drop since the flusher last reported

	sem    chan struct{} // capacity 1; held for a whole round (see flush.go)
	errs   chan error    // to the reporter goroutine, which calls cfg.onError
	cancel context.CancelFunc
	done   chan struct{} // closed when the flusher and reporter have returned

	repMu    sync.Mutex            // protects reported
	reported map[Provider]Reported // reports not yet written; see SetReported

	roundWanted atomic.Bool // the flusher found t.sem taken at its last tick; guards wait

	mu         sync.Mutex // protects the fields below and every slot's cold fields
	slots      map[slotKey]*slot
	newEntries map[Provider]*entry // entries not yet in index; see entryLocked
	stale      bool                // index may hold entries staleLocked would drop
	seq        int64               // sequence number of the last round that cut new items
	flushed    int64               // units Redis confirmed
	confirmed  int64               // rounds that confirmed something; see reclaimLocked
	reclaimed  int64               // confirmed as of the last reclaimLocked
	lastErr    error               // of the last round, if it failed, for Flush's errors
	writeStart time.Time           // when the running round's write began; zero when none runs
	lastTake   time.Time           // when takeLocked last ran, by cfg.clock
	rounds     int64               // rounds that wrote, for the metrics
	roundErrs  [numErrKinds]int64  // their errors by kind, for the metrics
	metrics    *metrics            // nil without WithMeterProvider
	closed     bool
}

// An entry is the fast path's view of one provider: its newest slot.
type entry struct {
	cur    atomic.Pointer[slot]
	pinned bool // a Meter holds it: never pruned; set under Tracker.mu
}

type slotKey struct {
	p Provider
	d day
}

// retiredBit marks a slot's cell as retired: any later add returns a
// negative sum, so the caller knows its units were not counted there and
// takes the slow path.
const retiredBit = math.MinInt64

// MaxAdd is the largest amount one [Tracker.Add] call may add.
const MaxAdd = 1 << 32

// A slot holds one provider's counts for one UTC day: one Redis key. Its
// cell n is the only field Track touches; the rest belong to the flusher and
// are protected by Tracker.mu. flush.go describes how counts move through it.
type slot struct {
	n atomic.Int64 // units counted in the cell since the slot began; retiredBit once retired
	_ [56]byte     // keeps n alone on its cache line

	k        slotKey
	retired  bool      // the cell takes no more units; set with retiredBit
	taken    int64     // units moved out of the cell into unsent
	unsent   int64     // units waiting for a round
	inflight int64     // units sent under seq whose outcome is unknown; 0 when none
	seq      int64     // sequence number of inflight
	since    time.Time // no unit of the slot pending before this; zero when none is (for the lag metric)
	key      string
	marker   string
}

// count returns the units counted in s's live cell.
func (s *slot) count() int64 { return s.n.Load() }

// pending returns the units of s that Redis has not confirmed. A retired
// cell's count was all taken when it retired: adds that find it retired are
// counted elsewhere. It requires Tracker.mu held.
func (s *slot) pending() int64 {
	n := s.unsent + s.inflight
	if !s.retired {
		n += s.count() - s.taken
	}
	return n
}

// NewTracker returns a Tracker that writes to rdb and starts its background
// goroutines. A nil rdb, typed or not, or a client this package refuses (see
// [Redis]) makes a tracker that drops every call and whose [Tracker.Flush]
// and [Tracker.Close] return the reason.
func NewTracker(rdb Redis, opts ...Option) *Tracker {
	ctx, cancel := context.WithCancel(context.Background())
	t := &Tracker{
		rdb:        rdb,
		rdbErr:     checkClient(rdb),
		cfg:        newConfig(opts),
		id:         newTrackerID(),
		sem:        make(chan struct{}, 1),
		errs:       make(chan error, 16),
		cancel:     cancel,
		done:       make(chan struct{}),
		slots:      make(map[slotKey]*slot),
		newEntries: make(map[Provider]*entry),
	}
	t.index.Store(&map[Provider]*entry{})
	t.lastTake = t.cfg.clock()
	if t.cfg.meterProvider != nil {
		t.metrics = newMetrics(t, t.cfg.meterProvider)
	}
	next := t.syncDay()
	go t.run(ctx, next)
	return t
}

func newTrackerID() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // never fails on supported platforms
	return hex.EncodeToString(b[:])
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
		t.add(p, 1)
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
// (the day's slot), and on the first call of a new provider while the
// tracker knows at most 256 providers (a copy of its provider index, at most
// 256 entries); beyond that, a new provider joins the index at the next
// flush, and its calls until then take a locked path.
func (t *Tracker) Add(p Provider, n int64) {
	if t == nil {
		return
	}
	if n < 1 || n > MaxAdd {
		t.drop(dropBadAmount, n, func() error { return fmt.Errorf("usage: add %d to %s: amount not in 1..%d", n, p, int64(MaxAdd)) })
		return
	}
	t.add(p, n)
}

// add counts n units of p: one atomic add on the day's slot when the
// provider index has it, the slow path otherwise.
func (t *Tracker) add(p Provider, n int64) {
	d := t.today()
	if e := (*t.index.Load())[p]; e != nil {
		if s := e.cur.Load(); s != nil && s.k.d == d && s.n.Add(n) >= 0 {
			return
		}
	}
	t.addSlow(p, d, n)
}

// addSlow counts n units of p on day d when no live slot of that day was at
// hand.
func (t *Tracker) addSlow(p Provider, d day, n int64) {
	if p.invalidAt() >= 0 {
		t.drop(dropInvalidProvider, n, p.Validate)
		return
	}
	if t.rdbErr != nil {
		t.drop(dropNoClient, n, func() error { return t.rdbErr })
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		t.dropped[dropClosed].Add(n)
		return
	}
	k := slotKey{p, d}
	s := t.slots[k]
	switch {
	case s == nil:
		if len(t.slots) >= t.cfg.maxKeys && !t.reclaimLocked() {
			t.drop(dropTooManyKeys, n, func() error { return ErrTooManyKeys })
			return
		}
		s = &slot{k: k}
		t.slots[k] = s
	case s.retired:
		// A call of a day already retired, from a caller that read the day
		// just before midnight: it still belongs to that day's key.
		s.unsent += n
		if s.since.IsZero() {
			s.since = t.lastTake
		}
		return
	}
	s.n.Add(n) // live slots are retired only under t.mu, so these units count
	e := t.entryLocked(p)
	if cur := e.cur.Load(); cur == nil || cur.retired || cur.k.d <= d {
		e.cur.Store(s)
	}
}

// indexCopyLimit is the largest provider index that entryLocked copies on a
// caller's path; larger ones are rebuilt by the flusher.
const indexCopyLimit = 256

// entryLocked returns p's entry, making one if needed. A new entry joins the
// index at once while the index is small; otherwise it waits in newEntries,
// where the slow path finds it, until the flusher's next rebuild, so no
// caller copies a large index. It requires t.mu held.
func (t *Tracker) entryLocked(p Provider) *entry {
	idx := *t.index.Load()
	if e := idx[p]; e != nil {
		return e
	}
	if e := t.newEntries[p]; e != nil {
		return e
	}
	e := &entry{}
	t.newEntries[p] = e
	if len(idx) < indexCopyLimit {
		t.rebuildIndexLocked()
	}
	return e
}

// rebuildIndexLocked publishes a new index: the current one plus newEntries,
// less the entries pruneIndexLocked found stale. It requires t.mu held.
func (t *Tracker) rebuildIndexLocked() {
	m := maps.Clone(*t.index.Load())
	if t.stale {
		maps.DeleteFunc(m, func(_ Provider, e *entry) bool { return t.staleLocked(e) })
	}
	maps.Copy(m, t.newEntries)
	clear(t.newEntries)
	t.stale = false
	t.index.Store(&m)
}

// staleLocked reports whether e's newest slot is gone or of a day before
// yesterday: a provider not called for a whole day. Keeping yesterday's
// entries spares every provider the slow path on its first calls after
// midnight. It requires t.mu held.
func (t *Tracker) staleLocked(e *entry) bool {
	s := e.cur.Load()
	return !e.pinned && (s == nil || s.retired && s.k.d < t.today()-1)
}

// reclaimLocked retires the live slots that hold nothing pending, so that
// [WithMaxKeys] bounds pending keys rather than keys ever seen, and reports
// whether the tracker is now below the cap. It scans the slots only if a
// round confirmed something since its last scan. It requires t.mu held.
func (t *Tracker) reclaimLocked() bool {
	if t.reclaimed == t.confirmed {
		return false
	}
	t.reclaimed = t.confirmed
	for k, s := range t.slots {
		if s.retired || s.unsent != 0 || s.inflight != 0 {
			continue
		}
		// Only a cell that nobody added to since the last take retires.
		if s.n.CompareAndSwap(s.taken, s.taken|retiredBit) {
			s.retired = true
			delete(t.slots, k)
			t.stale = true
		}
	}
	return len(t.slots) < t.cfg.maxKeys
}

// Stats is a snapshot of a tracker's counts, in units: a call to
// [Tracker.Track] is one unit, Add(p, n) is n. Every unit passed to Track or
// Add is in exactly one of Flushed, Pending and Dropped, and Tracked is
// their sum, so it equals the units passed so far.
type Stats struct {
	Tracked int64 // units passed to Track and Add
	Flushed int64 // units Redis confirmed
	Pending int64 // units in memory or sent but not confirmed
	Dropped int64 // units not counted: invalid provider or amount, after Close, beyond the key cap, no usable client
}

// Stats returns a consistent snapshot of the tracker's counts. It is safe to
// call at any time, including after [Tracker.Close].
func (t *Tracker) Stats() Stats {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := Stats{Flushed: t.flushed}
	for _, sl := range t.slots {
		s.Pending += sl.pending()
	}
	for i := range t.dropped {
		s.Dropped += t.dropped[i].Load()
	}
	s.Tracked = s.Flushed + s.Pending + s.Dropped
	return s
}

// String formats the stats for logs.
func (s Stats) String() string {
	return fmt.Sprintf("tracked=%d flushed=%d pending=%d dropped=%d", s.Tracked, s.Flushed, s.Pending, s.Dropped)
}
