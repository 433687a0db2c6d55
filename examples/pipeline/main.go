// Command pipeline is an enrichment worker as a service would run it, against
// PostgreSQL and Redis. It creates its prospects table if missing, and for
// each prospect marks the four sources pending (sourcestatus Init), runs them
// concurrently through clients wrapped with providers.WrapClient (against
// local stand-ins for the APIs), and records each outcome with Update: failed
// with its error, circuit_open after repeated failures, skipped when a source
// does not apply. SEC EDGAR's calls are paced by a usage.Limiter at the SEC's
// 10 a second, shared through Redis with every worker process that runs
// beside it. On SIGINT it stops taking prospects, finishes those in flight,
// and closes the usage tracker so that no count is lost.
//
//	go run ./examples/pipeline -postgres postgres://postgres@127.0.0.1:5432/test [-redis redis://host:6379/0]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/enrichmeter/enrichmeter/examples/internal/enrich"
	"github.com/enrichmeter/enrichmeter/examples/internal/fakeapi"
	"github.com/enrichmeter/enrichmeter/examples/internal/localredis"
	"github.com/enrichmeter/enrichmeter/providers"
	"github.com/enrichmeter/enrichmeter/sourcestatus"
	"github.com/enrichmeter/enrichmeter/usage"
)

type config struct {
	postgresURL string
	redisURL    string
	table       string
	prospects   int
	workers     int
	pace        time.Duration // pause between prospects of one worker
	// enriched, when set, is called with the number of prospects enriched so
	// far each time one is done.
	enriched func(done int)
}

func main() {
	var c config
	flag.StringVar(&c.postgresURL, "postgres", os.Getenv("DATABASE_URL"), "PostgreSQL URL (required)")
	flag.StringVar(&c.redisURL, "redis", os.Getenv("REDIS_URL"), "Redis URL (redis://host:6379/0); empty runs an in-process miniredis")
	flag.StringVar(&c.table, "table", sourcestatus.DefaultTable, "prospects table, created if missing")
	flag.IntVar(&c.prospects, "prospects", 50, "prospects to enrich")
	flag.IntVar(&c.workers, "workers", 4, "prospects enriched at once")
	flag.DurationVar(&c.pace, "pace", 20*time.Millisecond, "pause between prospects, to watch it work")
	flag.Parse()
	if c.postgresURL == "" {
		log.Fatal("pipeline needs PostgreSQL: pass -postgres URL or set DATABASE_URL")
	}
	stop, cancel := signal.NotifyContext(context.Background(), os.Interrupt)
	defer cancel()
	if err := run(stop, os.Stdout, c); err != nil {
		log.Fatal(err)
	}
}

// run enriches c.prospects prospects, stopping early (after finishing those
// in flight) when stop is done.
func run(stop context.Context, out io.Writer, c config) error {
	ctx := context.Background() // work in flight finishes even after stop

	rdb, _, closeRedis, err := localredis.Open(c.redisURL)
	if err != nil {
		return err
	}
	defer closeRedis()
	tracker := usage.NewTracker(rdb)
	limiter, err := usage.NewLimiter(tracker, usage.DefaultLimits()) // SEC EDGAR: 10 a second across the fleet
	if err != nil {
		return err
	}

	pool, err := pgxpool.New(ctx, c.postgresURL)
	if err != nil {
		return err
	}
	defer pool.Close()
	prospects := enrich.Prospects(c.prospects)
	if err := enrich.CreateTable(ctx, pool, c.table, prospects...); err != nil {
		return err
	}
	updater, err := sourcestatus.NewUpdater(pool, sourcestatus.WithTable(c.table))
	if err != nil {
		return err
	}

	fakes, err := fakeapi.Start()
	if err != nil {
		return err
	}
	defer fakes.Close()
	// One client per provider, each counting its own successful calls.
	clients := map[string]*http.Client{}
	for _, p := range enrich.Providers {
		base := &http.Client{Transport: fakes.Transport(), Timeout: 10 * time.Second}
		clients[fakeapi.Hosts[string(p)]] = providers.WrapClient(base, tracker, p, providers.WithLimiter(limiter))
	}
	enricher := &enrich.Enricher{Clients: clients, Scheme: "http"}

	queue := make(chan enrich.Prospect)
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex // protects done and firstErr
		done     int
		firstErr error
	)
	for range max(1, c.workers) {
		wg.Go(func() {
			for p := range queue {
				err := process(ctx, updater, enricher, p)
				mu.Lock()
				done++
				if err != nil && firstErr == nil {
					firstErr = err
				}
				if c.enriched != nil {
					c.enriched(done)
				}
				mu.Unlock()
				time.Sleep(c.pace)
			}
		})
	}
feed:
	for _, p := range prospects {
		select {
		case queue <- p:
		case <-stop.Done():
			fmt.Fprintln(out, "interrupted: finishing the prospects in flight")
			break feed
		}
	}
	close(queue)
	wg.Wait()

	closeCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	closeErr := errors.Join(limiter.Close(closeCtx), tracker.Close(closeCtx))
	fmt.Fprintf(out, "enriched %d of %d prospects; usage tracker: %v\n", done, len(prospects), tracker.Stats())
	if firstErr != nil || closeErr != nil {
		return errors.Join(firstErr, closeErr)
	}
	return summarize(ctx, out, pool, c.table)
}

// process enriches one prospect and records every source's outcome.
func process(ctx context.Context, u *sourcestatus.Updater, e *enrich.Enricher, p enrich.Prospect) error {
	if err := u.Init(ctx, p.ID, enrich.Sources...); err != nil {
		return err
	}
	for source, outcome := range e.Run(ctx, p) {
		if err := u.Update(ctx, p.ID, source, outcome); err != nil {
			return err
		}
	}
	return nil
}

// summarize prints the Enrichment Pipeline card.
func summarize(ctx context.Context, out io.Writer, pool *pgxpool.Pool, table string) error {
	r, err := sourcestatus.NewReader(pool, sourcestatus.WithTable(table))
	if err != nil {
		return err
	}
	sums, err := r.Summary(ctx, time.Time{})
	if err != nil {
		return err
	}
	fmt.Fprintln(out, "source       complete  failed  circuit_open  skipped  pending")
	for _, s := range sums {
		fmt.Fprintf(out, "%-12s %8d %7d %13d %8d %8d\n", s.Source,
			s.Counts[sourcestatus.Complete], s.Counts[sourcestatus.Failed], s.Counts[sourcestatus.CircuitOpen],
			s.Counts[sourcestatus.Skipped], s.Counts[sourcestatus.Pending])
	}
	return nil
}
