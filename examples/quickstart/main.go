// Command quickstart shows enrichmeter at work on a fresh machine, with no
// servers: it runs a week of simulated enrichments against local stand-ins
// for the five providers' APIs, counts every successful call with a usage
// tracker through one providers.ByHost-wrapped client, and prints what the
// health dashboard shows: each provider's calls today, a 7-day sparkline and
// the burn of a sample quota. Claude's tokens are read from its answers and
// burn a token quota of their own; Apollo's own count of what is left is
// kept from its headers. A budget guard refuses the calls that would pass a
// quota, calls or tokens, before they are sent, and alerts fire once when
// 80 % and 100 % of a quota are used.
//
//	go run ./examples/quickstart [-redis redis://host:6379/0] [-postgres URL]
//
// Redis defaults to an in-process miniredis (REDIS_URL or -redis use a real
// one). With a PostgreSQL URL (DATABASE_URL or -postgres) it also records
// each source's outcome in the table prospects (-table names another, as for
// examples/pipeline and examples/dashboard, which reads it) and prints the
// error feed; without one it prints the status JSON it would write.
package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"maps"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
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
	redisURL    string
	postgresURL string
	table       string
	now         time.Time // the simulated week ends now
}

func main() {
	var c config
	flag.StringVar(&c.redisURL, "redis", os.Getenv("REDIS_URL"), "Redis URL (redis://host:6379/0); empty runs an in-process miniredis")
	flag.StringVar(&c.postgresURL, "postgres", os.Getenv("DATABASE_URL"), "PostgreSQL URL; empty skips the source statuses")
	flag.StringVar(&c.table, "table", sourcestatus.DefaultTable, "table for the prospects, created if missing; examples/dashboard reads it by the same flag")
	flag.Parse()
	c.now = time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := run(ctx, os.Stdout, c); err != nil {
		log.Fatal(err)
	}
}

// sampleQuotas are monthly allowances of a small plan, as a billing page
// would state them. Apollo's runs out during the simulated week; Claude's
// are in tokens as well as calls.
var sampleQuotas = map[usage.Provider]int64{
	usage.Apollo: 100, usage.ContactOut: 1000, usage.Exa: 140, usage.EDGAR: 5000, usage.Claude: 400,
	usage.ClaudeInputTokens: 400_000, usage.ClaudeOutputTokens: 40_000,
}

// tokenCounters are Claude's token counters, as the quickstart prints them.
var tokenCounters = []usage.Provider{usage.ClaudeInputTokens, usage.ClaudeOutputTokens, usage.ClaudeCacheReadTokens}

// monthly returns sampleQuotas as quotas that reset on the 1st.
func monthly() map[usage.Provider]usage.Quota {
	out := make(map[usage.Provider]usage.Quota, len(sampleQuotas))
	for p, n := range sampleQuotas {
		out[p] = usage.Quota{Limit: n, Period: usage.PerMonth, AnchorDay: 1}
	}
	return out
}

