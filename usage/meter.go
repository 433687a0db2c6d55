package usage

// A Meter counts for one provider of one [Tracker], as [Tracker.Track] and
// [Tracker.Add] do, with the same guarantees (the UTC day of each call,
// exactly-once delivery, drops after Close), but without looking the
// provider up on each call: its steady path is a clock-free day check and
// one atomic add. Use it where the provider is known in advance, as the
// providers package's decorators do.
//
// A Meter is safe for concurrent use. The zero value is not usable; use
// [Tracker.Meter]. Methods on a nil *Meter do nothing.
type Meter struct {
	t *Tracker
	p Provider
	e *entry // pinned in t's index, so it is never pruned
}

// Meter returns the tracker's Meter for p. Calls through a Meter of an
// invalid provider are dropped, as Track drops them. Meter on a nil
// *Tracker returns nil.
func (t *Tracker) Meter(p Provider) *Meter {
	if t == nil {
		return nil
	}
	m := &Meter{t: t, p: p, e: &entry{}}
	if p.invalidAt() < 0 && t.rdbErr == nil {
		t.mu.Lock()
		m.e = t.entryLocked(p)
		m.e.pinned = true
		t.mu.Unlock()
	}
	return m
}

// Provider returns the provider m counts for.
func (m *Meter) Provider() Provider { return m.p }

// Track counts one successful call, as [Tracker.Track] does.
func (m *Meter) Track() {
	if m == nil {
		return
	}
	d := m.t.today()
	if s := m.e.cur.Load(); s != nil && s.k.d == d && s.n.Add(1) >= 0 {
		return
	}
	m.t.addSlow(m.p, d, 1)
}

// Add adds n, as [Tracker.Add] does.
func (m *Meter) Add(n int64) {
	if m == nil {
		return
	}
	if n < 1 || n > MaxAdd {
		m.t.Add(m.p, n) // drops it, and says why
		return
	}
	d := m.t.today()
	if s := m.e.cur.Load(); s != nil && s.k.d == d && s.n.Add(n) >= 0 {
		return
	}
	m.t.addSlow(m.p, d, n)
}
