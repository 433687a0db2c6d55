package sourcestatus

import "context"

// ReadsThroughKit reports whether r's reads use the schema kit's indexes,
// reading the catalog first if r has not yet.
func ReadsThroughKit(ctx context.Context, r *Reader) (bool, error) {
	st, err := r.t.statements(ctx)
	if err != nil {
		return false, err
	}
	return st.kit, nil
}

// Explain returns PostgreSQL's plan, as run, of r's Failures, FailureGroups
// or Summary ("failures", "failureGroups", "summary") with the given
// parameters.
func Explain(ctx context.Context, r *Reader, read string, args ...any) (string, error) {
	st, err := r.t.statements(ctx)
	if err != nil {
		return "", err
	}
	sql := map[string]string{"failures": st.failures, "failureGroups": st.failureGroups, "summary": st.summary}[read]
	rows, err := r.t.db.Query(ctx, `EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) `+sql, args...)
	if err != nil {
		return "", err
	}
	var plan, line string
	for rows.Next() {
		if err := rows.Scan(&line); err != nil {
			return "", err
		}
		plan += line + "\n"
	}
	return plan, rows.Err()
}

// SafeError is safeError, the message as Update stores it under the limit max.
var SafeError = safeError
