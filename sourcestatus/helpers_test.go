package sourcestatus_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/enrichmeter/enrichmeter/internal/testsupport"
	"github.com/enrichmeter/enrichmeter/sourcestatus"
)

// execModes are the pgx modes every database test runs under: the default
// (prepared and cached), the one-round-trip Exec mode, and the simple
// protocol used behind PgBouncer.
var execModes = []pgx.QueryExecMode{
	pgx.QueryExecModeCacheStatement,
	pgx.QueryExecModeExec,
	pgx.QueryExecModeSimpleProtocol,
}

// forEachMode runs f on a fresh schema under each exec mode.
func forEachMode(t *testing.T, f func(t *testing.T, pool *pgxpool.Pool)) {
	t.Helper()
	for _, mode := range execModes {
		t.Run(mode.String(), func(t *testing.T) {
			f(t, testsupport.Postgres(t, func(c *pgxpool.Config) {
				c.ConnConfig.DefaultQueryExecMode = mode
			}))
		})
	}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// createProspects creates the default table with an id column of idType and
// inserts one prospect per id, its column set to the given JSON (or NULL).
func createProspects(t *testing.T, db sourcestatus.DB, idType string) {
	t.Helper()
	sql := fmt.Sprintf(`CREATE TABLE prospects (id %s PRIMARY KEY, name text, enrichment_source_status jsonb)`, idType)
	if _, err := db.Exec(ctxT(t), sql); err != nil {
		t.Fatal(err)
	}
}

func insert(t *testing.T, db sourcestatus.DB, id string, column any) {
	t.Helper()
	if _, err := db.Exec(ctxT(t), `INSERT INTO prospects (id, enrichment_source_status) VALUES ($1::text::`+idTypeOf(t, db)+`, $2::text::jsonb)`, id, column); err != nil {
		t.Fatal(err)
	}
}

func idTypeOf(t *testing.T, db sourcestatus.DB) string {
	var typ string
	if err := db.QueryRow(ctxT(t), `SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'prospects'::regclass AND attname = 'id'`).Scan(&typ); err != nil {
		t.Fatal(err)
	}
	return typ
}

// column returns a prospect's column as PostgreSQL prints it, or "NULL".
func column(t *testing.T, db sourcestatus.DB, id string) string {
	t.Helper()
	var s *string
	if err := db.QueryRow(ctxT(t), `SELECT enrichment_source_status::text FROM prospects WHERE id::text = $1`, id).Scan(&s); err != nil {
		t.Fatal(err)
	}
	if s == nil {
		return "NULL"
	}
	return *s
}

func fixedClock(at time.Time) sourcestatus.Option {
	return sourcestatus.WithClock(func() time.Time { return at })
}

// checkStatuses fails t unless got holds exactly the entries of want.
func checkStatuses(t *testing.T, got, want sourcestatus.Statuses) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %+v, want %+v", k, got[k], v)
		}
	}
}

// mustNew returns what newX (NewUpdater or NewReader) builds on db with
// opts, failing t if it refuses them.
func mustNew[T any](t *testing.T, newX func(sourcestatus.DB, ...sourcestatus.Option) (T, error), db sourcestatus.DB, opts ...sourcestatus.Option) T {
	t.Helper()
	v, err := newX(db, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// currentSchema returns the schema that db creates tables in.
func currentSchema(t *testing.T, db sourcestatus.DB) string {
	t.Helper()
	var schema string
	if err := db.QueryRow(ctxT(t), `SELECT current_schema()`).Scan(&schema); err != nil {
		t.Fatal(err)
	}
	return schema
}
