package providers

// This file reads the token counts and the model of an Anthropic Messages
// response from the bytes its caller reads, as they pass. It is written by hand because the
// standard library has no JSON reader that can be pushed someone else's
// bytes: an encoding/json Decoder pulls from a reader, so it would read
// ahead of the caller (or need a pipe and a goroutine per response), and it
// allocates per token and buffers a whole value. The scanner below is pushed
// each chunk the caller reads, keeps a fixed-size state, and skips what it
// does not need with bytes.IndexByte, so a stream costs no allocation and
// little time beyond the caller's own reads.
//
// It reads two formats (https://docs.anthropic.com/en/api/messages,
// .../messages-streaming):
//
//	JSON  {"id":...,"model":"claude-sonnet-4-5-20250929","content":[...],"usage":{"input_tokens":12,
//	       "output_tokens":30,"cache_creation_input_tokens":0,"cache_read_input_tokens":1800,...}}
//
//	SSE   event: message_start
//	      data: {"type":"message_start","message":{...,"model":"claude-...","usage":{"input_tokens":12,...}}}
//
//	      event: content_block_delta            <- most events: passed over with one
//	      data: {"type":"content_block_delta",...}     search for the end of the data line
//
//	      event: message_delta                  <- cumulative: each replaces the last
//	      data: {"type":"message_delta","delta":{...},"usage":{"output_tokens":30}}
//
//	      event: message_stop
//
// The JSON layer (jsonScan) is a tokenizer with a stack of container kinds:
// it follows the nesting exactly, skips string contents (escapes included),
// and keeps only the object keys on the way to the usage object, the usage
// object's four integer fields, the string value of the "model" key of the
// message object (the usage object's parent: the top-level object of a JSON
// body, the "message" object of message_start), and whether the top-level
// value is complete.
// The SSE layer (sseScan) splits lines as the Anthropic SDKs do (at "\n",
// dropping a "\r" before it), reads event names, and feeds only the data
// lines of message_start and message_delta events to a fresh jsonScan.
//
// What counts is what the SDK would decode: a JSON body whose top-level
// value is complete, and in a stream each complete event (ended by its blank
// line) whose data is a complete JSON value. message_start sets all four
// counts and the model; message_delta replaces the counts it carries. A stream's counts are final
// at message_stop or error, or wherever it ends. Within one JSON value the
// last occurrence of a key wins, as with encoding/json. An event is known by
// its event line, which the API always sends first; data lines before it
// are not read, so an event line after data makes an event that counts
// nothing.
//
// Memory is fixed whatever the body: nesting deeper than maxDepth, a key on
// the way to usage longer than maxKey, an event name longer than maxEvent or
// a count with more than maxDigits digits (or above usage.MaxAdd) counts
// nothing for the value concerned. Keys with escapes never match. A model
// is kept as its first maxModel+1 bytes, as written between its quotes (a
// backslash stands for an escape): a longer one, or one with an escape, is
// thus a name that package usage refuses, and counts as usage.OtherName.

import (
	"bytes"

	"github.com/enrichmeter/enrichmeter/usage"
)

// The usage fields read, in the order of tokenCounts.
const (
	fieldInput = iota
	fieldOutput
	fieldCacheRead
	fieldCacheWrite
	numFields
)

var fieldNames = [numFields]string{
	fieldInput:      "input_tokens",
	fieldOutput:     "output_tokens",
	fieldCacheRead:  "cache_read_input_tokens",
	fieldCacheWrite: "cache_creation_input_tokens",
}

// The keys from the top-level object to the usage object.
var (
	bodyUsagePath  = []string{"usage"}            // a Message, and a message_delta event
	startUsagePath = []string{"message", "usage"} // a message_start event
)

const (
	maxDepth  = 256 // containers one JSON value may nest
	maxKey    = 32  // bytes of a key kept for comparison; longer ones are not ours
	maxEvent  = 16  // bytes of an SSE event name kept
	maxDigits = 10  // digits of a count: usage.MaxAdd has 10
	maxModel  = 64  // bytes of a model name package usage counts as itself
)

// A modelName is the model a response named: its first maxModel+1 bytes.
type modelName struct {
	b [maxModel + 1]byte
	n int
}

// bytes returns the name kept, empty when there is none.
func (m *modelName) bytes() []byte { return m.b[:m.n] }

// keep appends s to the name, up to maxModel+1 bytes.
func (m *modelName) keep(s []byte) { m.n += copy(m.b[m.n:], s) }

// tokenCounts holds the usage fields read: n[i] is meaningful when bit i of
// set is.
type tokenCounts struct {
	n   [numFields]int64
	set uint8
}

