// Package usage counts each paid API provider's successful calls per UTC day
// in Redis, for the dashboard's API Quota Burn card, without ever slowing
// down or failing the call it counts. Most users need one call,
// [Tracker.Track], after each successful call, on a tracker built once with
// [NewTracker] and closed at shutdown:
//
//	tracker := usage.NewTracker(rdb) // *redis.Client, *redis.ClusterClient or *redis.Ring
//	defer tracker.Close(shutdownCtx)
//	tracker.Track(usage.Exa)
//
// Counts live in keys "api_usage:{provider}:{YYYY-MM-DD}" (see [Key]) as
// plain integers with a 90-day TTL, the format the TypeScript app shares.
// Track only adds to an in-memory counter; a background flusher sends all
// pending counts in one pipelined round trip per second, idempotently, so
// counts survive Redis outages and lost replies without being counted twice.
// A [Reader] reads the daily counts back and reports quota burn.
package usage

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
)

// ErrClosed is returned by [Tracker.Flush] after [Tracker.Close].
var ErrClosed = errors.New("usage: tracker closed")

// ErrTooManyKeys is passed to the error handler when calls are dropped because
// the tracker already holds the maximum number of pending keys
// (see [WithMaxKeys]).
var ErrTooManyKeys = errors.New("usage: too many pending keys")

// A Tracker counts successful calls per provider per UTC day and sends the
// counts to Redis in the background, one pipelined round trip per flush
// interval. Counting never waits for Redis: [Tracker.Track] only adds to an
// in-memory counter.
//
// Every write is idempotent: each batch carries the tracker's id and a
// sequence number that a Lua script checks and records in the same step as
// the INCRBY, so a batch whose reply was lost can be sent again without being
// counted twice. A batch is re-sent until Redis confirms it; counts tracked
// meanwhile wait in memory. At every moment
// Stats().Tracked == Flushed + Pending + Dropped.
//
// A Tracker is safe for concurrent use. The zero value is not usable; use
// [NewTracker], and [Tracker.Close] it to deliver what is pending and stop its
// goroutine.
type Tracker struct {
	rdb Redis
	cfg config
	id  string // random; names this tracker's markers in Redis

	// providers maps each provider with a live cell to its entry. Track reads
	// it without locking; it is replaced, never changed, under mu.
	providers atomic.Pointer[map[Provider]*entry]
	day       atomic.Pointer[dayState]
	dropped   atomic.Int64
	dropErr   atomic.Pointer[error] // first drop since the flusher last reported

	sem    chan struct{} // capacity 1; held while a write to Redis is in flight
	errMu  sync.Mutex    // serializes calls to cfg.onError
	cancel context.CancelFunc
	done   chan struct{} // closed when the flusher goroutine returns

	mu      sync.Mutex        // protects the fields below
	cells   map[cellKey]*cell // live cells, at most cfg.maxKeys
	stash   map[string]item   // counts taken from cells, not yet in a batch
	batch   *batch            // sent but not confirmed; re-sent until it is
	seq     int64             // sequence number of the last batch cut
	flushed int64             // calls confirmed written
	closed  bool
}

// An entry is the fast path's view of one provider.
type entry struct {
	cur atomic.Pointer[cell] // the cell of the newest day seen
}

type cellKey struct {
	p Provider
	d day
}

// retired replaces a cell's count when the flusher takes it for the last
// time: any later Add returns a negative number, so the caller knows its call
// was not counted there and goes to the slow path.
const retired = -1 << 63

// A cell counts one provider's calls on one UTC day until the flusher takes
// them.
type cell struct {
	n      atomic.Int64 // calls not yet taken; negative once retired
	_      [56]byte     // keeps n alone on its cache line
	k      cellKey
	key    string // the Redis counter key
	marker string // the Redis key of this tracker's marker for key
}

