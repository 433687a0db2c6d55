package providers

import (
	"io"
	"net/http"
	"strings"
	"sync"

	"github.com/enrichmeter/enrichmeter/usage"
)

// An Adder adds amounts to counters; [*usage.Tracker] satisfies it. Add must
// be cheap, never block and be safe for concurrent use: it is called on the
// goroutine that reads or closes a response body.
type Adder interface {
	Add(p usage.Provider, n int64)
}

var _ Adder = (*usage.Tracker)(nil)

// tokenCounters are the counters of the usage fields, in the order of
// tokenCounts.
var tokenCounters = [numFields]usage.Provider{
	fieldInput:      usage.ClaudeInputTokens,
	fieldOutput:     usage.ClaudeOutputTokens,
	fieldCacheRead:  usage.ClaudeCacheReadTokens,
	fieldCacheWrite: usage.ClaudeCacheWriteTokens,
}

// tokenAdders add to the token counters, one adder a usage field: a
// [usage.Meter] when the Adder can make one, as a *usage.Tracker can.
type tokenAdders [numFields]interface{ Add(n int64) }

func newTokenAdders(a Adder) *tokenAdders {
	var t tokenAdders
	for i, p := range tokenCounters {
		if m := meterOf(a, p); m != nil {
			t[i] = m
		} else {
			t[i] = providerAdder{a, p}
		}
	}
	return &t
}

// providerAdder adds to one counter of an Adder that makes no Meter.
type providerAdder struct {
	a Adder
	p usage.Provider
}

func (pa providerAdder) Add(n int64) { pa.a.Add(pa.p, n) }

// readsTokens reports whether resp, the successful answer to req, is a
// Messages API response whose body tokenBody can read: a 2xx answer to a POST
// to .../v1/messages (not .../v1/messages/count_tokens, which is free), with
// a body that is neither empty, nor an upgraded connection, nor left
// compressed by the transport.
func readsTokens(req *http.Request, resp *http.Response) bool {
	if req.Method != http.MethodPost || !strings.HasSuffix(req.URL.Path, "/v1/messages") || !Is2xx(resp) {
		return false
	}
	if resp.Body == nil || resp.Body == http.NoBody {
		return false
	}
	if _, ok := resp.Body.(io.Writer); ok {
		return false
	}
	enc := resp.Header.Get("Content-Encoding")
	return enc == "" || strings.EqualFold(enc, "identity")
}

// tokenBody reads the token counts of a Messages response as its caller
// reads the body, and adds them once, when the body ends: at the end of a
// stream (message_stop or error), at io.EOF or another read error, or at the
// first Close, whichever comes first. It reads only the bytes the caller
// reads, when the caller reads them.
type tokenBody struct {
	rc  io.ReadCloser
	add *tokenAdders

	mu   sync.Mutex // protects done and scan; held only while scanning, never across a Read of rc
	done bool       // the counts were added
	scan usageScan
}

func newTokenBody(resp *http.Response, add *tokenAdders) *tokenBody {
	ct := resp.Header.Get("Content-Type")
	const sse = "text/event-stream"
	isSSE := len(ct) >= len(sse) && strings.EqualFold(ct[:len(sse)], sse)
	return &tokenBody{rc: resp.Body, add: add, scan: newUsageScan(isSSE)}
}

// Read reads from the body and scans what it returns.
func (b *tokenBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.done {
		return n, err
	}
	ended := n > 0 && n <= len(p) && b.scan.feed(p[:n])
	if ended || err != nil {
		b.finishLocked()
	}
	return n, err
}

// Close adds the counts read so far, if they were not added yet, and closes
// the body.
func (b *tokenBody) Close() error {
	b.mu.Lock()
	if !b.done {
		b.finishLocked()
	}
	b.mu.Unlock()
	return b.rc.Close()
}

// finishLocked adds the counts read. It requires b.mu held and b.done false.
func (b *tokenBody) finishLocked() {
	b.done = true
	for i, n := range b.scan.counts() {
		if n > 0 {
			b.add[i].Add(n)
		}
	}
}
