// Command dashboard is the platform health page that enrichmeter's data is
// captured for, one server-rendered HTML page (inline SVG, no JavaScript
// framework; it reloads its cards every 30 seconds). Its top lists, worst
// first, what needs a person: a quota over, used up or on course to run out
// (money's too); a source whose outcomes in the window are circuit open on
// 10 % or more of them, or failed on 20 % or more ("Exa: circuit open on
// 169 of 200 prospects (85 %) in the last 24 h."); a provider that a
// usage.Limiter has paused across the fleet, until when and why, as far as
// the provider's last answer tells ("SEC EDGAR is paused until 12:02:00
// UTC (in 2 min): it answered HTTP 429 with Retry-After 120 s (just now);
// ..."); other failures; a card that could not be read. Then four cards:
//
//   - API Quota Burn: a row per provider and per Claude token counter with
//     its use of the current period against its quota (see Quotas below),
//     what remains, the average daily burn, the projected run-out date,
//     where the quota came from, the alerts guards fired this period ("80 %
//     alert fired Nov 26 03:15 UTC") and, when known, what the provider
//     itself reports as left. Rows over their quota or set to run out this
//     period are marked in colour and in words, a paused provider's row
//     "Paused until ...". Each row has a 30-day chart; the providers' charts
//     share one scale, the token counters' another. Then Spend (see Money
//     below): a row of what the counters cost each day (usage.Money),
//     against a money quota if -quota sets one, like the others; and a
//     table of this month's and today's cost per Claude model and per
//     provider with a price, to the cent, the exact amount on hover.
//   - Top spenders: the 10 subjects (what trackers count with Meter.For: a
//     tenant, a customer) that cost the most in the last 30 days, with
//     their calls, tokens and cost; "other" holds those counted past a
//     tracker's daily limit of subjects (usage.WithSubjectLimit), together.
//   - Enrichment Pipeline: per source, its prospects' last outcomes by status,
//     over a window chosen on the page (1 h, 24 h by default, 7 days, 30 days
//     or all time), sources over a threshold first, each with its quota's
//     state: a source's name in the status column is its provider's in
//     usage (edgar for SEC EDGAR). Entries that earlier versions of the
//     examples stored as sec are counted, and listed, under edgar, and the
//     card says how many.
//   - Error Feed: that window's failures grouped by source and stored (safe)
//     message, the group with the newest failure first, each with its count,
//     its newest time and its newest prospects.
//
// On a wide screen the statuses' cards sit beside the quota card. On a
// narrow one the cards stack, and those the top's lines are about come
// first, worst first: on a tie the statuses' cards, which are short, before
// the quota card's ten charts.
//
// Run it with no servers at all:
//
//	go run ./examples/dashboard [-addr 127.0.0.1:8080] [-redis redis://host:6379/0]
//	    [-quota apollo=10000/month@15 -quota exa=1000/day -quota money=500/month ...]
//	    [-price apollo=0.0125 ...] [-postgres URL] [-table prospects]
//
// Quotas are never made up. A provider's quota is the one the fleet
// enforces: a usage.Guard writes the quotas it enforces to Redis at its
// first refresh and hourly after, and the page reads them at every load
// (usage.Reader.Quotas), with the alerts guards fired in periods not yet
// ended (usage.Reader.Alerts; a guard records them only with
// usage.WithAlert). -quota, repeatable, sets a provider's quota here,
// replacing the guard's if there is one: provider=limit/day, or
// provider=limit/month@day for a month that starts on that day (1 by
// default). Each row says where its quota came from ("enforced by the
// fleet's guard, written 3 min ago", or "set by -quota"), and doubts a
// guard's quota no guard has written for two hours. A provider with
// neither shows "No quota set". Money's limit is in dollars:
// -quota money=500/month is $500 a month (guards hold no money quota).
//
// Money is never a float. The page prices Claude's tokens by model at
// usage.DefaultPrices, Anthropic's list prices of the date it names (said
// on the page), and a provider's successful calls at -price,
// provider=dollars a call, repeatable (-price apollo=0.0125); -price and
// money's -quota are read from their decimal digits to the micro-dollar
// (usage.Micros), and the JSON carries micro-dollars as integers. Tokens of
// a model the prices do not name, or counted without a model, are shown as
// unpriced, never as $0; so are calls without -price.
//
// Without -redis (or REDIS_URL) it serves an in-process Redis filled with a
// month of sample counts: ContactOut over its quota, Claude's input tokens on
// course to run out (on any day of the month), and Apollo's own quota
// report; Claude's tokens of three models and everyone's calls for a dozen
// subjects, counted through a tracker (Meter.Model, Meter.For) with a limit
// of 10 subjects a day, so the rest show as "other"; and SEC EDGAR's 429,
// on which a usage.Limiter pauses it for 10 minutes from start-up. The
// sample plan's quotas reach the page as a service's do: at start-up a
// usage.Guard that enforces them refreshes once, which shares them and
// records the alerts it fires. The two status cards need
// PostgreSQL (-postgres or DATABASE_URL); without it they say how to turn
// them on. `go run ./examples/pipeline -postgres URL` and `go run
// ./examples/quickstart -postgres URL` fill the table prospects, which
// -table names in all three commands.
//
// The JSON behind the cards; a bad parameter gets 400 and {"error": "..."}:
//
//	GET /api/quota?days=7       days 1 to 90 (default 7)
//	  {"days": 7,
//	   "providers": [{"provider": "contactout", "unit": "calls", "today": 190,
//	     "daily": [{"day": "2026-11-20", "count": 201}, ...],     oldest first
//	     "quota": {"limit": 2000, "period": "month", "anchorDay": 15,   anchorDay: months only
//	       "source": "guard", "at": "2026-11-26T11:57:00Z"},    a guard's, written then
//	       or {"limit": 2500, "period": "month", "anchorDay": 15, "source": "flag",   -quota's,
//	         "overrides": {"limit": 2000, ..., "source": "guard", "at": "..."}}   replacing a guard's, if any
//	     "burn": {"period": "month", "limit": 2000, "used": 2279, "remaining": 0,   of the quota
//	       "over": 279, "periodStart": "2026-11-15T00:00:00Z", "periodEnd": "2026-12-15T00:00:00Z",
//	       "dailyAverage": 195.2, "exhaustsAt": "2026-11-26T12:00:00Z",   null: lasts the period
//	       "state": "over"},                              over, used_up, runs_out or ok
//	     "alerts": [{"threshold": 0.8, "used": 1604, "limit": 2000, "period": "month",
//	       "at": "2026-11-21T09:12:00Z", "resets": "2026-12-15T00:00:00Z"}, ...],
//	                            fired by guards in periods not yet ended, oldest first
//	     "reported": {"at": "...", "status": 200,          the provider's own headers
//	       "values": {"x-24-hour-requests-left": "412"}},
//	     "pausedUntil": "2026-11-26T12:02:00Z"}, ...],     when a usage.Limiter's pause ends
//	   "tokens": [{"provider": "claude_input_tokens", "unit": "tokens", ...}, ...],
//	   "money": {"provider": "money", "unit": "micros", "today": 6753706, "daily": [...],   micro-dollars
//	     "quota": {"limit": 500000000, "period": "month", "anchorDay": 1, "source": "flag"},
//	     "burn": {...}},                   what the counters cost, as usage.Money; left out when unreadable
//	   "pauses": {"edgar": "2026-11-26T12:02:00Z"},       every pause not ended
//	   "problems": ["usage: quotas: exa: ..."]}   what guards and limiters shared that could not be read
//	                            quota, burn, alerts, reported, pausedUntil, pauses and problems
//	                            are left out when there are none
//	GET /api/spend              money in micro-dollars (usage.Micros): 3703701 is $3.703701
//	  {"prices": {"asOf": "2025-11-24", "perCall": {"apollo": 12500}},   the models' date; -price's
//	   "month": {"from": "2026-11-01", "to": "2026-11-26"}, "today": "2026-11-26",
//	   "lines": [{"provider": "claude", "model": "claude-sonnet-4-5-20250929", "priced": true,
//	       "month": {"tokens": {"input": 1234567, "output": 89012, "cacheRead": 0, "cacheWrite": 0},
//	         "cost": 5038881},
//	       "today": {"tokens": {...}, "cost": 3703701}},
//	     {"provider": "claude", "model": "claude-next", "priced": false, ...},   no price: cost 0
//	     {"provider": "claude", "priced": false, ...},   tokens counted without a model
//	     {"provider": "apollo", "priced": true,
//	       "month": {"calls": 40, "cost": 500000}, "today": {...}}, ...],     providers with -price
//	   "total": {"month": {"cost": 8088886, "unpricedTokens": 1077}, "today": {...}},
//	   "topSubjects": {"from": "2026-10-28", "to": "2026-11-26",   the last 30 days
//	     "subjects": [{"subject": "acme", "calls": 5, "callsBy": {"exa": 5}, "tokens": 1234567,
//	       "cost": 3703701, "unpriced": true}, ...]},   the 10 that cost most; unpriced: the cost
//	                            leaves out use with no price; "other": subjects past a day's limit
//	   "problems": ["usage: spend: key ...: ..."]}   breakdown entries that could not be read
//	GET /api/pipeline?window=24h   window 1h, 24h, 7d, 30d or all (default 24h)
//	  {"window": "24h", "since": "2026-11-25T12:00:00Z",   null for all
//	   "sources": [{"source": "edgar", "total": 200,        in name order
//	     "counts": {"complete": 131, "failed": 3, "skipped": 66},
//	     "aliases": {"sec": 50}}, ...]}     included entries stored as sec; left out when none
//	GET /api/errors?since=2026-11-26T00:00:00Z&limit=50   since RFC 3339 (default 24 h ago), limit 1 to 1000
//	  {"since": "...", "errors": [{"prospectId": "...", "source": "exa", "error": "HTTP 429",
//	     "at": "2026-11-26T03:15:03.123Z"}, ...]}          newest first; at null for legacy entries
//	GET /api/errors?group=1&since=...&limit=50             the same failures grouped; limit counts groups
//	  {"since": "...", "groups": [{"source": "exa", "error": "HTTP 503", "count": 20,
//	     "latest": "2026-11-26T11:03:20Z",                 null when all are legacy entries
//	     "newest": [{"prospectId": "...", "source": "exa", "error": "HTTP 503", "at": "..."}, ...]}, ...]}
//	                            the group with the newest failure first; newest: its 5 newest
//	GET /?window=24h            the page
//
// Sources are named as the cards name them: entries stored as sec read as
// edgar. /api/pipeline and /api/errors answer 503 without PostgreSQL.
package main

