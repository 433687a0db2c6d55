package providers_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/enrichmeter/enrichmeter/providers"
	"github.com/enrichmeter/enrichmeter/usage"
)

// tokenCounters are the four token counters, in the order of tokenCounts.
var tokenCounters = [4]usage.Provider{usage.ClaudeInputTokens, usage.ClaudeOutputTokens, usage.ClaudeCacheReadTokens, usage.ClaudeCacheWriteTokens}

// tokenCounts is what was added to each token counter: input, output, cache
// read, cache write.
type tokenCounts [4]int64

// tokenRecorder records what is added to each counter, and how many times.
type tokenRecorder struct {
	mu    sync.Mutex
	n     map[usage.Provider]int64
	calls map[usage.Provider]int
}

func (r *tokenRecorder) Add(p usage.Provider, n int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.n == nil {
		r.n, r.calls = make(map[usage.Provider]int64), make(map[usage.Provider]int)
	}
	r.n[p] += n
	r.calls[p]++
}

// counts returns the totals of the token counters.
func (r *tokenRecorder) counts() tokenCounts {
	r.mu.Lock()
	defer r.mu.Unlock()
	var c tokenCounts
	for i, p := range tokenCounters {
		c[i] = r.n[p]
	}
	return c
}

// adds returns how many times anything was added to each token counter.
func (r *tokenRecorder) adds() [4]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	var c [4]int
	for i, p := range tokenCounters {
		c[i] = r.calls[p]
	}
	return c
}

// chunkReader returns at most size bytes a Read, so a body arrives in chunks.
type chunkReader struct {
	data   []byte
	size   int
	closed atomic.Int32
}

func (r *chunkReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), r.size)], r.data)
	r.data = r.data[n:]
	return n, nil
}

func (r *chunkReader) Close() error { r.closed.Add(1); return nil }

const (
	jsonType = "application/json"
	sseType  = "text/event-stream"
)

