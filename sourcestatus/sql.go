package sourcestatus

import "strings"

// statements are the SQL texts, with every parameter cast from text so that
// they work under every pgx QueryExecMode, the simple protocol included.
type statements struct {
	update, updateIgnoreStale, init, get, failures, summary string
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
