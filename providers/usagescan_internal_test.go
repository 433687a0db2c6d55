package providers

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// scanModel feeds body to a scanner in chunks of chunk bytes and returns
// the model it read.
func scanModel(body string, sse bool, chunk int) string {
	u := newUsageScan(sse)
	for b := []byte(body); len(b) > 0; {
		n := min(chunk, len(b))
		if u.feed(b[:n]) {
			break
		}
		b = b[n:]
	}
	return string(u.model())
}

var scanChunks = []int{1, 2, 3, 7, 64, 1 << 20}

func TestScanModelJSON(t *testing.T) {
	long := strings.Repeat("m", 100)
	cases := []struct {
		name, body, want string
	}{
		{"first", `{"model":"claude-opus-4-5-20251101","usage":{"output_tokens":3}}`, "claude-opus-4-5-20251101"},
		{"after content", `{"id":"m","content":[{"type":"text","text":"x"}],"model":"claude-haiku-4-5","usage":{}}`, "claude-haiku-4-5"},
		{"spaces", " { \"model\" :\t\"claude-sonnet-4-5\" }\n", "claude-sonnet-4-5"},
		{"quoted in a string", `{"content":[{"text":"say \"model\":\"evil\""}],"usage":{"output_tokens":1}}`, ""},
		{"quoted before the model", `{"content":[{"text":"\"model\":\"evil\""}],"model":"claude-x"}`, "claude-x"},
		{"nested in content", `{"content":[{"type":"tool_use","input":{"model":"evil"}}]}`, ""},
		{"nested in usage", `{"usage":{"model":"evil","output_tokens":1}}`, ""},
		{"nested in an object", `{"x":{"model":"evil"}}`, ""},
		{"last wins", `{"model":"a","model":"b"}`, "b"},
		{"last not a string", `{"model":"a","model":null}`, ""},
		{"not a string", `{"model":7}`, ""},
		{"empty", `{"model":""}`, ""},
		{"escaped", `{"model":"claude\u002dx"}`, `claude\002dx`},
		{"escaped quote", `{"model":"a\"b"}`, `a\b`},
		{"64 bytes", `{"model":"` + long[:64] + `"}`, long[:64]},
		{"too long: the first 65 bytes", `{"model":"` + long + `"}`, long[:65]},
		{"escaped key", `{"mod\u0065l":"evil"}`, ""},
		{"incomplete", `{"model":"claude-x"`, ""},
		{"top-level array", `[{"model":"claude-x"}]`, ""},
		{"malformed", `{"model":"claude-x",}`, ""},
	}
	for _, c := range cases {
		for _, chunk := range scanChunks {
			if got := scanModel(c.body, false, chunk); got != c.want {
				t.Errorf("%s, chunks of %d: model %q, want %q", c.name, chunk, got, c.want)
			}
		}
	}
}

func TestScanModelSSE(t *testing.T) {
	ev := func(name, data string) string { return fmt.Sprintf("event: %s\ndata: %s\n\n", name, data) }
	start := func(model string) string {
		return ev("message_start", `{"type":"message_start","message":{"id":"m","model":"`+model+`","content":[],"usage":{"input_tokens":3}}}`)
	}
	cases := []struct {
		name, body, want string
	}{
		{"message_start", start("claude-opus-4-5-20251101") + ev("message_stop", `{}`), "claude-opus-4-5-20251101"},
		{"CRLF", strings.ReplaceAll(start("claude-x"), "\n", "\r\n"), "claude-x"},
		{"top level of message_start", ev("message_start", `{"model":"evil","message":{"usage":{}}}`), ""},
		{"in a text delta", start("claude-x") + ev("content_block_delta", `{"delta":{"text":"\"model\":\"evil\""}}`), "claude-x"},
		{"in message_delta", start("claude-x") + ev("message_delta", `{"model":"evil","message":{"model":"evil"},"usage":{"output_tokens":1}}`), "claude-x"},
		{"in another event", ev("ping", `{"message":{"model":"evil"}}`), ""},
		{"message_start replaces", start("a") + start("b"), "b"},
		{"message_start without a model clears", start("a") + ev("message_start", `{"message":{"usage":{}}}`), ""},
		{"incomplete message_start keeps", start("a") + ev("message_start", `{"message":{"model":"b"}`), "a"},
		{"cut before the blank line", strings.TrimSuffix(start("a"), "\n"), ""},
		{"nested in message", ev("message_start", `{"message":{"content":[{"model":"evil"}],"usage":{"model":"evil"}}}`), ""},
		{"a second message key starts afresh", ev("message_start", `{"message":{"model":"a"},"message":{"usage":{}}}`), ""},
		{"after message_stop", start("a") + ev("message_stop", `{}`) + start("b"), "a"},
	}
	for _, c := range cases {
		for _, chunk := range scanChunks {
			if got := scanModel(c.body, true, chunk); got != c.want {
				t.Errorf("%s, chunks of %d: model %q, want %q", c.name, chunk, got, c.want)
			}
		}
	}
}

