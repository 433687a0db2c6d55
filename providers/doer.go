package providers

import (
	"net/http"

	"github.com/enrichmeter/enrichmeter/usage"
)

// A Doer sends HTTP requests, as [*http.Client] and many API clients do.
type Doer interface {
	Do(*http.Request) (*http.Response, error)
}

// WrapDoer returns a Doer that sends requests through d and counts, for
// provider p, each call whose response the success rule accepts. It is for
// clients that expose only a Do method; where the client retries inside Do,
// it counts the final outcome once (see the package doc on retries). It
// returns d's response and error untouched. It panics if d is nil, typed (a
// nil *[http.Client]) or not, and otherwise as [NewTransport] does.
func WrapDoer(d Doer, c Counter, p usage.Provider, opts ...Option) Doer {
	mustNotBeNil("WrapDoer", "Doer", d)
	w := &doer{next: doerTripper{d}, obs: newBoundObserver("WrapDoer", c, p, opts), p: p}
	unregisterWhenCollected(w, &w.obs)
	return w
}

type doer struct {
	next http.RoundTripper // a doerTripper, converted once
	obs  observer
	p    usage.Provider
}

// Do implements [Doer].
func (d *doer) Do(req *http.Request) (*http.Response, error) {
	return d.obs.roundTrip(d.next, req, d.p)
}

// doerTripper sends requests through a Doer's Do.
type doerTripper struct{ d Doer }

func (t doerTripper) RoundTrip(req *http.Request) (*http.Response, error) { return t.d.Do(req) }
