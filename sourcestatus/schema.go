package sourcestatus

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"strings"

	"github.com/jackc/pgx/v5"
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

// kitFunctions is the body of each function, by name. Both pick entries
// with strict jsonpath, so that an entry that is an array is not unwrapped
// into one (the readers' jsonb_each does not either), and compare times in
// code point order (COLLATE "C"), as the indexes and queries do. An entry's
// time is its "at" as text (->>), as the queries read it. The failed time of a row whose
// failures have no time (legacy "failed" strings) is "", which sorts after
// every time when newest first.
var kitFunctions = map[string]string{
	failedAtFunc: `DECLARE
  failed jsonb;
  newest text := '';
  at text;
BEGIN
  IF pg_catalog.jsonb_typeof(s) <> 'object' THEN
    RETURN NULL;
  END IF;
  failed := pg_catalog.jsonb_path_query_array(s, 'strict $.* ? (@ == "failed" || @.type() == "object" && @.status == "failed")');
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
  times jsonb;
  newest text;
BEGIN
  IF pg_catalog.jsonb_typeof(s) <> 'object' THEN
    RETURN NULL;
  END IF;
  times := pg_catalog.jsonb_path_query_array(s, 'strict $.* ? (@.type() == "object" && exists (@.at)).at');
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
// with a semicolon and separated by a blank line: CREATE TABLE IF NOT EXISTS, the two functions, the two
// indexes (CREATE INDEX CONCURRENTLY, which cannot run inside a transaction
// block: give each its own migration, or run them outside one) and ANALYZE,
// which gives the planner the indexes' statistics. Every statement may be run
// again. [Schema.Apply] runs the same statements, and also repairs an index
// that a failed concurrent build left invalid.
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
// other processes write: it creates the table if there is none, and adds the
// column if the table lacks it (the one step that takes a brief exclusive
// lock); creates the functions in the table's schema; builds each missing
// index with CREATE INDEX CONCURRENTLY, which lets writers go on (it waits
// for the transactions under way, then reads the table twice), after
// dropping one that an interrupted build left invalid; and analyzes the
// table. It does nothing that is already done, so it may run at every
// start-up, but on a large table the first run takes minutes: see the
// README's deployment notes. db must not be a transaction, and its role
// needs the rights to create functions in the table's schema and indexes on
// the table, which the table's owner has.
//
// A [Reader] made before Apply finished keeps the SQL it chose; make a new one
// to use the indexes.
func (s *Schema) Apply(ctx context.Context, db DB) error {
	if _, err := db.Exec(ctx, s.createTable()); err != nil {
		return dbErr(ctx, "create table "+s.cfg.table, err)
	}
	st, err := s.inspect(ctx, db)
	if err != nil {
		return err
	}
	if !st.hasColumn {
		add := `ALTER TABLE ` + s.n.table + ` ADD COLUMN IF NOT EXISTS ` + s.n.column + ` jsonb`
		if _, err := db.Exec(ctx, add); err != nil {
			return dbErr(ctx, "add column "+s.cfg.column, err)
		}
	}
	for _, fn := range []string{failedAtFunc, newestAtFunc} {
		if !st.functions[fn] {
			if _, err := db.Exec(ctx, createFunction(st.schema, fn)); err != nil {
				return dbErr(ctx, "create function "+fn, err)
			}
		}
	}
	for _, ix := range s.indexes(st.schema) {
		switch st.indexes[ix.name] {
		case indexValid:
			continue
		case indexInvalid, indexWrong:
			drop := `DROP INDEX CONCURRENTLY IF EXISTS ` + qualified(st.schema, ix.name)
			if _, err := db.Exec(ctx, drop); err != nil {
				return dbErr(ctx, "drop index "+ix.name, err)
			}
		}
		if _, err := db.Exec(ctx, s.createIndex(st.schema, ix)); err != nil {
			return dbErr(ctx, "create index "+ix.name, err)
		}
	}
	if _, err := db.Exec(ctx, `ANALYZE `+s.n.table); err != nil {
		return dbErr(ctx, "analyze "+s.cfg.table, err)
	}
	return nil
}

// A SchemaError says what [Schema.Check] found missing or wrong, one line
// each, e.g. `index prospects_enrichment_source_status_failed_at is invalid
// (an interrupted CREATE INDEX CONCURRENTLY): run Schema.Apply`.
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
// or wrong, or an error of the database.
func (s *Schema) Check(ctx context.Context, db DB) error {
	st, err := s.inspect(ctx, db)
	if err != nil {
		return err
	}
	var problems []string
	if !st.hasTable {
		problems = append(problems, "no such table: run Schema.Apply")
		return &SchemaError{Table: s.cfg.table, Problems: problems}
	}
	if !st.hasID {
		problems = append(problems, "no column "+s.cfg.idColumn)
	}
	switch {
	case !st.hasColumn:
		problems = append(problems, "no column "+s.cfg.column+": run Schema.Apply")
	case st.columnType != "jsonb":
		problems = append(problems, "column "+s.cfg.column+" is "+st.columnType+", not jsonb")
	}
	for _, fn := range []string{failedAtFunc, newestAtFunc} {
		if !st.functions[fn] {
			problems = append(problems, "no function "+st.schema+"."+fn+": run Schema.Apply")
		}
	}
	for _, ix := range s.indexes(st.schema) {
		switch st.indexes[ix.name] {
		case indexMissing:
			problems = append(problems, "no index "+ix.name+": run Schema.Apply")
		case indexInvalid:
			problems = append(problems, "index "+ix.name+" is invalid (an interrupted CREATE INDEX CONCURRENTLY): run Schema.Apply")
		case indexWrong:
			problems = append(problems, "index "+ix.name+" is not on "+ix.fn+"("+s.cfg.column+"): run Schema.Apply")
		}
	}
	if len(problems) > 0 {
		return &SchemaError{Table: s.cfg.table, Problems: problems}
	}
	return nil
}

// indexState is what the catalog says of one of the kit's indexes.
type indexState int

const (
	indexMissing indexState = iota
	indexValid
	indexInvalid // a CREATE INDEX CONCURRENTLY that did not finish
	indexWrong   // the kit's name on an index of something else
)

// schemaState is what the catalog says of the kit's table.
type schemaState struct {
	hasTable, hasID, hasColumn bool
	schema                     string // the table's schema
	columnType                 string
	functions                  map[string]bool
	indexes                    map[string]indexState
}

// inspect reads the catalog for the table, its columns, the kit's functions
// in its schema and the kit's indexes on it.
func (s *Schema) inspect(ctx context.Context, db DB) (schemaState, error) {
	st := schemaState{functions: map[string]bool{}, indexes: map[string]indexState{}}
	err := db.QueryRow(ctx, `SELECT n.nspname::text,
  EXISTS (SELECT FROM pg_attribute WHERE attrelid = c.oid AND attname = $2::text AND attnum > 0 AND NOT attisdropped),
  COALESCE((SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = c.oid AND attname = $3::text AND attnum > 0 AND NOT attisdropped), '')
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = to_regclass($1::text)`, s.n.table, s.cfg.idColumn, s.cfg.column).Scan(&st.schema, &st.hasID, &st.columnType)
	if errors.Is(err, pgx.ErrNoRows) {
		st.schema = s.tableSchema()
		return st, nil
	}
	if err != nil {
		return st, dbErr(ctx, "read the catalog for "+s.cfg.table, err)
	}
	st.hasTable, st.hasColumn = true, st.columnType != ""
	// Each kit index by name, and whether it is valid and built on its
	// function and the column (pg_depend records both).
	rows, err := db.Query(ctx, `WITH ns AS (SELECT oid FROM pg_namespace WHERE nspname = $2::text)
SELECT p.proname::text, i.relname IS NOT NULL, COALESCE(x.indisvalid AND x.indisready, false),
  COALESCE(EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = i.oid AND d.refclassid = 'pg_proc'::regclass AND d.refobjid = p.oid)
    AND EXISTS (SELECT FROM pg_depend d JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
      WHERE d.classid = 'pg_class'::regclass AND d.objid = i.oid AND d.refobjid = x.indrelid AND a.attname = $3::text), false)
FROM unnest($4::text[], $5::text[]) WITH ORDINALITY AS k(fn, ix, n)
LEFT JOIN pg_proc p ON p.proname = k.fn AND p.pronamespace = (SELECT oid FROM ns) AND p.pronargs = 1 AND p.proargtypes[0] = 'jsonb'::regtype
LEFT JOIN pg_class i ON i.relname = k.ix AND i.relnamespace = (SELECT oid FROM ns)
LEFT JOIN pg_index x ON x.indexrelid = i.oid AND x.indrelid = to_regclass($1::text)
ORDER BY k.n`,
		s.n.table, st.schema, s.cfg.column,
		[]string{failedAtFunc, newestAtFunc}, s.indexNames())
	if err != nil {
		return st, dbErr(ctx, "read the indexes of "+s.cfg.table, err)
	}
	var (
		fn                 *string
		exists, valid, dep bool
		i                  int
	)
	names := s.indexNames()
	_, err = pgx.ForEachRow(rows, []any{&fn, &exists, &valid, &dep}, func() error {
		if fn != nil {
			st.functions[*fn] = true
		}
		switch {
		case !exists:
		case !dep:
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
		return st, dbErr(ctx, "read the indexes of "+s.cfg.table, err)
	}
	return st, nil
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
