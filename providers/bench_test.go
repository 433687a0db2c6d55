package providers_test

import (
	"context"
	"io"
	"net/http"
	"testing"

	"github.com/alicebob/miniredis/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"

	"github.com/enrichmeter/enrichmeter/providers"
	"github.com/enrichmeter/enrichmeter/usage"
)

// The benchmarks put the decorator beside a bare transport and promhttp's
// counter in one run:
//
//	go test ./providers -run '^$' -bench . -benchmem -count 10 | benchstat -col /impl -
//
// Decorator isolates the wrapper's own cost over an in-memory transport;
// Loopback sends real requests to an httptest server.
func BenchmarkDecorator(b *testing.B) {
	resp := &http.Response{StatusCode: 200, Body: http.NoBody, Header: http.Header{}}
	next := roundTripFunc(func(*http.Request) (*http.Response, error) { return resp, nil })
	req, _ := http.NewRequest("GET", "https://api.exa.ai/search", nil)
	for _, impl := range transports(b, next) {
		b.Run("impl="+impl.name, func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := impl.rt.RoundTrip(req); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}

func BenchmarkLoopback(b *testing.B) {
	srv := server(b, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, `{"ok":true}`) })
	base := http.DefaultTransport.(*http.Transport).Clone()
	b.Cleanup(base.CloseIdleConnections)
	for _, impl := range transports(b, base) {
		b.Run("impl="+impl.name, func(b *testing.B) {
			hc := &http.Client{Transport: impl.rt}
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					resp, err := hc.Get(srv.URL)
					if err != nil {
						b.Fatal(err)
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			})
		})
	}
}

type namedTransport struct {
	name string
	rt   http.RoundTripper
}

// transports returns next bare, under promhttp's counter, and under
// NewTransport and ByHost counting into a usage.Tracker.
func transports(b *testing.B, next http.RoundTripper) []namedTransport {
	mr := miniredis.RunT(b)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	tracker := usage.NewTracker(rdb)
	b.Cleanup(func() {
		tracker.Close(context.Background())
		rdb.Close()
	})
	calls := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "api_calls_total"}, []string{"code"})
	hosts := providers.DefaultHosts()
	hosts["127.0.0.1"] = usage.Exa
	return []namedTransport{
		{"Bare", next},
		{"Promhttp", promhttp.InstrumentRoundTripperCounter(calls, next)},
		{"NewTransport", providers.NewTransport(next, tracker, usage.Exa)},
		{"ByHost", providers.ByHost(next, tracker, hosts)},
	}
}
