// Package enrichmeter is the root of a module that captures what a platform
// health dashboard needs from an enrichment pipeline that calls paid APIs
// (Apollo, ContactOut, Exa, SEC EDGAR, Claude). It holds no code; the work is
// done by three packages:
//
//   - [github.com/enrichmeter/enrichmeter/usage] counts each provider's
//     successful calls per UTC day in Redis, without ever slowing down or
//     failing the call it counts, and reads the counts back as daily series
//     and quota burn.
//   - [github.com/enrichmeter/enrichmeter/sourcestatus] records each
//     prospect's per-source outcome as {status, error?, at} in a PostgreSQL
//     JSONB column, merged atomically, and reads it back, legacy rows included.
//   - [github.com/enrichmeter/enrichmeter/providers] wraps any HTTP client so
//     that its successful calls are counted by a usage tracker.
//
// The keys and JSON match an existing TypeScript service byte for byte, so
// both can write and read the same Redis and the same table.
//
// A service typically builds one tracker at start-up and closes it at
// shutdown:
//
//	tracker := usage.NewTracker(rdb) // rdb: *redis.Client or *redis.ClusterClient
//	defer tracker.Close(shutdownCtx)
//	exa := providers.WrapClient(http.DefaultClient, tracker, usage.Exa)
//	// every 2xx response exa receives is counted in api_usage:exa:{UTC day}
package enrichmeter