import (
	"context"
	"errors"
	"flag"
	"log"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/enrichmeter/enrichmeter/examples/internal/localredis"
	"github.com/enrichmeter/enrichmeter/sourcestatus"
	"github.com/enrichmeter/enrichmeter/usage"
)

// config is what the command line sets.
type config struct {
	addr, redisURL, postgresURL, table string
	quotas                             quotaFlag
	prices                             priceFlag
}

// parseFlags reads the command line, args without the program's name.
func parseFlags(args []string) (config, error) {
	c := config{quotas: quotaFlag{}, prices: priceFlag{}}
	fs := flag.NewFlagSet("dashboard", flag.ContinueOnError)
	fs.StringVar(&c.addr, "addr", "127.0.0.1:8080", "listen address")
	fs.StringVar(&c.redisURL, "redis", os.Getenv("REDIS_URL"), "Redis URL (redis://host:6379/0); empty serves a sample month from an in-process Redis")
	fs.Var(c.quotas, "quota", "a provider's quota, repeatable: "+quotaSyntax+"; replaces the one the fleet's guards share")
	fs.Var(c.prices, "price", "a provider's price per successful call, repeatable: "+priceSyntax)
	fs.StringVar(&c.postgresURL, "postgres", os.Getenv("DATABASE_URL"), "PostgreSQL URL for the status cards; empty turns them off")
	fs.StringVar(&c.table, "table", sourcestatus.DefaultTable, "table of the prospects' statuses, as examples/pipeline and examples/quickstart name it")
	err := fs.Parse(args)
	return c, err
}

