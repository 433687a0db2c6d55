package usage_test

import (
	"context"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/attribute"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/enrichmeter/enrichmeter/internal/testsupport"
	"github.com/enrichmeter/enrichmeter/usage"
)

// collected is one collection of a manual reader, by metric name.
type collected map[string]metricdata.Metrics

func collect(t *testing.T, r *sdkmetric.ManualReader) collected {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := r.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	out := collected{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			out[m.Name] = m
		}
	}
	return out
}

// int64Value returns the value of the int64 sum or gauge name with the
// attribute key=value (or no attribute when key is empty), checking its
// unit.
func (c collected) int64Value(t *testing.T, name, unit, key, value string) int64 {
	t.Helper()
	m, ok := c[name]
	if !ok {
		t.Fatalf("no metric %s among %v", name, c.names())
	}
	if m.Unit != unit {
		t.Errorf("%s: unit %q, want %q", name, m.Unit, unit)
	}
	sum, ok := m.Data.(metricdata.Sum[int64])
	if !ok {
		t.Fatalf("%s is a %T, want an int64 sum", name, m.Data)
	}
	for _, dp := range sum.DataPoints {
		if v, _ := dp.Attributes.Value(attribute.Key(key)); key == "" && dp.Attributes.Len() == 0 || key != "" && v.AsString() == value {
			return dp.Value
		}
	}
	return 0
}

func (c collected) names() []string {
	var out []string
	for n := range c {
		out = append(out, n)
	}
	return out
}

// TestTrackerMetrics scripts a run with a dropped call, a key Redis
// refuses and an outage, and checks every instrument after each step.
func TestTrackerMetrics(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	rdb := newMiniredisClient(t)
	proxy := testsupport.NewProxy(t, rdb.Options().Addr)
	client := redis.NewClient(&redis.Options{Addr: proxy.Addr, MaxRetries: -1, DialerRetries: 1})
	t.Cleanup(func() { _ = client.Close() })
	clock := newFakeClock(noon)
	tr := usage.NewTracker(client, usage.WithMeterProvider(mp), usage.WithClock(clock.Now),
		usage.WithFlushInterval(time.Hour), usage.WithErrorHandler(func(error) {}))
	closeAtCleanup(t, tr)
	ctx := ctxTimeout(t, 10*time.Second)
	type want struct {
		tracked, flushed, pending, dropped, flushes, keyErrs, netErrs int64
		lag                                                           time.Duration
	}
	check := func(step string, w want) {
		t.Helper()
		c := collect(t, reader)
		got := want{
			tracked: c.int64Value(t, "enrichmeter.usage.tracked", "{unit}", "", ""),
			flushed: c.int64Value(t, "enrichmeter.usage.flushed", "{unit}", "", ""),
			pending: c.int64Value(t, "enrichmeter.usage.pending", "{unit}", "", ""),
			dropped: c.int64Value(t, "enrichmeter.usage.dropped", "{unit}", "enrichmeter.drop.reason", "invalid_provider"),
			flushes: c.int64Value(t, "enrichmeter.usage.flushes", "{flush}", "", ""),
			keyErrs: c.int64Value(t, "enrichmeter.usage.flush.errors", "{error}", "error.type", "key"),
			netErrs: c.int64Value(t, "enrichmeter.usage.flush.errors", "{error}", "error.type", "network"),
		}
		lag := c["enrichmeter.usage.lag"]
		if g, ok := lag.Data.(metricdata.Gauge[float64]); !ok || len(g.DataPoints) != 1 || lag.Unit != "s" {
			t.Fatalf("%s: lag = %+v, want one gauge point in s", step, lag)
		} else {
			got.lag = time.Duration(g.DataPoints[0].Value * float64(time.Second))
		}
		if got != w {
			t.Errorf("%s: metrics %+v, want %+v", step, got, w)
		}
		if w.flushes > 0 { // a histogram appears with its first value
			dur := c["enrichmeter.usage.flush.duration"]
			if h, ok := dur.Data.(metricdata.Histogram[float64]); !ok || dur.Unit != "s" || h.DataPoints[0].Count != uint64(w.flushes) {
				t.Errorf("%s: flush duration %+v, want %d flushes in s", step, dur, w.flushes)
			}
		}
	}

	check("at start", want{})
	for range 10 {
		tr.Track(usage.Exa)
	}
	tr.Track("Not Valid")
	check("tracked", want{tracked: 11, pending: 10, dropped: 1})
	if err := tr.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	check("flushed", want{tracked: 11, flushed: 10, dropped: 1, flushes: 1})

	if err := rdb.Set(ctx, usage.Key(usage.Apollo, noon), "n/a", 0).Err(); err != nil {
		t.Fatal(err)
	}
	tr.Track(usage.Apollo)
	if err := tr.Flush(ctx); err == nil {
		t.Fatal("Flush of a bad key returned nil")
	}
	check("a bad key", want{tracked: 12, flushed: 10, pending: 1, dropped: 1, flushes: 2, keyErrs: 1})

	proxy.SetDown(true)
	for range 5 {
		tr.Track(usage.Exa)
	}
	if err := tr.Flush(ctx); err == nil {
		t.Fatal("Flush with Redis down returned nil")
	}
	clock.Set(noon.Add(30 * time.Second))
	check("Redis down", want{tracked: 17, flushed: 10, pending: 6, dropped: 1, flushes: 3, keyErrs: 1, netErrs: 1, lag: 30 * time.Second})

	proxy.SetDown(false)
	if err := rdb.Del(ctx, usage.Key(usage.Apollo, noon)).Err(); err != nil {
		t.Fatal(err)
	}
	if err := tr.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	check("Redis back", want{tracked: 17, flushed: 16, dropped: 1, flushes: 4, keyErrs: 1, netErrs: 1})
}

func TestTrackerMetricsThroughPrometheus(t *testing.T) {
	reg := prometheus.NewRegistry()
	exporter, err := otelprom.New(otelprom.WithRegisterer(reg))
	if err != nil {
		t.Fatal(err)
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exporter))
	tr := usage.NewTracker(newMiniredisClient(t), usage.WithMeterProvider(mp), usage.WithFlushInterval(time.Hour))
	closeAtCleanup(t, tr)
	tr.Track(usage.Exa)
	tr.Track("Not Valid")
	if err := tr.Flush(ctxTimeout(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{
		"enrichmeter_usage_tracked_total{",
		"enrichmeter_usage_flushed_total{",
		"enrichmeter_usage_pending{",
		`enrichmeter_usage_dropped_total{enrichmeter_drop_reason="invalid_provider"`,
		"enrichmeter_usage_flushes_total{",
		"enrichmeter_usage_flush_duration_seconds_bucket{",
		"enrichmeter_usage_lag_seconds{",
	} {
		if !strings.Contains(string(body), line) {
			t.Errorf("the scrape has no %s", line)
		}
	}
	if t.Failed() {
		t.Logf("scrape:\n%s", body)
	}
}
