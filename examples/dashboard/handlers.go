package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/enrichmeter/enrichmeter/examples/internal/enrich"
	"github.com/enrichmeter/enrichmeter/sourcestatus"
	"github.com/enrichmeter/enrichmeter/usage"
)

// server holds what the dashboard's endpoints read.
type server struct {
	usage    *usage.Reader
	prices   usage.Prices         // what usage prices with, for the page to say
	statuses *sourcestatus.Reader // nil without PostgreSQL
	table    string               // the statuses' table, for messages
	// flagQuotas are the quotas -quota set; each replaces what the fleet's
	// guards share for its provider (see quotas.go).
	flagQuotas quotaFlag
	now        func() time.Time
}

// tokenCounters are the counters of Claude's tokens, shown beside the calls.
var tokenCounters = []usage.Provider{
	usage.ClaudeInputTokens, usage.ClaudeOutputTokens, usage.ClaudeCacheReadTokens, usage.ClaudeCacheWriteTokens,
}

func (s *server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/quota", s.quota)
	mux.HandleFunc("GET /api/spend", s.spend)
	mux.HandleFunc("GET /api/pipeline", s.pipeline)
	mux.HandleFunc("GET /api/errors", s.errors)
	mux.HandleFunc("GET /{$}", s.page)
	return mux
}

// quotaCard is the JSON of GET /api/quota, shaped for the API Quota Burn card.
type quotaCard struct {
	Days      int             `json:"days"`
	Providers []providerUsage `json:"providers"` // calls, in enrich.Providers order
	Tokens    []providerUsage `json:"tokens"`    // Claude's token counters
	// Money is what the others cost each day, in micro-dollars, at the
	// reader's prices (usage.Money); left out, and named in Problems, when
	// it cannot be read.
	Money *providerUsage `json:"money,omitempty"`
	// Pauses are the providers a usage.Limiter has paused across the
	// fleet, and when each pause ends: those not ended yet.
	Pauses map[string]time.Time `json:"pauses,omitempty"`
	// Problems names the entries the fleet's guards and limiters share
	// that could not be read, left out: a quota, an alert, a pause; and
	// money, when its days cannot be read.
	Problems []string `json:"problems,omitempty"`
}

type providerUsage struct {
	Provider string       `json:"provider"`
	Unit     string       `json:"unit"` // "calls", "tokens" or "micros" (of a dollar)
	Today    int64        `json:"today"`
	Daily    []dayCount   `json:"daily"` // oldest first, today last
	Quota    *quotaInfo   `json:"quota,omitempty"`
	Burn     *burn        `json:"burn,omitempty"`   // of Quota
	Alerts   []firedAlert `json:"alerts,omitempty"` // fired by guards, oldest first
	Reported *reported    `json:"reported,omitempty"`
	// PausedUntil is when the pause a usage.Limiter holds the provider's
	// calls in ends; left out when it is not paused.
	PausedUntil *time.Time `json:"pausedUntil,omitempty"`
}

type dayCount struct {
	Day   string `json:"day"` // YYYY-MM-DD, UTC
	Count int64  `json:"count"`
}

type burn struct {
	Period       string     `json:"period"` // "day" or "month"
	Limit        int64      `json:"limit"`
	Used         int64      `json:"used"`
	Remaining    int64      `json:"remaining"`
	Over         int64      `json:"over"` // how far past the limit
	PeriodStart  time.Time  `json:"periodStart"`
	PeriodEnd    time.Time  `json:"periodEnd"`
	DailyAverage float64    `json:"dailyAverage"`
	ExhaustsAt   *time.Time `json:"exhaustsAt"` // null when it will not run out this period
	State        string     `json:"state"`      // see burnState
}

// The states of a quota, from worst to best.
const (
	stateOver    = "over"     // used past the limit
	stateUsedUp  = "used_up"  // nothing left, not past it
	stateRunsOut = "runs_out" // at the average burn it runs out before the period ends
	stateOK      = "ok"
)

func burnState(b usage.BurnReport) string {
	switch {
	case b.Over > 0:
		return stateOver
	case b.Remaining == 0:
		return stateUsedUp
	case !b.Exhausts.IsZero():
		return stateRunsOut
	}
	return stateOK
}

// reported is what the provider itself last said of its quota.
type reported struct {
	At     time.Time         `json:"at"`
	Status int               `json:"status"`
	Values map[string]string `json:"values"` // lower-case header names
}

