package providers_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/enrichmeter/enrichmeter/internal/testsupport"
	"github.com/enrichmeter/enrichmeter/providers"
	"github.com/enrichmeter/enrichmeter/usage"
)

// outcomeServer answers each path with its status: /ok 200, /limited 429,
// /missing 404, /fail 503; /slow waits for the client to give up.
func outcomeServer(t *testing.T) *httptest.Server {
	return server(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/limited":
			w.WriteHeader(http.StatusTooManyRequests)
		case "/missing":
			w.WriteHeader(http.StatusNotFound)
		case "/fail":
			w.WriteHeader(http.StatusServiceUnavailable)
		case "/slow":
			<-r.Context().Done()
		}
	})
}

// deadAddr returns a loopback address nothing listens on.
func deadAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func TestDecoratorMetrics(t *testing.T) {
	srv := outcomeServer(t)
	dead := deadAddr(t)
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	tr, g := newTrackerAndGuard(t, miniredisClient(t), map[usage.Provider]usage.Quota{usage.Apollo: {Limit: 1}}, []usage.Option{usage.WithFlushInterval(time.Hour)})
	opts := []providers.Option{providers.WithMeterProvider(mp), providers.WithLatencySampling(1), providers.WithGuard(g)}
	exa := providers.WrapClient(nil, tr, usage.Exa, opts...)
	byHost := &http.Client{Transport: providers.ByHost(nil, tr, map[string]usage.Provider{
		srv.Listener.Addr().String(): usage.Apollo, dead: usage.Apollo,
	}, opts...)}
	t.Cleanup(exa.CloseIdleConnections)
	t.Cleanup(byHost.CloseIdleConnections)

	get := func(c *http.Client, url string, timeout time.Duration) {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
		if resp, err := c.Do(req); err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}
	for _, path := range []string{"/ok", "/ok", "/limited", "/missing", "/fail"} {
		get(exa, srv.URL+path, 5*time.Second)
	}
	get(exa, "http://"+dead+"/ok", 5*time.Second)                     // a network error
	get(exa, srv.URL+"/slow", 50*time.Millisecond)                    // cancelled
	get(byHost, srv.URL+"/ok", 5*time.Second)                         // apollo's one call
	get(byHost, srv.URL+"/ok", 5*time.Second)                         // refused by the guard
	get(byHost, "http://not-a-provider.example/", 1*time.Millisecond) // not counted: an unknown host

	m := testsupport.Collect(t, reader)
	const requests, duration = "enrichmeter.provider.requests", "enrichmeter.provider.request.duration"
	for _, c := range []struct {
		provider, outcome string
		want              int64
	}{
		{"exa", "2xx", 2}, {"exa", "429", 1}, {"exa", "4xx", 1}, {"exa", "5xx", 1},
		{"exa", "error", 1}, {"exa", "canceled", 1}, {"exa", "refused", 0},
		{"apollo", "2xx", 1}, {"apollo", "refused", 1},
	} {
		attrs := []string{"enrichmeter.outcome", c.outcome, "enrichmeter.provider", c.provider}
		if got := m.Int64(t, requests, "{request}", attrs...); got != c.want {
			t.Errorf("%s{%s, %s} = %d, want %d", requests, c.provider, c.outcome, got, c.want)
		}
		// Every request that was sent was timed; a refused one was not.
		want := uint64(c.want)
		if c.outcome == "refused" {
			want = 0
		}
		if got := m.HistogramCount(t, duration, "s", attrs...); got != want {
			t.Errorf("%s{%s, %s} holds %d values, want %d", duration, c.provider, c.outcome, got, want)
		}
	}
}

func TestDecoratorMetricsThroughPrometheus(t *testing.T) {
	srv := outcomeServer(t)
	mp, scrape := testsupport.PrometheusMeterProvider(t)
	exa := providers.WrapClient(nil, &counter{}, usage.Exa, providers.WithMeterProvider(mp), providers.WithLatencySampling(1))
	t.Cleanup(exa.CloseIdleConnections)
	for _, path := range []string{"/ok", "/limited"} {
		resp, err := exa.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	body := scrape()
	for _, line := range []string{
		`enrichmeter_provider_requests_total{enrichmeter_outcome="2xx",enrichmeter_provider="exa"`,
		`enrichmeter_provider_requests_total{enrichmeter_outcome="429",enrichmeter_provider="exa"`,
		`enrichmeter_provider_request_duration_seconds_bucket{enrichmeter_outcome="2xx",enrichmeter_provider="exa"`,
	} {
		if !strings.Contains(body, line) {
			t.Errorf("the scrape has no %s", line)
		}
	}
	if t.Failed() {
		t.Logf("scrape:\n%s", body)
	}
}

// TestDecoratorMetricsLeaveWithTheDecorator builds decorators with metrics
// and drops them: once they are garbage, their callbacks are gone too.
func TestDecoratorMetricsLeaveWithTheDecorator(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	for range 10 {
		rt := providers.NewTransport(ok200, &counter{}, usage.Exa, providers.WithMeterProvider(mp))
		req, _ := http.NewRequest("GET", "https://api.exa.ai/", nil)
		if _, err := rt.RoundTrip(req); err != nil {
			t.Fatal(err)
		}
	}
	requests := func() int64 {
		m := testsupport.Collect(t, reader)
		if _, ok := m["enrichmeter.provider.requests"]; !ok {
			return 0 // no decorator left to observe
		}
		return m.Int64(t, "enrichmeter.provider.requests", "{request}", "enrichmeter.outcome", "2xx", "enrichmeter.provider", "exa")
	}
	if n := requests(); n != 10 {
		t.Fatalf("before GC: %d requests observed, want 10", n)
	}
	for i := 0; requests() != 0; i++ {
		if i == 100 {
			t.Fatalf("after 100 collections, dropped decorators are still observed: %d requests", requests())
		}
		runtime.GC() // cleanups run after the decorators are collected
	}
}

func TestDecoratorMetricsAddNoAllocation(t *testing.T) {
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	req, _ := http.NewRequest("GET", "https://api.exa.ai/search", nil)
	resp := &http.Response{StatusCode: 200, Body: http.NoBody, Header: http.Header{}}
	next := roundTripFunc(func(*http.Request) (*http.Response, error) { return resp, nil })
	for _, sampling := range []int{1, providers.DefaultLatencySampling} {
		rt := providers.NewTransport(next, &atomicCounter{}, usage.Exa, providers.WithMeterProvider(mp), providers.WithLatencySampling(sampling))
		if n := testing.AllocsPerRun(200, func() {
			if _, err := rt.RoundTrip(req); err != nil {
				t.Fatal(err)
			}
		}); n != 0 {
			t.Errorf("sampling 1 in %d: RoundTrip allocates %v times, want 0", sampling, n)
		}
	}
}