// messagesRequest is a request to the Messages API.
func messagesRequest(t testing.TB) *http.Request {
	t.Helper()
	req, err := http.NewRequest("POST", "https://api.anthropic.com/v1/messages", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// readTokens sends a Messages request through a transport with
// WithClaudeTokens to a server that answers 200 with body as contentType, in
// chunks of chunk bytes. It reads the whole body with reads of every size
// from 1 byte up, closes it, and returns what it read and what was added.
func readTokens(t testing.TB, body, contentType string, chunk int) (string, tokenCounts) {
	t.Helper()
	rec := &tokenRecorder{}
	next := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		h := http.Header{"Content-Type": {contentType}}
		return &http.Response{StatusCode: 200, Header: h, Body: &chunkReader{data: []byte(body), size: chunk}, Request: r}, nil
	})
	resp, err := providers.NewTransport(next, &counter{}, usage.Claude, providers.WithClaudeTokens(rec)).RoundTrip(messagesRequest(t))
	if err != nil {
		t.Fatal(err)
	}
	var got []byte
	for size := 1; ; size++ {
		buf := make([]byte, size%97+1)
		n, err := resp.Body.Read(buf)
		got = append(got, buf[:n]...)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := resp.Body.Close(); err != nil {
		t.Fatal(err)
	}
	for i, n := range rec.adds() {
		if n > 1 {
			t.Errorf("%s added %d times, want at most once", tokenCounters[i], n)
		}
	}
	return string(got), rec.counts()
}

// chunkSizes are the sizes in which the tests deliver a body.
var chunkSizes = []int{1, 2, 3, 5, 13, 64, 4096}

// checkTokens reads body in every chunk size and checks that the caller
// gets it unchanged and the counters get want.
func checkTokens(t *testing.T, name, body, contentType string, want tokenCounts) {
	t.Helper()
	for _, chunk := range chunkSizes {
		got, counts := readTokens(t, body, contentType, chunk)
		if got != body {
			t.Fatalf("%s, chunks of %d: the caller read %q, want %q", name, chunk, got, body)
		}
		if counts != want {
			t.Errorf("%s, chunks of %d: tokens (in, out, cache read, cache write) = %v, want %v", name, chunk, counts, want)
		}
	}
}

func TestClaudeTokensJSON(t *testing.T) {
	deep := strings.Repeat(`{"a":`, 300) + `1` + strings.Repeat(`}`, 300)
	long := strings.Repeat(`A line \"quoted\" and \\ escaped.\n`, 3000) // 100 KB in one string
	nested := strings.Repeat(`[`, 200) + strings.Repeat(`]`, 200)
	cases := []struct {
		name string
		body string
		want tokenCounts
	}{
		{"all four", `{"id":"msg_1","type":"message","content":[{"type":"text","text":"Hi"}],"usage":{"input_tokens":12,"output_tokens":30,"cache_creation_input_tokens":400,"cache_read_input_tokens":1800}}`, tokenCounts{12, 30, 1800, 400}},
		{"usage first, spaces", " \n{ \"usage\" : {\t\"output_tokens\" : 7 , \"input_tokens\":3 } , \"id\":\"m\" }\r\n", tokenCounts{3, 7, 0, 0}},
		{"usage in a string", `{"content":[{"type":"text","text":"say \"usage\":{\"output_tokens\":999} and \\\\"}],"usage":{"input_tokens":1,"output_tokens":2}}`, tokenCounts{1, 2, 0, 0}},
		{"string ends after an escaped backslash", `{"text":"a\\","usage":{"output_tokens":2}}`, tokenCounts{0, 2, 0, 0}},
		{"usage in a tool's input", `{"content":[{"type":"tool_use","input":{"usage":{"output_tokens":999}}}],"usage":{"output_tokens":2},"x":{"usage":{"output_tokens":999}}}`, tokenCounts{0, 2, 0, 0}},
		{"nested objects in usage", `{"usage":{"input_tokens":5,"cache_creation":{"ephemeral_5m_input_tokens":9,"input_tokens":999},"server_tool_use":{"web_search_requests":1},"service_tier":"standard","output_tokens":6}}`, tokenCounts{5, 6, 0, 0}},
		{"nulls", `{"usage":{"input_tokens":5,"output_tokens":6,"cache_creation_input_tokens":null,"cache_read_input_tokens":null}}`, tokenCounts{5, 6, 0, 0}},
		{"not counts", `{"usage":{"input_tokens":1.5,"output_tokens":-3,"cache_read_input_tokens":"4","cache_creation_input_tokens":1e3}}`, tokenCounts{}},
		{"leading zero", `{"usage":{"input_tokens":01,"output_tokens":0}}`, tokenCounts{}},
		{"too large", `{"usage":{"input_tokens":4294967297,"output_tokens":12345678901,"cache_read_input_tokens":4294967296}}`, tokenCounts{0, 0, 4294967296, 0}},
		{"last key wins", `{"usage":{"input_tokens":5,"input_tokens":7,"output_tokens":1,"output_tokens":"x"}}`, tokenCounts{7, 0, 0, 0}},
		{"last usage wins", `{"usage":{"input_tokens":5},"usage":{"output_tokens":3}}`, tokenCounts{0, 3, 0, 0}},
		{"usage not an object", `{"usage":{"input_tokens":5},"usage":5}`, tokenCounts{}},
		{"escaped key", `{"usag\u0065":{"input_tokens":5}}`, tokenCounts{}},
		{"other case", `{"Usage":{"input_tokens":5},"usage":{"Input_tokens":6}}`, tokenCounts{}},
		{"cut short", `{"usage":{"input_tokens":5,"output_tokens":6}`, tokenCounts{}},
		{"trailing bytes", `{"usage":{"input_tokens":5}} {}`, tokenCounts{}},
		{"top-level array", `[{"usage":{"input_tokens":5}}]`, tokenCounts{}},
		{"malformed after usage", `{"usage":{"input_tokens":5},"x":tru}`, tokenCounts{}},
		{"too deep", `{"x":` + deep + `,"usage":{"input_tokens":5}}`, tokenCounts{}},
		{"deep but not too deep", `{"x":` + nested + `,"usage":{"input_tokens":5}}`, tokenCounts{5, 0, 0, 0}},
		{"a 100 KB string", `{"content":[{"type":"text","text":"` + long + `"}],"usage":{"input_tokens":5}}`, tokenCounts{5, 0, 0, 0}},
		{"empty", ``, tokenCounts{}},
		{"an SSE stream sent as JSON", "event: message_start\ndata: {\"usage\":{\"input_tokens\":5}}\n\n", tokenCounts{}},
	}
	for _, c := range cases {
		checkTokens(t, c.name, c.body, jsonType, c.want)
	}
}

// sse builds a stream of events, each a name and its data.
func sse(events ...string) string {
	var b strings.Builder
	for i := 0; i+1 < len(events); i += 2 {
		fmt.Fprintf(&b, "event: %s\ndata: %s\n\n", events[i], events[i+1])
	}
	return b.String()
}

func TestClaudeTokensSSE(t *testing.T) {
	start := `{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","content":[],"usage":{"input_tokens":25,"cache_creation_input_tokens":400,"cache_read_input_tokens":1800,"output_tokens":1}}}`
	text := `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"\"usage\":{\"output_tokens\":999}"}}`
	delta := func(out int) string {
		return fmt.Sprintf(`{"type":"message_delta","delta":{"stop_reason":null},"usage":{"output_tokens":%d}}`, out)
	}
	full := sse("message_start", start,
		"content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`,
		"ping", `{"type":"ping"}`,
		"content_block_delta", text,
		"message_delta", delta(10),
		"content_block_delta", text,
		"message_delta", delta(15),
		"content_block_stop", `{"type":"content_block_stop","index":0}`,
		"message_delta", delta(42),
		"message_stop", `{"type":"message_stop"}`)
	want := tokenCounts{25, 42, 1800, 400}
	cutAt := strings.Index(full, "event: message_delta") + len("event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":null},\"usage\":{\"output_tokens\":1")
	cases := []struct {
		name string
		body string
		want tokenCounts
	}{
		{"cumulative deltas", full, want},
		{"CRLF", strings.ReplaceAll(full, "\n", "\r\n"), want},
		{"cut after a delta", full[:strings.Index(full, "event: message_delta\ndata: "+delta(42))], tokenCounts{25, 15, 1800, 400}},
		{"cut inside a delta", full[:cutAt], tokenCounts{25, 1, 1800, 400}},
		{"cut before the blank line", full[:strings.Index(full, delta(10))+len(delta(10))+1], tokenCounts{25, 1, 1800, 400}},
		{"only message_start", sse("message_start", start), tokenCounts{25, 1, 1800, 400}},
		{"comments and other fields", ": keep-alive\nid: 7\nretry: 10\n" + sse("message_start", start) + ":\n\nevent: message_delta\nid: 8\ndata: " + delta(3) + "\n\n", tokenCounts{25, 3, 1800, 400}},
		{"no space after the colon", "event:message_start\ndata:" + start + "\n\nevent:message_delta\ndata:" + delta(9) + "\n\n", tokenCounts{25, 9, 1800, 400}},
		{"data on several lines", sse("message_start", start) + "event: message_delta\ndata: {\"type\":\"message_delta\",\ndata: \"usage\":\ndata: {\"output_tokens\":8}}\n\n", tokenCounts{25, 8, 1800, 400}},
		{"a count split across data lines", sse("message_start", start) + "event: message_delta\ndata: {\"usage\":{\"output_tokens\":1\ndata: 2}}\n\n", tokenCounts{25, 1, 1800, 400}},
		{"delta with every field", sse("message_start", start, "message_delta", `{"usage":{"input_tokens":30,"output_tokens":5,"cache_read_input_tokens":0,"cache_creation_input_tokens":null}}`), tokenCounts{30, 5, 0, 400}},
		{"delta with a null count", sse("message_start", start, "message_delta", `{"usage":{"output_tokens":null}}`), tokenCounts{25, 1, 1800, 400}},
		{"malformed delta", sse("message_start", start, "message_delta", `{"usage":{"output_tokens":7}`, "message_delta", `{"usage":{"output_tokens":8}} x`), tokenCounts{25, 1, 1800, 400}},
		{"usage outside message in message_start", sse("message_start", `{"usage":{"input_tokens":9},"message":{"usage":{"input_tokens":3}}}`), tokenCounts{3, 0, 0, 0}},
		{"message_start resets", sse("message_start", start, "message_start", `{"message":{"usage":{"input_tokens":3}}}`), tokenCounts{3, 0, 0, 0}},
		{"usage in other events", sse("content_block_delta", `{"usage":{"output_tokens":999}}`, "message_start", start, "ping", `{"usage":{"output_tokens":999}}`), tokenCounts{25, 1, 1800, 400}},
		{"data before the event line", sse("message_start", start) + "data: " + delta(9) + "\nevent: message_delta\n\n", tokenCounts{25, 1, 1800, 400}},
		{"last event line wins", sse("message_start", start) + "event: ping\nevent: message_delta\ndata: " + delta(9) + "\n\n", tokenCounts{25, 9, 1800, 400}},
		{"error ends the stream", sse("message_start", start, "error", `{"type":"error","error":{"type":"overloaded_error"}}`, "message_delta", delta(9)), tokenCounts{25, 1, 1800, 400}},
		{"nothing after message_stop", full + sse("message_delta", delta(99)), want},
		{"long event name", sse("message_start", start, "message_delta_and_more", delta(9)), tokenCounts{25, 1, 1800, 400}},
		{"long field name", sse("message_start", start) + "eventually: message_delta\ndata: " + delta(9) + "\n\n", tokenCounts{25, 1, 1800, 400}},
		{"a 100 KB data line", sse("message_start", start, "message_delta", `{"delta":{"text":"`+strings.Repeat(`\"usage\":{}`, 10000)+`"},"usage":{"output_tokens":9}}`), tokenCounts{25, 9, 1800, 400}},
		{"JSON sent as a stream", `{"usage":{"input_tokens":5}}`, tokenCounts{}},
	}
	for _, c := range cases {
		checkTokens(t, c.name, c.body, sseType, c.want)
	}
	checkTokens(t, "media type parameters", full, "Text/Event-Stream; charset=utf-8", want)
}

