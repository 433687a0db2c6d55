package providers

import (
	"net/http"
	"strings"
	"time"

	"github.com/enrichmeter/enrichmeter/usage"
)

// A Reporter keeps what providers report of their own quota;
// [*usage.Tracker] satisfies it, and writes the latest report to Redis at
// its next flush. SetReported must be cheap and safe for concurrent use.
type Reporter interface {
	SetReported(usage.Provider, usage.Reported)
}

var _ Reporter = (*usage.Tracker)(nil)

// quotaHeaders are the response headers, in canonical form, that say
// something of a provider's quota:
//
//   - Apollo, in both of the naming schemes seen: x-rate-limit-minute,
//     -hourly, -daily or -24-hour (the limits), x-minute-usage,
//     x-hourly-usage, x-daily-usage or x-24-hour-usage, and
//     x-minute-requests-left, x-hourly-requests-left, x-daily-requests-left
//     or x-24-hour-requests-left;
//   - Anthropic: anthropic-ratelimit-{requests,tokens,input-tokens,
//     output-tokens}-{limit,remaining,reset};
//   - any provider: retry-after.
var quotaHeaders = func() map[string]bool {
	m := map[string]bool{"Retry-After": true}
	for _, w := range []string{"minute", "hourly", "daily", "24-hour"} {
		m[http.CanonicalHeaderKey("x-rate-limit-"+w)] = true
		m[http.CanonicalHeaderKey("x-"+w+"-usage")] = true
		m[http.CanonicalHeaderKey("x-"+w+"-requests-left")] = true
	}
	for _, what := range []string{"requests", "tokens", "input-tokens", "output-tokens"} {
		for _, field := range []string{"limit", "remaining", "reset"} {
			m[http.CanonicalHeaderKey("anthropic-ratelimit-"+what+"-"+field)] = true
		}
	}
	return m
}()

// WithReportedQuota makes a decorator pass r what each response of a
// provider it counts for says of the provider's quota: the headers listed
// below, lower-cased, with the response's status and the time it arrived.
// A 429 or a 402 (Exa's "out of credits") is reported even without such
// headers. Responses without them cost one pass over the header names and
// no allocation. The default is to read none; nil keeps it.
//
// The headers: Apollo's x-rate-limit-{minute,hourly,daily,24-hour},
// x-{minute,hourly,daily,24-hour}-usage and
// x-{minute,hourly,daily,24-hour}-requests-left (both naming schemes seen);
// Anthropic's anthropic-ratelimit-{requests,tokens,input-tokens,
// output-tokens}-{limit,remaining,reset}; and retry-after from any provider.
func WithReportedQuota(r Reporter) Option {
	return optionFunc(func(c *config) {
		if r != nil {
			c.reporter = r
		}
	})
}

// reportQuota passes r the quota headers of resp, a response of p, if it
// has any or its status says something by itself.
func reportQuota(r Reporter, resp *http.Response, p usage.Provider) {
	var values map[string]string
	for k, v := range resp.Header {
		if len(v) == 0 || !quotaHeaders[k] {
			continue
		}
		if values == nil {
			values = make(map[string]string, 4)
		}
		values[strings.ToLower(k)] = v[0]
	}
	if values == nil && resp.StatusCode != http.StatusTooManyRequests && resp.StatusCode != http.StatusPaymentRequired {
		return
	}
	r.SetReported(p, usage.Reported{At: time.Now(), Status: resp.StatusCode, Values: values})
}
