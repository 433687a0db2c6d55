// Command dashboard serves the health dashboard's data as JSON, shaped for its
// cards, and one small HTML page that draws each provider's daily calls as
// inline SVG bars:
//
//	GET /api/quota?days=7                         API Quota Burn: daily counts and burn per provider
//	GET /api/errors?since=2026-11-26T00:00:00Z&limit=50   Error Feed: failed sources, newest first
//	GET /                                         the page
//
//	go run ./examples/dashboard [-addr 127.0.0.1:8080] [-redis host:port] [-postgres URL]
//
// Without -redis it serves an in-process miniredis filled with a sample
// week, so the page has something to draw.
package main

import (
	"context"
	"errors"
	"flag"
	"log"
	"math/rand/v2"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/enrichmeter/enrichmeter/examples/internal/enrich"
	"github.com/enrichmeter/enrichmeter/sourcestatus"
	"github.com/enrichmeter/enrichmeter/usage"
)

// quotas are sample allowances; a real service reads its plans.
var quotas = map[usage.Provider]usage.Quota{
	usage.Apollo:     {Limit: 10_000, Period: usage.PerMonth, AnchorDay: 1},
	usage.ContactOut: {Limit: 2_000, Period: usage.PerMonth, AnchorDay: 15},
	usage.Exa:        {Limit: 1_000, Period: usage.PerDay},
	usage.Claude:     {Limit: 50_000, Period: usage.PerMonth, AnchorDay: 1},
}

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "listen address")
	redisAddr := flag.String("redis", os.Getenv("REDIS_ADDR"), "Redis address; empty serves a sample week from an in-process miniredis")
	postgresURL := flag.String("postgres", os.Getenv("DATABASE_URL"), "PostgreSQL URL for the error feed; empty turns it off")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	if *redisAddr == "" {
		mr, err := miniredis.Run()
		if err != nil {
			log.Fatal(err)
		}
		defer mr.Close()
		seedSampleWeek(mr, time.Now())
		*redisAddr = mr.Addr()
	}
	rdb := redis.NewClient(&redis.Options{Addr: *redisAddr})
	defer rdb.Close()
	s := &server{usage: usage.NewReader(rdb), quotas: quotas, now: time.Now}
	if *postgresURL != "" {
		pool, err := pgxpool.New(ctx, *postgresURL)
		if err != nil {
			log.Fatal(err)
		}
		defer pool.Close()
		if s.statuses, err = sourcestatus.NewReader(pool); err != nil {
			log.Fatal(err)
		}
	}

	srv := &http.Server{Addr: *addr, Handler: s.routes(), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	log.Printf("dashboard on http://%s", *addr)
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
}

// seedSampleWeek writes two weeks of made-up counts, as trackers would have.
func seedSampleWeek(mr *miniredis.Miniredis, now time.Time) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, p := range enrich.Providers {
		for d := range 14 {
			_ = mr.Set(usage.Key(p, now.AddDate(0, 0, -d)), strconv.Itoa(50+rng.IntN(250)))
		}
	}
}