// TestClaudeTokensOnlySuccessfulMessages checks which calls count tokens:
// only 2xx answers to POST .../v1/messages of calls the decorator counts for
// Claude; and that the call count keeps its rules.
func TestClaudeTokensOnlySuccessfulMessages(t *testing.T) {
	body := `{"usage":{"input_tokens":12,"output_tokens":30}}`
	cases := []struct {
		name     string
		method   string
		url      string
		status   int
		encoding string
		opts     []providers.Option
		ctxDone  bool
		calls    int
		tokens   tokenCounts
	}{
		{name: "messages", url: "https://api.anthropic.com/v1/messages", calls: 1, tokens: tokenCounts{12, 30}},
		{name: "through a gateway", url: "https://gw.internal/anthropic/v1/messages", calls: 1, tokens: tokenCounts{12, 30}},
		{name: "count_tokens", url: "https://api.anthropic.com/v1/messages/count_tokens", calls: 1},
		{name: "batches", url: "https://api.anthropic.com/v1/messages/batches", calls: 1},
		{name: "models", method: "GET", url: "https://api.anthropic.com/v1/models", calls: 1},
		{name: "GET messages", method: "GET", url: "https://api.anthropic.com/v1/messages", calls: 1},
		{name: "400", url: "https://api.anthropic.com/v1/messages", status: 400},
		{name: "529", url: "https://api.anthropic.com/v1/messages", status: 529},
		{name: "compressed", url: "https://api.anthropic.com/v1/messages", encoding: "gzip", calls: 1},
		{name: "identity", url: "https://api.anthropic.com/v1/messages", encoding: "identity", calls: 1, tokens: tokenCounts{12, 30}},
		{name: "cancelled", url: "https://api.anthropic.com/v1/messages", ctxDone: true},
		{name: "refused by the rule", url: "https://api.anthropic.com/v1/messages", opts: []providers.Option{providers.WithSuccess(func(*http.Response) bool { return false })}},
		{name: "4xx accepted by the rule", url: "https://api.anthropic.com/v1/messages", status: 404, calls: 1, opts: []providers.Option{providers.WithSuccess(func(*http.Response) bool { return true })}},
		{name: "counted at EOF", url: "https://api.anthropic.com/v1/messages", calls: 1, tokens: tokenCounts{12, 30}, opts: []providers.Option{providers.CountAtEOF()}},
	}
	for _, c := range cases {
		next := roundTripFunc(func(r *http.Request) (*http.Response, error) {
			h := http.Header{"Content-Type": {jsonType}}
			if c.encoding != "" {
				h.Set("Content-Encoding", c.encoding)
			}
			return &http.Response{StatusCode: cmp(c.status, 200), Header: h, Body: io.NopCloser(strings.NewReader(body)), Request: r}, nil
		})
		hosts := providers.DefaultHosts()
		hosts["gw.internal"] = usage.Claude
		for _, impl := range []string{"NewTransport", "ByHost"} {
			cnt, rec := &counter{}, &tokenRecorder{}
			opts := append([]providers.Option{providers.WithClaudeTokens(rec)}, c.opts...)
			rt := providers.NewTransport(next, cnt, usage.Claude, opts...)
			if impl == "ByHost" {
				rt = providers.ByHost(next, cnt, hosts, opts...)
			}
			ctx, cancel := context.WithCancel(context.Background())
			if c.ctxDone {
				cancel()
			}
			req, _ := http.NewRequestWithContext(ctx, cmp(c.method, "POST"), c.url, strings.NewReader(`{}`))
			resp, err := rt.RoundTrip(req)
			cancel()
			if err != nil {
				t.Fatal(err)
			}
			if b, _ := io.ReadAll(resp.Body); string(b) != body {
				t.Errorf("%s, %s: the caller read %q, want %q", impl, c.name, b, body)
			}
			resp.Body.Close()
			if got := cnt.get(usage.Claude); got != c.calls {
				t.Errorf("%s, %s: %d calls counted, want %d", impl, c.name, got, c.calls)
			}
			if got := rec.counts(); got != c.tokens {
				t.Errorf("%s, %s: tokens %v, want %v", impl, c.name, got, c.tokens)
			}
		}
	}
}

