package testsupport

import (
	"context"
	"io"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// Metrics is one collection of an OpenTelemetry manual reader, by metric
// name.
type Metrics map[string]metricdata.Metrics

// Collect collects r, failing t if it cannot.
func Collect(t testing.TB, r *sdkmetric.ManualReader) Metrics {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := r.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	out := Metrics{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			out[m.Name] = m
		}
	}
	return out
}

// Int64 returns the value of the int64 sum name at the point whose
// attributes are exactly attrs (key, value, key, value...), 0 if it has
// none, failing t if name is missing, is no int64 sum, or has another unit.
func (ms Metrics) Int64(t testing.TB, name, unit string, attrs ...string) int64 {
	t.Helper()
	sum, ok := ms.get(t, name, unit).Data.(metricdata.Sum[int64])
	if !ok {
		t.Fatalf("%s is not an int64 sum", name)
	}
	dp, _ := point(sum.DataPoints, func(dp metricdata.DataPoint[int64]) attribute.Set { return dp.Attributes }, attrs)
	return dp.Value
}

// HistogramCount returns how many values the float64 histogram name holds
// at the point whose attributes are exactly attrs, failing t as Int64 does.
func (ms Metrics) HistogramCount(t testing.TB, name, unit string, attrs ...string) uint64 {
	t.Helper()
	h, ok := ms.get(t, name, unit).Data.(metricdata.Histogram[float64])
	if !ok {
		t.Fatalf("%s is not a float64 histogram", name)
	}
	dp, _ := point(h.DataPoints, func(dp metricdata.HistogramDataPoint[float64]) attribute.Set { return dp.Attributes }, attrs)
	return dp.Count
}

// point returns the data point whose attributes are exactly kv (key, value,
// key, value...).
func point[P any](points []P, attrs func(P) attribute.Set, kv []string) (P, bool) {
	var want []attribute.KeyValue
	for i := 0; i+1 < len(kv); i += 2 {
		want = append(want, attribute.String(kv[i], kv[i+1]))
	}
	set := attribute.NewSet(want...)
	for _, p := range points {
		if a := attrs(p); a.Equals(&set) {
			return p, true
		}
	}
	var zero P
	return zero, false
}

// PrometheusMeterProvider returns a meter provider that exports through
// OpenTelemetry's Prometheus exporter, and a function that scrapes it over
// HTTP, as Prometheus would, and returns the exposition text.
func PrometheusMeterProvider(t testing.TB) (*sdkmetric.MeterProvider, func() string) {
	t.Helper()
	reg := prometheus.NewRegistry()
	exporter, err := otelprom.New(otelprom.WithRegisterer(reg))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	t.Cleanup(srv.Close)
	return sdkmetric.NewMeterProvider(sdkmetric.WithReader(exporter)), func() string {
		t.Helper()
		resp, err := srv.Client().Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return string(body)
	}
}

func (ms Metrics) get(t testing.TB, name, unit string) metricdata.Metrics {
	t.Helper()
	m, ok := ms[name]
	if !ok {
		var names []string
		for n := range ms {
			names = append(names, n)
		}
		slices.Sort(names)
		t.Fatalf("no metric %s among %v", name, names)
	}
	if m.Unit != unit {
		t.Errorf("%s: unit %q, want %q", name, m.Unit, unit)
	}
	return m
}