// quota serves GET /api/quota?days=N (1 to 90, default 7).
func (s *server) quota(w http.ResponseWriter, r *http.Request) {
	days, err := intParam(r, "days", 7, 1, 90)
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	card, err := s.quotaCard(r.Context(), days)
	if err != nil {
		writeError(w, http.StatusBadGateway, err)
		return
	}
	writeJSON(w, card)
}

func (s *server) quotaCard(ctx context.Context, days int) (quotaCard, error) {
	card := quotaCard{Days: days, Providers: []providerUsage{}, Tokens: []providerUsage{}}
	f, err := s.readFleet(ctx)
	if err != nil {
		return card, err
	}
	card.Problems = f.problems
	for p, end := range f.pauses {
		if card.Pauses == nil {
			card.Pauses = map[string]time.Time{}
		}
		card.Pauses[string(p)] = end
	}
	for _, p := range enrich.Providers {
		u, err := s.counter(ctx, p, "calls", days, f)
		if err != nil {
			return card, err
		}
		if end, ok := f.pauses[p]; ok {
			u.PausedUntil = &end
		}
		rep, err := s.usage.Reported(ctx, p)
		if err != nil {
			return card, err
		}
		if !rep.At.IsZero() {
			u.Reported = &reported{At: rep.At.UTC(), Status: rep.Status, Values: rep.Values}
		}
		card.Providers = append(card.Providers, u)
	}
	for _, p := range tokenCounters {
		u, err := s.counter(ctx, p, "tokens", days, f)
		if err != nil {
			return card, err
		}
		card.Tokens = append(card.Tokens, u)
	}
	// Money is read from every counter's breakdown by model, a hash per
	// day any of whose entries can be malformed: it is left out rather
	// than the card.
	if u, err := s.counter(ctx, usage.Money, "micros", days, f); err != nil {
		card.Problems = append(card.Problems, err.Error())
	} else {
		card.Money = &u
	}
	return card, nil
}

// counter reads one counter's last days and, when it has a quota, its burn;
// f gives its quota and alerts.
func (s *server) counter(ctx context.Context, p usage.Provider, unit string, days int, f fleet) (providerUsage, error) {
	now := s.now()
	counts, err := s.usage.Daily(ctx, p, now.AddDate(0, 0, 1-days), now)
	if err != nil {
		return providerUsage{}, err
	}
	u := providerUsage{Provider: string(p), Unit: unit, Today: counts[len(counts)-1].Count}
	for _, d := range counts {
		u.Daily = append(u.Daily, dayCount{Day: d.Day.Format(time.DateOnly), Count: d.Count})
	}
	for _, a := range f.alerts[p] {
		u.Alerts = append(u.Alerts, newFiredAlert(a))
	}
	u.Quota = s.quotaOf(p, f)
	if u.Quota == nil {
		return u, nil
	}
	q := u.Quota.quota
	b, err := s.usage.Burn(ctx, p, q)
	if err != nil {
		return u, err
	}
	u.Burn = &burn{
		Period: q.Period.String(), Limit: q.Limit, Used: b.Used, Remaining: b.Remaining, Over: b.Over,
		PeriodStart: b.PeriodStart, PeriodEnd: b.PeriodEnd, DailyAverage: b.DailyAverage, State: burnState(b),
	}
	if !b.Exhausts.IsZero() {
		u.Burn.ExhaustsAt = &b.Exhausts
	}
	return u, nil
}

// A window is a span of recent time the Enrichment Pipeline card counts.
type window struct {
	Name  string        // the query parameter's value
	Label string        // for people: "24 h"
	Span  time.Duration // zero for all time
}

var windows = []window{
	{"1h", "1 h", time.Hour},
	{"24h", "24 h", 24 * time.Hour},
	{"7d", "7 days", 7 * 24 * time.Hour},
	{"30d", "30 days", 30 * 24 * time.Hour},
	{"all", "all time", 0},
}

// windowParam reads the query parameter window, 24h by default.
func windowParam(r *http.Request) (window, error) {
	v := r.URL.Query().Get("window")
	if v == "" {
		v = "24h"
	}
	i := slices.IndexFunc(windows, func(w window) bool { return w.Name == v })
	if i < 0 {
		names := make([]string, len(windows))
		for i, w := range windows {
			names[i] = w.Name
		}
		return window{}, fmt.Errorf("window %q is not one of %s", v, strings.Join(names, ", "))
	}
	return windows[i], nil
}

