package usage

// The counting core
//
// Track and Add count into cells, one per counter and UTC day. A counter is
// a plain key per day ("api_usage:exa:2026-11-26") or one field of a hash per
// day (a series). A cell's n is the only field a caller touches: one atomic
// add, no lock, found through an index that is replaced, never changed.
//
//	caller ──▶ cell.n ──── drain ────▶ the round writer (round.go)
//	           atomic add   under mu      which calls release once Redis
//	           no lock                    confirmed every unit it took
//
//   - drain moves what each cell counted since the last drain (n - drained)
//     out to the writer. It first retires the cells of days before today,
//     and every cell once the core is closed: retiredBit is set in n by one
//     atomic Or, which returns the cell's final count. A caller that still
//     holds a retired cell sees a negative sum, knows its units were not
//     counted there, and counts them on the slow path, under mu, in a new
//     cell of the same day.
//   - A cell stays in the map while the writer holds units of it (held),
//     until release; a retired cell leaves it then. So WithMaxKeys bounds
//     the (counter, day)s with units not yet confirmed, and reclaim retires
//     live cells with nothing counted since their last drain and nothing
//     held, so that keys merely seen do not count against it.
//
// The core knows nothing of Redis: the writer calls drain and release, and
// the core never calls the writer. Its lock, mu, is taken after the
// writer's (see round.go) and never held across I/O.

