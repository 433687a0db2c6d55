package providers

import "github.com/enrichmeter/enrichmeter/usage"

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
// nothing for the Counter, and returns with a nil error a response that no
// server sent, built so that retrying clients and SDKs end the call at once:
// 402 Payment Required, X-Should-Retry: false, Enrichmeter-Refused: true,
// and a JSON body {"type":"error","error":{"type":"refused_error","message":...}}
// holding g's error's message. [Refusal] returns g's error from that
// response ([*usage.QuotaError] for a [*usage.Guard]); the package doc says
// what each kind of caller sees. The default is no guard; nil keeps it. For
// [ByHost], requests to hosts it does not know are never asked about. With
// [WithClaudeTokens], a call to Claude is refused as well once a quota of
// one of Claude's token counters ([usage.ClaudeOutputTokens]...) is spent.
func WithGuard(g Allower) Option {
	return optionFunc(func(c *config) {
		if g != nil {
			c.guard = g
		}
	})
}

// claudeTokenCounters are the counters whose quotas also decide whether a
// call to Claude may go, when the decorator reads Claude's tokens.
var claudeTokenCounters = [...]usage.Provider{usage.ClaudeInputTokens, usage.ClaudeOutputTokens, usage.ClaudeCacheReadTokens, usage.ClaudeCacheWriteTokens}

// refuse returns the guard's error for a request to p, or nil when the
// request may go. With WithClaudeTokens, a call to Claude is refused too
// when a quota of one of its token counters is spent.
func (o *observer) refuse(p usage.Provider) error {
	g := o.cfg.guard
	if g == nil {
		return nil
	}
	err := g.Allow(p)
	if err == nil && o.tokens != nil && p == usage.Claude {
		for _, c := range claudeTokenCounters {
			if err = g.Allow(c); err != nil {
				break
			}
		}
	}
	return err
}
