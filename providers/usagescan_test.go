package providers_test

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/enrichmeter/enrichmeter/usage"
)

// FuzzClaudeTokens reads arbitrary bodies through WithClaudeTokens, as JSON
// and as streams, in chunks of arbitrary sizes. The scanner must never
// panic, never change what the caller reads, count the same whatever the
// chunks, and, on input whose counted events are valid JSON, count what
// encoding/json reads (refTokens).
func FuzzClaudeTokens(f *testing.F) {
	f.Add([]byte(`{"content":[{"type":"text","text":"\"usage\":{\"output_tokens\":9}\\"}],"usage":{"input_tokens":12,"output_tokens":30,"cache_creation_input_tokens":null,"cache_read_input_tokens":1800}}`), false, uint8(3))
	f.Add([]byte(`{"usage":{"input_tokens":5,"cache_creation":{"input_tokens":9}},"usage":{"output_tokens":01,"input_tokens":4294967296}}`), false, uint8(1))
	f.Add([]byte(sseStream(2000)), true, uint8(7))
	f.Add([]byte(strings.ReplaceAll(sse("message_start", `{"message":{"usage":{"input_tokens":3,"cache_read_input_tokens":5}}}`,
		"message_delta", `{"usage":{"output_tokens":4}}`, "ping", `{}`, "message_delta", `{"usage":{"output_tokens":11,"input_tokens":4}}`), "\n", "\r\n")), true, uint8(2))
	f.Add([]byte(": hi\nevent:message_start\ndata:{\"message\":\ndata: {\"usage\":{\"input_tokens\":3}}}\nid: 1\n\ndata: x\nevent: message_delta\n\nevent: error\n\n"), true, uint8(5))
	f.Fuzz(func(t *testing.T, body []byte, isSSE bool, chunk uint8) {
		ct := jsonType
		if isSSE {
			ct = sseType
		}
		got, counts := readTokens(t, string(body), ct, int(chunk)%64+1)
		if got != string(body) {
			t.Fatalf("the caller read %q, want %q", got, body)
		}
		if _, whole := readTokens(t, string(body), ct, len(body)+1); counts != whole {
			t.Fatalf("tokens %v in chunks of %d, %v in one", counts, int(chunk)%64+1, whole)
		}
		if want, ok := refTokens(body, isSSE); ok && counts != want {
			t.Fatalf("tokens %v, want %v (encoding/json)", counts, want)
		}
	})
}

// refTokens computes with encoding/json what WithClaudeTokens should add for
// body, a JSON Message or an event stream split into lines as the Anthropic
// SDK splits it. ok is false where the scanner may differ by design: counted
// JSON it does not fully validate, nesting deeper than it follows, object
// keys with escapes.
func refTokens(body []byte, isSSE bool) (counts tokenCounts, ok bool) {
	if !isSSE {
		r := refUsage(body, "usage")
		if r.complete {
			for i := range counts {
				if r.set[i] {
					counts[i] = r.n[i]
				}
			}
		}
		return counts, r.comparable
	}
	ok = true
	lines := bytes.Split(body, []byte("\n"))
	lines = lines[:len(lines)-1] // the last is not ended by "\n": never part of an event
	var (
		kind    string
		data    []byte
		hasData bool
	)
	for _, line := range lines {
		line = bytes.TrimSuffix(line, []byte("\r"))
		if len(line) > 0 {
			name, value, _ := bytes.Cut(line, []byte(":"))
			value = bytes.TrimPrefix(value, []byte(" "))
			switch string(name) {
			case "event":
				kind = string(value)
				if hasData {
					kind = "(an event line after data)"
				}
			case "data":
				if hasData {
					data = append(data, '\n')
				}
				data, hasData = append(data, value...), true
			}
			continue
		}
		switch kind {
		case "message_start", "message_delta":
			path := []string{"usage"}
			if kind == "message_start" {
				path = []string{"message", "usage"}
			}
			r := refUsage(data, path...)
			ok = ok && r.comparable
			for i := range counts {
				switch {
				case !r.complete:
				case r.set[i]:
					counts[i] = r.n[i]
				case kind == "message_start":
					counts[i] = 0
				}
			}
		case "message_stop", "error":
			return counts, ok
		}
		kind, data, hasData = "", nil, false
	}
	return counts, ok
}

type refResult struct {
	n          tokenCounts
	set        [4]bool
	complete   bool // data is a JSON object
	comparable bool // the scanner must agree
}

var countRE = regexp.MustCompile(`^(0|[1-9][0-9]{0,9})$`)

// refUsage reads the four usage fields of the object at path in data.
func refUsage(data []byte, path ...string) refResult {
	var r refResult
	if !json.Valid(data) {
		return r
	}
	depth, escapedKey := jsonShape(data)
	r.comparable = depth <= 256 && !escapedKey
	if t := bytes.TrimLeft(data, " \t\r\n"); t[0] != '{' {
		return r
	}
	r.complete = true
	var obj map[string]json.RawMessage
	if json.Unmarshal(data, &obj) != nil {
		panic("valid JSON object did not decode")
	}
	for _, key := range path {
		var inner map[string]json.RawMessage // a fresh map: Unmarshal adds to one it is given
		if raw, found := obj[key]; !found || json.Unmarshal(raw, &inner) != nil {
			return r
		}
		obj = inner
	}
	for i, p := range tokenCounters {
		raw := bytes.TrimSpace(obj[fieldOf(p)])
		if n, err := strconv.ParseInt(string(raw), 10, 64); err == nil && countRE.Match(raw) && n <= usage.MaxAdd {
			r.n[i], r.set[i] = n, true
		}
	}
	return r
}

// fieldOf names the usage field counted by p.
func fieldOf(p usage.Provider) string {
	return map[usage.Provider]string{
		usage.ClaudeInputTokens:      "input_tokens",
		usage.ClaudeOutputTokens:     "output_tokens",
		usage.ClaudeCacheReadTokens:  "cache_read_input_tokens",
		usage.ClaudeCacheWriteTokens: "cache_creation_input_tokens",
	}[p]
}

// jsonShape returns how deep valid JSON data nests, and whether any object
// key in it is written with an escape.
func jsonShape(data []byte) (depth int, escapedKey bool) {
	type frame struct{ object, keyNext bool }
	var stack []frame
	dec := json.NewDecoder(bytes.NewReader(data))
	prev := int64(0)
	for {
		tok, err := dec.Token()
		if err != nil {
			return depth, escapedKey
		}
		raw := data[prev:dec.InputOffset()]
		prev = dec.InputOffset()
		top := len(stack) - 1
		d, isDelim := tok.(json.Delim)
		switch {
		case isDelim && (d == '}' || d == ']'):
			stack = stack[:top]
			if top > 0 && stack[top-1].object {
				stack[top-1].keyNext = true
			}
		case top >= 0 && stack[top].keyNext:
			escapedKey = escapedKey || bytes.IndexByte(raw, '\\') >= 0
			stack[top].keyNext = false
		case isDelim:
			stack = append(stack, frame{object: d == '{', keyNext: d == '{'})
			depth = max(depth, len(stack))
		case top >= 0 && stack[top].object:
			stack[top].keyNext = true
		}
	}
}
