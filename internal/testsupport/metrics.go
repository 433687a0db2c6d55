package testsupport

import (
	"context"
	"slices"
	"testing"

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
	m := ms.get(t, name, unit)
	sum, ok := m.Data.(metricdata.Sum[int64])
	if !ok {
		t.Fatalf("%s is a %T, want an int64 sum", name, m.Data)
	}
	want := attributeSet(attrs)
	for _, dp := range sum.DataPoints {
		if dp.Attributes.Equals(&want) {
			return dp.Value
		}
	}
	return 0
}

// HistogramCount returns how many values the float64 histogram name holds
// at the point whose attributes are exactly attrs, failing t as Int64 does.
func (ms Metrics) HistogramCount(t testing.TB, name, unit string, attrs ...string) uint64 {
	t.Helper()
	m := ms.get(t, name, unit)
	h, ok := m.Data.(metricdata.Histogram[float64])
	if !ok {
		t.Fatalf("%s is a %T, want a float64 histogram", name, m.Data)
	}
	want := attributeSet(attrs)
	for _, dp := range h.DataPoints {
		if dp.Attributes.Equals(&want) {
			return dp.Count
		}
	}
	return 0
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

func attributeSet(kv []string) attribute.Set {
	var attrs []attribute.KeyValue
	for i := 0; i+1 < len(kv); i += 2 {
		attrs = append(attrs, attribute.String(kv[i], kv[i+1]))
	}
	return attribute.NewSet(attrs...)
}
