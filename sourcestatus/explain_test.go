package sourcestatus

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/enrichmeter/enrichmeter/internal/testsupport"
)

// bigTable creates prospects with n rows, one in a hundred holding a failure
// among three other sources, the rest complete or legacy.
func bigTable(tb testing.TB, n int) *pgxpool.Pool {
	tb.Helper()
	pool := testsupport.Postgres(tb)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, sql := range []string{
		`CREATE TABLE prospects (id text PRIMARY KEY, enrichment_source_status jsonb)`,
		`INSERT INTO prospects
		 SELECT 'p' || i, jsonb_build_object(
		   'apollo', 'complete',
		   'contactout', jsonb_build_object('status', 'complete', 'at', to_char(timestamptz '2026-11-01' + i * interval '10 seconds', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')),
		   'exa', CASE WHEN i % 100 = 0
		     THEN jsonb_build_object('status', 'failed', 'error', 'HTTP 429', 'at', to_char(timestamptz '2026-11-01' + i * interval '10 seconds', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'))
		     ELSE jsonb_build_object('status', 'complete', 'at', to_char(timestamptz '2026-11-01' + i * interval '10 seconds', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')) END,
		   'claude', 'skipped')
		 FROM generate_series(1, ` + strconv.Itoa(n) + `) i`,
	} {
		if _, err := pool.Exec(ctx, sql); err != nil {
			tb.Fatal(err)
		}
	}
	return pool
}

const ginIndex = `CREATE INDEX prospects_source_status_gin ON prospects USING gin (enrichment_source_status)`

// TestFailuresUsesTheGINIndex shows, with EXPLAIN ANALYZE on 100,000 rows,
// that the documented index turns the error feed's sequential scan of every
// row into a bitmap scan of the rows that hold a failure.
func TestFailuresUsesTheGINIndex(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a 100,000-row table")
	}
	pool := bigTable(t, 100_000)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	r, err := NewReader(pool)
	if err != nil {
		t.Fatal(err)
	}
	st, err := r.t.statements(ctx)
	if err != nil {
		t.Fatal(err)
	}
	explain := func() string {
		if _, err := pool.Exec(ctx, `ANALYZE prospects`); err != nil {
			t.Fatal(err)
		}
		var lines []string
		rows, err := pool.Query(ctx, `EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) `+st.failures, "2026-11-02T00:00:00.000Z", "50")
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var l string
			if err := rows.Scan(&l); err != nil {
				t.Fatal(err)
			}
			lines = append(lines, l)
		}
		if rows.Err() != nil {
			t.Fatal(rows.Err())
		}
		return strings.Join(lines, "\n")
	}
	before := explain()
	if !strings.Contains(before, "Seq Scan on prospects") {
		t.Fatalf("without the index, expected a sequential scan:\n%s", before)
	}
	if _, err := pool.Exec(ctx, ginIndex); err != nil {
		t.Fatal(err)
	}
	after := explain()
	t.Logf("without the index:\n%s\n\nwith it:\n%s", before, after)
	if !strings.Contains(after, "Bitmap Index Scan on prospects_source_status_gin") {
		t.Errorf("with the index, expected a bitmap index scan:\n%s", after)
	}
	got, err := r.Failures(ctx, time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC), 50)
	if err != nil || len(got) != 50 {
		t.Fatalf("Failures = %d rows, %v", len(got), err)
	}
	for i := 1; i < len(got); i++ {
		if got[i].At.After(got[i-1].At) {
			t.Fatalf("not newest first at %d", i)
		}
	}
}