// cmp returns v, or def if v is the zero value.
func cmp[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// TestClaudeTokensByHostReadsOnlyClaude sends a Messages-shaped call to
// another provider's host through ByHost: its call counts, its tokens do not.
func TestClaudeTokensByHostReadsOnlyClaude(t *testing.T) {
	cnt, rec := &counter{}, &tokenRecorder{}
	next := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		return &http.Response{StatusCode: 200, Header: http.Header{}, Body: io.NopCloser(strings.NewReader(`{"usage":{"input_tokens":5}}`)), Request: r}, nil
	})
	rt := providers.ByHost(next, cnt, providers.DefaultHosts(), providers.WithClaudeTokens(rec))
	req, _ := http.NewRequest("POST", "https://api.exa.ai/v1/messages", nil)
	resp, err := rt.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if cnt.get(usage.Exa) != 1 || rec.counts() != (tokenCounts{}) {
		t.Errorf("exa calls %d, tokens %v; want 1 call and no tokens", cnt.get(usage.Exa), rec.counts())
	}
}

func TestClaudeTokensWiringPanicsAtConstruction(t *testing.T) {
	rec := &tokenRecorder{}
	noClaude := map[string]usage.Provider{"api.exa.ai": usage.Exa}
	cases := map[string]func(){
		"WithClaudeTokens nil Adder":          func() { providers.WithClaudeTokens(nil) },
		"WithClaudeTokens nil *usage.Tracker": func() { providers.WithClaudeTokens((*usage.Tracker)(nil)) },
		"WithClaudeTokens nil tokenRecorder":  func() { providers.WithClaudeTokens((*tokenRecorder)(nil)) },
		"NewTransport provider exa":           func() { providers.NewTransport(nil, &counter{}, usage.Exa, providers.WithClaudeTokens(rec)) },
		"WrapClient provider claude_input_tokens": func() {
			providers.WrapClient(nil, &counter{}, usage.ClaudeInputTokens, providers.WithClaudeTokens(rec))
		},
		"WrapDoer provider apollo": func() {
			providers.WrapDoer(http.DefaultClient, &counter{}, usage.Apollo, providers.WithClaudeTokens(rec))
		},
		"ByHost no key maps to claude": func() { providers.ByHost(nil, &counter{}, noClaude, providers.WithClaudeTokens(rec)) },
	}
	for name, f := range cases {
		fn, what, _ := strings.Cut(name, " ")
		msg := panicOf(f)
		if !strings.HasPrefix(msg, "providers: "+fn+": ") || !strings.Contains(msg, strings.Fields(what)[len(strings.Fields(what))-1]) {
			t.Errorf("%s: recovered %q, want a panic from %s that names %s", name, msg, fn, what)
		}
	}
	for name, f := range map[string]func(){
		"NewTransport": func() { providers.NewTransport(nil, &counter{}, usage.Claude, providers.WithClaudeTokens(rec)) },
		"WrapClient":   func() { providers.WrapClient(nil, &counter{}, usage.Claude, providers.WithClaudeTokens(rec)) },
		"WrapDoer": func() {
			providers.WrapDoer(http.DefaultClient, &counter{}, usage.Claude, providers.WithClaudeTokens(rec))
		},
		"ByHost": func() { providers.ByHost(nil, &counter{}, providers.DefaultHosts(), providers.WithClaudeTokens(rec)) },
	} {
		if msg := panicOf(f); msg != "" {
			t.Errorf("%s with Claude's tokens panicked: %s", name, msg)
		}
	}
}