func run(ctx context.Context, out io.Writer, c config) error {
	rdb, redisName, closeRedis, err := localredis.Open(c.redisURL)
	if err != nil {
		return err
	}
	defer closeRedis()

	fakes, err := fakeapi.Start()
	if err != nil {
		return err
	}
	defer fakes.Close()
	fmt.Fprintf(out, "enrichmeter quickstart\n  Redis: %s\n  APIs:  local stand-ins for %s\n\n", redisName, strings.Join(hostList(), ", "))

	var (
		pool     *pgxpool.Pool
		statuses *sourcestatus.Updater
		feed     *sourcestatus.Reader
	)
	if c.postgresURL != "" {
		if pool, err = openProspects(ctx, c); err != nil {
			return err
		}
		defer pool.Close()
	}

	// The simulation moves this clock through the last seven days, a minute
	// a prospect, so that every run prints the same; a real service leaves
	// the tracker, the updater and the enricher on their default clocks.
	now := c.now.UTC()
	var simulated atomic.Int64
	clock := func() time.Time { return time.Unix(0, simulated.Load()).UTC() }
	tracker := usage.NewTracker(rdb, usage.WithClock(clock))
	// The guard refuses a call once its provider's quota is spent; alerts
	// fire once per threshold. A real service reports them; here they are
	// kept to print.
	alerts := &alertLog{}
	guard, err := usage.NewGuard(tracker, monthly(), usage.WithAlert(alerts.add))
	if err != nil {
		return err
	}
	defer guard.Close(ctx)
	if pool != nil {
		opts := []sourcestatus.Option{sourcestatus.WithTable(c.table), sourcestatus.WithClock(clock)}
		if statuses, err = sourcestatus.NewUpdater(pool, opts...); err != nil {
			return err
		}
		if feed, err = sourcestatus.NewReader(pool, opts...); err != nil {
			return err
		}
	}

	// One client for all outgoing calls; ByHost counts each provider's 2xx,
	// asks the guard before sending, reads Claude's tokens from its answers
	// and keeps what providers say of their own quota.
	refused := &refusals{}
	byHost := providers.ByHost(fakes.Transport(), tracker, providers.DefaultHosts(),
		providers.WithGuard(guard), providers.WithClaudeTokens(tracker), providers.WithReportedQuota(tracker))
	client := &http.Client{Transport: refused.count(byHost)}
	// A circuit that opens stays open for the next three prospects.
	enricher := &enrich.Enricher{Client: client, Scheme: "http", Cooldown: 3 * time.Minute, Now: clock}

	var sample sourcestatus.Payload // a failure, to show its JSON
	prospects := enrich.Prospects(30)
	total := 0
	for d := 6; d >= 0; d-- {
		day := now.AddDate(0, 0, -d)
		batch := append([]enrich.Prospect(nil), prospects[:10+(6-d)*3]...) // busier every day
		for i := range batch {
			batch[i].ID = fmt.Sprintf("00000000-0000-4000-800%d-%012d", d, i+1) // new prospects each day
		}
		if pool != nil {
			if err := enrich.CreateTable(ctx, pool, c.table, batch...); err != nil {
				return err
			}
		}
		for i, p := range batch {
			// The day's last prospect is enriched at the day's time of now.
			simulated.Store(day.Add(time.Duration(i+1-len(batch)) * time.Minute).UnixNano())
			if i == 0 {
				// The simulated clock jumps a day; a real service's guard
				// follows the clock with its background refresh.
				if err := guard.Refresh(ctx); err != nil {
					return err
				}
			}
			if statuses != nil {
				if err := statuses.Init(ctx, p.ID, enrich.Sources...); err != nil {
					return err
				}
			}
			outcomes := enricher.Run(ctx, p)
			for _, source := range enrich.Sources {
				outcome := outcomes[source]
				if outcome.Status == sourcestatus.Failed && sample.Status == "" {
					sample = outcome
				}
				if statuses != nil {
					if err := statuses.Update(ctx, p.ID, source, outcome); err != nil {
						return err
					}
				}
			}
		}
		total += len(batch)
	}
	closeCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := tracker.Close(closeCtx); err != nil {
		return fmt.Errorf("close tracker: %w", err)
	}
	fmt.Fprintf(out, "Enriched %d prospects over 7 days: Apollo, then ContactOut, Exa, SEC EDGAR and Claude at once.\n", total)
	fmt.Fprintf(out, "tracker, in units (calls, and tokens for token counters): %v\n\n", tracker.Stats())

	r := usage.NewReader(rdb, usage.WithClock(func() time.Time { return now }))
	if err := printQuotaBurn(ctx, out, r, now); err != nil {
		return err
	}
	if err := printTokens(ctx, out, r); err != nil {
		return err
	}
	if err := printSpend(ctx, out, r, now); err != nil {
		return err
	}
	if err := guard.Refresh(ctx); err != nil { // the last alerts, if the background refresh has not seen them yet
		return err
	}
	printGuard(out, refused, alerts)
	if feed == nil {
		printStatusJSON(out, sample)
		return nil
	}
	return printErrorFeed(ctx, out, feed, c.table, now)
}

// refusals counts, by provider, the calls the guard refused.
type refusals struct {
	mu sync.Mutex
	n  map[usage.Provider]int
}