import (
	"maps"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// MaxAdd is the largest amount one [Tracker.Add] call may add.
const MaxAdd = 1 << 32

// retiredBit marks a retired cell: any later add returns a negative sum.
const retiredBit = math.MinInt64

// A series is one counter: a plain key per day, or a field of a hash per
// day.
type series struct {
	p     Provider // the counter's name, or the hash's
	field string   // the hash field; "" for a plain counter
}

// A cellKey names one cell: a counter on a UTC day.
type cellKey struct {
	s series
	d day
}

// A unitClass sorts counters for [Stats]: calls, tokens, and the hash
// fields that break other counts down, which would count twice if added to
// them.
type unitClass uint8

const (
	classCalls unitClass = iota
	classTokens
	classDetail
	numClasses
)

// classOf returns the class of a counter: tokens for a plain counter whose
// name ends in "_tokens", calls for other plain counters, detail for hash
// fields.
func classOf(s series) unitClass {
	switch {
	case s.field != "":
		return classDetail
	case strings.HasSuffix(string(s.p), "_tokens"):
		return classTokens
	}
	return classCalls
}

// A cell counts one series on one UTC day. Its n is the only field callers
// touch; the rest are protected by counts.mu.
type cell struct {
	n atomic.Int64 // units added since the cell began; retiredBit once retired
	_ [56]byte     // keeps n alone on its cache line

	k       cellKey
	class   unitClass
	drained int64 // units of n moved out to the writer
	final   int64 // n when it retired; valid once retired
	retired bool
	held    bool // the writer holds units of it that Redis has not confirmed
}

// kind returns 1 for a breakdown's cell, 0 for a counter's.
func (x *cell) kind() int {
	if x.k.s.field != "" {
		return 1
	}
	return 0
}

// count returns the units counted in c, retired or not.
func (c *cell) count() int64 { return c.n.Load() &^ retiredBit }

// undrainedLocked returns the units of c not yet drained. It requires
// counts.mu held.
func (c *cell) undrainedLocked() int64 {
	if c.retired {
		return c.final - c.drained
	}
	return c.n.Load() - c.drained
}

// An entry is the fast path's view of one series: its newest cell.
type entry struct {
	cur    atomic.Pointer[cell]
	pinned bool // a Meter holds it: never pruned; set under counts.mu
}

// A drained amount is what drain moved out of one cell.
type drained struct {
	k     cellKey
	class unitClass
	n     int64
}

// counts is the counting core: the cells, the index the fast path reads,
// the day, and what was dropped.
type counts struct {
	clock    func() time.Time
	custom   bool  // clock came from WithClock: read it on every call
	maxKeys  int   // cells at most
	noClient error // why the tracker has no usable client; every call drops
	day      atomic.Pointer[dayState]
	dropped  [numClasses][numDropReasons]atomic.Int64
	dropErr  atomic.Pointer[error] // the first drop since takeDropErr

	// index maps each plain counter with a recent cell to its entry. The
	// fast path reads it without locking; it is replaced, never changed,
	// under mu.
	index atomic.Pointer[map[Provider]*entry]

	mu         sync.Mutex // protects the fields below and every cell's fields but n
	cells      map[cellKey]*cell
	sizes      [2]int              // cells in the map: counters', breakdowns' (see fullLocked)
	newEntries map[Provider]*entry // entries not yet in index; see entryLocked
	stale      bool                // index may hold entries staleLocked would drop
	closed     bool
	lastDrain  time.Time // by clock
	releases   int64     // release calls that freed a cell; see reclaimLocked
	reclaimed  int64     // releases as of the last reclaimLocked
}

func newCounts(cfg *config, noClient error) *counts {
	c := &counts{
		clock:      cfg.clock,
		custom:     cfg.customClock,
		maxKeys:    cfg.maxKeys,
		noClient:   noClient,
		cells:      make(map[cellKey]*cell),
		newEntries: make(map[Provider]*entry),
	}
	c.index.Store(&map[Provider]*entry{})
	c.lastDrain = c.clock()
	c.syncDay()
	return c
}

// add counts n units of the plain counter p: one atomic add on the day's
// cell when the index has it, the slow path otherwise.
func (c *counts) add(p Provider, n int64) {
	d := c.today()
	e := (*c.index.Load())[p]
	if e != nil {
		if x := e.cur.Load(); x != nil && x.k.d == d && x.n.Add(n) >= 0 {
			return
		}
	}
	c.addSlow(e, series{p: p}, d, n)
}

// addTo counts n units through e, an entry of s that a Meter holds.
func (c *counts) addTo(e *entry, s series, n int64) {
	c.addOn(e, s, c.today(), n)
}

// addOn counts n units of s on day d through e.
func (c *counts) addOn(e *entry, s series, d day, n int64) {
	if x := e.cur.Load(); x != nil && x.k.d == d && x.n.Add(n) >= 0 {
		return
	}
	c.addSlow(e, s, d, n)
}

// addSlow counts n units of s on day d when no live cell of that day was at
// hand, through e (nil: the index's entry of a plain counter).
func (c *counts) addSlow(e *entry, s series, d day, n int64) {
	if s.p.invalidAt() >= 0 {
		c.drop(classOf(s), dropInvalidProvider, n, s.p.Validate)
		return
	}
	if c.noClient != nil {
		c.drop(classOf(s), dropNoClient, n, func() error { return c.noClient })
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		c.dropped[classOf(s)][dropClosed].Add(n)
		return
	}
	k := cellKey{s, d}
	x := c.cells[k]
	switch {
	case x == nil:
		if c.fullLocked(s) && (!c.reclaimLocked() || c.fullLocked(s)) {
			c.drop(classOf(s), dropTooManyKeys, n, func() error { return ErrTooManyKeys })
			return
		}
		x = &cell{k: k, class: classOf(s)}
		c.cells[k] = x
		c.sizes[x.kind()]++
	case x.retired:
		// A call of a day already retired, from a caller that read the day
		// just before midnight: it still belongs to that day's key.
		x.final += n
		return
	}
	x.n.Add(n) // live cells retire only under mu, so these units count
	if e == nil {
		e = c.entryLocked(s.p)
	}
	if cur := e.cur.Load(); cur == nil || cur.retired || cur.k.d <= d {
		e.cur.Store(x)
	}
}

// indexCopyLimit is the largest index that entryLocked copies on a caller's
// path; larger ones are rebuilt by the flusher.
const indexCopyLimit = 256

// entryLocked returns the entry of the plain counter p, making one if
// needed. A new entry joins the index at once while the index is small;
// otherwise it waits in newEntries, where the slow path finds it, until the
// flusher's next rebuild, so no caller copies a large index. It requires mu
// held.
func (c *counts) entryLocked(p Provider) *entry {
	idx := *c.index.Load()
	if e := idx[p]; e != nil {
		return e
	}
	if e := c.newEntries[p]; e != nil {
		return e
	}
	e := &entry{}
	c.newEntries[p] = e
	if len(idx) < indexCopyLimit {
		c.rebuildIndexLocked()
	}
	return e
}

// pin returns a pinned entry for s, one that is never pruned: the index's
// own for a plain counter, so Track and a Meter share its cells.
func (c *counts) pin(s series) *entry {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := &entry{pinned: true}
	if s.field == "" {
		e = c.entryLocked(s.p)
		e.pinned = true
	}
	return e
}

// rebuildIndexLocked publishes a new index: the current one plus
// newEntries, less the entries staleLocked finds stale. It requires mu held.
func (c *counts) rebuildIndexLocked() {
	m := maps.Clone(*c.index.Load())
	if c.stale {
		maps.DeleteFunc(m, func(_ Provider, e *entry) bool { return c.staleLocked(e) })
	}
	maps.Copy(m, c.newEntries)
	clear(c.newEntries)
	c.stale = false
	c.index.Store(&m)
}

// staleLocked reports whether e's newest cell is gone or of a day before
// yesterday: a counter not called for a whole day. Keeping yesterday's
// entries spares every counter the slow path on its first calls after
// midnight. It requires mu held.
func (c *counts) staleLocked(e *entry) bool {
	x := e.cur.Load()
	return !e.pinned && (x == nil || x.retired && x.k.d < c.today()-1)
}

// tidy keeps the index small: the flusher calls it every tick, and it
// rebuilds the index when entries wait to join or may have gone stale,
// which a new day makes them.
func (c *counts) tidy(dayChanged bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stale = c.stale || dayChanged
	if len(c.newEntries) > 0 || c.stale {
		c.rebuildIndexLocked()
	}
}

// reclaimLocked retires the live cells with nothing counted since their
// last drain and nothing held, so that [WithMaxKeys] bounds keys with
// units not confirmed rather than keys ever seen, and reports whether it
// scanned: only if a release freed something since its last scan. It
// requires mu held.
func (c *counts) reclaimLocked() bool {
	if c.reclaimed == c.releases {
		return false
	}
	c.reclaimed = c.releases
	for _, x := range c.cells {
		// Only a cell that nobody added to since the last drain retires.
		if !x.retired && !x.held && x.n.CompareAndSwap(x.drained, x.drained|retiredBit) {
			x.retired, x.final = true, x.drained
			c.removeLocked(x)
		}
	}
	return true
}

// fullLocked reports whether a new cell of s would pass its cap: maxKeys
// for plain counters, maxDetail for breakdowns, so that breakdowns never
// take a counter's room. It requires mu held.
func (c *counts) fullLocked(s series) bool {
	if s.field != "" {
		return c.sizes[1] >= c.maxKeys*detailKeysPerKey
	}
	return c.sizes[0] >= c.maxKeys
}

// detailKeysPerKey is how many breakdown cells a tracker may hold for each
// counter cell WithMaxKeys allows.
const detailKeysPerKey = 16

// removeLocked removes x from the map. It requires mu held.
func (c *counts) removeLocked(x *cell) {
	delete(c.cells, x.k)
	c.sizes[x.kind()]--
	c.stale = true
}

// retireLocked retires x: later adds to it go elsewhere. It requires mu
// held.
func (c *counts) retireLocked(x *cell) {
	x.final = x.n.Or(retiredBit)
	x.retired = true
}

// drain moves out what every cell counted since the last drain, retiring
// the cells of days before today and, once closed, every cell, and calls
// out for each amount; out must not call back into the core. The cells it
// takes from are held until release. It requires the writer's lock held,
// so that a drained unit is always either in a cell or with the writer.
func (c *counts) drain(out func(drained)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	today := c.today()
	for k, x := range c.cells {
		if !x.retired && (c.closed || k.d < today) {
			c.retireLocked(x)
		}
		if n := x.undrainedLocked(); n > 0 {
			out(drained{k, x.class, n})
			x.drained += n
			x.held = true
		}
		c.dropFreeLocked(x)
	}
	c.lastDrain = c.clock()
}

// release says Redis confirmed every unit the writer held of the cells
// keys name.
func (c *counts) release(keys []cellKey) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, k := range keys {
		if x := c.cells[k]; x != nil && x.held {
			x.held = false
			c.releases++
			c.dropFreeLocked(x)
		}
	}
}

