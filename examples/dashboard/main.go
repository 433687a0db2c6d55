// Command dashboard is the platform health page that enrichmeter's data is
// captured for, one server-rendered HTML page (inline SVG, no JavaScript
// framework; it reloads its cards every 30 seconds) with three cards:
//
//   - API Quota Burn: a row per provider and per Claude token counter with
//     its use of the current period against the plan's limit, what remains,
//     the average daily burn, the projected run-out date and, when known,
//     what the provider itself reports as left. Rows over their quota or set
//     to run out this period are marked in colour and in words, and listed
//     at the top of the page. Each row has a 30-day chart; the providers'
//     charts share one scale, the token counters' another.
//   - Enrichment Pipeline: per source, its prospects' last outcomes by status,
//     over a window chosen on the page (1 h, 24 h by default, 7 days, 30 days
//     or all time).
//   - Error Feed: the newest failed sources in that window, with prospect,
//     stored (safe) message and time.
//
// Run it with no servers at all:
//
//	go run ./examples/dashboard [-addr 127.0.0.1:8080] [-redis redis://host:6379/0] [-postgres URL] [-table prospects]
//
// Without -redis (or REDIS_URL) it serves an in-process Redis filled with a
// month of sample counts: ContactOut over its quota, Claude's input tokens on
// course to run out (on any day of the month), and Apollo's own quota
// report. The two status cards need PostgreSQL (-postgres or DATABASE_URL;
// `go run ./examples/pipeline -postgres URL` fills its table); without it
// they say how to turn them on.
//
// The JSON behind the cards; a bad parameter gets 400 and {"error": "..."}:
//
//	GET /api/quota?days=7       days 1 to 90 (default 7)
//	  {"days": 7,
//	   "providers": [{"provider": "contactout", "unit": "calls", "today": 190,
//	     "daily": [{"day": "2026-11-20", "count": 201}, ...],     oldest first
//	     "burn": {"period": "month", "limit": 2000, "used": 2279, "remaining": 0,
//	       "over": 279, "periodStart": "2026-11-15T00:00:00Z", "periodEnd": "2026-12-15T00:00:00Z",
//	       "dailyAverage": 195.2, "exhaustsAt": "2026-11-26T12:00:00Z",   null: lasts the period
//	       "state": "over"},                              over, used_up, runs_out or ok
//	     "reported": {"at": "...", "status": 200,          the provider's own headers
//	       "values": {"x-24-hour-requests-left": "412"}}}, ...],
//	   "tokens": [{"provider": "claude_input_tokens", "unit": "tokens", ...}, ...]}
//	                            burn and reported are left out when there are none
//	GET /api/pipeline?window=24h   window 1h, 24h, 7d, 30d or all (default 24h)
//	  {"window": "24h", "since": "2026-11-25T12:00:00Z",   null for all
//	   "sources": [{"source": "exa", "total": 50, "counts": {"complete": 41, "failed": 9}}, ...]}
//	GET /api/errors?since=2026-11-26T00:00:00Z&limit=50   since RFC 3339 (default 24 h ago), limit 1 to 1000
//	  {"since": "...", "errors": [{"prospectId": "...", "source": "exa", "error": "HTTP 429",
//	     "at": "2026-11-26T03:15:03.123Z"}, ...]}          newest first; at null for legacy entries
//	GET /?window=24h            the page
//
// /api/pipeline and /api/errors answer 503 without PostgreSQL.
package main

import (
	"context"
	"errors"
	"flag"
	"log"
	"net/http"
	"os"
	"os/signal"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/enrichmeter/enrichmeter/examples/internal/localredis"
	"github.com/enrichmeter/enrichmeter/sourcestatus"
	"github.com/enrichmeter/enrichmeter/usage"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "listen address")
	redisURL := flag.String("redis", os.Getenv("REDIS_URL"), "Redis URL (redis://host:6379/0); empty serves a sample month from an in-process Redis")
	postgresURL := flag.String("postgres", os.Getenv("DATABASE_URL"), "PostgreSQL URL for the status cards; empty turns them off")
	table := flag.String("table", sourcestatus.DefaultTable, "table of the prospects' statuses")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	rdb, _, closeRedis, err := localredis.Open(*redisURL)
	if err != nil {
		log.Fatal(err)
	}
	defer closeRedis()
	if *redisURL == "" {
		if err := seedSample(ctx, rdb, time.Now()); err != nil {
			log.Fatal(err)
		}
	}

	s := &server{usage: usage.NewReader(rdb), quotas: sampleQuotas, table: *table, now: time.Now}
	if *postgresURL != "" {
		pool, err := pgxpool.New(ctx, *postgresURL)
		if err != nil {
			log.Fatal(err)
		}
		defer pool.Close()
		if s.statuses, err = sourcestatus.NewReader(pool, sourcestatus.WithTable(*table)); err != nil {
			log.Fatal(err)
		}
		// The cards read every row without the schema kit's indexes: fine
		// for a sample, seconds per refresh at a million prospects.
		if kit, err := sourcestatus.NewSchema(sourcestatus.WithTable(*table)); err != nil {
			log.Fatal(err)
		} else if err := kit.Check(ctx, pool); err != nil {
			var exists bool
			if qerr := pool.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, *table).Scan(&exists); qerr == nil && !exists {
				log.Printf("%v (the status cards need the table: go run ./examples/pipeline -postgres URL fills it)", err)
			} else {
				log.Printf("%v (the cards work, but read the whole table: see Schema.Apply)", err)
			}
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
