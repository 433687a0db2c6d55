package providers

import (
	"fmt"
	"net/http"
	"reflect"

	"github.com/enrichmeter/enrichmeter/usage"
)

// Counter counts successful calls; [*usage.Tracker] satisfies it. Track must
// be cheap and safe for concurrent use: it is called on the request's
// goroutine. A Counter that can also make a [usage.Meter], with a method
// Meter(usage.Provider) *usage.Meter as *usage.Tracker has, counts through
// the Meter, and for the subject of a request that has one ([WithSubject]);
// any other Counter counts every call with Track, without subjects.
type Counter interface {
	Track(usage.Provider)
}

var _ Counter = (*usage.Tracker)(nil)

// NewTransport returns an [http.RoundTripper] that sends requests through next
// and counts, for provider p, each call whose response the success rule
// accepts (by default a 2xx status). It returns next's response and error
// untouched. A nil next, typed (a nil *[http.Transport]) or not, means
// [http.DefaultTransport].
//
// NewTransport panics if c is nil or p is invalid, or if [WithClaudeTokens]
// is given and p is not [usage.Claude]: those are wiring mistakes, found when
// the client is built rather than on its first request. A Counter
// that holds a nil pointer, map, slice, channel or function (a nil
// *[usage.Tracker], whose Track counts nothing) is nil too.
func NewTransport(next http.RoundTripper, c Counter, p usage.Provider, opts ...Option) http.RoundTripper {
	return newTransport("NewTransport", next, c, p, opts)
}

func newTransport(fn string, next http.RoundTripper, c Counter, p usage.Provider, opts []Option) *transport {
	t := &transport{next: orDefault(next), obs: newBoundObserver(fn, c, p, opts), p: p}
	unregisterWhenCollected(t, &t.obs)
	return t
}

// newBoundObserver checks the wiring of a decorator fn for one provider p,
// and returns its observer, which counts with c bound to p: through p's
// [usage.Meter] when c can make one, as a [*usage.Tracker] can, which is
// the fastest way, and with c itself otherwise.
func newBoundObserver(fn string, c Counter, p usage.Provider, opts []Option) observer {
	mustWire(fn, c, p)
	o := newObserver(fn, c, opts, []usage.Provider{p}, "it counts "+string(p))
	if m := o.meterOf(p); m != nil {
		o.c = meterCounter{m}
	}
	return o
}

// meterOf returns x's Meter for p when x can make one, as a
// [*usage.Tracker] can, and nil otherwise.
func meterOf(x any, p usage.Provider) *usage.Meter {
	if mm, ok := x.(interface {
		Meter(usage.Provider) *usage.Meter
	}); ok {
		return mm.Meter(p)
	}
	return nil
}

// meterCounter counts through a Meter, which knows its provider already.
type meterCounter struct{ m *usage.Meter }

func (c meterCounter) Track(usage.Provider) { c.m.Track() }

// WrapClient returns a copy of hc whose transport is hc's wrapped by
// [NewTransport]; hc itself is not changed, and Timeout, Jar and
// CheckRedirect carry over. A nil hc means a new client with default
// settings. It panics as NewTransport does.
func WrapClient(hc *http.Client, c Counter, p usage.Provider, opts ...Option) *http.Client {
	var cp http.Client
	if hc != nil {
		cp = *hc
	}
	cp.Transport = newTransport("WrapClient", cp.Transport, c, p, opts)
	return &cp
}

type transport struct {
	next http.RoundTripper
	obs  observer
	p    usage.Provider
}

// RoundTrip implements [http.RoundTripper].
func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	return t.obs.roundTrip(t.next, req, t.p)
}

// CloseIdleConnections closes the idle connections of the wrapped transport,
// if it has any.
func (t *transport) CloseIdleConnections() {
	closeIdle(t.next)
}

func closeIdle(rt http.RoundTripper) {
	if c, ok := rt.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// orDefault returns rt, or http.DefaultTransport if rt is nil, typed or not.
func orDefault(rt http.RoundTripper) http.RoundTripper {
	if isNil(rt) {
		return http.DefaultTransport
	}
	return rt
}

// mustWire panics, naming the constructor, if c is nil, typed or not, or p is
// invalid.
func mustWire(fn string, c Counter, p usage.Provider) {
	mustNotBeNil(fn, "Counter", c)
	if err := p.Validate(); err != nil {
		panic(fmt.Sprintf("providers: %s: %v", fn, err))
	}
}

// mustNotBeNil panics, naming the constructor and the dependency, if v is nil
// or holds a nil of its type.
func mustNotBeNil(fn, what string, v any) {
	switch {
	case v == nil:
		panic(fmt.Sprintf("providers: %s: nil %s", fn, what))
	case isNil(v):
		panic(fmt.Sprintf("providers: %s: nil %s (a nil %T)", fn, what, v))
	}
}

// isNil reports whether v is nil or holds a nil pointer, map, slice, channel
// or function: a value whose methods, if they run at all, have nothing to
// work on.
func isNil(v any) bool {
	if v == nil {
		return true
	}
	switch rv := reflect.ValueOf(v); rv.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Slice, reflect.Chan, reflect.Func, reflect.UnsafePointer:
		return rv.IsNil()
	}
	return false
}
