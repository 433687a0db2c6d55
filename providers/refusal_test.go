package providers_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/enrichmeter/enrichmeter/internal/testsupport"
	"github.com/enrichmeter/enrichmeter/providers"
	"github.com/enrichmeter/enrichmeter/sourcestatus"
	"github.com/enrichmeter/enrichmeter/usage"
)

// askCounter counts how often a decorator asks its guard.
type askCounter struct {
	providers.Allower
	asks atomic.Int64
}

func (a *askCounter) Allow(p usage.Provider) error {
	a.asks.Add(1)
	return a.Allower.Allow(p)
}

// spentGuard returns a real guard whose quota of p, 1 call, is spent, asked
// through a counter, and the tracker it guards, which has counted that call.
func spentGuard(t *testing.T, p usage.Provider) (*askCounter, *usage.Tracker) {
	t.Helper()
	tr, g := newTrackerAndGuard(t, miniredisClient(t), map[usage.Provider]usage.Quota{p: {Limit: 1}}, []usage.Option{usage.WithFlushInterval(time.Hour)})
	tr.Track(p)
	if err := g.Allow(p); err == nil {
		t.Fatal("the guard allows a call past a quota of 1 spent")
	}
	return &askCounter{Allower: g}, tr
}

// TestAnthropicSDKRefusalIsNotRetried drives the real Anthropic SDK, with
// its default two retries, through a client whose guard refuses: each
// refused call asks the guard once, sends nothing, returns at once, and
// leaves the QuotaError where the caller can find it; the metrics count
// each refusal once, and the tracker counts none.
func TestAnthropicSDKRefusalIsNotRetried(t *testing.T) {
	var served atomic.Int64
	srv := server(t, func(w http.ResponseWriter, r *http.Request) { served.Add(1) })
	guard, tr := spentGuard(t, usage.Claude)
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	hc := providers.WrapClient(nil, tr, usage.Claude, providers.WithGuard(guard), providers.WithClaudeTokens(tr), providers.WithMeterProvider(mp))
	t.Cleanup(hc.CloseIdleConnections)
	client := anthropic.NewClient(option.WithBaseURL(srv.URL), option.WithAPIKey("test-key"), option.WithMaxRetries(2), option.WithHTTPClient(hc))
	params := anthropic.MessageNewParams{
		MaxTokens: 64,
		Model:     anthropic.Model("claude-test"),
		Messages:  []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("Summarise the filing."))},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	const calls = 20
	took := make([]time.Duration, calls)
	for i := range calls {
		var res *http.Response
		start := time.Now()
		_, err := client.Messages.New(ctx, params, option.WithResponseInto(&res))
		took[i] = time.Since(start)
		if got := guard.asks.Load(); got != int64(i+1) {
			t.Fatalf("call %d: the guard was asked %d times in all, want once a call", i+1, got)
		}
		var apiErr *anthropic.Error
		if !errors.As(err, &apiErr) {
			t.Fatalf("call %d: %v, want an *anthropic.Error", i+1, err)
		}
		var spent *usage.QuotaError
		if !errors.As(providers.Refusal(apiErr.Response), &spent) || spent.Provider != usage.Claude {
			t.Fatalf("call %d: Refusal(apiErr.Response) = %v, want claude's *usage.QuotaError", i+1, providers.Refusal(apiErr.Response))
		}
		if apiErr.StatusCode != http.StatusPaymentRequired || apiErr.Type() != "refused_error" || apiErr.Message != spent.Error() {
			t.Fatalf("call %d: the SDK reports %d, %q, %q; want 402, refused_error and the guard's message", i+1, apiErr.StatusCode, apiErr.Type(), apiErr.Message)
		}
		want := sourcestatus.Payload{Status: sourcestatus.Skipped, Error: "claude quota spent until " + spent.Resets.Format(time.RFC3339)}
		if got := sourcestatus.FromHTTP(res, err); got != want {
			t.Fatalf("call %d: FromHTTP(the response kept, err) = %+v, want %+v", i+1, got, want)
		}
		if got := sourcestatus.FromHTTP(apiErr.Response, err); got != want {
			t.Fatalf("call %d: FromHTTP(apiErr.Response, err) = %+v, want %+v", i+1, got, want)
		}
	}

	stream := client.Messages.NewStreaming(ctx, params)
	for stream.Next() {
		t.Error("a refused stream delivered an event")
	}
	var apiErr *anthropic.Error
	if !errors.As(stream.Err(), &apiErr) || providers.Refusal(apiErr.Response) == nil {
		t.Errorf("refused stream: %v, want an *anthropic.Error holding the refusal", stream.Err())
	}
	stream.Close()
	if got := guard.asks.Load(); got != calls+1 {
		t.Errorf("the guard was asked %d times for %d calls and a stream", got, calls)
	}
	if got := served.Load(); got != 0 {
		t.Errorf("the server saw %d requests, want none", got)
	}
	if s := tr.Stats(); s.Tracked != 1 {
		t.Errorf("tracker %v, want only the call that spent the quota", s)
	}
	m := testsupport.Collect(t, reader)
	for outcome, want := range map[string]int64{"refused": calls + 1, "4xx": 0, "error": 0} {
		if got := m.Int64(t, "enrichmeter.provider.requests", "{request}", "enrichmeter.outcome", outcome, "enrichmeter.provider", "claude"); got != want {
			t.Errorf("enrichmeter.provider.requests{claude, %s} = %d, want %d", outcome, got, want)
		}
	}

	// The SDK's shortest backoff is 375 ms (0.5 s less up to a quarter of
	// jitter): a call that waited for one is far above these bounds.
	slices.Sort(took)
	median, slowest := took[calls/2], took[calls-1]
	t.Logf("refused calls through the SDK: median %v, fastest %v, slowest %v", median, took[0], slowest)
	if median > 5*time.Millisecond || slowest > 200*time.Millisecond {
		t.Errorf("refused calls took %v (median) and %v (slowest), want under 5 ms and 200 ms", median, slowest)
	}
}