// FuzzScanModel reads arbitrary JSON bodies in chunks: the model must not
// depend on the chunks, and where the body is a valid JSON object without
// escaped keys, nested no deeper than the scanner follows, it must be what
// encoding/json reads as the top-level "model" string, as written between
// its quotes and cut to 65 bytes.
func FuzzScanModel(f *testing.F) {
	f.Add([]byte(`{"model":"claude-sonnet-4-5","content":[{"text":"\"model\":\"x\""}],"usage":{"output_tokens":1}}`), uint8(3))
	f.Add([]byte(`{"x":{"model":"a"},"model":"b\\c","model":"d"}`), uint8(1))
	f.Fuzz(func(t *testing.T, body []byte, chunk uint8) {
		got := scanModel(string(body), false, int(chunk)%64+1)
		if whole := scanModel(string(body), false, len(body)+1); got != whole {
			t.Fatalf("model %q in chunks of %d, %q in one", got, int(chunk)%64+1, whole)
		}
		want, ok := refModel(body)
		if ok && got != want {
			t.Fatalf("model %q, want %q (encoding/json)", got, want)
		}
	})
}

// refModel returns the raw text of the top-level "model" string of body, a
// JSON object, each escape a backslash, cut to 65 bytes; ok is false where the scanner may differ
// by design (invalid JSON, escaped keys, deep nesting).
func refModel(body []byte) (string, bool) {
	if !json.Valid(body) || !plainKeys(body) {
		return "", false
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	depth, deepest := 0, 0
	for {
		tok, err := dec.Token()
		if err != nil {
			break
		}
		if d, ok := tok.(json.Delim); ok {
			if d == '{' || d == '[' {
				depth++
				deepest = max(deepest, depth)
			} else {
				depth--
			}
		}
	}
	if deepest > maxDepth {
		return "", false
	}
	var obj map[string]json.RawMessage
	if json.Unmarshal(body, &obj) != nil {
		return "", true // not an object
	}
	raw := bytes.TrimSpace(obj["model"])
	if len(raw) < 2 || raw[0] != '"' {
		return "", true
	}
	// The scanner keeps one backslash for each escape, and 65 bytes.
	s := escapesAsBackslash(string(raw[1 : len(raw)-1]))
	return s[:min(len(s), maxModel+1)], true
}

// plainKeys reports whether no object key of body, valid JSON, is written
// with an escape.
func plainKeys(body []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(body))
	type frame struct{ object, keyNext bool }
	var stack []frame
	prev := int64(0)
	for {
		tok, err := dec.Token()
		if err != nil {
			return true
		}
		raw := body[prev:dec.InputOffset()]
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
			if bytes.IndexByte(raw, '\\') >= 0 {
				return false
			}
			stack[top].keyNext = false
		case isDelim:
			stack = append(stack, frame{object: d == '{', keyNext: d == '{'})
		case top >= 0 && stack[top].object:
			stack[top].keyNext = true
		}
	}
}

// escapesAsBackslash rewrites each escape of s, raw JSON string text, as
// the scanner keeps it: a backslash, without what follows it.
func escapesAsBackslash(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		b.WriteByte(s[i])
		if s[i] == '\\' {
			i++ // the escaped byte; \u's hex digits stay, as the scanner keeps them
		}
	}
	return b.String()
}

// BenchmarkUsageScan is the scanner alone, fed a Messages stream of 20 KB
// and 200 KB (shaped as BenchmarkClaudeStream's) in 4 KB chunks, as a
// client's reads hand it over, beside the floor of any SSE reader: finding
// each line's end with bytes.IndexByte.
func BenchmarkUsageScan(b *testing.B) {
	for _, size := range []int{20 << 10, 200 << 10} {
		var s strings.Builder
		ev := func(name, data string) { fmt.Fprintf(&s, "event: %s\ndata: %s\n\n", name, data) }
		ev("message_start", `{"type":"message_start","message":{"id":"msg_01","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":2095,"cache_creation_input_tokens":0,"cache_read_input_tokens":1800,"output_tokens":1}}}`)
		for i := 0; s.Len() < size; i++ {
			ev("content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"The quarterly filing shows \"revenue\" up 12% and a new\nsegment."}}`)
			if i%100 == 99 {
				ev("ping", `{"type": "ping"}`)
			}
		}
		ev("message_delta", `{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":3000}}`)
		ev("message_stop", `{"type":"message_stop"}`)
		body := []byte(s.String())
		const chunk = 4 << 10
		b.Run(fmt.Sprintf("size=%dKB/impl=Lines", size>>10), func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				lines := 0
				for i := 0; i < len(body); i += chunk {
					c := body[i:min(i+chunk, len(body))]
					for j := bytes.IndexByte(c, '\n'); j >= 0; j = bytes.IndexByte(c, '\n') {
						c, lines = c[j+1:], lines+1
					}
				}
				if lines == 0 {
					b.Fatal("no lines")
				}
			}
		})
		b.Run(fmt.Sprintf("size=%dKB/impl=Scan", size>>10), func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				u := newUsageScan(true)
				for i := 0; i < len(body); i += chunk {
					if u.feed(body[i:min(i+chunk, len(body))]) {
						break
					}
				}
				if u.counts()[fieldOutput] != 3000 {
					b.Fatal("the scanner missed the output tokens")
				}
			}
		})
	}
}