// TestClaudeTokensAddedOnce closes bodies twice, after EOF, before EOF, and
// at the same time as another goroutine reads them to the end: each counter
// is added to at most once a response, and exactly the stream's totals when
// the body was read to the end first.
func TestClaudeTokensAddedOnce(t *testing.T) {
	body := sse("message_start", `{"message":{"usage":{"input_tokens":3,"cache_read_input_tokens":5,"cache_creation_input_tokens":7}}}`,
		"message_delta", `{"usage":{"output_tokens":4}}`, "message_delta", `{"usage":{"output_tokens":11}}`)
	const responses = 200
	rec := &tokenRecorder{}
	var closed atomic.Int32
	next := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		h := http.Header{"Content-Type": {sseType}}
		return &http.Response{StatusCode: 200, Header: h, Body: &countClose{chunkReader{data: []byte(body), size: 7}, &closed}, Request: r}, nil
	})
	rt := providers.NewTransport(next, &counter{}, usage.Claude, providers.WithClaudeTokens(rec))
	var wg sync.WaitGroup
	var full atomic.Int64 // responses read to EOF before any Close
	for i := range responses {
		wg.Go(func() {
			resp, err := rt.RoundTrip(messagesRequest(t))
			if err != nil {
				t.Error(err)
				return
			}
			switch i % 3 {
			case 0: // to EOF, then Close twice
				io.Copy(io.Discard, resp.Body)
				full.Add(1)
				resp.Body.Close()
				resp.Body.Close()
			case 1: // Close while another goroutine reads
				var rg sync.WaitGroup
				rg.Go(func() { io.Copy(io.Discard, resp.Body) })
				resp.Body.Close()
				rg.Wait()
				resp.Body.Close()
			case 2: // Close from two goroutines at once
				io.CopyN(io.Discard, resp.Body, int64(len(body)/2))
				var cg sync.WaitGroup
				cg.Go(func() { resp.Body.Close() })
				resp.Body.Close()
				cg.Wait()
			}
		})
	}
	wg.Wait()
	if n := closed.Load(); n != 2*responses {
		t.Errorf("the wrapped bodies were closed %d times, want every Close passed on (%d)", n, 2*responses)
	}
	adds, counts := rec.adds(), rec.counts()
	for i, n := range adds {
		if n > responses {
			t.Errorf("%s added %d times for %d responses", tokenCounters[i], n, responses)
		}
	}
	if adds[0] < int(full.Load()) || counts[0] != 3*int64(adds[0]) {
		t.Errorf("input tokens %d in %d adds, want 3 an add and an add for each of the %d responses read to the end", counts[0], adds[0], full.Load())
	}
}

