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
// An error message reaches the column only through Update, which passes it
// through a net and cuts it to [WithMaxErrorLen]. The net removes the user
// info, query and fragment of every URL; redacts the value of every field,
// header or parameter named for a credential (apiKey, api_key, x-api-key,
// token, access_token, client_secret, password, Authorization, Cookie...)
// in JSON, escaped JSON, Node's inspect output, Go's %v, header dumps and
// key=value text, and the word after Bearer, Basic or token; and redacts
// keys wherever they appear: of a known prefix (Anthropic and OpenAI sk-,
// GitHub, Slack, Stripe, Google, AWS access key ids), JWTs, and words that
// look random (20 characters or more mixing upper case, lower case and
// digits, or 32 or more mixing letters and digits, such as hex keys). It
// keeps hosts, paths, status codes, UUIDs (prospect ids) and request ids
// ("req_..."). A message cut to the limit keeps no piece of a secret the
// limit falls in.
//
// A net is not a parser: a secret that looks like a word, a short random
// string, or a key shaped like a UUID with no credential's name before it
// passes, and some harmless ids (trace ids, organization ids) are redacted.
// FromHTTP, which knows where an HTTP call keeps its secrets, describes a
// failed call as "HTTP 429" or by its error without them, and is the one to
// use.
package sourcestatus
