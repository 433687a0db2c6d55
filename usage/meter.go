package usage

import (
	"sync"
	"sync/atomic"
)

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

// A kid is a Meter derived by name, with the day its name was last
// admitted.
type kid struct {
	m   *Meter
	day atomic.Int64
}

// kids are the Meters one Meter derived, by name: replaced, never changed.
type kids = map[string]*kid

// A branch is one kind of breakdown of a Meter: its derived Meters, and
// the lock that their map is replaced under.
type branch struct {
	mu   sync.Mutex
	kids atomic.Pointer[kids]
}

// For returns a Meter that counts what m counts and, beside it, for
// subject: a tenant, a workspace, a customer of the platform. Its calls and
// amounts go to m's counter, and to m's model's if m has one, as m's do,
// and to the subject's field of the day's subjects hash (see breakdown.go).
// A subject that is malformed, or new once the day has admitted
// [WithSubjectLimit] subjects, is counted as [OtherName]. For allocates on a
// subject's first use, and on its first use each day; otherwise it is a map
// lookup. For on a nil *Meter returns nil; For of an empty subject returns m.
func (m *Meter) For(subject string) *Meter {
	if m == nil || subject == "" || m.subject != "" {
		return m
	}
	return m.derive(&m.bySubject, m.t.subjects, subject, func(name string) *Meter {
		return m.t.detailMeter(m.s.p, m.model, name)
	})
}

// Model returns a Meter that counts what m counts and, beside it, for
// model, the model a call used, such as "claude-sonnet-4-5": in the day's
// models hash, and in the subject's field when m counts for a subject. A
// model that is malformed, or new once the day has admitted
// [WithModelLimit] models, is counted as [OtherName]. It allocates as For
// does. Model on a nil *Meter returns nil; Model of an empty name returns m.
func (m *Meter) Model(model string) *Meter {
	if m == nil || model == "" || m.model != "" {
		return m
	}
	return m.derive(&m.byModel, m.t.models, model, func(name string) *Meter {
		return m.t.detailMeter(m.s.p, name, m.subject)
	})
}

// derive returns the Meter in b named name, made by newMeter, if ns admits
// the name today, and the one named OtherName otherwise.
func (m *Meter) derive(b *branch, ns *names, name string, newMeter func(string) *Meter) *Meter {
	d := int64(m.t.core.today())
	if ks := b.kids.Load(); ks != nil {
		if k := (*ks)[name]; k != nil && k.day.Load() == d {
			return k.m
		}
	}
	if !ns.admit(name, day(d)) {
		name = OtherName
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	var old kids
	if ks := b.kids.Load(); ks != nil {
		old = *ks
	}
	k := old[name]
	if k == nil {
		k = &kid{m: newMeter(name)}
		cp := make(kids, len(old)+1)
		for n, x := range old {
			if x.day.Load() >= d-1 { // names not admitted since yesterday go
				cp[n] = x
			}
		}
		cp[name] = k
		b.kids.Store(&cp)
	}
	k.day.Store(d)
	return k.m
}

// detailMeter returns a Meter of the counter p that also counts for model
// and subject, either of which may be empty.
func (t *Tracker) detailMeter(p Provider, model, subject string) *Meter {
	m := t.Meter(p)
	m.model, m.subject = model, subject
	if p.invalidAt() >= 0 {
		return m // drops, as a Meter of p does
	}
	if model != "" {
		m.also = append(m.also, t.tally(series{modelsHash, model + ":" + string(p)}))
	}
	if subject != "" {
		f := subject + ":" + string(p)
		if model != "" {
			f += ":" + model
		}
		m.also = append(m.also, t.tally(series{subjectsHash, f}))
	}
	return m
}

// A tally is one more series a Meter adds to.
type tally struct {
	s series
	e *entry
}

func (t *Tracker) tally(s series) tally {
	e := &entry{}
	if t.core.noClient == nil {
		e = t.core.pin(s)
	}
	return tally{s, e}
}