// NewTracker returns a Tracker that writes to rdb and starts its background
// flusher.
func NewTracker(rdb Redis, opts ...Option) *Tracker {
	ctx, cancel := context.WithCancel(context.Background())
	t := &Tracker{
		rdb:    rdb,
		cfg:    newConfig(opts),
		id:     newTrackerID(),
		sem:    make(chan struct{}, 1),
		cancel: cancel,
		done:   make(chan struct{}),
		cells:  make(map[cellKey]*cell),
		stash:  make(map[string]item),
	}
	t.providers.Store(&map[Provider]*entry{})
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
// clock. It never blocks, allocates, panics or does I/O. A call with an
// invalid provider, after [Tracker.Close], or beyond [WithMaxKeys] is dropped
// and counted in [Stats].Dropped; the first such drop in each flush interval
// is reported to the error handler. Track on a nil *Tracker does nothing.
func (t *Tracker) Track(p Provider) {
	if t == nil {
		return
	}
	d := t.today()
	if e := (*t.providers.Load())[p]; e != nil {
		if c := e.cur.Load(); c != nil && c.k.d == d && c.n.Add(1) > 0 {
			return
		}
	}
	t.trackSlow(p, d)
}

// trackSlow counts a call that has no live cell of today for its provider.
func (t *Tracker) trackSlow(p Provider, d day) {
	if p.invalidAt() >= 0 {
		t.drop(p.Validate)
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		t.dropped.Add(1)
		return
	}
	k := cellKey{p, d}
	c := t.cells[k]
	if c == nil {
		if len(t.cells) >= t.cfg.maxKeys {
			t.drop(func() error { return ErrTooManyKeys })
			return
		}
		key := key(t.cfg.prefix, p, d)
		c = &cell{k: k, key: key, marker: markerKey(key, t.id)}
		t.cells[k] = c
	}
	c.n.Add(1) // live cells are retired only under t.mu, so this call counts
	e := t.entryLocked(p)
	if cur := e.cur.Load(); cur == nil || cur.n.Load() < 0 || cur.k.d <= d {
		e.cur.Store(c)
	}
}

// drop counts a dropped call and keeps its error for the flusher to report,
// building the error only when none is waiting.
func (t *Tracker) drop(reason func() error) {
	t.dropped.Add(1)
	if t.dropErr.Load() == nil {
		err := reason()
		t.dropErr.CompareAndSwap(nil, &err)
	}
}

// entryLocked returns p's entry, adding one to the providers map if needed.
// It requires t.mu held.
func (t *Tracker) entryLocked(p Provider) *entry {
	old := *t.providers.Load()
	if e := old[p]; e != nil {
		return e
	}
	m := make(map[Provider]*entry, len(old)+1)
	for q, e := range old {
		m[q] = e
	}
	e := &entry{}
	m[p] = e
	t.providers.Store(&m)
	return e
}

// pruneLocked drops the entries whose newest cell is retired, so providers
// no longer called do not stay in memory. It requires t.mu held.
func (t *Tracker) pruneLocked() {
	old := *t.providers.Load()
	m := make(map[Provider]*entry, len(old))
	for p, e := range old {
		if c := e.cur.Load(); c != nil && c.n.Load() >= 0 {
			m[p] = e
		}
	}
	if len(m) != len(old) {
		t.providers.Store(&m)
	}
}

// markerKey names the key that records which of this tracker's batches were
// applied to key. It shares key's Redis Cluster slot: it reuses key's hash tag
// when key has one, and makes key its hash tag otherwise.
func markerKey(key, id string) string {
	if i := strings.IndexByte(key, '{'); i >= 0 {
		if j := strings.IndexByte(key[i+1:], '}'); j > 0 {
			return key + ":applied:" + id
		}
	}
	return "{" + key + "}:applied:" + id
}

// Stats is a snapshot of a tracker's counts. Tracked == Flushed + Pending +
// Dropped in every snapshot.
type Stats struct {
	Tracked int64 // calls passed to Track
	Flushed int64 // calls Redis confirmed
	Pending int64 // calls counted in memory or in a batch not yet confirmed
	Dropped int64 // calls not counted: invalid provider, after Close, beyond the key cap
}

// Stats returns a consistent snapshot of the tracker's counts. It is safe to
// call at any time, including after [Tracker.Close].
func (t *Tracker) Stats() Stats {
	t.mu.Lock()
	defer t.mu.Unlock()
	var pending int64
	for _, c := range t.cells {
		pending += c.n.Load()
	}
	for _, it := range t.stash {
		pending += it.n
	}
	if t.batch != nil {
		pending += t.batch.pending()
	}
	s := Stats{Flushed: t.flushed, Pending: pending, Dropped: t.dropped.Load()}
	s.Tracked = s.Flushed + s.Pending + s.Dropped
	return s
}

// String formats the stats for logs.
func (s Stats) String() string {
	return fmt.Sprintf("tracked=%d flushed=%d pending=%d dropped=%d", s.Tracked, s.Flushed, s.Pending, s.Dropped)
}
