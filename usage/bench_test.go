package usage_test

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/enrichmeter/enrichmeter/internal/testsupport"
	"github.com/enrichmeter/enrichmeter/usage"
)

// The benchmarks put Track beside its baselines in one run:
//
//	go test ./usage -run '^$' -bench . -benchmem -count 10 | benchstat -col /impl -
//
// Floor is a bare atomic add, Prometheus a CounterVec increment by label,
// TrackWithMetrics a Track on a tracker with WithMeterProvider (an
// OpenTelemetry SDK provider), Meter a Track through a Meter bound to the
// provider, GuardAllow a budget
// check that allows, and PerCallPipeline the TypeScript app's approach: one
// awaited INCR+EXPIRE pipeline per call.
func BenchmarkCount(b *testing.B) {
	ctx := context.Background()
	b.Run("impl=Floor", func(b *testing.B) {
		var n atomic.Int64
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				n.Add(1)
			}
		})
	})
	b.Run("impl=Prometheus", func(b *testing.B) {
		c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "api_calls_total"}, []string{"provider"})
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				c.WithLabelValues("exa").Inc()
			}
		})
	})
	b.Run("impl=Track", func(b *testing.B) { benchmarkTrack(b, nil) })
	b.Run("impl=TrackWithMetrics", func(b *testing.B) {
		mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
		benchmarkTrack(b, []usage.Option{usage.WithMeterProvider(mp)})
	})
	b.Run("impl=Meter", func(b *testing.B) {
		s := miniredis.RunT(b)
		rdb := redis.NewClient(&redis.Options{Addr: s.Addr()})
		defer rdb.Close()
		tr := usage.NewTracker(rdb)
		m := tr.Meter(usage.Exa)
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				m.Track()
			}
		})
		b.StopTimer()
		if err := tr.Close(ctx); err != nil {
			b.Fatal(err)
		}
		reportCommands(b, s, usage.Key(usage.Exa, time.Now()))
	})
	b.Run("impl=MeterFor", func(b *testing.B) {
		// A call for a subject: the counter and the subject's field, found
		// by name on each call.
		s := miniredis.RunT(b)
		rdb := redis.NewClient(&redis.Options{Addr: s.Addr()})
		defer rdb.Close()
		tr := usage.NewTracker(rdb)
		m := tr.Meter(usage.Exa)
		m.For("acme").Track() // the subject's first use
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				m.For("acme").Track()
			}
		})
		b.StopTimer()
		if err := tr.Close(ctx); err != nil {
			b.Fatal(err)
		}
	})
	b.Run("impl=GuardAllow", func(b *testing.B) {
		s := miniredis.RunT(b)
		rdb := redis.NewClient(&redis.Options{Addr: s.Addr()})
		defer rdb.Close()
		tr := usage.NewTracker(rdb)
		defer tr.Close(ctx)
		g, err := usage.NewGuard(tr, map[usage.Provider]usage.Quota{usage.Exa: {Limit: 1 << 40}})
		if err != nil {
			b.Fatal(err)
		}
		defer g.Close(ctx)
		tr.Track(usage.Exa)
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if g.Allow(usage.Exa) != nil {
					b.Fatal("refused")
				}
			}
		})
	})
	b.Run("impl=PerCallPipeline", func(b *testing.B) {
		s := miniredis.RunT(b)
		rdb := redis.NewClient(&redis.Options{Addr: s.Addr()})
		defer rdb.Close()
		b.ResetTimer()
		perCallPipeline(b, rdb, func() string { return usage.Key(usage.Exa, time.Now()) })
		b.StopTimer()
		reportCommands(b, s, usage.Key(usage.Exa, time.Now()))
	})
}

// BenchmarkPerCallPipelineRealRedis is the per-call baseline against a real
// Redis (ENRICHMETER_TEST_REDIS), where a round trip costs what it does in
// production on loopback.
func BenchmarkPerCallPipelineRealRedis(b *testing.B) {
	rdb := testsupport.Redis(b)
	prefix := testsupport.UniqueName("bench")
	testsupport.DeleteKeysAtCleanup(b, rdb, prefix)
	perCallPipeline(b, rdb, func() string { return prefix + ":exa:" + time.Now().UTC().Format("2006-01-02") })
}

// perCallPipeline counts each call as the TypeScript app does: one awaited
// INCR+EXPIRE pipeline, on the key of the call's day.
func perCallPipeline(b *testing.B, rdb redis.Cmdable, key func() string) {
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			k := key()
			_, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
				p.Incr(ctx, k)
				p.Expire(ctx, k, usage.DefaultTTL)
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
		}
	})
}

// reportCommands reports how many commands Redis served per counted call,
// after checking that every call was counted. (A run across midnight splits
// the count over two keys and fails the check; run it again.)
func reportCommands(b *testing.B, s *miniredis.Miniredis, key string) {
	b.Helper()
	got, err := s.Get(key)
	if err != nil || got != strconv.Itoa(b.N) {
		b.Fatalf("%s = %q, %v after %d calls", key, got, err, b.N)
	}
	b.ReportMetric(float64(s.CommandCount())/float64(b.N), "redis-cmds/op")
}

// benchmarkTrack measures Track on a tracker built with opts.
func benchmarkTrack(b *testing.B, opts []usage.Option) {
	s := miniredis.RunT(b)
	rdb := redis.NewClient(&redis.Options{Addr: s.Addr()})
	defer rdb.Close()
	tr := usage.NewTracker(rdb, opts...)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			tr.Track(usage.Exa)
		}
	})
	b.StopTimer()
	if err := tr.Close(context.Background()); err != nil {
		b.Fatal(err)
	}
	reportCommands(b, s, usage.Key(usage.Exa, time.Now()))
}
