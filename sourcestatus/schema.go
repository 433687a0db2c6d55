package sourcestatus

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// The schema kit's functions give, for a column, the newest time of a failed
// entry and the newest time of any entry, so that B-tree indexes on them find
// the rows a dashboard read needs without reading the others.
//
// They are versioned: an index depends on its function's meaning, so a
// function whose meaning changes gets a new name and new indexes, never a
// new body under the old name. They are PL/pgSQL, which PostgreSQL does not
// inline, so that the planner weighs their cost (about 5 µs a row) and reads
// a window through the index rather than calling them on every row.
const (
	failedAtFunc = "enrichmeter_failed_at_v1"
	newestAtFunc = "enrichmeter_newest_at_v1"
)

// kitFunctionNames are the kit's functions, in the order of its indexes.
var kitFunctionNames = []string{failedAtFunc, newestAtFunc}

// kitFunctions is the body of each function, by name. Both pick entries
// with strict jsonpath, so that an entry that is an array is not unwrapped
// into one (the readers' jsonb_each does not either), and silent, so that a
// column that is not an object has no entries. They compare times in code
// point order (COLLATE "C"), as the indexes and queries do; an entry's time
// is its "at" as text (->>), as the queries read it. The failed time of a
// row whose failures have no time (legacy "failed" strings) is "", which
// sorts after every time when newest first.
var kitFunctions = map[string]string{
	failedAtFunc: `DECLARE
  failed jsonb := pg_catalog.jsonb_path_query_array(s, 'strict $.* ? (@ == "failed" || @.type() == "object" && @.status == "failed")', '{}', true);
  newest text := '';
  at text;
BEGIN
  IF pg_catalog.jsonb_array_length(failed) = 0 THEN
    RETURN NULL;
  END IF;
  FOR i IN 0 .. pg_catalog.jsonb_array_length(failed) - 1 LOOP
    at := failed -> i ->> 'at';
    IF at COLLATE "C" > newest THEN
      newest := at;
    END IF;
  END LOOP;
  RETURN newest;
END`,
	newestAtFunc: `DECLARE
  times jsonb := pg_catalog.jsonb_path_query_array(s, 'strict $.* ? (@.type() == "object" && exists (@.at)).at', '{}', true);
  newest text;
BEGIN
  FOR i IN 0 .. pg_catalog.jsonb_array_length(times) - 1 LOOP
    IF newest IS NULL OR (times ->> i) COLLATE "C" > newest THEN
      newest := times ->> i;
    END IF;
  END LOOP;
  RETURN newest;
END`,
}

// A Schema is the DDL that makes a status table fast to read at any size:
// the table itself when there is none, two SQL functions of the column, and
// two B-tree indexes on them, one for [Reader.Failures] and one for
// [Reader.Summary]. The indexes are on expressions of the column, so they
// see every writer's rows, the TypeScript app's included.
//
// With them, the error feed reads as many rows as it returns, and a summary
// since a time reads the rows written since then, whatever the table's size;
// without them, both read every row (see the README's deployment notes for
// figures). A [Reader] finds out which indexes exist on its first read and
// picks its SQL; the results are the same either way.
//
// What the indexes cost writers: an update of the column can no longer be a
// HOT update (one that writes no index entry), so each one also writes the
// primary key's entry and the newest-time index's entry, and the failed-time
// index's entry when the row holds a failure.
type Schema struct {
	cfg config
	n   names
}

// NewSchema returns the schema kit for the table, column and id column the
// options name (as for [NewUpdater]); other options are ignored. It does no
// I/O.
func NewSchema(opts ...Option) (*Schema, error) {
	cfg, n, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	return &Schema{cfg: cfg, n: n}, nil
}

// kitIndex is one of the kit's indexes.
type kitIndex struct {
	name, fn string
	columns  string // what follows the index name and table in CREATE INDEX
}

// tableSchema returns the schema named in WithTable, or "".
func (s *Schema) tableSchema() string {
	schema, _, ok := strings.Cut(s.cfg.table, ".")
	if !ok {
		return ""
	}
	return schema
}

// tableName returns the table's name without its schema.
func (s *Schema) tableName() string {
	return s.cfg.table[strings.LastIndexByte(s.cfg.table, '.')+1:]
}

// qualified returns name in schema, quoted; schema "" leaves it unqualified.
func qualified(schema, name string) string {
	if schema == "" {
		return pgx.Identifier{name}.Sanitize()
	}
	return pgx.Identifier{schema, name}.Sanitize()
}

