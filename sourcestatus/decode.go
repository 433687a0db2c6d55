package sourcestatus

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf16"
	"unicode/utf8"
)

// decoder reads the two payload shapes straight from the bytes, without
// reflection: a column is parsed once, and unknown fields are skipped, not
// built.
type decoder struct {
	data []byte
	pos  int
	buf  []byte // scratch for strings with escapes
}

// maxDepth bounds the nesting of skipped values.
const maxDepth = 512

func (d *decoder) syntax(msg string, args ...any) error {
	return fmt.Errorf("sourcestatus: invalid JSON at offset %d: %s", d.pos, fmt.Sprintf(msg, args...))
}

func (d *decoder) skipSpace() {
	for d.pos < len(d.data) {
		switch d.data[d.pos] {
		case ' ', '\t', '\n', '\r':
			d.pos++
		default:
			return
		}
	}
}

func (d *decoder) peek() byte {
	if d.pos < len(d.data) {
		return d.data[d.pos]
	}
	return 0
}

// literal consumes lit if it comes next.
func (d *decoder) literal(lit string) bool {
	if len(d.data)-d.pos >= len(lit) && string(d.data[d.pos:d.pos+len(lit)]) == lit {
		d.pos += len(lit)
		return true
	}
	return false
}

// end checks that nothing but space follows.
func (d *decoder) end() error {
	d.skipSpace()
	if d.pos != len(d.data) {
		return d.syntax("unexpected %q after the value", d.data[d.pos])
	}
	return nil
}

// payload reads an entry in either shape.
func (d *decoder) payload() (Payload, error) {
	d.skipSpace()
	switch c := d.peek(); c {
	case '"':
		s, err := d.str()
		if err != nil {
			return Payload{}, err
		}
		if s == "" {
			return Payload{}, ErrEmptyStatus
		}
		return Payload{Status: Status(s)}, nil
	case '{':
		return d.object2payload()
	default:
		return Payload{}, fmt.Errorf("sourcestatus: entry is %s, want an object or a string", kind(c))
	}
}

func (d *decoder) object2payload() (Payload, error) {
	var p Payload
	hasStatus := false
	err := d.object(func(key []byte) error {
		var err error
		switch string(key) {
		case "status":
			if d.peek() != '"' {
				return fmt.Errorf("sourcestatus: status is %s, want a string", kind(d.peek()))
			}
			var s string
			s, err = d.str()
			p.Status, hasStatus = Status(s), true
		case "error":
			if d.literal("null") {
				p.Error = ""
				return nil
			}
			if d.peek() != '"' {
				return fmt.Errorf("sourcestatus: error is %s, want a string", kind(d.peek()))
			}
			p.Error, err = d.str()
		case "at":
			if d.literal("null") {
				p.At = time.Time{}
				return nil
			}
			if d.peek() != '"' {
				return fmt.Errorf("sourcestatus: at is %s, want a string", kind(d.peek()))
			}
			var s string
			if s, err = d.str(); err == nil {
				p.At, err = parseTime(s)
			}
		default:
			err = d.skipValue(0)
		}
		return err
	})
	if err != nil {
		return Payload{}, err
	}
	if !hasStatus || p.Status == "" {
		return Payload{}, ErrEmptyStatus
	}
	return p, nil
}

// kind names the JSON value that starts with c, for errors.
func kind(c byte) string {
	switch {
	case c == '"':
		return "a string"
	case c == '{':
		return "an object"
	case c == '[':
		return "an array"
	case c == 't' || c == 'f':
		return "a boolean"
	case c == 'n':
		return "null"
	case c == '-' || '0' <= c && c <= '9':
		return "a number"
	case c == 0:
		return "missing"
	}
	return fmt.Sprintf("not JSON (%q)", c)
}

// object reads an object, calling fn with each key, unescaped, when the value
// is next; fn must consume the value. The key is only valid during the call.
func (d *decoder) object(fn func(key []byte) error) error {
	if d.peek() != '{' {
		return fmt.Errorf("sourcestatus: column is %s, want an object", kind(d.peek()))
	}
	return d.list('}', func() error {
		if d.peek() != '"' {
			return d.syntax("want a key")
		}
		key, err := d.rawStr()
		if err != nil {
			return err
		}
		d.skipSpace()
		if d.peek() != ':' {
			return d.syntax("want ':' after a key")
		}
		d.pos++
		d.skipSpace()
		return fn(key)
	})
}

// list reads the comma-separated elements of the object or array whose
// opening bracket is next, up to end, calling elem at each element.
func (d *decoder) list(end byte, elem func() error) error {
	d.pos++ // the opening bracket
	d.skipSpace()
	if d.peek() == end {
		d.pos++
		return nil
	}
	for {
		d.skipSpace()
		if err := elem(); err != nil {
			return err
		}
		d.skipSpace()
		switch d.peek() {
		case ',':
			d.pos++
		case end:
			d.pos++
			return nil
		default:
			return d.syntax("want ',' or '%c'", end)
		}
	}
}