// countClose counts the Close calls that reach the wrapped body.
type countClose struct {
	chunkReader
	n *atomic.Int32
}

func (c *countClose) Close() error { c.n.Add(1); return nil }

// TestClaudeTokensFirstEventArrivesAtOnce has the server send one event and
// wait until the client has read it before it sends the rest: with any
// read-ahead or buffering in the observer, the client would never get it.
func TestClaudeTokensFirstEventArrivesAtOnce(t *testing.T) {
	first := sse("message_start", `{"message":{"usage":{"input_tokens":3}}}`)
	rest := sse("message_delta", `{"usage":{"output_tokens":4}}`, "message_stop", `{}`)
	received := make(chan struct{})
	srv := server(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", sseType)
		io.WriteString(w, first)
		w.(http.Flusher).Flush()
		select {
		case <-received:
		case <-time.After(10 * time.Second):
			t.Error("the client did not get the first event within 10s")
			return
		}
		io.WriteString(w, rest)
	})
	rec := &tokenRecorder{}
	hc := providers.WrapClient(nil, &counter{}, usage.Claude, providers.WithClaudeTokens(rec))
	resp, err := hc.Post(srv.URL+"/v1/messages", "application/json", strings.NewReader(`{"stream":true}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	var got strings.Builder
	for !strings.HasSuffix(got.String(), "\n\n") {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("reading the first event: %v (read %q)", err, got.String())
		}
		got.WriteString(line)
	}
	if got.String() != first {
		t.Fatalf("first event %q, want %q", got.String(), first)
	}
	close(received)
	tail, err := io.ReadAll(br)
	if err != nil || string(tail) != rest {
		t.Fatalf("rest of the stream %q, %v; want %q", tail, err, rest)
	}
	if c := rec.counts(); c != (tokenCounts{3, 4, 0, 0}) {
		t.Errorf("tokens %v, want input 3, output 4", c)
	}
}

// TestClaudeTokensAllocations reads streams of two sizes through a transport
// with and without WithClaudeTokens: the observer adds the same small number
// of allocations to each, whatever its size.
func TestClaudeTokensAllocations(t *testing.T) {
	var extra []float64
	for _, size := range []int{20 << 10, 200 << 10} {
		body := []byte(sseStream(size))
		buf := make([]byte, 4096)
		read := func(rt http.RoundTripper, req *http.Request) {
			resp, err := rt.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			for {
				if _, err := resp.Body.Read(buf); err != nil {
					break
				}
			}
			resp.Body.Close()
		}
		allocs := map[string]float64{}
		for name, rt := range memTransports(body, nil) {
			req := messagesRequest(t)
			allocs[name] = testing.AllocsPerRun(50, func() { read(rt, req) })
		}
		extra = append(extra, allocs["ClaudeTokens"]-allocs["NewTransport"])
		t.Logf("%d KB: %v allocations a response", size>>10, allocs)
	}
	if extra[0] != extra[1] || extra[0] > 1 {
		t.Errorf("WithClaudeTokens adds %v allocations to a 20 KB and a 200 KB stream, want the same, at most 1", extra)
	}
}

// sseStream returns a Messages stream of about size bytes, shaped as the API
// sends one: message_start, text deltas, a ping now and then, one
// message_delta, message_stop.
func sseStream(size int) string {
	var b strings.Builder
	b.WriteString(sse("message_start", `{"type":"message_start","message":{"id":"msg_01","type":"message","role":"assistant","model":"claude-test","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":2095,"cache_creation_input_tokens":0,"cache_read_input_tokens":1800,"output_tokens":1}}}`,
		"content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`))
	i := 0
	for ; b.Len() < size; i++ {
		b.WriteString(sse("content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"The quarterly filing shows \"revenue\" up 12% and a new\nsegment."}}`))
		if i%100 == 99 {
			b.WriteString(sse("ping", `{"type": "ping"}`))
		}
	}
	b.WriteString(sse("content_block_stop", `{"type":"content_block_stop","index":0}`,
		"message_delta", fmt.Sprintf(`{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":%d}}`, i*15),
		"message_stop", `{"type":"message_stop"}`))
	return b.String()
}

