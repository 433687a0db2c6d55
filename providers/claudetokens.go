package providers

import (
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"

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

// tokenAdders add a response's counts to the token counters: through a
// [usage.Meter] of each counter when the Adder can make one, as a
// *usage.Tracker can, broken down by the response's model and the request's
// subject; through the Adder's Add, without breakdowns, otherwise.
type tokenAdders struct {
	a      Adder
	meters [numFields]*usage.Meter // all nil when a makes no Meter
	names  recentNames
}

func newTokenAdders(a Adder) *tokenAdders {
	t := &tokenAdders{a: a}
	for i, p := range tokenCounters {
		t.meters[i] = meterOf(a, p)
	}
	return t
}

// breaksDown reports whether t counts by model and subject.
func (t *tokenAdders) breaksDown() bool { return t.meters[0] != nil }

// add adds the counts n of a response that named model (empty: none) to a
// request for subject (empty: none).
func (t *tokenAdders) add(n [numFields]int64, model []byte, subject string) {
	name := ""
	for i, v := range n {
		if v <= 0 {
			continue
		}
		m := t.meters[i]
		if m == nil {
			t.a.Add(tokenCounters[i], v)
			continue
		}
		if name == "" && len(model) > 0 {
			name = t.names.of(model)
		}
		m.Model(name).For(subject).Add(v)
	}
}

// recentModels is how many model names a decorator keeps as strings.
const recentModels = 8

// recentNames turns the model names read from responses into strings,
// allocating only for a name that is not among the last recentModels new
// ones: a process talks to a few models, so after the first responses a
// name costs a few comparisons and no allocation, and a flood of made-up
// names costs an allocation each, and no memory beyond the last few.
type recentNames struct {
	names atomic.Pointer[[recentModels]string] // replaced, never changed
	mu    sync.Mutex                           // serialises replacements
	next  int                                  // the slot the next new name takes; protected by mu
}

// of returns b as a string.
func (r *recentNames) of(b []byte) string {
	if ns := r.names.Load(); ns != nil {
		for _, s := range ns {
			if s == string(b) {
				return s
			}
		}
	}
	s := string(b)
	r.mu.Lock()
	defer r.mu.Unlock()
	var ns [recentModels]string
	if old := r.names.Load(); old != nil {
		ns = *old
	}
	ns[r.next] = s
	r.next = (r.next + 1) % recentModels
	r.names.Store(&ns)
	return s
}

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

// tokenBody reads the token counts and the model of a Messages response as
// its caller reads the body, and adds them once, when the body ends: at the
// end of a stream (message_stop or error), at io.EOF or another read error,
// or at the first Close, whichever comes first. It reads only the bytes the
// caller reads, when the caller reads them. It is the one allocation a
// response costs: the scanner's state lies within it.
type tokenBody struct {
	rc      io.ReadCloser
	add     *tokenAdders
	subject string // the request's, for a breakdown

	mu   sync.Mutex // protects done and scan; held only while scanning, never across a Read of rc
	done bool       // the counts were added
	scan usageScan
}

func newTokenBody(resp *http.Response, add *tokenAdders, subject string) *tokenBody {
	ct := resp.Header.Get("Content-Type")
	const sse = "text/event-stream"
	isSSE := len(ct) >= len(sse) && strings.EqualFold(ct[:len(sse)], sse)
	return &tokenBody{rc: resp.Body, add: add, subject: subject, scan: newUsageScan(isSSE)}
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
	b.add.add(b.scan.counts(), b.scan.model(), b.subject)
}