// indexes returns the kit's indexes, their functions in schema.
func (s *Schema) indexes(schema string) []kitIndex {
	call := func(fn string) string { return qualified(schema, fn) + "(" + s.n.column + `)` }
	failed, newest := call(failedAtFunc), call(newestAtFunc)
	return []kitIndex{
		{
			name: indexName(s.tableName(), s.cfg.column, "failed_at"),
			fn:   failedAtFunc,
			// The id orders failures of the same time, as Reader.Failures does.
			columns: `((` + failed + `) COLLATE "C" DESC, ` + s.n.idColumn + `) WHERE ` + failed + ` IS NOT NULL`,
		},
		{
			// Not partial: the planner estimates a window's rows from the
			// statistics of an index expression only when the index is not
			// partial.
			name:    indexName(s.tableName(), s.cfg.column, "newest_at"),
			fn:      newestAtFunc,
			columns: `((` + newest + `) COLLATE "C")`,
		},
	}
}

// indexName is table_column_suffix, or, when that is longer than
// PostgreSQL's 63 bytes, a prefix of it and a hash of the whole, so that the
// name stays the same from run to run and differs between tables.
func indexName(table, column, suffix string) string {
	name := table + "_" + column + "_" + suffix
	if len(name) <= 63 {
		return name
	}
	h := fnv.New32a()
	h.Write([]byte(name))
	return fmt.Sprintf("%s_%08x", name[:63-9], h.Sum32())
}

// createTable returns the statement that creates the table when it does not
// exist, with the column NOT NULL DEFAULT '{}', as the TypeScript app's
// migrations do.
func (s *Schema) createTable() string {
	return `CREATE TABLE IF NOT EXISTS ` + s.n.table + ` (` + s.n.idColumn + ` text PRIMARY KEY, ` +
		s.n.column + ` jsonb NOT NULL DEFAULT '{}'::jsonb)`
}

// createFunction returns the statement that creates fn in schema.
func createFunction(schema, fn string) string {
	return `CREATE OR REPLACE FUNCTION ` + qualified(schema, fn) + `(s jsonb) RETURNS text
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $kit$
` + kitFunctions[fn] + `
$kit$`
}

// createIndex returns the statement that builds ix without blocking writers.
func (s *Schema) createIndex(schema string, ix kitIndex) string {
	return `CREATE INDEX CONCURRENTLY IF NOT EXISTS ` + pgx.Identifier{ix.name}.Sanitize() + ` ON ` + s.n.table + ` ` + ix.columns
}

// SQL returns the kit as SQL statements for a migration tool, each ending
// with a semicolon and separated by a blank line: CREATE TABLE IF NOT
// EXISTS, the two functions, the two indexes (CREATE INDEX CONCURRENTLY,
// which cannot run inside a transaction block: give each its own
// migration, or run them outside one) and ANALYZE, which gives the planner
// the indexes' statistics. Every statement may be run again. An unqualified
// table is created in, and found through, the search_path: CREATE TABLE IF
// NOT EXISTS looks only in its first schema, so name the schema
// ([WithTable]("app.prospects")) when the table lives further down the
// path. [Schema.Apply] does the same, and also adds a missing column and
// repairs an index that a failed concurrent build left invalid.
func (s *Schema) SQL() string {
	schema := s.tableSchema()
	stmts := []string{s.createTable(), createFunction(schema, failedAtFunc), createFunction(schema, newestAtFunc)}
	for _, ix := range s.indexes(schema) {
		stmts = append(stmts, s.createIndex(schema, ix))
	}
	stmts = append(stmts, `ANALYZE `+s.n.table)
	return strings.Join(stmts, ";\n\n") + ";\n"
}

