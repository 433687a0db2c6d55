package testsupport

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// ProspectsEnd is the time of the newest entry that FillProspects writes.
var ProspectsEnd = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

// FillProspects creates the table prospects (id text PRIMARY KEY,
// enrichment_source_status jsonb) and fills it with n prospects as a
// pipeline leaves them: four sources each, times spread evenly at random
// over the days before ProspectsEnd, one row in five in the legacy
// bare-string shape, and about 5 % of rows holding a failure. The rows are
// the same on every run (the random generator is seeded).
func FillProspects(tb testing.TB, pool *pgxpool.Pool, n int, days float64) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Hour)
	defer cancel()
	const iso = `'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'`
	conn, err := pool.Acquire(ctx) // one session, for setseed
	if err != nil {
		tb.Fatalf("fill prospects: %v", err)
	}
	defer conn.Release()
	for _, st := range []struct {
		sql  string
		args []any
	}{
		{sql: `CREATE TABLE prospects (id text PRIMARY KEY, enrichment_source_status jsonb)`},
		{sql: `SELECT setseed(0.42)`},
		{sql: `INSERT INTO prospects
SELECT 'p' || i, CASE WHEN r1 < 0.2 THEN jsonb_build_object('apollo', 'complete', 'contactout', 'complete',
    'exa', CASE WHEN r2 < 0.05 THEN 'failed' ELSE 'complete' END, 'sec', 'skipped')
  ELSE jsonb_build_object(
    'apollo', jsonb_build_object('status', 'complete', 'at', to_char(t, ` + iso + `)),
    'contactout', jsonb_build_object('status', CASE WHEN r2 < 0.02 THEN 'failed' ELSE 'complete' END, 'at', to_char(t + interval '2 s', ` + iso + `))
      || CASE WHEN r2 < 0.02 THEN '{"error": "HTTP 429"}'::jsonb ELSE '{}' END,
    'exa', jsonb_build_object('status', CASE WHEN r2 >= 0.02 AND r2 < 0.05 THEN 'failed' ELSE 'complete' END, 'at', to_char(t + interval '3 s', ` + iso + `))
      || CASE WHEN r2 >= 0.02 AND r2 < 0.05 THEN '{"error": "HTTP 402: out of credits"}'::jsonb ELSE '{}' END,
    'sec', jsonb_build_object('status', 'skipped', 'at', to_char(t + interval '1 s', ` + iso + `)))
  END
FROM (SELECT i, random() r1, random() r2, $2::timestamptz - interval '3 s' - random() * ($3::float8 * interval '1 day') t
  FROM generate_series(1, $1::int) i) s`, args: []any{n, ProspectsEnd, days}},
		{sql: `VACUUM ANALYZE prospects`},
	} {
		if _, err := conn.Exec(ctx, st.sql, st.args...); err != nil {
			tb.Fatalf("fill prospects: %v", err)
		}
	}
}
