package usage

// Breakdowns: what a count was for
//
// A Meter can break its counts down by model and by subject (a tenant, a
// workspace, a customer of the platform). Each breakdown is a field of a
// hash per UTC day, counted beside the plain counter, which stays the total
// the TypeScript app reads, and written by the same rounds under the same
// exactly-once rule:
//
//	{api_usage}:models:2026-11-26     claude-sonnet-4-5:claude_output_tokens  → 1200
//	                                  claude-sonnet-4-5:claude                → 3      (calls)
//	{api_usage}:subjects:2026-11-26   acme:exa                                → 12
//	                                  acme:claude_output_tokens:claude-sonnet-4-5 → 800
//
// Names come from outside (a response's model, a request's subject), so
// both are bounded: a name is 1 to 64 bytes of letters, digits, '.', '_',
// '-' and, for subjects, '@'; and each day admits at most a limit of
// distinct names of each kind (WithModelLimit, WithSubjectLimit). A name
// that is malformed, or new once the day's limit is reached, is counted as
// "other", so a flood of made-up names neither grows memory nor loses a
// count. A Meter keeps the Meters it derived, a name each, in a map that is
// replaced, never changed, so the steady path is a lookup and the adds.

import (
	"sync"
	"sync/atomic"
)

// OtherName is the name counts of names over the day's limit, or malformed,
// are counted under.
const OtherName = "other"

// The hashes that hold the breakdowns, in the key scheme of hashKey.
const (
	modelsHash   Provider = "models"
	subjectsHash Provider = "subjects"
)

// Defaults for the breakdowns' limits.
const (
	DefaultModelLimit   = 32
	DefaultSubjectLimit = 1000
)

// maxNameLen is the longest model or subject name counted as itself.
const maxNameLen = 64

// validName reports whether name may be counted as itself: 1 to 64 bytes of
// [A-Za-z0-9._-], and '@' too when at is true.
func validName(name string, at bool) bool {
	if len(name) == 0 || len(name) > maxNameLen {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-' || at && c == '@') {
			return false
		}
	}
	return true
}

// names admits a kind of name, models or subjects, up to a limit of
// distinct names a day.
type names struct {
	limit int
	at    bool // '@' is allowed

	mu    sync.Mutex // protects the fields below
	day   day
	today map[string]bool // the names admitted on day
}

// admit reports whether name counts as itself on day d: it is well formed,
// and admitted already or within the day's limit. "other" always is.
func (n *names) admit(name string, d day) bool {
	if name == OtherName {
		return true
	}
	if !validName(name, n.at) {
		return false
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	switch {
	case d < n.day:
		// A caller that read the day just before midnight: yesterday's
		// names are gone, and today's must stay.
		return n.today[name]
	case d > n.day:
		n.day, n.today = d, make(map[string]bool)
	}
	if n.today[name] {
		return true
	}
	if len(n.today) >= n.limit {
		return false
	}
	n.today[name] = true
	return true
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