func main() {
	c, err := parseFlags(os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		return
	} else if err != nil {
		os.Exit(2) // the flag set has said why
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	s, closeAll, err := open(ctx, c, time.Now)
	if err != nil {
		log.Fatal(err)
	}
	defer closeAll()

	srv := &http.Server{Addr: c.addr, Handler: s.routes(), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	log.Printf("dashboard on http://%s", c.addr)
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
}

// open returns the dashboard that c describes, on the clock now, and a
// function that closes what it opened: its Redis, seeded with the sample
// month without -redis, and its PostgreSQL, if any.
func open(ctx context.Context, c config, now func() time.Time) (s *server, closeAll func(), err error) {
	rdb, _, closeRedis, err := localredis.Open(c.redisURL)
	if err != nil {
		return nil, nil, err
	}
	closers := []func(){closeRedis}
	closeAll = func() {
		for _, c := range slices.Backward(closers) {
			c()
		}
	}
	defer func() {
		if err != nil {
			closeAll()
		}
	}()
	if c.redisURL == "" {
		if err := seedSample(ctx, rdb, now()); err != nil {
			return nil, nil, err
		}
	}
	prices := usage.DefaultPrices()
	prices.Calls = c.prices
	s = &server{
		usage: usage.NewReader(rdb, usage.WithClock(now), usage.WithPrices(prices)), prices: prices,
		flagQuotas: c.quotas, table: c.table, now: now,
	}
	if c.postgresURL != "" {
		pool, err := pgxpool.New(ctx, c.postgresURL)
		if err != nil {
			return nil, nil, err
		}
		closers = append(closers, pool.Close)
		if s.statuses, err = openStatuses(ctx, pool, c.table); err != nil {
			return nil, nil, err
		}
	}
	return s, closeAll, nil
}

// openStatuses returns a reader of the statuses in table, and logs what is
// wrong with the table, if anything: missing, or without the schema kit's
// indexes.
func openStatuses(ctx context.Context, pool *pgxpool.Pool, table string) (*sourcestatus.Reader, error) {
	r, err := sourcestatus.NewReader(pool, sourcestatus.WithTable(table))
	if err != nil {
		return nil, err
	}
	// The cards read every row without the schema kit's indexes: fine
	// for a sample, seconds per refresh at a million prospects.
	kit, err := sourcestatus.NewSchema(sourcestatus.WithTable(table))
	if err != nil {
		return nil, err
	}
	if err := kit.Check(ctx, pool); err != nil {
		var exists bool
		if qerr := pool.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, table).Scan(&exists); qerr == nil && !exists {
			log.Printf("%v (the status cards need the table: go run ./examples/pipeline -postgres URL fills it)", err)
		} else {
			log.Printf("%v (the cards work, but read the whole table: see Schema.Apply)", err)
		}
	}
	return r, nil
}
