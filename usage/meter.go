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
	s series
	e *entry // pinned, so it is never pruned

	// Breakdowns (breakdown.go): the model and subject this Meter counts
	// for beside its counter, the series it adds to for them, and the
	// Meters it derived.
	model, subject     string
	also               []tally
	byModel, bySubject branch
}

// Meter returns the tracker's Meter for p. Calls through a Meter of an
// invalid provider are dropped, as Track drops them. Meter on a nil
// *Tracker returns nil.
func (t *Tracker) Meter(p Provider) *Meter {
	if t == nil {
		return nil
	}
	return t.meter(series{p: p})
}

// meter returns a Meter of s.
func (t *Tracker) meter(s series) *Meter {
	m := &Meter{t: t, s: s, e: &entry{}}
	if s.p.invalidAt() < 0 && t.core.noClient == nil {
		m.e = t.core.pin(s)
	}
	return m
}

// Provider returns the provider m counts for.
func (m *Meter) Provider() Provider { return m.s.p }

// Track counts one successful call, as [Tracker.Track] does.
func (m *Meter) Track() {
	if m == nil {
		return
	}
	d := m.t.core.today()
	if m.also != nil {
		m.addAll(d, 1)
		return
	}
	// The steady path, spelt out here: a call costs one day check and one
	// atomic add, with no call but today's.
	if x := m.e.cur.Load(); x != nil && x.k.d == d && x.n.Add(1) >= 0 {
		return
	}
	m.t.core.addSlow(m.e, m.s, d, 1)
}

// addAll adds n to m's counter and to each of its breakdowns, all on day d.
func (m *Meter) addAll(d day, n int64) {
	m.t.core.addOn(m.e, m.s, d, n)
	for _, x := range m.also {
		m.t.core.addOn(x.e, x.s, d, n)
	}
}

// Add adds n, as [Tracker.Add] does.
func (m *Meter) Add(n int64) {
	if m == nil {
		return
	}
	if !validAmount(n) {
		m.t.dropAmount(m.s, n)
		return
	}
	m.addAll(m.t.core.today(), n)
}