// count returns next, counting the requests it refused for a
// *usage.QuotaError.
func (r *refusals) count(next http.RoundTripper) http.RoundTripper {
	return roundTripFunc(func(req *http.Request) (*http.Response, error) {
		resp, err := next.RoundTrip(req)
		if spent := (*usage.QuotaError)(nil); errors.As(providers.Refusal(resp), &spent) {
			r.mu.Lock()
			defer r.mu.Unlock()
			if r.n == nil {
				r.n = map[usage.Provider]int{}
			}
			r.n[spent.Provider]++
		}
		return resp, err
	})
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// alertLog keeps the alerts that fired.
type alertLog struct {
	mu     sync.Mutex
	alerts []usage.Alert
}

func (l *alertLog) add(a usage.Alert) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.alerts = append(l.alerts, a)
}

// printGuard prints what the budget guard refused and the alerts that fired,
// each once, in provider order.
func printGuard(out io.Writer, refused *refusals, alerts *alertLog) {
	fmt.Fprintln(out, "Budget guard and alerts (80 % and 100 % of each quota, once per month across every process)")
	alerts.mu.Lock()
	defer alerts.mu.Unlock()
	slices.SortFunc(alerts.alerts, func(a, b usage.Alert) int {
		return cmp.Or(cmp.Compare(a.Provider, b.Provider), cmp.Compare(a.Threshold, b.Threshold))
	})
	for _, a := range alerts.alerts {
		fmt.Fprintf(out, "  alert: %-20s passed %3.0f%% of its %d a month\n", a.Provider, a.Threshold*100, a.Quota.Limit)
	}
	refused.mu.Lock()
	defer refused.mu.Unlock()
	for _, p := range slices.Sorted(maps.Keys(refused.n)) {
		fmt.Fprintf(out, "  refused: %d calls, never sent: the month's %d %s were used\n", refused.n[p], sampleQuotas[p], p)
	}
	fmt.Fprintln(out)
}

func hostList() []string {
	var hosts []string
	for _, p := range enrich.Providers {
		hosts = append(hosts, fakeapi.Hosts[string(p)])
	}
	return hosts
}

// printQuotaBurn prints the API Quota Burn card.
func printQuotaBurn(ctx context.Context, out io.Writer, r *usage.Reader, now time.Time) error {
	fmt.Fprintf(out, "API Quota Burn: successful calls per provider (UTC days, today %s)\n", now.Format("2006-01-02"))
	fmt.Fprintf(out, "  %-10s %5s  %-7s  %5s %5s %6s  %s\n", "provider", "today", "7 days", "quota", "used", "/day", "runs out")
	for _, p := range enrich.Providers {
		days, err := r.Daily(ctx, p, now.AddDate(0, 0, -6), now)
		if err != nil {
			return err
		}
		q := usage.Quota{Limit: sampleQuotas[p], Period: usage.PerMonth, AnchorDay: 1}
		b, err := r.Burn(ctx, p, q)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "  %-10s %5d  %-7s  %5d %5d %6.1f  %s\n",
			p, days[len(days)-1].Count, sparkline(days), q.Limit, b.Used, b.DailyAverage, describeRunOut(b))
	}
	fmt.Fprintln(out)
	return nil
}

// printTokens prints Claude's token counters and their burn, and what Apollo
// said of its own quota.
func printTokens(ctx context.Context, out io.Writer, r *usage.Reader) error {
	fmt.Fprintln(out, "Claude's tokens, read from each answer's usage (same keys, same reader)")
	fmt.Fprintf(out, "  %-26s %9s %9s %8s  %s\n", "counter", "used", "quota", "/day", "runs out")
	for _, p := range tokenCounters {
		b, err := r.Burn(ctx, p, usage.Quota{Limit: max(sampleQuotas[p], 1), Period: usage.PerMonth, AnchorDay: 1})
		if err != nil {
			return err
		}
		quota, runsOut := "-", "-"
		if sampleQuotas[p] > 0 {
			quota, runsOut = fmt.Sprint(sampleQuotas[p]), describeRunOut(b)
		}
		fmt.Fprintf(out, "  %-26s %9d %9s %8.0f  %s\n", p, b.Used, quota, b.DailyAverage, runsOut)
	}
	rep, err := r.Reported(ctx, usage.Apollo)
	if err != nil {
		return err
	}
	if left := rep.Values["x-24-hour-requests-left"]; left != "" {
		fmt.Fprintf(out, "  Apollo itself reports %s of %s requests left in 24 h\n", left, rep.Values["x-rate-limit-24-hour"])
	}
	fmt.Fprintln(out)
	return nil
}

