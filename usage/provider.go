package usage

import (
	"fmt"
	"time"
)

// Provider names a paid API whose successful calls are counted. Its value is
// the name used on the wire, in the Redis key; it must satisfy
// [Provider.Validate].
type Provider string

// The providers the enrichment pipeline calls, with their wire names.
const (
	Apollo     Provider = "apollo"
	ContactOut Provider = "contactout"
	Exa        Provider = "exa"
	EDGAR      Provider = "edgar"
	Claude     Provider = "claude"
)

// maxProviderLen is the longest provider name [Provider.Validate] accepts.
const maxProviderLen = 64

// Validate reports whether p is usable as a provider name: 1 to 64 bytes, each
// a lower-case ASCII letter, a digit, '_' or '-'. Anything else could make
// keys collide or escape their namespace, so it is rejected.
func (p Provider) Validate() error {
	switch i := p.invalidAt(); {
	case i < 0:
		return nil
	case len(p) == 0:
		return fmt.Errorf("usage: invalid provider %q: empty", string(p))
	case len(p) > maxProviderLen:
		return fmt.Errorf("usage: invalid provider %.20q...: longer than %d bytes", string(p), maxProviderLen)
	default:
		return fmt.Errorf("usage: invalid provider %q: byte %q at %d is not in [a-z0-9_-]", string(p), p[i], i)
	}
}

// invalidAt returns -1 when p is a valid provider name, and otherwise the
// index of its first bad byte, or 0 when its length is out of range. It does
// not allocate, so Track's slow path can check without building an error.
func (p Provider) invalidAt() int {
	if len(p) == 0 || len(p) > maxProviderLen {
		return 0
	}
	for i := 0; i < len(p); i++ {
		c := p[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return i
		}
	}
	return -1
}

// DefaultPrefix is the key prefix shared with the TypeScript app.
const DefaultPrefix = "api_usage"

// dayLayout formats a UTC day in keys.
const dayLayout = "2006-01-02"

// Key returns the Redis key that holds p's count for the UTC day of t, with the
// default prefix: "api_usage:{provider}:{YYYY-MM-DD}". It does not validate p.
func Key(p Provider, t time.Time) string {
	return key(DefaultPrefix, p, dayOf(t))
}

func key(prefix string, p Provider, d day) string {
	return prefix + ":" + string(p) + ":" + d.time().Format(dayLayout)
}

// A day is a UTC calendar day, counted in days since the Unix epoch.
type day int64

const secondsPerDay = 24 * 60 * 60

// dayOf returns the UTC day of t without allocating.
func dayOf(t time.Time) day {
	s := t.Unix()
	d := s / secondsPerDay
	if s%secondsPerDay < 0 {
		d-- // floor for instants before 1970
	}
	return day(d)
}

// time returns the UTC midnight that starts d.
func (d day) time() time.Time {
	return time.Unix(int64(d)*secondsPerDay, 0).UTC()
}
