package sourcestatus

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"time"
)

// Status is a source's outcome. Values other than the constants are kept as
// they are when read.
type Status string

// The statuses the pipeline writes.
const (
	Pending     Status = "pending"
	Complete    Status = "complete"
	Failed      Status = "failed"
	CircuitOpen Status = "circuit_open"
	Skipped     Status = "skipped"
)

// Payload is one source's last outcome. Its JSON form is
// {"status":"failed","error":"HTTP 429","at":"2026-11-26T03:15:03.123Z"}, as
// the TypeScript app writes it; a legacy entry is a bare JSON string, the
// status alone, and reads as a Payload with no Error and a zero At.
type Payload struct {
	Status Status
	Error  string    // empty when there is none; omitted from the JSON then
	At     time.Time // when the outcome happened; zero when unknown (legacy entries)
}

// MarshalJSON writes p as the TypeScript app does: keys status, error (left
// out when empty) and at, in that order; strings escaped as JSON.stringify
// escapes them; at in UTC with exactly three fractional digits, truncated,
// as Date.prototype.toISOString writes it. A zero At is left out. An empty
// status, or an At outside the years 0 to 9999, is an error.
//
// [encoding/json.Marshal] escapes '<', '>', '&', U+2028 and U+2029 in what
// MarshalJSON returns, to make it safe in HTML: the same JSON value in other
// bytes. For JSON.stringify's exact bytes, call MarshalJSON directly or use
// an [encoding/json.Encoder] with SetEscapeHTML(false).
func (p Payload) MarshalJSON() ([]byte, error) {
	return p.appendJSON(make([]byte, 0, 64+len(p.Status)+len(p.Error)))
}

func (p Payload) appendJSON(b []byte) ([]byte, error) {
	if p.Status == "" {
		return nil, ErrEmptyStatus
	}
	b = append(b, `{"status":`...)
	b = appendJSString(b, string(p.Status))
	if p.Error != "" {
		b = append(b, `,"error":`...)
		b = appendJSString(b, p.Error)
	}
	if !p.At.IsZero() {
		var err error
		b = append(b, `,"at":"`...)
		if b, err = appendISOTime(b, p.At); err != nil {
			return nil, err
		}
		b = append(b, '"')
	}
	return append(b, '}'), nil
}

// isoLayout is Date.prototype.toISOString's format; Go truncates the
// fraction, as JavaScript does.
const isoLayout = "2006-01-02T15:04:05.000Z"

// FormatTime formats t as Date.prototype.toISOString does:
// "2026-11-26T03:15:03.123Z", UTC, milliseconds truncated, 24 characters.
// Times outside the years 0 to 9999, which JavaScript writes in another form,
// are an error.
func FormatTime(t time.Time) (string, error) {
	b, err := appendISOTime(make([]byte, 0, len(isoLayout)), t)
	return string(b), err
}

func appendISOTime(b []byte, t time.Time) ([]byte, error) {
	t = t.UTC()
	if y := t.Year(); y < 0 || y > 9999 {
		return nil, fmt.Errorf("sourcestatus: time %v: year outside 0..9999", t)
	}
	return t.AppendFormat(b, isoLayout), nil
}

// UnmarshalJSON reads either shape: an object with a string status and
// optional error and at (keys match exactly, as in JavaScript; unknown fields
// are ignored; error and at may be null; at may have any RFC 3339 precision
// and offset, and is converted to UTC), or a bare string, the legacy shape,
// which is the status alone. JSON null leaves p unchanged, as encoding/json's
// convention asks. Anything else is an error that wraps what went wrong: a
// [*json.SyntaxError], a [*json.UnmarshalTypeError] (an entry, status or
// error of the wrong type), a [*time.ParseError], or [ErrEmptyStatus].
func (p *Payload) UnmarshalJSON(data []byte) error {
	v, ok, err := decodePayload(data)
	if ok {
		*p = v
	}
	return err
}

// decodePayload reads an entry in either shape; ok is false for JSON null.
func decodePayload(data []byte) (p Payload, ok bool, err error) {
	if b := bytes.TrimLeft(data, " \t\r\n"); len(b) == 0 || b[0] != '{' {
		var s *string // a string is the legacy shape; json refuses anything else but null
		if err := json.Unmarshal(data, &s); err != nil || s == nil {
			return p, false, wrapJSON("entry", err)
		}
		p.Status = Status(*s)
	} else {
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(data, &fields); err != nil {
			return p, false, wrapJSON("entry", err)
		}
		var at *string
		err := cmp.Or(field(fields, "status", &p.Status), field(fields, "error", &p.Error), field(fields, "at", &at))
		if err == nil && at != nil {
			p.At, err = parseTime(*at)
		}
		if err != nil {
			return Payload{}, false, err
		}
	}
	if p.Status == "" {
		return Payload{}, false, ErrEmptyStatus
	}
	return p, true, nil
}

// field reads the field name, when present, into dst; null leaves dst as it
// is.
func field(fields map[string]json.RawMessage, name string, dst any) error {
	if raw, ok := fields[name]; ok {
		return wrapJSON(name, json.Unmarshal(raw, dst))
	}
	return nil
}

// Statuses maps each source to its last outcome: a whole column.
type Statuses map[string]Payload

// UnmarshalJSON reads a JSON object of payloads in either shape, replacing
// what s held. Entries whose value is null are left out; JSON null reads as a
// nil map. When some entries are malformed, s holds the others and the error
// is a [*MalformedError] naming them, as encoding/json keeps going after a
// type mismatch; when data is not a JSON object, s is unchanged.
func (s *Statuses) UnmarshalJSON(data []byte) error {
	var entries map[string]json.RawMessage
	if err := json.Unmarshal(data, &entries); err != nil {
		return wrapJSON("column", err)
	}
	if entries == nil {
		*s = nil
		return nil
	}
	var err error
	*s, err = decodeEntries(entries)
	return err
}

// decodeEntries decodes each entry of a column on its own: the well-formed
// ones, and a *MalformedError naming the others.
func decodeEntries(entries map[string]json.RawMessage) (Statuses, error) {
	m, malformed := make(Statuses, len(entries)), map[string]error{}
	for source, raw := range entries {
		p, ok, err := decodePayload(raw)
		if err != nil {
			malformed[source] = err
		} else if ok {
			m[source] = p
		}
	}
	if len(malformed) > 0 {
		return m, &MalformedError{Entries: malformed}
	}
	return m, nil
}

// MarshalJSON writes s as one JSON object, sources in sorted order, each
// payload as [Payload.MarshalJSON] writes it.
func (s Statuses) MarshalJSON() ([]byte, error) {
	if s == nil {
		return []byte("null"), nil
	}
	b := []byte{'{'}
	for i, k := range slices.Sorted(maps.Keys(s)) {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSString(b, k)
		b = append(b, ':')
		var err error
		if b, err = s[k].appendJSON(b); err != nil {
			return nil, fmt.Errorf("%w (source %q)", err, k)
		}
	}
	return append(b, '}'), nil
}
