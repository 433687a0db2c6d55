package usage_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"golang.org/x/time/rate"

	"github.com/enrichmeter/enrichmeter/internal/testsupport"
	"github.com/enrichmeter/enrichmeter/usage"
)

// BenchmarkAllow puts a Limiter's Allow, with a lease in hand, beside
// golang.org/x/time/rate's Allow (one process, no Redis) and
// go-redis/redis_rate's (GCRA in Lua, a round trip a call), all at a
// million calls a second, so that the decision is measured, not the wait:
//
//	go test ./usage -run '^$' -bench Allow -benchmem -count 10 | benchstat -col /impl -
//
// RedisRate runs on a real Redis when ENRICHMETER_TEST_REDIS is set, and
// on miniredis, in the same process, otherwise.
func BenchmarkAllow(b *testing.B) {
	limit := usage.Limit{Rate: 1e6, Burst: 1000}
	b.Run("impl=Limiter", func(b *testing.B) {
		s := miniredis.RunT(b)
		rdb := redis.NewClient(&redis.Options{Addr: s.Addr()})
		defer rdb.Close()
		tr := usage.NewTracker(rdb)
		defer tr.Close(context.Background())
		l, err := usage.NewLimiter(tr, map[usage.Provider]usage.Limit{usage.EDGAR: limit})
		if err != nil {
			b.Fatal(err)
		}
		defer l.Close(context.Background())
		if err := l.Wait(context.Background(), usage.EDGAR); err != nil { // the first lease
			b.Fatal(err)
		}
		b.ReportAllocs()
		b.ResetTimer()
		for b.Loop() {
			l.Allow(usage.EDGAR)
		}
	})
	b.Run("impl=RateLimiter", func(b *testing.B) {
		l := rate.NewLimiter(rate.Limit(limit.Rate), limit.Burst)
		b.ReportAllocs()
		for b.Loop() {
			l.Allow()
		}
	})
	b.Run("impl=RedisRate", func(b *testing.B) {
		var rdb redis.UniversalClient
		if addr := os.Getenv(testsupport.EnvRedis); addr != "" {
			rdb = testsupport.Redis(b)
		} else {
			s := miniredis.RunT(b)
			rdb = redis.NewClient(&redis.Options{Addr: s.Addr()})
		}
		key := testsupport.UniqueName("rr")
		testsupport.DeleteKeysAtCleanup(b, rdb, key)
		l := redis_rate.NewLimiter(rdb)
		ctx := context.Background()
		b.ReportAllocs()
		for b.Loop() {
			if _, err := l.Allow(ctx, key, redis_rate.Limit{Rate: int(limit.Rate), Burst: limit.Burst, Period: time.Second}); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkFleet runs a fleet of 8 processes' limiters sharing one
// provider's rate, each calling Wait as fast as it may, until they have
// made b.N calls between them, and reports how many calls one Redis command
// paced (a lease is one script call; redis_rate's is one a call) and how
// long the slowest 1 % of calls waited. span is WithLeaseSpan. At 10 calls
// a second an op takes 100 ms, so give it the calls to make:
//
//	go test ./usage -run '^$' -bench 'Fleet/rate=10$/' -benchtime 600x     # a minute each
//	go test ./usage -run '^$' -bench 'Fleet/rate=1000$/' -benchtime 60000x
//
// It runs on a real Redis when ENRICHMETER_TEST_REDIS is set.
func BenchmarkFleet(b *testing.B) {
	for _, r := range []float64{10, 1000} {
		for _, span := range []time.Duration{250 * time.Millisecond, time.Second, 2 * time.Second} {
			b.Run(fmt.Sprintf("rate=%v/span=%v", r, span), func(b *testing.B) {
				benchmarkFleet(b, r, span)
			})
		}
	}
}

func benchmarkFleet(b *testing.B, r float64, span time.Duration) {
	var rdb redis.UniversalClient
	if os.Getenv(testsupport.EnvRedis) != "" {
		rdb = testsupport.Redis(b)
	} else {
		s := miniredis.RunT(b)
		rdb = redis.NewClient(&redis.Options{Addr: s.Addr()})
	}
	prefix := testsupport.UniqueName("fleet")
	testsupport.DeleteKeysAtCleanup(b, rdb, prefix)
	limits := map[usage.Provider]usage.Limit{usage.EDGAR: {Rate: r, Burst: 1}}
	var readers []*sdkmetric.ManualReader
	var limiters []*usage.Limiter
	for range 8 {
		reader := sdkmetric.NewManualReader()
		tr := usage.NewTracker(rdb, usage.WithPrefix(prefix), usage.WithMeterProvider(sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))))
		l, err := usage.NewLimiter(tr, limits, usage.WithLeaseSpan(span))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() {
			_ = l.Close(context.Background())
			_ = tr.Close(context.Background())
		})
		readers, limiters = append(readers, reader), append(limiters, l)
	}
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	var made atomic.Int64
	var mu sync.Mutex
	var waits []time.Duration
	var wg sync.WaitGroup
	b.ResetTimer()
	for _, l := range limiters {
		wg.Go(func() {
			for {
				start := time.Now()
				if l.Wait(ctx, usage.EDGAR) != nil {
					return // the fleet made its b.N calls
				}
				waited := time.Since(start)
				mu.Lock()
				waits = append(waits, waited)
				mu.Unlock()
				if made.Add(1) == int64(b.N) {
					stop()
				}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	var leases int64
	for _, reader := range readers {
		c := testsupport.Collect(b, reader)
		leases += c.Int64(b, "enrichmeter.limiter.leases", "{lease}", "enrichmeter.lease.source", "redis", "enrichmeter.provider", "edgar")
	}
	slices.Sort(waits)
	b.ReportMetric(float64(b.N)/float64(max(leases, 1)), "calls/redis-cmd")
	b.ReportMetric(waits[len(waits)*99/100].Seconds(), "p99-wait-s")
}