// Phrase says the window in a sentence: "in the last 24 h".
func (w window) Phrase() string {
	if w.Span == 0 {
		return "at any time"
	}
	return "in the last " + w.Label
}

// since returns the start of w before now; the zero time for all time.
func (w window) since(now time.Time) time.Time {
	if w.Span == 0 {
		return time.Time{}
	}
	return now.Add(-w.Span).UTC()
}

// pipelineCard is the JSON of GET /api/pipeline, for the Enrichment
// Pipeline card.
type pipelineCard struct {
	Window  string         `json:"window"`
	Since   *time.Time     `json:"since"` // null for all time, legacy entries included
	Sources []sourceCounts `json:"sources"`
}

type sourceCounts struct {
	Source string           `json:"source"`
	Total  int64            `json:"total"`
	Counts map[string]int64 `json:"counts"` // by status
	// Aliases counts the entries stored under an older name of the source
	// (sourceAliases), included above: {"sec": 50} under edgar.
	Aliases map[string]int64 `json:"aliases,omitempty"`
}

// sourceAliases are the names earlier versions of the examples gave sources,
// with the provider name each now has: the cards count and list entries
// stored under an alias under the provider's name, so that a source's
// outcomes and its quota meet under one name. (Those versions named SEC
// EDGAR's source sec; usage names the provider edgar.)
var sourceAliases = map[string]string{"sec": string(usage.EDGAR)}

// sourceName returns the name the dashboard shows a stored source under.
func sourceName(stored string) string {
	if name, ok := sourceAliases[stored]; ok {
		return name
	}
	return stored
}