// str reads a string value.
func (d *decoder) str() (string, error) {
	b, err := d.rawStr()
	return string(b), err
}

// rawStr reads a string and returns its unescaped bytes, valid UTF-8, which
// alias the input or d.buf until the next call.
func (d *decoder) rawStr() ([]byte, error) {
	d.pos++ // the opening quote
	start := d.pos
	for i := start; i < len(d.data); i++ {
		switch c := d.data[i]; {
		case c == '"':
			d.pos = i + 1
			return validUTF8(d.data[start:i]), nil
		case c == '\\':
			return d.escapedStr(start)
		case c < 0x20:
			d.pos = i
			return nil, d.syntax("control character in a string")
		}
	}
	d.pos = len(d.data)
	return nil, d.syntax("unterminated string")
}

// escapedStr finishes reading a string that has escapes, from start.
func (d *decoder) escapedStr(start int) ([]byte, error) {
	b := d.buf[:0]
	i := start
	for i < len(d.data) {
		c := d.data[i]
		switch {
		case c == '"':
			d.pos = i + 1
			d.buf = b
			return validUTF8(b), nil
		case c < 0x20:
			d.pos = i
			return nil, d.syntax("control character in a string")
		case c != '\\':
			b = append(b, c)
			i++
			continue
		}
		if i+1 >= len(d.data) {
			break
		}
		e := d.data[i+1]
		i += 2
		switch e {
		case '"', '\\', '/':
			b = append(b, e)
		case 'b':
			b = append(b, '\b')
		case 'f':
			b = append(b, '\f')
		case 'n':
			b = append(b, '\n')
		case 'r':
			b = append(b, '\r')
		case 't':
			b = append(b, '\t')
		case 'u':
			r, ok := hex4(d.data, i)
			if !ok {
				d.pos = i
				return nil, d.syntax("bad \\u escape")
			}
			i += 4
			if utf16.IsSurrogate(r) {
				r2, ok := rune(0), false
				if i+1 < len(d.data) && d.data[i] == '\\' && d.data[i+1] == 'u' {
					r2, ok = hex4(d.data, i+2)
				}
				if dec := utf16.DecodeRune(r, r2); ok && dec != utf8.RuneError {
					r = dec
					i += 6
				} else {
					r = utf8.RuneError
				}
			}
			b = utf8.AppendRune(b, r)
		default:
			d.pos = i - 1
			return nil, d.syntax("bad escape \\%c", e)
		}
	}
	d.pos = len(d.data)
	return nil, d.syntax("unterminated string")
}

// validUTF8 returns b, or a copy with each invalid sequence replaced by
// U+FFFD, as a Go string from JSON would hold it.
func validUTF8(b []byte) []byte {
	if utf8.Valid(b) {
		return b
	}
	return []byte(strings.ToValidUTF8(string(b), "\uFFFD"))
}

func hex4(data []byte, i int) (rune, bool) {
	if i+4 > len(data) {
		return 0, false
	}
	var r rune
	for _, c := range data[i : i+4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// skipValue checks and skips one value of any type.
func (d *decoder) skipValue(depth int) error {
	if depth > maxDepth {
		return d.syntax("nested deeper than %d", maxDepth)
	}
	d.skipSpace()
	switch c := d.peek(); {
	case c == '"':
		_, err := d.rawStr()
		return err
	case c == '{':
		return d.object(func([]byte) error { return d.skipValue(depth + 1) })
	case c == '[':
		return d.list(']', func() error { return d.skipValue(depth + 1) })
	case c == 't':
		return d.want("true")
	case c == 'f':
		return d.want("false")
	case c == 'n':
		return d.want("null")
	case c == '-' || '0' <= c && c <= '9':
		return d.number()
	}
	return d.syntax("want a value")
}

func (d *decoder) want(lit string) error {
	if !d.literal(lit) {
		return d.syntax("want %s", lit)
	}
	return nil
}

// number skips a number, checking its grammar.
func (d *decoder) number() error {
	digits := func() int {
		n := 0
		for d.pos < len(d.data) && '0' <= d.data[d.pos] && d.data[d.pos] <= '9' {
			d.pos++
			n++
		}
		return n
	}
	if d.peek() == '-' {
		d.pos++
	}
	if d.peek() == '0' {
		d.pos++
	} else if digits() == 0 {
		return d.syntax("bad number")
	}
	if d.peek() == '.' {
		d.pos++
		if digits() == 0 {
			return d.syntax("bad number")
		}
	}
	if c := d.peek(); c == 'e' || c == 'E' {
		d.pos++
		if c := d.peek(); c == '+' || c == '-' {
			d.pos++
		}
		if digits() == 0 {
			return d.syntax("bad number")
		}
	}
	return nil
}
