package usage_test

import (
	"context"
	"maps"
	"testing"
	"time"

	"github.com/enrichmeter/enrichmeter/usage"
)

func TestReportedQuotaReachesTheReader(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		ctx := ctxTimeout(t, 10*time.Second)
		tr := usage.NewTracker(b.rdb, usage.WithPrefix(b.prefix), usage.WithFlushInterval(time.Hour))
		closeAtCleanup(t, tr)
		r := usage.NewReader(b.rdb, usage.WithPrefix(b.prefix))
		if got, err := r.Reported(ctx, usage.Apollo); err != nil || !got.At.IsZero() {
			t.Fatalf("Reported before any report = %+v, %v; want none", got, err)
		}

		at := time.Date(2026, 11, 26, 3, 15, 3, 123456789, time.UTC)
		first := usage.Reported{At: at, Status: 200, Values: map[string]string{
			"x-24-hour-requests-left": "412", "x-rate-limit-24-hour": "600", "x-minute-requests-left": "48",
		}}
		tr.SetReported(usage.Apollo, first)
		// Only the last report of a round is written.
		last := usage.Reported{At: at.Add(time.Second), Status: 429, Values: map[string]string{"retry-after": "30"}}
		tr.SetReported(usage.Apollo, first)
		tr.SetReported(usage.Apollo, last)
		tr.SetReported(usage.Exa, usage.Reported{Status: 402}) // no time: ignored
		if err := tr.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		got, err := r.Reported(ctx, usage.Apollo)
		if err != nil || !got.At.Equal(last.At) || got.Status != 429 || !maps.Equal(got.Values, last.Values) {
			t.Errorf("Reported = %+v, %v; want %+v", got, err, last)
		}
		if got, err := r.Reported(ctx, usage.Exa); err != nil || !got.At.IsZero() {
			t.Errorf("Reported(exa) = %+v, %v; want none", got, err)
		}
		key := "{" + b.prefix + "}:reported:apollo"
		if ttl := b.rdb.TTL(context.Background(), key).Val(); ttl < 6*24*time.Hour || ttl > 7*24*time.Hour {
			t.Errorf("TTL of %s = %v, want about 7 days", key, ttl)
		}
		// Nothing new: the next round writes nothing.
		tr.Track(usage.Apollo)
		if err := b.rdb.Del(ctx, key).Err(); err != nil {
			t.Fatal(err)
		}
		if err := tr.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		if n := b.rdb.Exists(ctx, key).Val(); n != 0 {
			t.Errorf("a round with no new report wrote %s", key)
		}
	})
}
