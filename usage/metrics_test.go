package usage_test

import (
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/enrichmeter/enrichmeter/internal/testsupport"
	"github.com/enrichmeter/enrichmeter/usage"
)

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
		tokens                                                        int64 // tracked in tokens
		lag                                                           time.Duration
	}
	check := func(step string, w want) {
		t.Helper()
		c := testsupport.Collect(t, reader)
		got := want{
			tracked: c.Int64(t, "enrichmeter.usage.tracked", "{unit}", "enrichmeter.unit", "call"),
			flushed: c.Int64(t, "enrichmeter.usage.flushed", "{unit}", "enrichmeter.unit", "call"),
			pending: c.Int64(t, "enrichmeter.usage.pending", "{unit}", "enrichmeter.unit", "call"),
			dropped: c.Int64(t, "enrichmeter.usage.dropped", "{unit}", "enrichmeter.drop.reason", "invalid_provider", "enrichmeter.unit", "call"),
			tokens:  c.Int64(t, "enrichmeter.usage.tracked", "{unit}", "enrichmeter.unit", "token"),
			flushes: c.Int64(t, "enrichmeter.usage.flushes", "{flush}"),
			keyErrs: c.Int64(t, "enrichmeter.usage.flush.errors", "{error}", "error.type", "key"),
			netErrs: c.Int64(t, "enrichmeter.usage.flush.errors", "{error}", "error.type", "network"),
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
			if n := c.HistogramCount(t, "enrichmeter.usage.flush.duration", "s"); n != uint64(w.flushes) {
				t.Errorf("%s: flush duration holds %d values, want %d", step, n, w.flushes)
			}
		}
	}

	check("at start", want{})
	for range 10 {
		tr.Track(usage.Exa)
	}
	tr.Track("Not Valid")
	tr.Add(usage.ClaudeOutputTokens, 300) // tokens are never added to calls
	check("tracked", want{tracked: 11, pending: 10, dropped: 1, tokens: 300})
	if err := tr.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	check("flushed", want{tracked: 11, flushed: 10, dropped: 1, flushes: 1, tokens: 300})

	if err := rdb.Set(ctx, usage.Key(usage.Apollo, noon), "n/a", 0).Err(); err != nil {
		t.Fatal(err)
	}
	tr.Track(usage.Apollo)
	if err := tr.Flush(ctx); err == nil {
		t.Fatal("Flush of a bad key returned nil")
	}
	check("a bad key", want{tracked: 12, flushed: 10, pending: 1, dropped: 1, flushes: 2, keyErrs: 1, tokens: 300})

	proxy.SetDown(true)
	for range 5 {
		tr.Track(usage.Exa)
	}
	if err := tr.Flush(ctx); err == nil {
		t.Fatal("Flush with Redis down returned nil")
	}
	clock.Set(noon.Add(30 * time.Second))
	check("Redis down", want{tracked: 17, flushed: 10, pending: 6, dropped: 1, flushes: 3, keyErrs: 1, netErrs: 1, tokens: 300, lag: 30 * time.Second})

	proxy.SetDown(false)
	if err := rdb.Del(ctx, usage.Key(usage.Apollo, noon)).Err(); err != nil {
		t.Fatal(err)
	}
	if err := tr.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	check("Redis back", want{tracked: 17, flushed: 16, dropped: 1, flushes: 4, keyErrs: 1, netErrs: 1, tokens: 300})
}

func TestTrackerMetricsThroughPrometheus(t *testing.T) {
	mp, scrape := testsupport.PrometheusMeterProvider(t)
	tr := usage.NewTracker(newMiniredisClient(t), usage.WithMeterProvider(mp), usage.WithFlushInterval(time.Hour))
	closeAtCleanup(t, tr)
	tr.Track(usage.Exa)
	tr.Track("Not Valid")
	if err := tr.Flush(ctxTimeout(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	body := scrape()
	for _, line := range []string{
		"enrichmeter_usage_tracked_total{",
		"enrichmeter_usage_flushed_total{",
		"enrichmeter_usage_pending{",
		`enrichmeter_usage_dropped_total{enrichmeter_drop_reason="invalid_provider",enrichmeter_unit="call"`,
		"enrichmeter_usage_flushes_total{",
		"enrichmeter_usage_flush_duration_seconds_bucket{",
		"enrichmeter_usage_lag_seconds{",
	} {
		if !strings.Contains(body, line) {
			t.Errorf("the scrape has no %s", line)
		}
	}
	if t.Failed() {
		t.Logf("scrape:\n%s", body)
	}
}
