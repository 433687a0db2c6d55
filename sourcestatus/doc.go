// Package sourcestatus records, for each prospect, each enrichment source's
// last outcome as {status, error?, at} in a PostgreSQL JSONB column, and reads
// it back for the dashboard. Updates merge inside PostgreSQL in one
// statement, so sources that finish at the same time never erase each
// other's entries, and entries that an older writer stored as bare strings
// ("complete") stay readable.
//
// Most users need [Updater.Update] with [FromHTTP], when a source's call
// returns, and [Reader.Failures] for the dashboard's error feed:
//
//	u, err := sourcestatus.NewUpdater(pool) // table prospects, column enrichment_source_status
//	resp, err := client.Do(req)
//	err = u.Update(ctx, prospectID, "exa", sourcestatus.FromHTTP(resp, err))
//
// # The JSON
//
// An entry is {"status":"failed","error":"HTTP 429","at":"2026-11-26T03:15:03.123Z"},
// as the TypeScript app writes it. [Payload.MarshalJSON] writes the app's
// bytes exactly (JSON.stringify's escaping, toISOString's time); PostgreSQL's
// jsonb then stores the value, not the bytes, so the column matches the app's
// by value. Reading uses [encoding/json] and keeps going past a malformed
// entry: [Reader.Get] returns the others with a [*MalformedError].
//
// # Prospect ids
//
// The id column may be of any type whose values can be written as text. An
// id matches the row whose id equals it as a value of that type, never one it
// would become if cut to the column's length or rounded to its scale; an id
// that matches no row, or is not valid input for the type, is [ErrNotFound].
//
// # Large tables
//
// Without help, the error feed and the pipeline summary read every row of
// the table, which takes seconds at a million prospects. [Schema] is the kit
// that makes their cost follow the window read, not the table: two SQL
// functions of the column and two B-tree indexes on them, as SQL text for a
// migration tool ([Schema.SQL]) or applied safely on a live table
// ([Schema.Apply]), and [Schema.Check] for start-up:
//
//	kit, err := sourcestatus.NewSchema()
//	err = kit.Apply(ctx, pool) // CREATE INDEX CONCURRENTLY: writers go on
//	r, err := sourcestatus.NewReader(pool) // reads through the indexes
//
// # Nothing secret is stored
//
// An error message reaches the column only through Update, which removes the
// user info, query and fragment of every URL in it, redacts the values of
// credential headers (Authorization, Proxy-Authorization, X-Api-Key,
// Api-Key, X-Auth-Token, Cookie) and parameters (api_key=, access_token=,
// password=...) and Bearer or Basic tokens, and cuts it to
// [WithMaxErrorLen]. Those patterns are a net, not a parser of every format;
// FromHTTP, which knows where an HTTP call keeps its secrets, describes a
// failed call as "HTTP 429" or by its error without them, and is the one to
// use.
package sourcestatus
