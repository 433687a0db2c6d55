package providers

import "net/http"

// An Option configures a decorator.
type Option interface {
	apply(*config)
}

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

type config struct {
	success func(*http.Response) bool
	atEOF   bool
}

func newConfig(opts []Option) config {
	c := config{success: Is2xx}
	for _, o := range opts {
		if o != nil {
			o.apply(&c)
		}
	}
	return c
}

// Is2xx reports whether resp has a 2xx status. It is the default success rule.
func Is2xx(resp *http.Response) bool {
	return resp.StatusCode >= 200 && resp.StatusCode <= 299
}

// WithSuccess sets the rule that decides whether a response counts. The
// default is [Is2xx]; nil keeps it. The rule must not read or close the body,
// and must be safe for concurrent use.
func WithSuccess(rule func(*http.Response) bool) Option {
	return optionFunc(func(c *config) {
		if rule != nil {
			c.success = rule
		}
	})
}

// CountAtEOF counts a successful call only once its response body has been
// read to the end: when a Read returns [io.EOF], or when the body is closed
// after exactly Content-Length bytes were read (as when a JSON decoder stops
// at the end of the value). A body closed early, or whose read fails, counts
// nothing. Each call counts at most once. The default is to count when the
// response headers arrive. CountAtEOF wraps the body, which costs one small
// allocation per counted response.
func CountAtEOF() Option {
	return optionFunc(func(c *config) { c.atEOF = true })
}
