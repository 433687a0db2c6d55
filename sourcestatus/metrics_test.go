package sourcestatus_test

import (
	"context"
	"errors"
	"testing"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/enrichmeter/enrichmeter/internal/testsupport"
	"github.com/enrichmeter/enrichmeter/sourcestatus"
)

func TestUpdaterMetrics(t *testing.T) {
	pool := testsupport.Postgres(t)
	createProspects(t, pool, "uuid")
	id := "00000000-0000-4000-8000-000000000001"
	insert(t, pool, id, nil)
	reader := sdkmetric.NewManualReader()
	u, err := sourcestatus.NewUpdater(pool, sourcestatus.WithMeterProvider(sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))))
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxT(t)
	if err := u.Init(ctx, id, "exa", "sec", "claude"); err != nil {
		t.Fatal(err)
	}
	for _, p := range []sourcestatus.Payload{
		{Status: sourcestatus.Complete},
		{Status: sourcestatus.Failed, Error: "HTTP 429"},
		{Status: sourcestatus.Failed, Error: "HTTP 500"},
		{Status: "rate_limited"}, // unknown to the dashboard, kept
	} {
		if err := u.Update(ctx, id, "exa", p); err != nil {
			t.Fatal(err)
		}
	}
	if err := u.Update(ctx, "00000000-0000-4000-8000-000000000002", "exa", sourcestatus.Payload{Status: sourcestatus.Complete}); !errors.Is(err, sourcestatus.ErrNotFound) {
		t.Fatalf("Update of a missing prospect = %v", err)
	}
	if err := u.Update(ctx, id, "exa", sourcestatus.Payload{Status: "FAILED"}); !errors.Is(err, sourcestatus.ErrInvalidStatus) {
		t.Fatalf("Update with FAILED = %v", err)
	}
	done, cancel := context.WithCancel(ctx)
	cancel()
	if err := u.Update(done, id, "exa", sourcestatus.Payload{Status: sourcestatus.Complete}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Update with a cancelled context = %v", err)
	}

	m := testsupport.Collect(t, reader)
	const updates, errs = "enrichmeter.sourcestatus.updates", "enrichmeter.sourcestatus.update.errors"
	for _, c := range []struct {
		name, unit, key, value string
		want                   int64
	}{
		{updates, "{update}", "enrichmeter.status", "pending", 3},
		{updates, "{update}", "enrichmeter.status", "complete", 1},
		{updates, "{update}", "enrichmeter.status", "failed", 2},
		{updates, "{update}", "enrichmeter.status", "other", 1},
		{errs, "{error}", "error.type", "not_found", 1},
		{errs, "{error}", "error.type", "invalid_input", 1},
		{errs, "{error}", "error.type", "canceled", 1},
		{errs, "{error}", "error.type", "database", 0},
	} {
		if got := m.Int64(t, c.name, c.unit, c.key, c.value); got != c.want {
			t.Errorf("%s{%s=%q} = %d, want %d", c.name, c.key, c.value, got, c.want)
		}
	}
	// Every statement that reached the database took time: the five
	// updates, the Init, the missing prospect and the cancelled one.
	if n := m.HistogramCount(t, "enrichmeter.sourcestatus.update.duration", "s"); n != 7 {
		t.Errorf("update duration holds %d values, want 7", n)
	}
}
