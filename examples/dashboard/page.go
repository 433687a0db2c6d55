package main

import (
	"bytes"
	"cmp"
	"context"
	_ "embed"
	"fmt"
	"html/template"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/enrichmeter/enrichmeter/sourcestatus"
)

// The page is drawn on the server from the same cards the JSON endpoints
// serve: page.html holds the markup and its style, this file turns the cards
// into what the markup prints.

//go:embed page.html
var pageHTML string

var pageTemplate = template.Must(template.New("page").Parse(pageHTML))

const (
	chartDays      = 30 // days in each provider's chart
	feedRows       = 20 // failures the Error Feed lists
	refreshSeconds = 30 // how often the page reloads its cards
)

// pageView is what page.html prints.
type pageView struct {
	Now       time.Time
	NowText   string
	Refresh   int
	Attention []attention

	QuotaErr    string
	Calls       []rowView
	Tokens      []rowView
	CallsScale  string // "0 to 1,000 calls a day"
	TokensScale string

	Postgres    bool   // false: the statuses' cards say how to turn them on
	Table       string // the statuses' table
	Window      window
	Windows     []windowLink
	Sources     []sourceView
	PipelineErr string
	Failed      int64 // failed sources in the window, from the pipeline card
	Feed        []failureView
	FeedLimit   int
	FeedErr     string
}

// attention is one line of the page's top: what needs a person now.
type attention struct {
	Level  string // "bad", "warn" or "ok"
	Anchor string // the element it is about
	Head   string
	Text   string
}

// rowView is one counter's row of the API Quota Burn card.
type rowView struct {
	ID       string // element id
	Name     string // "ContactOut"
	State    string // burn state, or "none" without a quota
	Badge    string // the state in words: "Over quota by 279"
	Alert    string // the same in a sentence, when it needs a person: "over quota by 279"
	Caption  string // "2,279 of 2,000 calls this month (114 %)"
	Bar      template.CSS
	Stats    []stat
	Reported *reportedView
	Chart    chart
}

// stat is one labelled figure.
type stat struct {
	Label, Value, Title string
}

type reportedView struct {
	Who, Text, Ago, Exact, All string
}

type windowLink struct {
	Label, Href string
	Current     bool
}

// sourceView is one source's line of the Enrichment Pipeline card.
type sourceView struct {
	Source   string
	Total    string
	Segments []segment
	Counts   []statusCount
}

type segment struct {
	Class string
	Style template.CSS
	Title string
}

type statusCount struct {
	Class, Label, Value string
	Zero                bool
}

type failureView struct {
	Source, Prospect, Error, Ago, Exact, ISO string
}

