package providers

import (
	"net/http"

	"github.com/enrichmeter/enrichmeter/usage"
)

// An Allower says whether a call to a provider may go ahead;
// [*usage.Guard] satisfies it. Allow must be cheap, safe for concurrent use
// and free of I/O: it runs on the request's goroutine before each request.
type Allower interface {
	Allow(usage.Provider) error
}

var _ Allower = (*usage.Guard)(nil)

// WithGuard makes a decorator ask g before sending each request of a
// provider it counts for. A refused request never leaves the process: the
// decorator closes its body, as [http.RoundTripper] requires, counts
// nothing, and returns g's error ([*usage.QuotaError] for a
// [*usage.Guard]), which an [http.Client] wraps in a [*url.Error]; find it
// with [errors.As]. The default is no guard; nil keeps it. For [ByHost],
// requests to hosts it does not know are never asked about.
func WithGuard(g Allower) Option {
	return optionFunc(func(c *config) {
		if g != nil {
			c.guard = g
		}
	})
}

// refuse returns g's error for a request to p, after closing its body, or
// nil when the request may go.
func refuse(g Allower, req *http.Request, p usage.Provider) error {
	if g == nil {
		return nil
	}
	err := g.Allow(p)
	if err != nil && req.Body != nil {
		_ = req.Body.Close()
	}
	return err
}