// dropFreeLocked removes x from the map when it is retired and nothing of
// it is left to drain or held. It requires mu held.
func (c *counts) dropFreeLocked(x *cell) {
	if x.retired && !x.held && x.final == x.drained {
		c.removeLocked(x)
	}
}

// close retires every cell, so that later adds drop, and reports whether
// it was open.
func (c *counts) close() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return false
	}
	c.closed = true
	for _, x := range c.cells {
		if !x.retired {
			c.retireLocked(x)
		}
	}
	return true
}

// isClosed reports whether close was called.
func (c *counts) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// A cellState is what the core holds at one instant, for Stats, the
// metrics and a Guard.
type cellState struct {
	undrained [numClasses]int64 // units counted and not drained
	dropped   [numClasses][numDropReasons]int64
	since     time.Time // the last drain, when any cell holds undrained units; zero otherwise
}

// state returns what the core holds now.
func (c *counts) state() cellState {
	c.mu.Lock()
	defer c.mu.Unlock()
	var s cellState
	for _, x := range c.cells {
		if n := x.undrainedLocked(); n > 0 {
			s.undrained[x.class] += n
			s.since = c.lastDrain
		}
	}
	for i := range c.dropped {
		for j := range c.dropped[i] {
			s.dropped[i][j] = c.dropped[i][j].Load()
		}
	}
	return s
}

