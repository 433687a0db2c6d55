package providers

import (
	"fmt"
	"io"
	"net/http"
	"runtime"
	"slices"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/metric"

	"github.com/enrichmeter/enrichmeter/usage"
)

// observer decides whether a finished round trip counts, and counts it.
type observer struct {
	c        Counter
	meters   []providerMeter // each provider's Meter, for subjects; nil when c makes no Meter
	subjects bool            // meters, or tokens, count for subjects: look a request's up
	cfg      config
	tokens   *tokenAdders      // nil without WithClaudeTokens
	metrics  *decoratorMetrics // nil without WithMeterProvider
}

// newObserver returns an observer that counts with c as opts say, for a
// decorator fn of providers ps, and for their subjects when c can make a
// Meter of each. WithClaudeTokens needs usage.Claude among them; why says
// which ones they are, for the panic.
func newObserver(fn string, c Counter, opts []Option, ps []usage.Provider, why string) observer {
	o := observer{c: c, cfg: newConfig(opts)}
	for _, p := range ps {
		m := meterOf(c, p)
		if m == nil {
			o.meters = nil
			break
		}
		o.meters = append(o.meters, providerMeter{p, m})
	}
	if o.cfg.tokens != nil {
		if !slices.Contains(ps, usage.Claude) {
			panic(fmt.Sprintf("providers: %s: WithClaudeTokens reads Claude's responses, but %s", fn, why))
		}
		o.tokens = newTokenAdders(o.cfg.tokens)
	}
	o.subjects = o.meters != nil || o.tokens != nil && o.tokens.breaksDown()
	o.metrics = newDecoratorMetrics(fn, o.cfg, ps)
	return o
}

// roundTrip sends req, a request to p, through next, as every decorator
// does: it asks the guard first (a refused request gets the response that
// stands for it, see refusal.go), then waits for the limiter, times and
// counts the outcome for the metrics, pauses the provider if the response
// asks for it, and observes the result.
func (o *observer) roundTrip(next http.RoundTripper, req *http.Request, p usage.Provider) (*http.Response, error) {
	if err := o.refuse(p); err != nil {
		return o.refused(req, p, err), nil
	}
	if err := o.pace(req, p); err != nil {
		if ctxErr := req.Context().Err(); ctxErr != nil {
			if req.Body != nil {
				_ = req.Body.Close()
			}
			o.metrics.done(p, req, nil, ctxErr, time.Time{})
			return nil, ctxErr
		}
		return o.refused(req, p, err), nil
	}
	start := o.metrics.start()
	resp, err := next.RoundTrip(req)
	o.metrics.done(p, req, resp, err, start)
	o.pauseFor(resp, p)
	return o.observe(req, resp, err, p), err
}

// unregisterWhenCollected unregisters the metrics of a decorator d, if it has
// any, once d is garbage: a decorator has no Close, and a program that
// builds many must not keep a callback for each.
func unregisterWhenCollected[T any](d *T, o *observer) {
	if o.metrics != nil {
		runtime.AddCleanup(d, func(r metric.Registration) { _ = r.Unregister() }, o.metrics.reg)
	}
}

// observe counts the call that req, resp and err describe if it succeeded,
// and returns the response to give the caller: resp itself, or with
// CountAtEOF, resp with its body wrapped.
func (o *observer) observe(req *http.Request, resp *http.Response, err error, p usage.Provider) *http.Response {
	if o.cfg.reporter != nil && resp != nil {
		reportQuota(o.cfg.reporter, resp, p)
	}
	if err != nil || resp == nil || req.Context().Err() != nil || !o.cfg.success(resp) {
		return resp
	}
	c, subject := o.c, ""
	if o.subjects && subjectsUsed.Load() {
		if subject = SubjectOf(req.Context()); subject != "" {
			c = o.counterFor(p, subject)
		}
	}
	if o.tokens != nil && p == usage.Claude && readsTokens(req, resp) {
		resp.Body = newTokenBody(resp, o.tokens, subject)
	}
	if !o.cfg.atEOF || resp.Body == nil || resp.Body == http.NoBody {
		c.Track(p)
		return resp
	}
	if w, ok := resp.Body.(io.Writer); ok {
		b := &countingRWBody{w: w}
		b.init(resp, c, p)
		resp.Body = b
	} else {
		b := &countingBody{}
		b.init(resp, c, p)
		resp.Body = b
	}
	return resp
}

// countingBody counts its call once the body has been read to the end.
type countingBody struct {
	rc      io.ReadCloser
	c       Counter
	p       usage.Provider
	length  int64 // Content-Length, or -1 when unknown
	read    atomic.Int64
	counted atomic.Bool
}

func (b *countingBody) init(resp *http.Response, c Counter, p usage.Provider) {
	b.rc, b.c, b.p, b.length = resp.Body, c, p, resp.ContentLength
}

// Read reads from the body and counts the call at io.EOF.
func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	b.read.Add(int64(n))
	if err == io.EOF {
		b.count()
	}
	return n, err
}

// Close counts the call if exactly Content-Length bytes were read, then closes
// the body. It reads nothing: with no Content-Length, whether the body's end
// has arrived is known only to a Read, which may block.
func (b *countingBody) Close() error {
	if b.length >= 0 && b.read.Load() == b.length {
		b.count()
	}
	return b.rc.Close()
}

func (b *countingBody) count() {
	if b.counted.CompareAndSwap(false, true) {
		b.c.Track(b.p)
	}
}

// countingRWBody keeps an upgraded connection's body writable.
type countingRWBody struct {
	countingBody
	w io.Writer
}

// Write writes to the upgraded connection.
func (b *countingRWBody) Write(p []byte) (int, error) { return b.w.Write(p) }