// Apply makes the table ready to be read fast, safely on a live table that
// other processes write: it creates the table if there is none, adds the
// column if the table lacks it (NOT NULL DEFAULT '{}', which PostgreSQL 11+
// adds without rewriting the table); creates the functions in the table's
// schema; builds each missing index with CREATE INDEX CONCURRENTLY, which
// lets writers go on (it waits for the transactions under way, then reads
// the table twice), after dropping one that an interrupted build left
// invalid; and analyzes the table when it built an index. It does nothing
// that is already done: once the kit is in place it only reads the catalog,
// so it may run at every start-up, but on a large table the first run takes
// minutes: see the README's deployment notes.
//
// Processes that apply the kit to the same table at once take turns, however
// they name it (a session advisory lock on the table's resolved schema and
// name, tried without waiting inside the database, so that no index build
// waits for a process that waits for it). Apply runs on one connection: of
// the pool when db is a [*pgxpool.Pool]. db must not be a transaction. Its
// role needs the rights to create the table and functions in the schema and
// indexes on the table, which the table's owner has; a role without them
// can still [Schema.Check].
//
// An unqualified table name is found through the search_path, as
// PostgreSQL finds it; when the table does not exist yet, it is created in
// the first schema of the search_path.
//
// A table whose id or status column is missing or of another type gets a
// [*SchemaError] and is left as it is. A [Reader] made before Apply finished
// keeps the SQL it chose; make a new one to use the indexes.
func (s *Schema) Apply(ctx context.Context, db DB) error {
	if _, ok := db.(pgx.Tx); ok {
		return errors.New("sourcestatus: Apply cannot run in a transaction (CREATE INDEX CONCURRENTLY): pass the pool")
	}
	if pool, ok := db.(*pgxpool.Pool); ok {
		conn, err := pool.Acquire(ctx)
		if err != nil {
			return dbErr(ctx, "apply the schema kit", err)
		}
		defer conn.Release()
		db = conn
	}
	unlock, err := s.lock(ctx, db)
	if err != nil {
		return err
	}
	defer unlock()
	st, err := s.inspect(ctx, db)
	if err != nil {
		return err
	}
	if !st.hasTable {
		if _, err := db.Exec(ctx, s.createTable()); err != nil {
			return dbErr(ctx, "create table "+s.cfg.table, err)
		}
		if st, err = s.inspect(ctx, db); err != nil {
			return err
		}
	}
	if !st.hasColumn && st.tableProblem() == "" {
		add := `ALTER TABLE ` + s.n.table + ` ADD COLUMN IF NOT EXISTS ` + s.n.column + ` jsonb NOT NULL DEFAULT '{}'::jsonb`
		if _, err := db.Exec(ctx, add); err != nil {
			return dbErr(ctx, "add column "+s.cfg.column, err)
		}
		if st, err = s.inspect(ctx, db); err != nil {
			return err
		}
	}
	if problems := s.tableProblems(st); len(problems) > 0 {
		return &SchemaError{Table: s.cfg.table, Problems: problems}
	}
	for _, fn := range kitFunctionNames {
		if !st.functions[fn] {
			if _, err := db.Exec(ctx, createFunction(st.schema, fn)); err != nil {
				return dbErr(ctx, "create function "+fn, err)
			}
		}
	}
	built := false
	for _, ix := range s.indexes(st.schema) {
		switch st.indexes[ix.name] {
		case indexValid:
			continue
		case indexTaken:
			return &SchemaError{Table: s.cfg.table, Problems: []string{s.indexProblem(ix, indexTaken)}}
		case indexInvalid, indexWrong:
			drop := `DROP INDEX CONCURRENTLY IF EXISTS ` + qualified(st.schema, ix.name)
			if _, err := db.Exec(ctx, drop); err != nil {
				return dbErr(ctx, "drop index "+ix.name, err)
			}
		}
		if _, err := db.Exec(ctx, s.createIndex(st.schema, ix)); err != nil {
			return dbErr(ctx, "create index "+ix.name, err)
		}
		built = true
	}
	if built {
		if _, err := db.Exec(ctx, `ANALYZE `+s.n.table); err != nil {
			return dbErr(ctx, "analyze "+s.cfg.table, err)
		}
	}
	return nil
}

