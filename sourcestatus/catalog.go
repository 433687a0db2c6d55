package sourcestatus

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
)

// table is what an Updater and a Reader share: the configuration, and the
// statements, which are built once the id column's type is known.
//
// The first calls read the catalog through one of them, the loader; the
// others wait for it or for their own context, whichever ends first. A load
// that fails (its caller's context ended, or the table is wrong) is
// forgotten, and the next call loads again.
type table struct {
	db  DB
	cfg config
	n   names

	stmts   atomic.Pointer[statements] // nil until a load succeeds
	mu      sync.Mutex                 // protects loading
	loading chan struct{}              // closed when the load under way ends; nil when none is
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

// statements returns the SQL, reading the id column's type from the catalog
// on first use: comparing the id column with a text parameter cast to that
// type keeps its index usable whatever the type.
func (t *table) statements(ctx context.Context) (*statements, error) {
	for {
		if s := t.stmts.Load(); s != nil {
			return s, nil
		}
		t.mu.Lock()
		wait := t.loading
		if wait == nil {
			t.loading = make(chan struct{})
		}
		t.mu.Unlock()
		if wait == nil {
			return t.load(ctx)
		}
		select {
		case <-wait: // loaded, or failed: look again
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// load reads the catalog as the loader, and ends the load, even if the DB
// panics.
func (t *table) load(ctx context.Context) (*statements, error) {
	defer func() {
		t.mu.Lock()
		close(t.loading)
		t.loading = nil
		t.mu.Unlock()
	}()
	s, err := t.readCatalog(ctx)
	if err == nil {
		t.stmts.Store(s)
	}
	return s, err
}

// readCatalog reads the types of the id and status columns and the table's
// schema, then whether the schema kit is in place there, and builds the
// statements.
func (t *table) readCatalog(ctx context.Context) (*statements, error) {
	// The id's type is named without its length or precision (and a domain,
	// however deep, by the type at its bottom), so that a cast of the
	// parameter to it never cuts or rounds an id into another prospect's:
	// "acct-123-x" stays itself where varchar(8) would make it "acct-123",
	// and 42.4 where numeric(6,0) would make it 42. (format_type with a NULL
	// typmod would name bpchar "character", which is char(1).)
	const q = `SELECT a.attname::text, format_type(b.oid, -1), n.nspname::text
FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
CROSS JOIN LATERAL (
  WITH RECURSIVE chain(oid, typtype, typbasetype) AS (
    SELECT t.oid, t.typtype, t.typbasetype FROM pg_type t WHERE t.oid = a.atttypid
    UNION ALL
    SELECT t.oid, t.typtype, t.typbasetype FROM pg_type t JOIN chain ON t.oid = chain.typbasetype WHERE chain.typtype = 'd')
  SELECT oid FROM chain WHERE typtype <> 'd') b
WHERE a.attrelid = $1::text::regclass AND a.attname::text IN ($2::text, $3::text) AND a.attnum > 0 AND NOT a.attisdropped`
	rows, err := t.db.Query(ctx, q, t.n.table, t.cfg.column, t.cfg.idColumn)
	if err != nil {
		return nil, dbErr(ctx, "read the columns of "+t.cfg.table, err)
	}
	types := map[string]string{}
	var name, typ, schema string
	_, err = pgx.ForEachRow(rows, []any{&name, &typ, &schema}, func() error {
		types[name] = typ
		return nil
	})
	if err != nil {
		return nil, dbErr(ctx, "read the columns of "+t.cfg.table, err)
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
	// The schema kit's SQL is used when its functions and indexes are there.
	kit, st := &Schema{cfg: t.cfg, n: t.n}, newSchemaState(schema)
	if err := kit.readKit(ctx, t.db, &st); err != nil {
		return nil, err
	}
	return buildStatements(t.n, idType, kit.ready(st), schema), nil
}

// forget drops the statements s, so that the next call reads the catalog
// again: the schema kit's functions have gone.
func (t *table) forget(s *statements) {
	t.stmts.CompareAndSwap(s, nil)
}