// lastDrainTime returns when drain last ran, by the clock.
func (c *counts) lastDrainTime() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lastDrain
}

// A viewAsk names a plain counter, an entry of it, and the days [from, to)
// whose view a Guard wants.
type viewAsk struct {
	p        Provider
	e        *entry
	from, to day
}

// A view is one counter's part in this tracker over some days, taken with
// no round running: the units Redis has not confirmed, and the newest cell
// of those days with its count then.
type view struct {
	pending  int64
	cur      *cell
	curCount int64
}

// views adds to each view the units of its counter counted on the days
// asked and not yet drained, and sets its newest cell of those days, read
// through the entry asked, with that cell's count, all at one instant.
func (c *counts) views(asks []viewAsk, views []view) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, a := range asks {
		for k, x := range c.cells {
			if k.s == (series{p: a.p}) && k.d >= a.from && k.d < a.to {
				views[i].pending += x.undrainedLocked()
			}
		}
		// A retired cell is read too: what it held is undrained, with the
		// writer or in Redis, and what callers add to it after it retired
		// is counted again elsewhere.
		if x := a.e.cur.Load(); x != nil && x.k.d >= a.from && x.k.d < a.to {
			views[i].cur, views[i].curCount = x, x.count()
		}
	}
}

// drop counts n units of class cl dropped for reason r, and keeps the
// reason's error for the flusher to report, building it only when none is
// waiting.
func (c *counts) drop(cl unitClass, r dropReason, n int64, reason func() error) {
	c.dropped[cl][r].Add(max(n, 0))
	if c.dropErr.Load() == nil {
		err := reason()
		c.dropErr.CompareAndSwap(nil, &err)
	}
}

// takeDropErr returns the first drop's error since the last call, or nil.
func (c *counts) takeDropErr() error {
	if p := c.dropErr.Swap(nil); p != nil {
		return *p
	}
	return nil
}

// dayWindow is how long before and after each UTC midnight a tracker with the
// default clock reads the clock on every call.
const dayWindow = 2 * time.Second

// dayState tells Track which UTC day a call made now falls in. Reading the
// clock costs more than the rest of Track on some machines, so with the
// default clock Track reads the day from here and reads the clock only near
// midnight, where the flusher goroutine switches it to precise; a tracker
// with a clock from WithClock is always precise, so tests can pin any time.
type dayState struct {
	d       day
	precise bool // read the clock on every call
}

// today returns the UTC day of a call made now.
func (c *counts) today() day {
	s := c.day.Load()
	if s.precise {
		return dayOf(c.clock())
	}
	return s.d
}

// syncDay sets the day state from the clock and returns how long it stays
// right. The flusher goroutine calls it on a timer and on every tick, so a
// stepped wall clock is noticed within one flush interval.
func (c *counts) syncDay() time.Duration {
	now := c.clock()
	d := dayOf(now)
	start := d.time()
	end := start.Add(24 * time.Hour)
	s := dayState{d: d, precise: true}
	var next time.Duration
	switch {
	case c.custom:
		next = time.Hour // precise anyway; nothing to switch
	case now.Sub(start) < dayWindow:
		next = start.Add(dayWindow).Sub(now)
	case end.Sub(now) <= dayWindow:
		next = end.Add(dayWindow).Sub(now)
	default:
		s.precise = false
		next = end.Add(-dayWindow).Sub(now)
	}
	if cur := c.day.Load(); cur == nil || *cur != s {
		c.day.Store(&s)
	}
	return next
}
