package sourcestatus

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5"
)

// ErrNotFound is returned when no prospect has the given id.
var ErrNotFound = errors.New("sourcestatus: prospect not found")

// table is what an Updater and a Reader share: the configuration, and the
// statements, which are built once the id column's type is known.
type table struct {
	db  DB
	cfg config
	n   names

	mu    sync.Mutex  // protects stmts
	stmts *statements // nil until first use
}

func newTable(db DB, opts []Option) (*table, error) {
	if db == nil {
		return nil, errors.New("sourcestatus: nil DB")
	}
	cfg, n, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	return &table{db: db, cfg: cfg, n: n}, nil
}

// statements are the SQL texts, with every parameter cast from text so that
// they work under every pgx QueryExecMode, the simple protocol included.
type statements struct {
	update, updateIgnoreStale, init, get, failures, summary string
}

// statements returns the SQL, reading the id column's type from the catalog
// on first use: comparing the id column with a text parameter cast to that
// type keeps its index usable whatever the type.
func (t *table) statements(ctx context.Context) (*statements, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stmts != nil {
		return t.stmts, nil
	}
	const q = `SELECT a.attname::text, format_type(a.atttypid, a.atttypmod)
FROM pg_attribute a
WHERE a.attrelid = $1::text::regclass AND a.attname::text IN ($2::text, $3::text) AND a.attnum > 0 AND NOT a.attisdropped`
	rows, err := t.db.Query(ctx, q, t.n.table, t.cfg.column, t.cfg.idColumn)
	if err != nil {
		return nil, t.dbErr(ctx, "read the columns of "+t.cfg.table, err)
	}
	types := map[string]string{}
	var name, typ string
	_, err = pgx.ForEachRow(rows, []any{&name, &typ}, func() error {
		types[name] = typ
		return nil
	})
	if err != nil {
		return nil, t.dbErr(ctx, "read the columns of "+t.cfg.table, err)
	}
	idType, ok := types[t.cfg.idColumn]
	if !ok {
		return nil, fmt.Errorf("sourcestatus: table %s has no column %s", t.cfg.table, t.cfg.idColumn)
	}
	if typ, ok := types[t.cfg.column]; !ok || typ != "jsonb" {
		if !ok {
			typ = "no such column"
		}
		return nil, fmt.Errorf("sourcestatus: column %s.%s is not jsonb (%s)", t.cfg.table, t.cfg.column, typ)
	}
	t.stmts = buildStatements(t.n, idType)
	return t.stmts, nil
}

func buildStatements(n names, idType string) *statements {
	r := strings.NewReplacer("{table}", n.table, "{col}", n.column, "{id}", n.idColumn, "{idtype}", idType)
	// obj is the column as an object: SQL NULL, JSON null, strings, numbers and
	// arrays count as {}.
	const obj = `(CASE WHEN jsonb_typeof({col}) = 'object' THEN {col} ELSE '{}'::jsonb END)`
	const merged = obj + ` || jsonb_build_object($2::text, $3::text::jsonb)`
	const where = ` WHERE {id} = $1::text::{idtype}`
	// A stored time is newer only in toISOString form: then text order is time order.
	const storedAt = `({col} -> $2::text ->> 'at')`
	const newer = storedAt + ` ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}[.][0-9]{3}Z$' AND ` + storedAt + ` > $4::text`
	// status reads both shapes of an entry e.
	const status = `(CASE jsonb_typeof(e.value) WHEN 'object' THEN e.value ->> 'status' WHEN 'string' THEN e.value #>> '{}' END)`
	const entries = ` FROM {table} p CROSS JOIN LATERAL jsonb_each(CASE WHEN jsonb_typeof(p.{col}) = 'object' THEN p.{col} ELSE '{}'::jsonb END) e`
	return &statements{
		update:            r.Replace(`UPDATE {table} SET {col} = ` + merged + where),
		updateIgnoreStale: r.Replace(`UPDATE {table} SET {col} = CASE WHEN ` + newer + ` THEN {col} ELSE ` + merged + ` END` + where),
		init:              r.Replace(`UPDATE {table} SET {col} = ` + obj + ` || $2::text::jsonb` + where),
		get:               r.Replace(`SELECT CASE WHEN jsonb_typeof({col}) = 'object' THEN {col}::text ELSE '{}' END FROM {table}` + where),
		// The @@ condition lets a GIN index on the column (jsonb_ops, the
		// default) find the rows that hold a failure; see Reader.Failures.
		failures: r.Replace(`SELECT p.{id}::text, e.key, COALESCE(e.value ->> 'error', ''), e.value ->> 'at'` + entries +
			` WHERE p.{col} @@ '$.*.status == "failed" || $.* == "failed"' AND ` + status + ` = 'failed'` +
			` AND ($1::text = '' OR e.value ->> 'at' >= $1::text)` +
			` ORDER BY e.value ->> 'at' DESC NULLS LAST, 1, 2 LIMIT $2::text::bigint`),
		summary: r.Replace(`SELECT e.key, COALESCE(` + status + `, ''), count(*)` + entries +
			` WHERE jsonb_typeof(e.value) IN ('object', 'string') AND ($1::text = '' OR e.value ->> 'at' >= $1::text)` +
			` GROUP BY 1, 2 ORDER BY 1, 2`),
	}
}

// dbErr wraps a database error, returning ctx.Err() unchanged when the
// context ended.
func (t *table) dbErr(ctx context.Context, what string, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return ctxErr
	}
	return fmt.Errorf("sourcestatus: %s: %w", what, err)
}
