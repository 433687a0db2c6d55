package sourcestatus

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/enrichmeter/enrichmeter/internal/testsupport"
)

const ginIndex = `CREATE INDEX prospects_source_status_gin ON prospects USING gin (enrichment_source_status)`

// TestFailuresUsesTheGINIndex shows, with EXPLAIN ANALYZE on 100,000 rows,
// that a GIN index on the column, for a table without the schema kit, turns
// the error feed's sequential scan of every row, and its groups', into a
// bitmap scan of the rows that hold a failure.
func TestFailuresUsesTheGINIndex(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a 100,000-row table")
	}
	pool := testsupport.Postgres(t)
	testsupport.FillProspects(t, pool, 100_000, 30)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	r, err := NewReader(pool)
	if err != nil {
		t.Fatal(err)
	}
	explain := func(read string, args ...any) string {
		if _, err := pool.Exec(ctx, `ANALYZE prospects`); err != nil {
			t.Fatal(err)
		}
		plan, err := Explain(ctx, r, read, append([]any{"2026-11-27T12:00:00.000Z", "50"}, args...)...)
		if err != nil {
			t.Fatal(err)
		}
		return plan
	}
	reads := map[string][]any{"failures": nil, "failureGroups": {"5"}}
	before := map[string]string{}
	for read, args := range reads {
		before[read] = explain(read, args...)
		if !strings.Contains(before[read], "Seq Scan on prospects") {
			t.Fatalf("%s without the index, expected a sequential scan:\n%s", read, before[read])
		}
	}
	if _, err := pool.Exec(ctx, ginIndex); err != nil {
		t.Fatal(err)
	}
	for read, args := range reads {
		after := explain(read, args...)
		t.Logf("%s without the index:\n%s\n\nwith it:\n%s", read, before[read], after)
		if !strings.Contains(after, "Bitmap Index Scan on prospects_source_status_gin") {
			t.Errorf("%s with the index, expected a bitmap index scan:\n%s", read, after)
		}
	}
	got, err := r.Failures(ctx, testsupport.ProspectsEnd.Add(-24*time.Hour), 50)
	if err != nil || len(got) != 50 {
		t.Fatalf("Failures = %d rows, %v", len(got), err)
	}
	for i := 1; i < len(got); i++ {
		if got[i].At.After(got[i-1].At) {
			t.Fatalf("not newest first at %d", i)
		}
	}
}