// lock takes the session advisory lock that makes Applies of the table take
// turns, trying every 100 ms until ctx ends, and returns its release. The
// lock is named after the table's schema as PostgreSQL resolves it (where
// the table is, or where it would be created), so every spelling of one
// table takes the same lock, and same-named tables in other schemas do not.
func (s *Schema) lock(ctx context.Context, db DB) (unlock func(), err error) {
	var key string
	err = db.QueryRow(ctx, `SELECT hashtextextended('enrichmeter schema kit ' || COALESCE(
  (SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = to_regclass($1::text)),
  NULLIF($2::text, ''), current_schema(), '') || '.' || $3::text || '.' || $4::text, 0)::text`,
		s.n.table, s.tableSchema(), s.tableName(), s.cfg.column).Scan(&key)
	if err != nil {
		return nil, dbErr(ctx, "lock the schema kit of "+s.cfg.table, err)
	}
	for {
		var got bool
		if err := db.QueryRow(ctx, `SELECT pg_try_advisory_lock($1::text::bigint)`, key).Scan(&got); err != nil {
			return nil, dbErr(ctx, "lock the schema kit of "+s.cfg.table, err)
		}
		if got {
			return func() {
				ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
				defer cancel()
				_, _ = db.Exec(ctx, `SELECT pg_advisory_unlock($1::text::bigint)`, key)
			}, nil
		}
		t := time.NewTimer(100 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
	}
}

// A SchemaError says what [Schema.Check] found missing or wrong, or what
// keeps [Schema.Apply] from applying the kit, one line each, e.g. `index
// prospects_enrichment_source_status_failed_at is invalid (a CREATE INDEX
// CONCURRENTLY that was interrupted or is still running): run Schema.Apply`.
type SchemaError struct {
	Table    string
	Problems []string
}

// Error lists the problems.
func (e *SchemaError) Error() string {
	return "sourcestatus: table " + e.Table + ": " + strings.Join(e.Problems, "; ")
}

// ErrSchema matches every [*SchemaError] with [errors.Is].
var ErrSchema = errors.New("sourcestatus: schema")

// Is reports whether target is [ErrSchema].
func (e *SchemaError) Is(target error) bool { return target == ErrSchema }

// Check verifies, at start-up, that the table exists with an id column and
// a jsonb status column, and that the kit's functions and indexes are in
// place and valid. It returns a [*SchemaError] that names each thing missing
// or wrong, or an error of the database. It only reads the catalog.
func (s *Schema) Check(ctx context.Context, db DB) error {
	st, err := s.inspect(ctx, db)
	if err != nil {
		return err
	}
	if !st.hasTable {
		return &SchemaError{Table: s.cfg.table, Problems: []string{"no such table: run Schema.Apply"}}
	}
	problems := s.tableProblems(st)
	if !st.hasColumn && st.tableProblem() == "" {
		problems = append(problems, "no column "+s.cfg.column+": run Schema.Apply")
	}
	for _, fn := range kitFunctionNames {
		if !st.functions[fn] {
			problems = append(problems, "no function "+st.schema+"."+fn+": run Schema.Apply")
		}
	}
	for _, ix := range s.indexes(st.schema) {
		if p := s.indexProblem(ix, st.indexes[ix.name]); p != "" {
			problems = append(problems, p)
		}
	}
	if len(problems) > 0 {
		return &SchemaError{Table: s.cfg.table, Problems: problems}
	}
	return nil
}

// tableProblems says what is wrong with the table that Apply cannot mend.
func (s *Schema) tableProblems(st schemaState) []string {
	if p := st.tableProblem(); p != "" {
		return []string{p}
	}
	var problems []string
	if !st.hasID {
		problems = append(problems, "no column "+s.cfg.idColumn)
	}
	if st.hasColumn && st.columnType != "jsonb" {
		problems = append(problems, "column "+s.cfg.column+" is "+st.columnType+", not jsonb")
	}
	return problems
}

// indexProblem says what is wrong with the kit's index ix in state state,
// or "".
func (s *Schema) indexProblem(ix kitIndex, state indexState) string {
	switch state {
	case indexMissing:
		return "no index " + ix.name + ": run Schema.Apply"
	case indexInvalid:
		return "index " + ix.name + " is invalid (a CREATE INDEX CONCURRENTLY that was interrupted or is still running): run Schema.Apply"
	case indexWrong:
		return "index " + ix.name + " is not on " + ix.fn + "(" + s.cfg.column + "): run Schema.Apply"
	case indexTaken:
		return "the name of index " + ix.name + " is taken by an index of another table: drop or rename that index"
	}
	return ""
}

// indexState is what the catalog says of one of the kit's indexes.
type indexState int

const (
	indexMissing indexState = iota
	indexValid
	indexInvalid // a CREATE INDEX CONCURRENTLY that did not finish, or has not yet
	indexWrong   // the kit's name on another index of the table
	indexTaken   // the kit's name on an index of another table
)

// schemaState is what the catalog says of the kit's table.
type schemaState struct {
	hasTable, hasID, hasColumn bool
	schema                     string // the table's schema
	kind                       string // pg_class.relkind
	columnType                 string
	functions                  map[string]bool
	indexes                    map[string]indexState
}

// tableProblem says why the relation cannot carry the kit, or "".
func (st schemaState) tableProblem() string {
	if st.hasTable && st.kind != "r" {
		return "not a plain table (relkind " + st.kind + "): the kit needs CREATE INDEX CONCURRENTLY on it"
	}
	return ""
}

// inspect reads the catalog for the table, its columns, the kit's functions
// in its schema and the kit's indexes on it.
func (s *Schema) inspect(ctx context.Context, db DB) (schemaState, error) {
	st := newSchemaState("")
	err := db.QueryRow(ctx, `SELECT n.nspname::text, c.relkind::text,
  EXISTS (SELECT FROM pg_attribute WHERE attrelid = c.oid AND attname = $2::text AND attnum > 0 AND NOT attisdropped),
  COALESCE((SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = c.oid AND attname = $3::text AND attnum > 0 AND NOT attisdropped), '')
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = to_regclass($1::text)`, s.n.table, s.cfg.idColumn, s.cfg.column).Scan(&st.schema, &st.kind, &st.hasID, &st.columnType)
	if errors.Is(err, pgx.ErrNoRows) {
		st.schema = s.tableSchema()
		return st, nil
	}
	if err != nil {
		return st, dbErr(ctx, "read the catalog for "+s.cfg.table, err)
	}
	st.hasTable, st.hasColumn = true, st.columnType != ""
	return st, s.readKit(ctx, db, &st)
}

// newSchemaState returns the state of a table in schema with none of the
// kit in place.
func newSchemaState(schema string) schemaState {
	return schemaState{schema: schema, functions: map[string]bool{}, indexes: map[string]indexState{}}
}

// readKit reads into st the kit's functions in st.schema and, by name, each
// of its indexes: whether it is on the table, valid, and built on its
// function and the column (pg_depend records both).
func (s *Schema) readKit(ctx context.Context, db DB, st *schemaState) error {
	names := s.indexNames()
	rows, err := db.Query(ctx, `WITH ns AS (SELECT oid FROM pg_namespace WHERE nspname = $2::text)
SELECT p.proname::text, i.relname IS NOT NULL, x.indexrelid IS NOT NULL, COALESCE(x.indisvalid AND x.indisready, false),
  COALESCE(EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = i.oid AND d.refclassid = 'pg_proc'::regclass AND d.refobjid = p.oid)
    AND EXISTS (SELECT FROM pg_depend d JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
      WHERE d.classid = 'pg_class'::regclass AND d.objid = i.oid AND d.refobjid = x.indrelid AND a.attname = $3::text), false)
FROM unnest($4::text[], $5::text[]) WITH ORDINALITY AS k(fn, ix, n)
LEFT JOIN pg_proc p ON p.proname = k.fn AND p.pronamespace = (SELECT oid FROM ns) AND p.pronargs = 1 AND p.proargtypes[0] = 'jsonb'::regtype
LEFT JOIN pg_class i ON i.relname = k.ix AND i.relnamespace = (SELECT oid FROM ns)
LEFT JOIN pg_index x ON x.indexrelid = i.oid AND x.indrelid = to_regclass($1::text)
ORDER BY k.n`,
		s.n.table, st.schema, s.cfg.column, kitFunctionNames, names)
	if err != nil {
		return dbErr(ctx, "read the indexes of "+s.cfg.table, err)
	}
	var (
		fn                           *string
		exists, ours, valid, builtOn bool
		i                            int
	)
	_, err = pgx.ForEachRow(rows, []any{&fn, &exists, &ours, &valid, &builtOn}, func() error {
		if fn != nil {
			st.functions[*fn] = true
		}
		switch {
		case !exists:
		case !ours:
			st.indexes[names[i]] = indexTaken
		case !builtOn:
			st.indexes[names[i]] = indexWrong
		case !valid:
			st.indexes[names[i]] = indexInvalid
		default:
			st.indexes[names[i]] = indexValid
		}
		i++
		return nil
	})
	if err != nil {
		return dbErr(ctx, "read the indexes of "+s.cfg.table, err)
	}
	return nil
}

// ready reports whether st shows the kit's functions and both its indexes
// valid, so that reads may go through them.
func (s *Schema) ready(st schemaState) bool {
	ok := st.functions[failedAtFunc] && st.functions[newestAtFunc]
	for _, name := range s.indexNames() {
		ok = ok && st.indexes[name] == indexValid
	}
	return ok
}

// indexNames returns the names of the kit's indexes, in the order of its
// functions.
func (s *Schema) indexNames() []string {
	var names []string
	for _, ix := range s.indexes("") {
		names = append(names, ix.name)
	}
	return names
}
