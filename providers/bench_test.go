package providers_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/alicebob/miniredis/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

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
	guard, err := usage.NewGuard(tracker, map[usage.Provider]usage.Quota{usage.Exa: {Limit: 1 << 40}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { guard.Close(context.Background()) })
	calls := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "api_calls_total"}, []string{"code"})
	hosts := providers.DefaultHosts()
	hosts["127.0.0.1"] = usage.Exa
	return []namedTransport{
		{"Bare", next},
		{"Promhttp", promhttp.InstrumentRoundTripperCounter(calls, next)},
		{"NewTransport", providers.NewTransport(next, tracker, usage.Exa)},
		{"ByHost", providers.ByHost(next, tracker, hosts)},
		{"NewTransportGuard", providers.NewTransport(next, tracker, usage.Exa, providers.WithGuard(guard))},
		{"NewTransportReportedQuota", providers.NewTransport(next, tracker, usage.Exa, providers.WithReportedQuota(tracker))},
		{"NewTransportMetrics", providers.NewTransport(next, tracker, usage.Exa,
			providers.WithMeterProvider(sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))))},
	}
}

// TestDecoratorsAddNoAllocation pins what BenchmarkDecorator measures: with
// the default rule, a counted round trip through NewTransport or ByHost
// allocates nothing beyond the wrapped transport, for every lower-case form of
// a host ByHost normalises.
func TestDecoratorsAddNoAllocation(t *testing.T) {
	resp := &http.Response{StatusCode: 200, Body: http.NoBody, Header: http.Header{}}
	next := roundTripFunc(func(*http.Request) (*http.Response, error) { return resp, nil })
	hosts := providers.DefaultHosts()
	hosts["api.exa.ai:8443"] = "exa_8443"
	hosts["*.example.com"] = "example"
	cnt := &atomicCounter{}
	for _, url := range []string{
		"https://api.exa.ai/search",
		"https://api.exa.ai.:443/search",
		"https://api.exa.ai:8443/search",
		"https://a.b.example.com./",
		"https://not-a-provider.org/",
	} {
		req, _ := http.NewRequest("GET", url, nil)
		for name, rt := range map[string]http.RoundTripper{
			"NewTransport":                providers.NewTransport(next, cnt, usage.Exa),
			"ByHost":                      providers.ByHost(next, cnt, hosts),
			"NewTransport+guard":          providers.NewTransport(next, cnt, usage.Exa, providers.WithGuard(allowAll{})),
			"ByHost+reported quota":       providers.ByHost(next, cnt, hosts, providers.WithReportedQuota(noReports{t})),
			"NewTransport+reported quota": providers.NewTransport(next, cnt, usage.Exa, providers.WithReportedQuota(noReports{t})),
		} {
			allocs := testing.AllocsPerRun(100, func() {
				if _, err := rt.RoundTrip(req); err != nil {
					t.Fatal(err)
				}
			})
			if allocs != 0 {
				t.Errorf("%s: RoundTrip(%s) allocates %v times, want 0", name, url, allocs)
			}
		}
	}
	if cnt.n.Load() == 0 {
		t.Error("nothing counted")
	}
}

// atomicCounter counts calls without allocating.
type atomicCounter struct{ n atomic.Int64 }

func (c *atomicCounter) Track(usage.Provider) { c.n.Add(1) }

// allowAll is a guard that allows every call.
type allowAll struct{}

func (allowAll) Allow(usage.Provider) error { return nil }

// noReports fails its test if anything is reported.
type noReports struct{ t *testing.T }

func (r noReports) SetReported(p usage.Provider, rep usage.Reported) {
	r.t.Errorf("reported %+v for %s from a response without quota headers", rep, p)
}

