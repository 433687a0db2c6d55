package sourcestatus

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// checkKey refuses what PostgreSQL's text and jsonb cannot hold as a key.
func checkKey(what, s string) error {
	switch {
	case s == "":
		return fmt.Errorf("sourcestatus: empty %s", what)
	case strings.IndexByte(s, 0) >= 0:
		return fmt.Errorf("sourcestatus: %s %q holds a NUL character", what, s)
	case !utf8.ValidString(s):
		return fmt.Errorf("sourcestatus: %s %q is not valid UTF-8", what, s)
	}
	return nil
}

// checkStatus refuses a status to write that is empty or not made of a-z
// and '_' only.
func checkStatus(s Status) error {
	if s == "" {
		return ErrEmptyStatus
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < 'a' || c > 'z') && c != '_' {
			return fmt.Errorf("%w %.64q: want lower-case letters a-z and '_' only", ErrInvalidStatus, s)
		}
	}
	return nil
}

// parseTime reads an RFC 3339 time of any precision, in UTC, with "T" and
// "Z" in either case as RFC 3339 allows (time.Parse takes upper case only).
// Its error wraps a [*time.ParseError].
func parseTime(s string) (time.Time, error) {
	if n := len(s); n > 10 && (s[10] == 't' || s[n-1] == 'z') {
		b := []byte(s)
		if b[10] == 't' {
			b[10] = 'T'
		}
		if b[n-1] == 'z' {
			b[n-1] = 'Z'
		}
		s = string(b)
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("sourcestatus: at is not an RFC 3339 time: %w", err)
	}
	return t.UTC(), nil
}
