package providers_test

import (
	"context"
	"maps"
	"net/http"
	"testing"
	"time"

	"github.com/enrichmeter/enrichmeter/providers"
	"github.com/enrichmeter/enrichmeter/usage"
)

func TestReportedQuotaFromHeaders(t *testing.T) {
	cases := []struct {
		name    string
		status  int
		headers map[string]string
		want    map[string]string // nil: nothing reported
	}{
		{"apollo, 24-hour names", 200, map[string]string{
			"X-Rate-Limit-24-Hour": "600", "X-24-Hour-Usage": "188", "X-24-Hour-Requests-Left": "412",
			"X-Minute-Requests-Left": "48", "Content-Type": "application/json",
		}, map[string]string{
			"x-rate-limit-24-hour": "600", "x-24-hour-usage": "188", "x-24-hour-requests-left": "412", "x-minute-requests-left": "48",
		}},
		{"apollo, daily names", 200, map[string]string{
			"X-Rate-Limit-Daily": "600", "X-Daily-Usage": "10", "X-Daily-Requests-Left": "590", "X-Hourly-Requests-Left": "99",
		}, map[string]string{
			"x-rate-limit-daily": "600", "x-daily-usage": "10", "x-daily-requests-left": "590", "x-hourly-requests-left": "99",
		}},
		{"anthropic", 200, map[string]string{
			"Anthropic-Ratelimit-Requests-Remaining": "49", "Anthropic-Ratelimit-Tokens-Limit": "80000",
			"Anthropic-Ratelimit-Output-Tokens-Reset": "2026-11-26T03:16:00Z", "Request-Id": "req_1",
		}, map[string]string{
			"anthropic-ratelimit-requests-remaining": "49", "anthropic-ratelimit-tokens-limit": "80000",
			"anthropic-ratelimit-output-tokens-reset": "2026-11-26T03:16:00Z",
		}},
		{"rate limited", 429, map[string]string{"Retry-After": "30"}, map[string]string{"retry-after": "30"}},
		{"out of credits", 402, nil, map[string]string{}},
		{"no quota headers", 200, map[string]string{"Content-Type": "application/json"}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv := server(t, func(w http.ResponseWriter, r *http.Request) {
				for k, v := range c.headers {
					w.Header().Set(k, v)
				}
				w.WriteHeader(c.status)
			})
			rdb := miniredisClient(t)
			tr := usage.NewTracker(rdb, usage.WithFlushInterval(time.Hour))
			t.Cleanup(func() { _ = tr.Close(context.Background()) })
			client := providers.WrapClient(nil, tr, usage.Apollo, providers.WithReportedQuota(tr))
			t.Cleanup(client.CloseIdleConnections)
			before := time.Now()
			resp, err := client.Get(srv.URL)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if err := tr.Flush(context.Background()); err != nil {
				t.Fatal(err)
			}
			got, err := usage.NewReader(rdb).Reported(context.Background(), usage.Apollo)
			switch {
			case err != nil:
				t.Fatal(err)
			case c.want == nil && !got.At.IsZero():
				t.Errorf("reported %+v, want nothing", got)
			case c.want != nil && (got.Status != c.status || !maps.Equal(got.Values, c.want) || got.At.Before(before.Truncate(time.Millisecond))):
				t.Errorf("reported %+v, want status %d and %v", got, c.status, c.want)
			}
		})
	}
}
