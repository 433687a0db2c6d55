// Package sourcestatus records, for each prospect, each enrichment source's
// last outcome as {status, error?, at} in a PostgreSQL JSONB column, and reads
// it back. Updates merge inside PostgreSQL in one statement, so sources that
// finish at the same time never erase each other's entries, and entries that
// an older writer stored as bare strings ("complete") stay readable.
//
// Most users need two calls: [Updater.Update] when a source finishes, and
// [Reader.Failures] for the dashboard's error feed.
//
//	u, err := sourcestatus.NewUpdater(pool) // table prospects, column enrichment_source_status
//	err = u.Update(ctx, prospectID, "exa", sourcestatus.Payload{Status: sourcestatus.Failed, Error: "HTTP 429"})
//
// The JSON matches the TypeScript app byte for byte:
// {"status":"failed","error":"HTTP 429","at":"2026-11-26T03:15:03.123Z"}.
package sourcestatus
