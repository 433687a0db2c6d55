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
	if m.also == nil {
		m.t.core.addTo(m.e, m.s, 1)
		return
	}
	m.addAll(1)
}

// addAll adds n to m's counter and to each of its breakdowns, all on one
// day.
func (m *Meter) addAll(n int64) {
	d := m.t.core.today()
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
	m.addAll(n)
}