// TestRefusalIsAResponse: every decorator answers a refused request through
// a plain http.Client with the response that stands for it, and a nil
// error; the request's body is closed and the server sees nothing.
func TestRefusalIsAResponse(t *testing.T) {
	var served atomic.Int64
	srv := server(t, func(w http.ResponseWriter, r *http.Request) { served.Add(1) })
	clients := map[string]func(tr *usage.Tracker, g providers.Allower) *http.Client{
		"WrapClient": func(tr *usage.Tracker, g providers.Allower) *http.Client {
			return providers.WrapClient(nil, tr, usage.Exa, providers.WithGuard(g))
		},
		"ByHost": func(tr *usage.Tracker, g providers.Allower) *http.Client {
			hosts := map[string]usage.Provider{"127.0.0.1": usage.Exa}
			return &http.Client{Transport: providers.ByHost(nil, tr, hosts, providers.WithGuard(g))}
		},
		"WrapDoer": func(tr *usage.Tracker, g providers.Allower) *http.Client {
			d := providers.WrapDoer(http.DefaultClient, tr, usage.Exa, providers.WithGuard(g))
			return &http.Client{Transport: roundTripFunc(d.Do)}
		},
	}
	for name, newClient := range clients {
		t.Run(name, func(t *testing.T) {
			guard, tr := spentGuard(t, usage.Exa)
			body := &closeBody{Reader: strings.NewReader(`{"query":"acme"}`)}
			req, _ := http.NewRequest(http.MethodPost, srv.URL+"/search?api_key=QUERYSECRET", body)
			resp, err := newClient(tr, guard).Do(req)
			if err != nil {
				t.Fatalf("refused request: %v, want a response", err)
			}
			defer resp.Body.Close()
			var spent *usage.QuotaError
			if !errors.As(providers.Refusal(resp), &spent) || spent.Provider != usage.Exa || spent.Used != 1 {
				t.Fatalf("Refusal(resp) = %v, want exa's *usage.QuotaError", providers.Refusal(resp))
			}
			var got struct {
				Type  string
				Error struct{ Type, Message string }
			}
			if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
				t.Fatal(err)
			}
			switch {
			case resp.StatusCode != http.StatusPaymentRequired || resp.Status != "402 Payment Required":
				t.Errorf("status %q, want 402 Payment Required", resp.Status)
			case resp.Header.Get("X-Should-Retry") != "false" || resp.Header.Get("Enrichmeter-Refused") != "true" || resp.Header.Get("Content-Type") != "application/json":
				t.Errorf("headers %v", resp.Header)
			case got.Type != "error" || got.Error.Type != "refused_error" || got.Error.Message != spent.Error():
				t.Errorf("body %+v, want an error of type refused_error with the guard's message", got)
			case resp.Request.URL != req.URL || resp.Request.Method != http.MethodPost:
				t.Errorf("resp.Request is %s %s, want the refused request's", resp.Request.Method, resp.Request.URL)
			case !body.closed.Load():
				t.Error("the refused request's body was not closed")
			}
			want := sourcestatus.Payload{Status: sourcestatus.Skipped, Error: spent.RefusalReason()}
			if p := sourcestatus.FromHTTP(resp, err); p != want {
				t.Errorf("FromHTTP(resp, nil) = %+v, want %+v", p, want)
			}
			if guard.asks.Load() != 1 || served.Load() != 0 || tr.Stats().Tracked != 1 {
				t.Errorf("asked the guard %d times, served %d, tracked %d; want 1, 0 and only the call that spent the quota",
					guard.asks.Load(), served.Load(), tr.Stats().Tracked)
			}
		})
	}
}

