// Package enrichmeter is the root of a module that captures what a platform
// health dashboard needs from an enrichment pipeline that calls paid APIs
// (Apollo, ContactOut, Exa, SEC EDGAR, Claude). It holds no code; the work is
// done by three packages:
//
//   - [github.com/enrichmeter/enrichmeter/usage] counts each provider's
//     successful calls (and Claude's tokens, by model and by subject) per
//     UTC day in Redis, without ever slowing down or failing the call it
//     counts; reads the counts back as daily series, quota burn and spend;
//     guards quotas, with alerts that fire once across a fleet; and paces a
//     fleet's calls to a provider's rate, with a 429 pausing every process.
//   - [github.com/enrichmeter/enrichmeter/sourcestatus] records each
//     prospect's per-source outcome as {status, error?, at} in a PostgreSQL
//     JSONB column, merged atomically, and reads it back, legacy rows
//     included, for the error feed and the pipeline card.
//   - [github.com/enrichmeter/enrichmeter/providers] wraps any HTTP client so
//     that its successful calls are counted by a usage tracker, and can read
//     Claude's tokens and models, count calls for a subject, refuse calls
//     over a quota, wait for the fleet's pace and keep what a provider says
//     of its own quota.
//
// The keys match an existing TypeScript service byte for byte and the JSON
// matches it by value, so both can write and read the same Redis and the
// same table. Each package can report OpenTelemetry metrics through the
// metric API alone.
//
// A service typically builds one tracker at start-up and closes it at
// shutdown, with a deadline made then:
//
//	tracker := usage.NewTracker(rdb) // rdb: *redis.Client or *redis.ClusterClient
//	defer func() {
//		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
//		defer cancel()
//		_ = tracker.Close(ctx) // delivers what is pending; Stats().Pending says what was not
//	}()
//	exa := providers.WrapClient(http.DefaultClient, tracker, usage.Exa)
//	// every 2xx response exa receives is counted in api_usage:exa:{UTC day}
package enrichmeter