// pipeline serves GET /api/pipeline?window=24h (1h, 24h, 7d, 30d or all).
func (s *server) pipeline(w http.ResponseWriter, r *http.Request) {
	win, err := windowParam(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	if s.statuses == nil {
		writeError(w, http.StatusServiceUnavailable, errNoPostgres)
		return
	}
	card, err := s.pipelineCard(r.Context(), win)
	if err != nil {
		writeError(w, http.StatusBadGateway, s.explain(err))
		return
	}
	writeJSON(w, card)
}

func (s *server) pipelineCard(ctx context.Context, win window) (pipelineCard, error) {
	card := pipelineCard{Window: win.Name, Sources: []sourceCounts{}}
	since := win.since(s.now())
	if !since.IsZero() {
		card.Since = &since
	}
	sums, err := s.statuses.Summary(ctx, since)
	if err != nil {
		return card, err
	}
	for _, sum := range sums {
		name := sourceName(sum.Source)
		i := slices.IndexFunc(card.Sources, func(c sourceCounts) bool { return c.Source == name })
		if i < 0 {
			i = len(card.Sources)
			card.Sources = append(card.Sources, sourceCounts{Source: name, Counts: map[string]int64{}})
		}
		c := &card.Sources[i]
		c.Total += sum.Total
		for st, n := range sum.Counts {
			c.Counts[string(st)] += n
		}
		if name != sum.Source {
			if c.Aliases == nil {
				c.Aliases = map[string]int64{}
			}
			c.Aliases[sum.Source] += sum.Total
		}
	}
	slices.SortFunc(card.Sources, func(a, b sourceCounts) int { return strings.Compare(a.Source, b.Source) })
	return card, nil
}

// errorFeed is the JSON of GET /api/errors: the newest failures.
type errorFeed struct {
	Since  time.Time      `json:"since"`
	Errors []errorFeedRow `json:"errors"`
}

type errorFeedRow struct {
	ProspectID string     `json:"prospectId"`
	Source     string     `json:"source"` // as the cards name it: see sourceAliases
	Error      string     `json:"error"`
	At         *time.Time `json:"at"` // null for legacy entries
}

// errorGroups is the JSON of GET /api/errors?group=1, for the Error Feed
// card: the failures grouped by source and message.
type errorGroups struct {
	Since  time.Time    `json:"since"`
	Groups []errorGroup `json:"groups"`
}

type errorGroup struct {
	Source string         `json:"source"`
	Error  string         `json:"error"`
	Count  int64          `json:"count"`  // failed prospects
	Latest *time.Time     `json:"latest"` // null when all are legacy entries
	Newest []errorFeedRow `json:"newest"` // at most 5, newest first
}

// errors serves GET /api/errors?since=RFC3339&limit=N&group=1 (since defaults
// to 24 hours ago; limit, of failures or of groups, 1 to 1000, default 50;
// group a boolean, default false).
func (s *server) errors(w http.ResponseWriter, r *http.Request) {
	limit, err := intParam(r, "limit", 50, 1, 1000)
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	since := s.now().Add(-24 * time.Hour)
	if v := r.URL.Query().Get("since"); v != "" {
		if since, err = time.Parse(time.RFC3339, v); err != nil {
			writeError(w, http.StatusBadRequest, fmt.Errorf("since %q is not an RFC 3339 time", v))
			return
		}
	}
	group := false
	if v := r.URL.Query().Get("group"); v != "" {
		if group, err = strconv.ParseBool(v); err != nil {
			writeError(w, http.StatusBadRequest, fmt.Errorf("group %q is not 1 or 0", v))
			return
		}
	}
	if s.statuses == nil {
		writeError(w, http.StatusServiceUnavailable, errNoPostgres)
		return
	}
	var feed any
	if group {
		feed, err = s.errorGroups(r.Context(), since, limit)
	} else {
		feed, err = s.errorFeed(r.Context(), since, limit)
	}
	if err != nil {
		writeError(w, http.StatusBadGateway, s.explain(err))
		return
	}
	writeJSON(w, feed)
}

func (s *server) errorFeed(ctx context.Context, since time.Time, limit int) (errorFeed, error) {
	feed := errorFeed{Since: since.UTC(), Errors: []errorFeedRow{}}
	failures, err := s.statuses.Failures(ctx, since, limit)
	if err != nil {
		return feed, err
	}
	for _, f := range failures {
		feed.Errors = append(feed.Errors, feedRow(f))
	}
	return feed, nil
}

func feedRow(f sourcestatus.Failure) errorFeedRow {
	row := errorFeedRow{ProspectID: f.ProspectID, Source: sourceName(f.Source), Error: f.Error}
	if !f.At.IsZero() {
		row.At = &f.At
	}
	return row
}

// errorGroups reads the failures since then grouped by source and message,
// a source's groups under its aliases merged into its own.
func (s *server) errorGroups(ctx context.Context, since time.Time, limit int) (errorGroups, error) {
	feed := errorGroups{Since: since.UTC(), Groups: []errorGroup{}}
	groups, err := s.statuses.FailureGroups(ctx, since, limit)
	if err != nil {
		return feed, err
	}
	for _, g := range groups {
		name := sourceName(g.Source)
		// Groups come newest first: one merged into an earlier one (under
		// an alias) adds to it, in its place.
		i := slices.IndexFunc(feed.Groups, func(e errorGroup) bool { return e.Source == name && e.Error == g.Error })
		if i < 0 {
			i = len(feed.Groups)
			feed.Groups = append(feed.Groups, errorGroup{Source: name, Error: g.Error, Newest: []errorFeedRow{}})
		}
		e := &feed.Groups[i]
		e.Count += g.Count
		if !g.Latest.IsZero() && (e.Latest == nil || g.Latest.After(*e.Latest)) {
			e.Latest = &g.Latest
		}
		for _, f := range g.Newest {
			e.Newest = append(e.Newest, feedRow(f))
		}
		slices.SortStableFunc(e.Newest, newestFirst)
		e.Newest = e.Newest[:min(len(e.Newest), groupNewest)]
	}
	return feed, nil
}

// groupNewest is how many failures a group lists: all that
// sourcestatus.FailureGroup.Newest holds.
const groupNewest = 5

// newestFirst orders feed rows as sourcestatus.Reader.Failures does: newest
// first, those without a time last, then by prospect.
func newestFirst(a, b errorFeedRow) int {
	switch {
	case a.At == nil && b.At != nil:
		return 1
	case a.At != nil && b.At == nil:
		return -1
	case a.At != nil:
		if c := b.At.Compare(*a.At); c != 0 {
			return c
		}
	}
	return strings.Compare(a.ProspectID, b.ProspectID)
}

var errNoPostgres = errors.New("no PostgreSQL configured: start the dashboard with -postgres URL")

// explain adds what to do to a status read that failed because the table
// is missing.
func (s *server) explain(err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42P01" { // undefined_table
		return fmt.Errorf("table %q does not exist: fill it with examples/pipeline, or name yours with -table (%w)", s.table, err)
	}
	return err
}

// intParam reads an integer query parameter within [lo, hi].
func intParam(r *http.Request, name string, def, lo, hi int) (int, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, fmt.Errorf("%s %q is not an integer in %d..%d", name, v, lo, hi)
	}
	return n, nil
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, err error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
}
