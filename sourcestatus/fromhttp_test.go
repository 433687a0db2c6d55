package sourcestatus_test

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/enrichmeter/enrichmeter/providers"
	"github.com/enrichmeter/enrichmeter/sourcestatus"
	"github.com/enrichmeter/enrichmeter/usage"
)

// refuseWith is a guard that refuses every call with err.
type refuseWith struct{ err error }

func (r refuseWith) Allow(usage.Provider) error { return r.err }

// nopCounter counts nothing.
type nopCounter struct{}

func (nopCounter) Track(usage.Provider) {}

// TestFromHTTPRefused: a call refused before it was sent is skipped, with a
// short reason, whether the refusal comes as the response a decorator gave
// in its place or as an error.
func TestFromHTTPRefused(t *testing.T) {
	resets := time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)
	spent := func(p usage.Provider) *usage.QuotaError {
		return &usage.QuotaError{Provider: p, Quota: usage.Quota{Limit: 100}, Used: 100, Resets: resets}
	}
	// refusedResponse sends a request through a decorator whose guard
	// refuses with err, and returns what the client returned.
	refusedResponse := func(err error) (*http.Response, error) {
		client := providers.WrapClient(nil, nopCounter{}, usage.Exa, providers.WithGuard(refuseWith{err}))
		return client.Get("http://127.0.0.1:1/v1/search?api_key=QUERYSECRET")
	}
	cases := []struct {
		name string
		resp func() (*http.Response, error)
		want sourcestatus.Payload
	}{
		{"QuotaError", func() (*http.Response, error) { return nil, spent(usage.Claude) },
			sourcestatus.Payload{Status: sourcestatus.Skipped, Error: "claude quota spent until 2026-12-06T00:00:00Z"}},
		{"QuotaError in a url.Error", func() (*http.Response, error) {
			return nil, &url.Error{Op: "Post", URL: "https://api.exa.ai/search?api_key=QUERYSECRET", Err: spent(usage.Exa)}
		}, sourcestatus.Payload{Status: sourcestatus.Skipped, Error: "exa quota spent until 2026-12-06T00:00:00Z"}},
		{"refused response", func() (*http.Response, error) { return refusedResponse(spent(usage.Exa)) },
			sourcestatus.Payload{Status: sourcestatus.Skipped, Error: "exa quota spent until 2026-12-06T00:00:00Z"}},
		{"refused response and an SDK's error", func() (*http.Response, error) {
			resp, _ := refusedResponse(spent(usage.Exa))
			return resp, errors.New(`POST "https://api.exa.ai/search?api_key=QUERYSECRET": 402 Payment Required`)
		}, sourcestatus.Payload{Status: sourcestatus.Skipped, Error: "exa quota spent until 2026-12-06T00:00:00Z"}},
		{"refused response of another guard", func() (*http.Response, error) {
			return refusedResponse(errors.New("kill switch on for https://user:PASSSECRET@api.exa.ai/?token=QUERYSECRET"))
		}, sourcestatus.Payload{Status: sourcestatus.Skipped, Error: "kill switch on for https://api.exa.ai/"}},
		// Not refusals.
		{"402 from a server", func() (*http.Response, error) {
			return &http.Response{StatusCode: http.StatusPaymentRequired, Header: http.Header{"Enrichmeter-Refused": {"true"}, "X-Should-Retry": {"false"}}}, nil
		}, sourcestatus.Payload{Status: sourcestatus.Failed, Error: "HTTP 402"}},
		{"other error", func() (*http.Response, error) { return nil, errors.New("usage: exa quota spent") },
			sourcestatus.Payload{Status: sourcestatus.Failed, Error: "usage: exa quota spent"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp, err := c.resp()
			if got := sourcestatus.FromHTTP(resp, err); got != c.want {
				t.Errorf("FromHTTP = %+v, want %+v", got, c.want)
			}
		})
	}
	// The reason of each counter the library names fits the smallest limit
	// WithMaxErrorLen allows, so Update never cuts it.
	for _, p := range []usage.Provider{usage.Apollo, usage.ContactOut, usage.Exa, usage.EDGAR, usage.Claude,
		usage.ClaudeInputTokens, usage.ClaudeOutputTokens, usage.ClaudeCacheReadTokens, usage.ClaudeCacheWriteTokens} {
		if got := sourcestatus.FromHTTP(nil, spent(p)); got.Status != sourcestatus.Skipped || len(got.Error) > 64 || !strings.HasPrefix(got.Error, string(p)+" ") {
			t.Errorf("FromHTTP(nil, %s's QuotaError) = %+v, want skipped with its name in at most 64 bytes", p, got)
		}
	}
}