// memTransports returns transports that answer every request with body as
// a stream, in memory: bare, under NewTransport, and under NewTransport with
// WithClaudeTokens, counting without allocating, and, given a tracker,
// under NewTransport with WithClaudeTokens counting into it.
func memTransports(body []byte, tracker *usage.Tracker) map[string]http.RoundTripper {
	var br bytes.Reader
	resp := &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {sseType}}}
	next := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		br.Reset(body)
		// Read only, as a network body is: no WriteTo that would let io.Copy skip the copy.
		resp.Body, resp.Request = io.NopCloser(struct{ io.Reader }{&br}), r
		return resp, nil
	})
	cnt, add := &atomicCounter{}, &atomicAdder{}
	rts := map[string]http.RoundTripper{
		"Bare":         next,
		"NewTransport": providers.NewTransport(next, cnt, usage.Claude),
		"ClaudeTokens": providers.NewTransport(next, cnt, usage.Claude, providers.WithClaudeTokens(add)),
	}
	if tracker != nil {
		rts["ClaudeTokensT"] = providers.NewTransport(next, tracker, usage.Claude, providers.WithClaudeTokens(tracker))
	}
	return rts
}

// atomicAdder adds without allocating.
type atomicAdder struct{ n atomic.Int64 }

func (a *atomicAdder) Add(_ usage.Provider, n int64) { a.n.Add(n) }