// BenchmarkClaudeStream reads a Messages stream of 20 KB and 200 KB through
// a transport bare, under NewTransport, and under NewTransport with
// WithClaudeTokens, in the same run:
//
//	go test ./providers -run '^$' -bench ClaudeStream -benchmem -count 5 -benchtime 200x
//
// where=memory answers from memory, so the figure is the scanner's own cost
// beside a copy of the bytes; where=loopback reads from an httptest server,
// as a client does, and where=tls from an httptest TLS server, as a client
// of the Messages API (HTTPS only) does. ClaudeTokens adds the tokens with
// an Adder that makes no Meter; ClaudeTokensT adds them to a tracker, by
// model and for the request's subject.
func BenchmarkClaudeStream(b *testing.B) {
	mr := miniredis.RunT(b)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	tracker := usage.NewTracker(rdb)
	b.Cleanup(func() {
		tracker.Close(context.Background())
		rdb.Close()
	})
	acme := providers.WithSubject(context.Background(), "acme")
	for _, size := range []int{20 << 10, 200 << 10} {
		body := []byte(sseStream(size))
		h := func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/event-stream")
			w.Write(body)
		}
		plain, secure := server(b, h), httptest.NewTLSServer(http.HandlerFunc(h))
		b.Cleanup(secure.Close)
		overNet := func(base *http.Transport) map[string]http.RoundTripper {
			b.Cleanup(base.CloseIdleConnections)
			return map[string]http.RoundTripper{
				"Bare":          base,
				"NewTransport":  providers.NewTransport(base, &atomicCounter{}, usage.Claude),
				"ClaudeTokens":  providers.NewTransport(base, &atomicCounter{}, usage.Claude, providers.WithClaudeTokens(&atomicAdder{})),
				"ClaudeTokensT": providers.NewTransport(base, tracker, usage.Claude, providers.WithClaudeTokens(tracker)),
			}
		}
		for _, where := range []struct {
			name string
			rts  map[string]http.RoundTripper
			url  string
		}{
			{"memory", memTransports(body, tracker), "https://api.anthropic.com/v1/messages"},
			{"loopback", overNet(http.DefaultTransport.(*http.Transport).Clone()), plain.URL + "/v1/messages"},
			{"tls", overNet(secure.Client().Transport.(*http.Transport).Clone()), secure.URL + "/v1/messages"},
		} {
			for _, impl := range []string{"Bare", "NewTransport", "ClaudeTokens", "ClaudeTokensT"} {
				rt := where.rts[impl]
				if rt == nil {
					continue
				}
				b.Run(fmt.Sprintf("size=%dKB/where=%s/impl=%s", size>>10, where.name, impl), func(b *testing.B) {
					b.SetBytes(int64(len(body)))
					b.ReportAllocs()
					for b.Loop() {
						req, _ := http.NewRequestWithContext(acme, "POST", where.url, nil)
						resp, err := rt.RoundTrip(req)
						if err != nil {
							b.Fatal(err)
						}
						if n, err := io.Copy(io.Discard, resp.Body); err != nil || n != int64(len(body)) {
							b.Fatalf("read %d bytes, %v; want %d", n, err, len(body))
						}
						resp.Body.Close()
					}
				})
			}
		}
	}
}

// BenchmarkSubject puts a call counted for a subject beside the same call
// without one, in one run:
//
//	go test ./providers -run '^$' -bench Subject -benchmem -count 10 | benchstat -col /impl -
//
// step=count is the counting step alone: a Meter's Track, and Track on its
// Meter for the subject (For, then Track), which adds to two counters, the
// provider's and the subject's field. With -cpu 1 the figures are a core's
// own; with more, the cores contend for the counters' cache lines, as they
// do when one subject has most of the traffic. step=decorator is a round trip
// through NewTransport and ByHost over an in-memory transport, for a
// request with no subject (its context Background, or four layers deep, as
// an SDK's is), and for one with a subject seen before.
func BenchmarkSubject(b *testing.B) {
	mr := miniredis.RunT(b)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	tracker := usage.NewTracker(rdb)
	b.Cleanup(func() {
		tracker.Close(context.Background())
		rdb.Close()
	})
	parallel := func(b *testing.B, f func()) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				f()
			}
		})
	}
	m := tracker.Meter(usage.Exa)
	b.Run("step=count/impl=MeterTrack", func(b *testing.B) { parallel(b, m.Track) })
	b.Run("step=count/impl=MeterForTrack", func(b *testing.B) { parallel(b, func() { m.For("acme").Track() }) })

	resp := &http.Response{StatusCode: 200, Body: http.NoBody, Header: http.Header{}}
	next := roundTripFunc(func(*http.Request) (*http.Response, error) { return resp, nil })
	deep := context.Background()
	for i := range 4 {
		deep = context.WithValue(deep, ctxKey(i), i)
	}
	for _, d := range []namedTransport{
		{"NewTransport", providers.NewTransport(next, tracker, usage.Exa)},
		{"ByHost", providers.ByHost(next, tracker, providers.DefaultHosts())},
	} {
		for _, c := range []struct {
			name string
			ctx  context.Context
		}{
			{"", context.Background()},
			{"DeepContext", deep},
			{"Subject", providers.WithSubject(deep, "acme")},
		} {
			req, _ := http.NewRequestWithContext(c.ctx, "GET", "https://api.exa.ai/search", nil)
			b.Run("step=decorator/impl="+d.name+c.name, func(b *testing.B) {
				parallel(b, func() {
					if _, err := d.rt.RoundTrip(req); err != nil {
						b.Fatal(err)
					}
				})
			})
		}
	}
}

// ctxKey keys the values of a deep context.
type ctxKey int