// usageScan reads the token counts of one Messages response body. Its
// state has a fixed size, and feeding it allocates nothing.
type usageScan struct {
	sse bool    // text/event-stream; otherwise a JSON body
	ss  sseScan // for a JSON body, ss.js alone
}

func newUsageScan(sse bool) usageScan {
	u := usageScan{sse: sse}
	if !sse {
		u.ss.js.path, u.ss.js.wantModel = bodyUsagePath, true
	}
	return u
}

// feed scans b, the next bytes the caller read, and reports whether the
// counts are final (a stream's message_stop or error).
func (u *usageScan) feed(b []byte) bool {
	if u.sse {
		return u.ss.feed(b)
	}
	u.ss.js.feed(b)
	return false
}

// model returns the model read so far, empty when none was.
func (u *usageScan) model() []byte {
	if u.sse {
		return u.ss.model.bytes()
	}
	if !u.ss.js.complete() {
		return nil
	}
	return u.ss.js.model.bytes()
}

// counts returns the token counts read so far, in the order of fieldNames.
func (u *usageScan) counts() [numFields]int64 {
	if u.sse {
		return u.ss.last
	}
	var n [numFields]int64
	got := u.ss.js.counts()
	for i := range n {
		if got.set&(1<<i) != 0 {
			n[i] = got.n[i]
		}
	}
	return n
}

type jsonState uint8

const (
	jValue      jsonState = iota // a value is due
	jFirstValue                  // after '[': a value or ']'
	jFirstKey                    // after '{': a key or '}'
	jKey                         // after ',' in an object: a key
	jKeyStr                      // in a key
	jColon                       // after a key
	jStr                         // in a string value
	jNum                         // in a number
	jLit                         // in true, false or null
	jAfter                       // after a value inside a container: ',' or its closer
	jDone                        // the top-level value is complete
	jBad                         // malformed or too deep: reads nothing more
)

// What the value after the current key is, in jsonScan.next.
const (
	nextOther = iota // nothing to read
	nextPath         // the next object on the way to usage
	nextModel        // the message's model
	nextField        // nextField+i: usage field i
)

// jsonScan follows one JSON value through the chunks fed to it. Its zero
// value, given a path, is ready for the first byte.
type jsonScan struct {
	path      []string // keys from the top-level object to the usage object
	wantModel bool     // read the model of the message object, at depth len(path)
	st        jsonState
	esc       bool // in a string, right after a backslash
	depth     int  // open containers
	objects   [maxDepth / 64]uint64
	top       bool // the top-level value is an object
	onPath    int  // containers 1..onPath lie on path
	next      int  // for the value after the current key
	keyLen    int  // bytes in key, or -1 when the key is not kept
	key       [maxKey]byte
	num       int64 // the count being read, if field >= 0
	numLen    int   // its digits, or -1 when it cannot be a count
	field     int   // the usage field the number belongs to, or -1
	lit       string
	litPos    int
	got       tokenCounts
	inModel   bool // the string being read is the model
	model     modelName
}

// feed scans b, the next bytes of the value.
func (j *jsonScan) feed(b []byte) {
	for i := 0; i < len(b); {
		switch j.st {
		case jStr, jKeyStr:
			i = j.str(b, i)
		case jBad:
			return
		default:
			j.step(b[i])
			i++
		}
	}
}

// str scans a string from b[i], and returns where it stops: after the
// closing quote, or at the end of b. It skips to the next quote or backslash
// with bytes.IndexByte, remembering the quote found so that a string with
// many escapes is still read in one pass.
func (j *jsonScan) str(b []byte, i int) int {
	if j.esc {
		j.esc = false
		i++ // the escaped byte
	}
	for q := -1; ; {
		if q < i {
			if q = bytes.IndexByte(b[i:], '"'); q < 0 {
				q = len(b)
			} else {
				q += i
			}
		}
		end := q
		if bs := bytes.IndexByte(b[i:q], '\\'); bs >= 0 {
			end = i + bs
		}
		if j.st == jKeyStr {
			j.keep(b[i:end])
		} else if j.inModel {
			j.model.keep(b[i:end])
		}
		switch {
		case end < q: // a backslash
			j.keyLen = -1 // a key with escapes is none of ours
			if j.inModel {
				j.model.keep(backslash) // a model with escapes is none usage counts as itself
			}
			if i = end + 2; i > len(b) {
				j.esc = true
				return len(b)
			}
		case q == len(b): // the string goes on in the next chunk
			return len(b)
		default:
			if j.st == jKeyStr {
				j.endKey()
			} else {
				j.endValue()
			}
			return q + 1
		}
	}
}