// TestClaudeTokensBreakdownAllocations reads streams through a decorator
// that counts into a tracker, for a subject, with and without
// WithClaudeTokens: once the model and the subject have been seen that day,
// breaking the tokens down adds no allocation to the one a response costs.
func TestClaudeTokensBreakdownAllocations(t *testing.T) {
	now := time.Now()
	rdb := miniredisClient(t)
	tracker := usage.NewTracker(rdb, usage.WithClock(func() time.Time { return now }), usage.WithFlushInterval(time.Hour))
	defer tracker.Close(context.Background())
	ctx := providers.WithSubject(context.Background(), "acme")
	var extra []float64
	for _, size := range []int{20 << 10, 200 << 10} {
		body := []byte(sseStream(size))
		buf := make([]byte, 4096)
		var br bytes.Reader
		resp := &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {sseType}}}
		next := roundTripFunc(func(r *http.Request) (*http.Response, error) {
			br.Reset(body)
			resp.Body, resp.Request = io.NopCloser(struct{ io.Reader }{&br}), r
			return resp, nil
		})
		allocs := map[string]float64{}
		for name, rt := range map[string]http.RoundTripper{
			"NewTransport": providers.NewTransport(next, tracker, usage.Claude),
			"ClaudeTokens": providers.NewTransport(next, tracker, usage.Claude, providers.WithClaudeTokens(tracker)),
		} {
			req := messagesRequest(t).WithContext(ctx)
			read := func() {
				resp, err := rt.RoundTrip(req)
				if err != nil {
					t.Fatal(err)
				}
				for {
					if _, err := resp.Body.Read(buf); err != nil {
						break
					}
				}
				resp.Body.Close()
			}
			read() // the model's and the subject's first use of the day
			allocs[name] = testing.AllocsPerRun(50, read)
		}
		extra = append(extra, allocs["ClaudeTokens"]-allocs["NewTransport"])
		t.Logf("%d KB: %v allocations a response", size>>10, allocs)
	}
	if extra[0] != extra[1] || extra[0] > 1 {
		t.Errorf("WithClaudeTokens, by model and subject, adds %v allocations to a 20 KB and a 200 KB stream, want the same, at most 1", extra)
	}
	if err := tracker.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	const responses, input = 2 * 52, 2095 // AllocsPerRun's runs, its warm-up and the first, a size; sseStream's input tokens
	if got := breakdown(t, rdb, usage.DefaultPrefix, "subjects", now)["acme:claude_input_tokens:claude-test"]; got != responses*input {
		t.Errorf("acme's input tokens for claude-test: %d, want %d", got, responses*input)
	}
}