// printSpend prints what the week's Claude tokens cost, by model, at
// usage.DefaultPrices.
func printSpend(ctx context.Context, out io.Writer, r *usage.Reader, now time.Time) error {
	lines, err := r.Spend(ctx, now.AddDate(0, 0, -6), now)
	if err != nil {
		return err
	}
	type sum struct {
		tokens int64
		cost   usage.Micros
		priced bool
	}
	byModel := map[string]*sum{}
	var models []string
	for _, l := range lines {
		s := byModel[l.Model]
		if s == nil {
			s = &sum{priced: l.Priced}
			byModel[l.Model] = s
			models = append(models, l.Model)
		}
		s.tokens += l.Tokens.Total()
		s.cost += l.Cost
	}
	fmt.Fprintf(out, "Spend over 7 days, by the model each answer named (Anthropic's list prices of %s)\n", usage.DefaultPricesAsOf)
	for _, m := range models {
		cost := byModel[m].cost.String()
		if !byModel[m].priced {
			cost = "unpriced"
		}
		name := m
		if name == "" {
			name = "(no model read)"
		}
		fmt.Fprintf(out, "  %-28s %10d tokens  %s\n", name, byModel[m].tokens, cost)
	}
	fmt.Fprintln(out)
	return nil
}

// describeRunOut says when a quota runs out at its burn rate.
func describeRunOut(b usage.BurnReport) string {
	switch {
	case b.Remaining == 0:
		return "exhausted"
	case !b.Exhausts.IsZero():
		return b.Exhausts.Format("Jan 2 15:04 MST")
	}
	return "not this period (resets " + b.PeriodEnd.Format("Jan 2") + ")"
}

// sparkline draws counts as bars, the tallest the week's highest.
func sparkline(days []usage.DayCount) string {
	bars := []rune("▁▂▃▄▅▆▇█")
	var top int64
	for _, d := range days {
		top = max(top, d.Count)
	}
	var b strings.Builder
	for _, d := range days {
		i := 0
		if top > 0 {
			i = int(d.Count * int64(len(bars)-1) / top)
		}
		b.WriteRune(bars[i])
	}
	return b.String()
}

// printStatusJSON shows what the pipeline writes to the status column.
func printStatusJSON(out io.Writer, sample sourcestatus.Payload) {
	fmt.Fprintln(out, "Source status: the JSON each entry of enrichment_source_status gets")
	if sample.Status != "" {
		b, _ := sample.MarshalJSON()
		fmt.Fprintf(out, "  new shape:     %s\n", b)
	}
	var legacy sourcestatus.Payload
	_ = legacy.UnmarshalJSON([]byte(`"complete"`))
	fmt.Fprintf(out, "  legacy shape:  \"complete\"  (reads as status=%s, no error, no time)\n\n", legacy.Status)
	fmt.Fprintln(out, "Give a PostgreSQL URL (-postgres or DATABASE_URL) to write them to a table and print the error feed.")
}

// printErrorFeed prints the Error Feed card.
func printErrorFeed(ctx context.Context, out io.Writer, r *sourcestatus.Reader, table string, now time.Time) error {
	failures, err := r.Failures(ctx, now.AddDate(0, 0, -7), 8)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "Error Feed: the latest failures in %s\n", table)
	for _, f := range failures {
		fmt.Fprintf(out, "  %s  %-36s %-10s %s\n", f.At.Format("Jan 02 15:04"), f.ProspectID, f.Source, f.Error)
	}
	tableFlag := ""
	if table != sourcestatus.DefaultTable {
		tableFlag = " -table " + table
	}
	fmt.Fprintf(out, "\nSee them on the health page: go run ./examples/dashboard -postgres URL%s\n", tableFlag)
	return nil
}

// openProspects connects to PostgreSQL and creates the prospects table if it
// is missing.
func openProspects(ctx context.Context, c config) (*pgxpool.Pool, error) {
	pool, err := pgxpool.New(ctx, c.postgresURL)
	if err != nil {
		return nil, err
	}
	if err := enrich.CreateTable(ctx, pool, c.table); err != nil {
		pool.Close()
		return nil, err
	}
	return pool, nil
}