// TestRefusalOfOtherResponses: Refusal finds nothing in a response a server
// sent, nor in none.
func TestRefusalOfOtherResponses(t *testing.T) {
	srv := server(t, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusPaymentRequired) })
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	for _, r := range []*http.Response{nil, {}, resp} {
		if err := providers.Refusal(r); err != nil {
			t.Errorf("Refusal(%v) = %v, want nil", r, err)
		}
	}
}

// TestRefusalEndsACommonRetryLoop runs a retry loop that follows the policy
// retrying clients share, taken from the Stainless SDKs and
// hashicorp/go-retryablehttp's DefaultRetryPolicy but ignoring
// X-Should-Retry: it retries a transport error and a 408, 409, 429 or 5xx
// other than 501. The status alone ends a refused call at its first
// attempt.
func TestRefusalEndsACommonRetryLoop(t *testing.T) {
	srv := server(t, func(w http.ResponseWriter, r *http.Request) {})
	guard, tr := spentGuard(t, usage.Exa)
	client := providers.WrapClient(nil, tr, usage.Exa, providers.WithGuard(guard))
	t.Cleanup(client.CloseIdleConnections)
	retried := func(resp *http.Response, err error) bool {
		if err != nil {
			return true
		}
		switch c := resp.StatusCode; {
		case c == http.StatusRequestTimeout, c == http.StatusConflict, c == http.StatusTooManyRequests:
			return true
		default:
			return c >= 500 && c != http.StatusNotImplemented
		}
	}
	const maxAttempts = 5
	attempts := 0
	var resp *http.Response
	var err error
	for attempts < maxAttempts {
		attempts++
		resp, err = client.Get(srv.URL)
		if !retried(resp, err) {
			break
		}
		if resp != nil {
			resp.Body.Close()
		}
	}
	if err == nil {
		resp.Body.Close()
	}
	if attempts != 1 || guard.asks.Load() != 1 || providers.Refusal(resp) == nil {
		t.Errorf("the loop made %d attempts and asked the guard %d times, ending with %v; want one of each and the refusal", attempts, guard.asks.Load(), err)
	}
}

// TestRefusalOfAHeadRequest: the response to a refused HEAD has no body,
// as a server's has none.
func TestRefusalOfAHeadRequest(t *testing.T) {
	guard, tr := spentGuard(t, usage.Exa)
	client := providers.WrapClient(nil, tr, usage.Exa, providers.WithGuard(guard))
	resp, err := client.Head("http://127.0.0.1:1/")
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil || len(b) != 0 || resp.ContentLength != 0 || providers.Refusal(resp) == nil {
		t.Errorf("refused HEAD: body %q (%v), length %d, refusal %v; want no body and the refusal", b, err, resp.ContentLength, providers.Refusal(resp))
	}
}
