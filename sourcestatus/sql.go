package sourcestatus

import "strings"

// statements are the SQL texts, with every parameter cast from text so that
// they work under every pgx QueryExecMode, the simple protocol included.
//
// failures, failureGroups and summary read through the schema kit's indexes
// when kit is true; summaryAll counts every entry, which no index helps with.
type statements struct {
	update, updateIgnoreStale, init, get, failures, failureGroups, summary, summaryAll string
	kit                                                                                bool
}

// buildStatements returns the statements for the table, its id column of
// type idType, and the schema kit's functions in schema when kit is true.
func buildStatements(n names, idType string, kit bool, schema string) *statements {
	r := strings.NewReplacer("{table}", n.table, "{col}", n.column, "{id}", n.idColumn, "{idtype}", idType,
		"{failedAt}", qualified(schema, failedAtFunc), "{newestAt}", qualified(schema, newestAtFunc))
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
	// at is an entry's time, its "at" as text, compared in code point order,
	// as the kit's functions and indexes compare it.
	const at = `(e.value ->> 'at') COLLATE "C"`
	const each = ` LATERAL jsonb_each(CASE WHEN jsonb_typeof(p.{col}) = 'object' THEN p.{col} ELSE '{}'::jsonb END) e`
	const entries = ` CROSS JOIN` + each
	// The feed orders failures newest first, those without a time last, then
	// by prospect and source; the kit's failed-time index is in that order.
	const failedSince = status + ` = 'failed' AND ($1::text = '' OR ` + at + ` >= $1::text)`
	const failed = failedSince + ` ORDER BY NULLIF(` + at + `, '') DESC NULLS LAST, p.{id}, e.key LIMIT $2::text::bigint`
	const feed = `SELECT p.{id}::text, e.key, COALESCE(e.value ->> 'error', ''), e.value ->> 'at'`
	// groups groups the failures in rows, a subquery of the rows that may
	// hold one, by source and message: each group's count, newest time and
	// first failures in feed order (rn), groups in the feed's order of their
	// newest failures.
	groups := func(rows string) string {
		return r.Replace(`SELECT source, error, count(*), max(at),` +
			` array_agg(id ORDER BY rn) FILTER (WHERE rn <= $3::text::bigint), array_agg(at ORDER BY rn) FILTER (WHERE rn <= $3::text::bigint)` +
			` FROM (SELECT p.{id}::text AS id, e.key AS source, COALESCE(e.value ->> 'error', '') AS error, NULLIF(` + at + `, '') AS at,` +
			` row_number() OVER (PARTITION BY e.key, COALESCE(e.value ->> 'error', '') ORDER BY NULLIF(` + at + `, '') DESC NULLS LAST, p.{id}) AS rn` +
			` FROM (` + rows + `) p` + entries + ` WHERE ` + failedSince + `) f` +
			` GROUP BY source, error ORDER BY max(at COLLATE "C") DESC NULLS LAST, source, error LIMIT $2::text::bigint`)
	}
	// The @@ condition lets a GIN index on the column (jsonb_ops, the
	// default) find the rows that hold a failure.
	const holdsFailure = `{col} @@ '$.*.status == "failed" || $.* == "failed"'`
	const counts = `SELECT e.key, COALESCE(` + status + `, ''), count(*) FROM {table} p` + entries
	const window = `jsonb_typeof(e.value) IN ('object', 'string') AND ($1::text = '' OR ` + at + ` >= $1::text) GROUP BY 1, 2 ORDER BY 1, 2`
	s := &statements{
		update:            r.Replace(`UPDATE {table} SET {col} = ` + merged + where),
		updateIgnoreStale: r.Replace(`UPDATE {table} SET {col} = CASE WHEN ` + newer + ` THEN {col} ELSE ` + merged + ` END` + where),
		init:              r.Replace(`UPDATE {table} SET {col} = ` + obj + ` || $2::text::jsonb` + where),
		// One row per entry, each decoded on its own, so one that no
		// decoder can read (nested past encoding/json's depth) leaves the
		// others readable; a prospect without entries is one row of NULLs.
		get:           r.Replace(`SELECT e.key, e.value::text FROM {table} p LEFT JOIN` + each + ` ON true WHERE p.{id} = $1::text::{idtype}`),
		failures:      r.Replace(feed + ` FROM {table} p` + entries + ` WHERE p.` + holdsFailure + ` AND ` + failed),
		failureGroups: groups(`SELECT {id}, {col} FROM {table} WHERE ` + holdsFailure),
		summaryAll:    r.Replace(counts + ` WHERE ` + window),
		kit:           kit,
	}
	s.summary = s.summaryAll
	if kit {
		// The first rows by failed time hold the first failures in feed
		// order: a row's failed time is that of its newest failure.
		s.failures = r.Replace(feed + ` FROM (SELECT {id}, {col} FROM {table} WHERE {failedAt}({col}) COLLATE "C" >= $1::text` +
			` ORDER BY {failedAt}({col}) COLLATE "C" DESC, {id} LIMIT $2::text::bigint) p` + entries + ` WHERE ` + failed)
		// A row holds a failure since a time only if its newest failure is.
		s.failureGroups = groups(`SELECT {id}, {col} FROM {table} WHERE {failedAt}({col}) COLLATE "C" >= $1::text`)
		// A row holds an entry since a time only if its newest entry is.
		s.summary = r.Replace(counts + ` WHERE {newestAt}(p.{col}) COLLATE "C" >= $1::text AND ` + window)
	}
	return s
}
