// Package usage counts each paid API provider's successful calls per UTC day
// in Redis, for the dashboard's API Quota Burn card, without ever slowing
// down or failing the call it counts. Most users need one call,
// [Tracker.Track], after each successful call, on a tracker built once with
// [NewTracker] and closed at shutdown with a deadline made then:
//
//	tracker := usage.NewTracker(rdb) // *redis.Client or *redis.ClusterClient
//	defer func() {
//		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
//		defer cancel()
//		if err := tracker.Close(ctx); err != nil {
//			log.Printf("usage: %v; %d calls not delivered", err, tracker.Stats().Pending)
//		}
//	}()
//
//	tracker.Track(usage.Exa)
//
// Counts live in keys "api_usage:{provider}:{YYYY-MM-DD}" (see [Key]) as
// plain integers with a 90-day TTL, the format the TypeScript app shares.
// Track only adds to an in-memory counter; a background flusher sends all
// pending counts in one pipelined round trip per second, idempotently, so
// counts survive Redis outages and lost replies without being counted
// twice, and a key Redis refuses holds back only its own counts.
// [Tracker.Add] counts amounts, such as Claude's tokens, the same way.
//
// A [Reader] reads the daily counts back and reports quota burn and, at
// [Prices], spend. Around the tracker: a [Meter] breaks counts down by model
// and by subject ([Meter.Model], [Meter.For]); a [Guard] refuses calls once
// the fleet has spent a quota; a [Limiter] paces the fleet's calls to a
// provider's rate ([DefaultLimits] holds SEC EDGAR's).
package usage
