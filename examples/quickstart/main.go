// Command quickstart shows enrichmeter at work with no servers: it counts
// calls to the five providers with a usage tracker on an in-process Redis
// (miniredis), flushes them, and prints today's counts as the dashboard's
// API Quota Burn card reads them.
//
//	go run ./examples/quickstart [-redis host:port]
//
// With -redis (or REDIS_ADDR) it uses that Redis instead.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/enrichmeter/enrichmeter/usage"
)

func main() {
	addr := flag.String("redis", os.Getenv("REDIS_ADDR"), "Redis address; empty runs an in-process miniredis")
	flag.Parse()
	if err := run(context.Background(), os.Stdout, *addr); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, out io.Writer, addr string) error {
	if addr == "" {
		mr, err := miniredis.Run()
		if err != nil {
			return err
		}
		defer mr.Close()
		addr = mr.Addr()
		fmt.Fprintln(out, "Redis: in-process miniredis (use -redis host:port for a real one)")
	}
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()

	tracker := usage.NewTracker(rdb)
	calls := map[usage.Provider]int{usage.Apollo: 12, usage.ContactOut: 7, usage.Exa: 30, usage.EDGAR: 4, usage.Claude: 18}
	for p, n := range calls {
		for range n {
			tracker.Track(p)
		}
	}
	closeCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := tracker.Close(closeCtx); err != nil {
		return fmt.Errorf("close tracker: %w", err)
	}
	fmt.Fprintln(out, "tracker:", tracker.Stats())

	r := usage.NewReader(rdb)
	now := time.Now()
	fmt.Fprintln(out, "today's successful calls:")
	for _, p := range []usage.Provider{usage.Apollo, usage.ContactOut, usage.Exa, usage.EDGAR, usage.Claude} {
		days, err := r.Daily(ctx, p, now, now)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "  %-10s %4d  (%s)\n", p, days[0].Count, usage.Key(p, now))
	}
	return nil
}
