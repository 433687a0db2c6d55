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