// keep appends s to the key, if it is kept and fits.
func (j *jsonScan) keep(s []byte) {
	if j.keyLen < 0 {
		return
	}
	if j.keyLen+len(s) > maxKey {
		j.keyLen = -1
		return
	}
	j.keyLen += copy(j.key[j.keyLen:], s)
}

// step scans one byte outside strings.
func (j *jsonScan) step(c byte) {
	switch j.st {
	case jValue, jFirstValue:
		j.startValue(c)
	case jFirstKey, jKey:
		switch {
		case isSpace(c):
		case c == '"':
			j.st = jKeyStr
			j.keyLen = -1
			if j.onPath == j.depth && j.depth <= len(j.path)+1 {
				j.keyLen = 0
			}
		case c == '}' && j.st == jFirstKey:
			j.pop()
		default:
			j.st = jBad
		}
	case jColon:
		switch {
		case isSpace(c):
		case c == ':':
			j.st = jValue
		default:
			j.st = jBad
		}
	case jNum:
		if '0' <= c && c <= '9' {
			if j.numLen >= 0 {
				j.digit(c)
			}
			return
		}
		if c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-' {
			j.numLen = -1 // a number, but not a count
			return
		}
		if j.field >= 0 && j.numLen > 0 {
			j.got.n[j.field] = j.num
			j.got.set |= 1 << j.field
		}
		j.endValue()
		j.step(c)
	case jLit:
		if c != j.lit[j.litPos] {
			j.st = jBad
			return
		}
		if j.litPos++; j.litPos == len(j.lit) {
			j.endValue()
		}
	case jAfter:
		obj := j.isObject()
		switch {
		case isSpace(c):
		case c == ',' && obj:
			j.st = jKey
		case c == ',':
			j.st = jValue
			j.next = nextOther
		case c == '}' && obj, c == ']' && !obj:
			j.pop()
		default:
			j.st = jBad
		}
	case jDone:
		if !isSpace(c) {
			j.st = jBad
		}
	}
}

// startValue scans the first byte of a value.
func (j *jsonScan) startValue(c byte) {
	next := j.next
	j.next = nextOther
	switch {
	case isSpace(c):
		j.next = next
	case c == ']' && j.st == jFirstValue:
		j.pop()
	case c == '{':
		j.push(true, next == nextPath || j.depth == 0)
	case c == '[':
		j.push(false, false)
	case c == '"':
		j.st = jStr
		j.inModel = next == nextModel
	case c == '-' || '0' <= c && c <= '9':
		j.st, j.num, j.numLen, j.field = jNum, 0, 0, -1
		if next >= nextField {
			j.field = next - nextField
		}
		if c == '-' {
			j.numLen = -1
		} else {
			j.digit(c)
		}
	case c == 't':
		j.st, j.lit, j.litPos = jLit, "true", 1
	case c == 'f':
		j.st, j.lit, j.litPos = jLit, "false", 1
	case c == 'n':
		j.st, j.lit, j.litPos = jLit, "null", 1
	default:
		j.st = jBad
	}
}

// digit adds a digit to the count being read, or rules the number out as a
// count: a leading zero, too many digits, or above usage.MaxAdd.
func (j *jsonScan) digit(c byte) {
	if j.numLen == 1 && j.num == 0 || j.numLen == maxDigits {
		j.numLen = -1
		return
	}
	j.num = j.num*10 + int64(c-'0')
	j.numLen++
	if j.num > usage.MaxAdd {
		j.numLen = -1
	}
}

// endKey decides what the value after the key just read is. A key on the
// way to usage, the message's model, or a usage field, forgets what an
// earlier one with the same name held: the last occurrence wins. A key on
// the way to the message object starts a new message, without a model.
func (j *jsonScan) endKey() {
	j.st = jColon
	j.next = nextOther
	if j.keyLen < 0 {
		return
	}
	key := j.key[:j.keyLen]
	if j.depth <= len(j.path) {
		switch {
		case string(key) == j.path[j.depth-1]:
			j.next = nextPath
			j.got = tokenCounts{}
			if j.depth < len(j.path) {
				j.model.n = 0
			}
		case j.wantModel && j.depth == len(j.path) && string(key) == "model":
			j.next = nextModel
			j.model.n = 0
		}
		return
	}
	for i, name := range fieldNames {
		if string(key) == name {
			j.next = nextField + i
			j.got.set &^= 1 << i
			return
		}
	}
}

// endValue moves on after a value: to the next one in its container, or to
// jDone at the top level.
func (j *jsonScan) endValue() {
	j.inModel = false
	j.st = jAfter
	if j.depth == 0 {
		j.st = jDone
	}
}