// page serves the HTML page; ?window= sets the statuses' window (24h by
// default). Each card that cannot be read says why; the others are drawn.
func (s *server) page(w http.ResponseWriter, r *http.Request) {
	win, err := windowParam(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var buf bytes.Buffer
	if err := pageTemplate.Execute(&buf, s.pageView(r.Context(), win)); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = buf.WriteTo(w)
}

func (s *server) pageView(ctx context.Context, win window) pageView {
	now := s.now()
	v := pageView{
		Now: now.UTC(), NowText: now.UTC().Format("Jan 2, 15:04 UTC"), Refresh: refreshSeconds,
		Postgres: s.statuses != nil, Table: s.table, Window: win, FeedLimit: feedRows,
	}
	for _, w := range windows {
		v.Windows = append(v.Windows, windowLink{Label: w.Label, Href: "?window=" + w.Name, Current: w == win})
	}

	if card, err := s.quotaCard(ctx, chartDays); err != nil {
		v.QuotaErr = err.Error()
		v.Attention = append(v.Attention, attention{"bad", "quota", "Usage unreadable:", err.Error()})
	} else {
		v.Calls, v.CallsScale = rows(card.Providers, now)
		v.Tokens, v.TokensScale = rows(card.Tokens, now)
		for _, row := range slices.Concat(v.Calls, v.Tokens) {
			if a, ok := row.attention(); ok {
				v.Attention = append(v.Attention, a)
			}
		}
	}

	if s.statuses != nil {
		since := win.since(now)
		if card, err := s.pipelineCard(ctx, win); err != nil {
			v.PipelineErr = s.explain(err).Error()
		} else {
			v.Sources, v.Failed = sources(card)
		}
		if feed, err := s.errorFeed(ctx, since, feedRows); err != nil {
			v.FeedErr = s.explain(err).Error()
		} else {
			for _, f := range feed.Errors {
				v.Feed = append(v.Feed, failure(f, now))
			}
		}
		if v.Failed > 0 {
			v.Attention = append(v.Attention, attention{"warn", "errors",
				fmt.Sprintf("%s sources failed", commas(v.Failed)), win.Phrase() + "; the newest are in the Error Feed."})
		}
	}
	if len(v.Attention) == 0 {
		v.Attention = append(v.Attention, attention{"ok", "quota", "All quotas on track.", "No provider is over its quota or set to run out this period."})
	}
	return v
}

// names are how the page names the counters.
var names = map[string]string{
	"apollo": "Apollo", "contactout": "ContactOut", "exa": "Exa", "edgar": "SEC EDGAR", "claude": "Claude",
	"claude_input_tokens": "Claude input tokens", "claude_output_tokens": "Claude output tokens",
	"claude_cache_read_tokens": "Claude cache-read tokens", "claude_cache_write_tokens": "Claude cache-write tokens",
}

// rows turns counters into the card's rows, their charts on one scale, and
// says what that scale is.
func rows(counters []providerUsage, now time.Time) ([]rowView, string) {
	if len(counters) == 0 {
		return nil, ""
	}
	series := make([][]dayCount, len(counters))
	for i, u := range counters {
		series[i] = u.Daily
	}
	sc := sharedScale(series...)
	out := make([]rowView, len(counters))
	for i, u := range counters {
		out[i] = row(u, sc, now)
	}
	return out, fmt.Sprintf("0 to %s %s a day", count(sc.Top), counters[0].Unit)
}

func row(u providerUsage, sc scale, now time.Time) rowView {
	name := cmp.Or(names[u.Provider], u.Provider)
	unit := u.Unit // "calls", or which tokens: "input tokens"
	if unit == "tokens" {
		unit = strings.TrimPrefix(name, "Claude ")
	}
	what := name // what the chart counts
	if u.Unit == "calls" {
		what += " calls"
	}
	v := rowView{
		ID: "row-" + u.Provider, Name: name,
		Chart: newChart(fmt.Sprintf("%s per day, last %d days", what, len(u.Daily)), u.Unit, u.Daily, sc),
	}
	if u.Reported != nil {
		v.Reported = reportedOf(name, *u.Reported, now)
	}
	b := u.Burn
	if b == nil {
		var total int64
		for _, d := range u.Daily {
			total += d.Count
		}
		v.State, v.Badge = "none", "No quota set"
		v.Caption = fmt.Sprintf("%s %s in the last %d days", count(total), unit, len(u.Daily))
		v.Stats = []stat{
			{"Today so far", count(u.Today), commas(u.Today)},
			{fmt.Sprintf("Last %d days", len(u.Daily)), count(total), commas(total)},
			{"Average per day", count(total / int64(max(len(u.Daily), 1))), fmt.Sprintf("over the last %d days", len(u.Daily))},
		}
		return v
	}

	period, resets := "this month", day(b.PeriodEnd)
	if b.Period == "day" {
		period, resets = "today", "00:00 UTC"
	}
	share := float64(b.Used) / float64(b.Limit) * 100
	v.State = b.State
	v.Caption = fmt.Sprintf("%s of %s %s %s (%.0f %%)", count(b.Used), count(b.Limit), unit, period, share)
	v.Bar = template.CSS(fmt.Sprintf("width: %.1f%%", min(share, 100)))
	runsOut := stat{"Runs out", "not this period", "at the average daily burn, the quota lasts until it resets"}
	switch b.State {
	case stateOver:
		v.Badge, v.Alert = "Over quota by "+count(b.Over), "over quota by "+count(b.Over)
		runsOut = stat{"Ran out", "already", fmt.Sprintf("%s past the limit of %s", commas(b.Over), commas(b.Limit))}
	case stateUsedUp:
		v.Badge, v.Alert = "Quota used up", "has used its whole quota"
		runsOut = stat{"Ran out", "already", "nothing left until the quota resets"}
	case stateRunsOut:
		v.Badge, v.Alert = "Runs out "+when(*b.ExhaustsAt, now), "runs out "+when(*b.ExhaustsAt, now)+" at this rate"
		runsOut = stat{"Runs out", when(*b.ExhaustsAt, now), exact(*b.ExhaustsAt) + ", at the average daily burn"}
	default:
		v.Badge = "On track"
	}
	remaining := stat{"Remaining", count(b.Remaining), commas(b.Remaining)}
	if b.Over > 0 {
		remaining = stat{"Remaining", "0", commas(b.Over) + " past the limit"}
	}
	v.Stats = []stat{
		{"Used " + period, count(b.Used), commas(b.Used)},
		{"Limit", count(b.Limit), commas(b.Limit) + " per " + b.Period},
		remaining,
		{"Average per day", count(int64(b.DailyAverage + 0.5)), "over the last 7 days"},
		runsOut,
		{"Resets", resets, exact(b.PeriodEnd)},
	}
	return v
}

// attention says what a row's state asks of a person, if anything.
func (v rowView) attention() (attention, bool) {
	switch v.State {
	case stateOver, stateUsedUp:
		return attention{"bad", v.ID, v.Name + " " + v.Alert + ":", v.Caption + "."}, true
	case stateRunsOut:
		return attention{"warn", v.ID, v.Name + " " + v.Alert + ":", v.Caption + ", before its quota resets."}, true
	}
	return attention{}, false
}

// quotaHeader matches the headers that say how much is left: Apollo's
// x-24-hour-requests-left and Anthropic's
// anthropic-ratelimit-tokens-remaining.
var quotaHeader = regexp.MustCompile(`^(?:x-(minute|hourly|daily|24-hour)-requests-left|anthropic-ratelimit-([a-z-]+)-remaining)$`)

// windowWords say the window of Apollo's headers in words.
var windowWords = map[string]string{"minute": "this minute", "hourly": "this hour", "daily": "today", "24-hour": "in 24 h"}

// reportedOf says what the provider itself last reported of its quota:
// the amounts left, then a retry-after or an error status, if any.
func reportedOf(name string, r reported, now time.Time) *reportedView {
	var parts, all []string
	for _, k := range slices.Sorted(maps.Keys(r.Values)) {
		all = append(all, k+": "+r.Values[k])
		m := quotaHeader.FindStringSubmatch(k)
		switch {
		case m == nil:
		case m[1] != "":
			parts = append(parts, r.Values[k]+" requests left "+windowWords[m[1]])
		default:
			parts = append(parts, r.Values[k]+" "+strings.ReplaceAll(m[2], "-", " ")+" left")
		}
	}
	if v, ok := r.Values["retry-after"]; ok {
		parts = append(parts, "retry after "+v+" s")
	}
	if r.Status >= 400 {
		parts = append(parts, fmt.Sprintf("last answer HTTP %d", r.Status))
	}
	if len(parts) == 0 {
		return nil
	}
	return &reportedView{
		Who: name + " itself reports", Text: strings.Join(parts, " · "),
		Ago: ago(r.At, now), Exact: exact(r.At), All: strings.Join(all, "\n"),
	}
}

// statusOrder is the order of the statuses in the Enrichment Pipeline
// card; unknown statuses follow in name order.
var statusOrder = []sourcestatus.Status{
	sourcestatus.Complete, sourcestatus.Failed, sourcestatus.CircuitOpen, sourcestatus.Skipped, sourcestatus.Pending,
}

// sources turns the pipeline card into its lines, and counts the failures.
func sources(card pipelineCard) ([]sourceView, int64) {
	var failed int64
	out := make([]sourceView, 0, len(card.Sources))
	for _, src := range card.Sources {
		v := sourceView{Source: src.Source, Total: commas(src.Total) + " outcomes"}
		if src.Total == 1 {
			v.Total = "1 outcome"
		}
		order := make([]string, 0, len(statusOrder))
		for _, st := range statusOrder {
			order = append(order, string(st))
		}
		for _, st := range slices.Sorted(maps.Keys(src.Counts)) {
			if !slices.Contains(order, st) {
				order = append(order, st)
			}
		}
		for _, st := range order {
			n := src.Counts[st]
			class := "st-" + st
			if !slices.Contains(statusOrder, sourcestatus.Status(st)) {
				class = "st-other"
			}
			label := strings.ReplaceAll(st, "_", " ")
			v.Counts = append(v.Counts, statusCount{Class: class, Label: label, Value: commas(n), Zero: n == 0})
			if n > 0 && src.Total > 0 {
				v.Segments = append(v.Segments, segment{
					Class: class, Title: fmt.Sprintf("%s: %s of %s", label, commas(n), commas(src.Total)),
					Style: template.CSS(fmt.Sprintf("width: %.2f%%", float64(n)/float64(src.Total)*100)),
				})
			}
		}
		failed += src.Counts[string(sourcestatus.Failed)]
		out = append(out, v)
	}
	return out, failed
}

func failure(f errorFeedRow, now time.Time) failureView {
	v := failureView{Source: f.Source, Prospect: f.ProspectID, Error: cmp.Or(f.Error, "(no message)"), Ago: "time unknown", Exact: "written by an older version, without a time"}
	if f.At != nil {
		v.Ago, v.Exact, v.ISO = ago(*f.At, now), exact(*f.At), f.At.UTC().Format(time.RFC3339)
	}
	return v
}