// push opens a container; onPath says it is the next object on the way to
// usage.
func (j *jsonScan) push(object, onPath bool) {
	if j.depth == maxDepth {
		j.st = jBad
		return
	}
	bit := uint64(1) << (j.depth % 64)
	if object {
		j.objects[j.depth/64] |= bit
		j.st = jFirstKey
	} else {
		j.objects[j.depth/64] &^= bit
		j.st = jFirstValue
	}
	j.depth++
	if object && j.depth == 1 {
		j.top = true
	}
	if object && onPath && j.onPath == j.depth-1 {
		j.onPath = j.depth
	}
}

// pop closes the innermost container.
func (j *jsonScan) pop() {
	j.depth--
	j.onPath = min(j.onPath, j.depth)
	j.endValue()
}

// isObject reports whether the innermost container is an object.
func (j *jsonScan) isObject() bool {
	d := j.depth - 1
	return j.objects[d/64]&(1<<(d%64)) != 0
}

// complete reports whether the value read is a complete object.
func (j *jsonScan) complete() bool { return j.st == jDone && j.top }

// counts returns the usage fields of a complete object.
func (j *jsonScan) counts() tokenCounts {
	if !j.complete() {
		return tokenCounts{}
	}
	return j.got
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// backslash is what a model keeps for an escape.
var backslash = []byte{'\\'}

type sseState uint8

const (
	sName  sseState = iota // at the start of a line, or in its field name
	sEvent                 // in an event line's value
	sData                  // in a data line's value
	sSkip                  // in a line that carries nothing to read
	sEnded                 // message_stop or error: the counts are final
)

type eventKind uint8

const (
	evNone  eventKind = iota // no event line yet
	evStart                  // message_start
	evDelta                  // message_delta
	evEnd                    // message_stop or error
	evOther                  // any other, or an event line after data
)

// sseScan follows a text/event-stream body. Its zero value is ready for the
// first byte.
type sseScan struct {
	st      sseState
	name    [len("event") + 1]byte // the field name so far
	nameLen int                    // bytes of the field name, up to len(name)+1 (too long)
	ev      [maxEvent + 2]byte     // an event line's value read across chunks: a space, the name, "\r"
	evLen   int                    // bytes in ev, up to len(ev)+1 (too long)
	kind    eventKind
	data    bool // the current event has had a data line
	js      jsonScan
	last    [numFields]int64 // from the complete events so far
	model   modelName        // from the last complete message_start
}

// feed scans b, the next bytes of the stream, and reports whether the stream
// has ended (message_stop or error).
func (s *sseScan) feed(b []byte) bool {
	for i := 0; i < len(b) && s.st != sEnded; {
		if s.st == sName {
			i = s.fieldName(b, i)
			continue
		}
		nl := bytes.IndexByte(b[i:], '\n')
		if nl < 0 { // the line goes on in the next chunk
			s.lineValue(b[i:])
			return false
		}
		s.lineValue(b[i : i+nl])
		if s.st == sEvent {
			s.endEvent()
		}
		s.st, s.nameLen = sName, 0
		i += nl + 1
	}
	return s.st == sEnded
}

// lineValue scans v, part of the value of the line being read.
func (s *sseScan) lineValue(v []byte) {
	switch {
	case s.st == sEvent:
		s.appendEvent(v)
	case s.st == sData && s.reading():
		s.js.feed(v)
	}
}

// fieldName scans a field name from b[i] up to its colon or the end of its
// line, and returns where it stops.
func (s *sseScan) fieldName(b []byte, i int) int {
	if rest := b[i:]; s.nameLen == 0 { // the common cases, whole in b
		switch {
		case s.kind == evNone && !s.data && len(rest) > len(textDelta) && string(rest[:len(textDelta)]) == textDelta:
			// A whole content_block_delta event: its data line, then the
			// blank line that ends it, leave the state as it is now.
			v := rest[len(textDelta):]
			if nl := bytes.IndexByte(v, '\n'); nl >= 0 && nl+1 < len(v) && v[nl+1] == '\n' {
				return i + len(textDelta) + nl + 2
			}
			return i + s.eventLine(rest[len("event:"):]) + len("event:")
		case rest[0] == '\n':
			s.dispatch()
			return i + 1
		case len(rest) >= 5 && string(rest[:5]) == "data:":
			s.startData()
			return i + 5
		case len(rest) >= 6 && string(rest[:6]) == "event:":
			return i + 6 + s.eventLine(rest[6:])
		}
	}
	for ; i < len(b); i++ {
		switch c := b[i]; c {
		case ':':
			switch name, _ := s.fieldSoFar(); string(name) {
			case "event":
				s.st, s.evLen = sEvent, 0
			case "data":
				s.startData()
			default: // a comment (no name), a field the SDK ignores, a name too long
				s.st = sSkip
			}
			return i + 1
		case '\n': // a line without a colon: a field with no value
			name, ok := s.fieldSoFar()
			s.st, s.nameLen = sName, 0
			switch name = bytes.TrimSuffix(name, []byte("\r")); {
			case !ok:
			case len(name) == 0:
				s.dispatch()
			case string(name) == "event":
				s.setEvent(nil)
			case string(name) == "data":
				s.startData()
				s.st = sName
			}
			return i + 1
		default:
			if s.nameLen < len(s.name) {
				s.name[s.nameLen] = c
			}
			s.nameLen = min(s.nameLen+1, len(s.name)+1)
		}
	}
	return i
}

// fieldSoFar returns the field name read, and whether it fit.
func (s *sseScan) fieldSoFar() ([]byte, bool) {
	if s.nameLen > len(s.name) {
		return nil, false
	}
	return s.name[:s.nameLen], true
}

// appendEvent adds b to the event name read across chunks.
func (s *sseScan) appendEvent(b []byte) {
	if s.evLen+len(b) > len(s.ev) {
		s.evLen = len(s.ev) + 1
		return
	}
	s.evLen += copy(s.ev[s.evLen:], b)
}

// endEvent records the event line read across chunks.
func (s *sseScan) endEvent() {
	if s.evLen > len(s.ev) {
		s.kind = evOther
		return
	}
	s.setEvent(s.ev[:s.evLen])
}

// eventLine reads an event line from v, what follows its colon, and returns
// how much of v it read: the whole line when it is in v, and otherwise
// nothing, leaving the value to be read across chunks.
func (s *sseScan) eventLine(v []byte) int {
	if nl := bytes.IndexByte(v, '\n'); nl >= 0 {
		s.setEvent(v[:nl])
		return nl + 1
	}
	s.st, s.evLen = sEvent, 0
	return 0
}

// textDelta starts a content_block_delta event as the API writes it; most
// events of a stream are text deltas.
const textDelta = "event: content_block_delta\ndata:"

// setEvent records an event line whose value, after the colon, is v.
func (s *sseScan) setEvent(v []byte) {
	if len(v) > 0 && v[0] == ' ' {
		v = v[1:]
	}
	if len(v) > 0 && v[len(v)-1] == '\r' {
		v = v[:len(v)-1]
	}
	switch string(v) {
	case "message_start":
		s.setKind(evStart)
	case "message_delta":
		s.setKind(evDelta)
	case "message_stop", "error":
		s.setKind(evEnd)
	default:
		s.setKind(evOther)
	}
}

// setKind records the kind of the current event. An event line after a
// data line of the same event makes it one this scanner does not read: its
// data went by unread.
func (s *sseScan) setKind(k eventKind) {
	s.kind = k
	if s.data {
		s.kind = evOther
	}
}

// reading reports whether the current event's data is read.
func (s *sseScan) reading() bool { return s.kind == evStart || s.kind == evDelta }

// startData starts a data line: the first of its event sets the JSON
// scanner's path; a later one joins the data with a newline, as the SDK does.
func (s *sseScan) startData() {
	s.st = sData
	if s.data {
		if s.reading() {
			s.js.feed([]byte("\n"))
		}
		return
	}
	s.data = true
	switch s.kind {
	case evStart:
		s.js.path, s.js.wantModel = startUsagePath, true
	case evDelta:
		s.js.path = bodyUsagePath
	}
}

// dispatch ends an event at its blank line: a complete message_start sets
// every count and the model, a complete message_delta the counts it
// carries.
func (s *sseScan) dispatch() {
	if (s.kind == evOther || s.kind == evNone) && s.js.path == nil { // nothing was read
		s.kind, s.data = evNone, false
		return
	}
	switch s.kind {
	case evStart, evDelta:
		got := s.js.counts()
		for i := range s.last {
			switch {
			case got.set&(1<<i) != 0:
				s.last[i] = got.n[i]
			case s.kind == evStart && s.js.complete():
				s.last[i] = 0
			}
		}
		if s.kind == evStart && s.js.complete() {
			s.model = s.js.model
		}
	case evEnd:
		s.st = sEnded
	}
	if s.js.path != nil { // read for this event, whatever it turned out to be
		s.js = jsonScan{}
	}
	s.kind, s.data = evNone, false
}
