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
	"strconv"
	"strings"
	"time"

	"github.com/enrichmeter/enrichmeter/sourcestatus"
	"github.com/enrichmeter/enrichmeter/usage"
)

// The page is drawn on the server from the same cards the JSON endpoints
// serve: page.html holds the markup and its style, this file turns the cards
// into what the markup prints.

//go:embed page.html
var pageHTML string

var pageTemplate = template.Must(template.New("page").Parse(pageHTML))

const (
	chartDays      = 30 // days in each provider's chart
	feedRows       = 20 // groups of failures the Error Feed lists
	refreshSeconds = 30 // how often the page reloads its cards
)

// pageView is what page.html prints.
type pageView struct {
	Now     time.Time
	NowText string
	Refresh int
	Banners []banner
	// Order is the place of each column ("quota", "statuses") when they
	// stack on a narrow screen: see cardOrder.
	Order map[string]int

	QuotaErr      string
	QuotaProblems []string // shared entries that could not be read
	Calls         []rowView
	Tokens        []rowView
	CallsScale    string // "0 to 1,000 calls a day"
	TokensScale   string
	Pauses        []pauseView // providers a limiter holds, the soonest end first
	Money         *rowView    // what the counters cost, as a row like theirs
	MoneyScale    string      // "0 to $10 a day"

	Spend         spendView
	SpendErr      string
	SpendProblems []string // entries of the breakdowns that could not be read

	Postgres    bool   // false: the statuses' cards say how to turn them on
	Table       string // the statuses' table
	Window      window
	Windows     []windowLink
	Sources     []sourceView
	Thresholds  string // when a source gets a banner, in words
	PipelineErr string
	Feed        []groupView
	FeedLimit   int
	FeedErr     string
}

// A banner is one line of the page's top: what needs a person now.
type banner struct {
	Level  string // "bad", "warn" or "ok": see levels
	Column string // the column it is about, "quota" or "statuses", for cardOrder
	Anchor string // the element it links to
	Head   string
	Text   string
}

// levels are the banners' levels, worst first.
var levels = []string{"bad", "warn", "ok"}

// bannerKinds are the kinds of banner the top of the page shows, each
// reading what the page has read. The page lists their banners worst level
// first, in this order within a level; another kind of problem is one more
// entry here.
var bannerKinds = []func(v *pageView) []banner{
	unreadableBanners, // a card that could not be read
	sourceBanners,     // a source failing or circuit-open above sourceAlarms
	pauseBanners,      // a provider paused across the fleet
	quotaBanners,      // a quota used up, or on course to run out
	failureBanners,    // failures below sourceAlarms
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
	Origin   origin      // where its quota came from
	Alerts   []alertView // the alerts guards fired this period
	Reported *reportedView
	Paused   *pauseView // the pause a limiter holds its calls in, if any
	Chart    chart
}

// pauseView is a provider a usage.Limiter has paused across the fleet.
type pauseView struct {
	Provider string
	Name     string // "SEC EDGAR"
	Anchor   string // its row's id, or the card's
	Until    string // "14:03:12 UTC"
	In       string // "in 1 min 40 s"
	Exact    string // "2026-11-26 14:03:12 UTC"
	Why      string // what is known of the cause, in a sentence
	end      time.Time
}

// origin says where a row's quota came from, or that it has none, in
// words around a piece of command line: Text, Code, After.
type origin struct {
	Text  string // "Quota enforced by the fleet's guard, written 3 min ago."
	Code  string // "-quota"
	After string
	Title string // the exact time, on hover
	Stale bool   // a guard's quota no guard has written in staleAfter
}

// alertView is one fired alert: "80 % alert fired Nov 26 03:15 UTC".
type alertView struct {
	Text, Title string
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
	ID       string // element id: "source-exa"
	Source   string // its name in the status column: "exa"
	Name     string // for people: "Exa"
	Total    string
	Segments []segment
	Counts   []statusCount
	Aliases  string   // the entries stored under older names, in words
	Alarm    *alarm   // nil while under every sourceAlarm
	Quota    *rowView // its provider's row in the quota card, if it has one
	failed   int64
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

// groupView is one group of the Error Feed: a source's failures with one
// message.
type groupView struct {
	Source, Name, Error string
	Count               string // "20 prospects"
	Ago, Exact, ISO     string // of the newest
	Newest              []failureView
	More                string // "and 15 more", when Newest is not all
}

type failureView struct {
	Prospect, Ago, Exact, ISO string
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
		Postgres: s.statuses != nil, Table: s.table, Window: win, FeedLimit: feedRows, Thresholds: thresholds(),
	}
	for _, w := range windows {
		v.Windows = append(v.Windows, windowLink{Label: w.Label, Href: "?window=" + w.Name, Current: w == win})
	}

	if card, err := s.quotaCard(ctx, chartDays); err != nil {
		v.QuotaErr = err.Error()
	} else {
		v.QuotaProblems = card.Problems
		v.Pauses = pauses(card, now)
		v.Calls, v.CallsScale = rows(card.Providers, now)
		v.Tokens, v.TokensScale = rows(card.Tokens, now)
		for i, row := range v.Calls {
			if j := slices.IndexFunc(v.Pauses, func(p pauseView) bool { return "row-"+p.Provider == row.ID }); j >= 0 {
				v.Calls[i].Paused = &v.Pauses[j]
			}
		}
		if card.Money != nil {
			var money []rowView
			money, v.MoneyScale = rows([]providerUsage{*card.Money}, now)
			v.Money = &money[0]
		}
	}
	if card, err := s.spendCard(ctx); err != nil {
		v.SpendErr = err.Error()
	} else {
		v.SpendProblems = card.Problems
		v.Spend = s.spendView(card)
	}

	if s.statuses != nil {
		var groups []errorGroup
		if feed, err := s.errorGroups(ctx, win.since(now), feedRows); err != nil {
			v.FeedErr = s.explain(err).Error()
		} else {
			groups = feed.Groups
			for _, g := range groups {
				v.Feed = append(v.Feed, group(g, now))
			}
		}
		if card, err := s.pipelineCard(ctx, win); err != nil {
			v.PipelineErr = s.explain(err).Error()
		} else {
			v.Sources = sources(card, v.Calls, groups, win, now)
		}
	}

	for _, kind := range bannerKinds {
		v.Banners = append(v.Banners, kind(&v)...)
	}
	slices.SortStableFunc(v.Banners, func(a, b banner) int {
		return cmp.Compare(slices.Index(levels, a.Level), slices.Index(levels, b.Level))
	})
	if len(v.Banners) == 0 {
		text := "No provider is over its quota or set to run out this period."
		if v.Postgres {
			text += " No source is failing above the thresholds " + win.Phrase() + "."
		}
		v.Banners = append(v.Banners, banner{Level: "ok", Column: "quota", Anchor: "quota", Head: "All quotas on track.", Text: text})
	}
	v.Order = cardOrder(v.Banners)
	return v
}

// unreadableBanners names the cards, and the shared quotas and alerts,
// that could not be read.
func unreadableBanners(v *pageView) []banner {
	var out []banner
	if v.QuotaErr != "" {
		out = append(out, banner{Level: "bad", Column: "quota", Anchor: "quota", Head: "Usage unreadable:", Text: v.QuotaErr})
	}
	if len(v.QuotaProblems) > 0 {
		out = append(out, banner{Level: "warn", Column: "quota", Anchor: "quota", Head: "Shared quotas, alerts or pauses unreadable, left out:", Text: strings.Join(v.QuotaProblems, "; ") + "."})
	}
	if v.SpendErr != "" {
		out = append(out, banner{Level: "bad", Column: "quota", Anchor: "spend", Head: "Spend unreadable:", Text: v.SpendErr})
	}
	if len(v.SpendProblems) > 0 {
		out = append(out, banner{Level: "warn", Column: "quota", Anchor: "spend", Head: "Spend partly unreadable, left out:", Text: strings.Join(v.SpendProblems, "; ") + "."})
	}
	if v.PipelineErr != "" || v.FeedErr != "" {
		out = append(out, banner{Level: "bad", Column: "statuses", Anchor: "pipeline", Head: "Source statuses unreadable:", Text: "the Enrichment Pipeline card says why."})
	}
	return out
}

// pauseBanners names the providers a limiter holds, and until when.
func pauseBanners(v *pageView) []banner {
	var out []banner
	for _, p := range v.Pauses {
		out = append(out, banner{Level: "warn", Column: "quota", Anchor: p.Anchor, Head: p.Name + " is paused until " + p.Until + " (" + p.In + "):", Text: p.Why})
	}
	return out
}

// pauses says the card's pauses, the soonest end first: until when, and
// why, as far as the provider's own last report tells.
func pauses(card quotaCard, now time.Time) []pauseView {
	var out []pauseView
	for _, p := range slices.Sorted(maps.Keys(card.Pauses)) {
		end := card.Pauses[p]
		v := pauseView{
			Provider: p, Name: cmp.Or(names[p], p), Anchor: "quota",
			Until: atSecond(end, now), In: until(end, now), Exact: exact(end), end: end,
			Why: "a usage.Limiter holds its calls across the fleet until then, as a 429 or a Retry-After asks.",
		}
		if i := slices.IndexFunc(card.Providers, func(u providerUsage) bool { return u.Provider == p }); i >= 0 {
			v.Anchor = "row-" + p
			if r := card.Providers[i].Reported; r != nil && (r.Status == http.StatusTooManyRequests || r.Values["retry-after"] != "") {
				answer := fmt.Sprintf("HTTP %d", r.Status)
				if ra := r.Values["retry-after"]; ra != "" {
					if _, err := strconv.Atoi(ra); err == nil {
						ra += " s"
					}
					answer += " with Retry-After " + ra
				}
				v.Why = fmt.Sprintf("it answered %s (%s); a usage.Limiter holds its calls across the fleet until then.", answer, ago(r.At, now))
			}
		}
		out = append(out, v)
	}
	slices.SortStableFunc(out, func(a, b pauseView) int { return a.end.Compare(b.end) })
	return out
}

// quotaBanners names the quotas that are used up or on course to run out.
func quotaBanners(v *pageView) []banner {
	var out []banner
	rows := slices.Concat(v.Calls, v.Tokens)
	if v.Money != nil {
		rows = append(rows, *v.Money)
	}
	for _, row := range rows {
		if b, ok := row.banner(); ok {
			out = append(out, b)
		}
	}
	return out
}

// sourceBanners names the sources over one of sourceAlarms.
func sourceBanners(v *pageView) []banner {
	var out []banner
	for _, src := range v.Sources {
		if a := src.Alarm; a != nil {
			out = append(out, banner{Level: a.Level, Column: "statuses", Anchor: src.ID, Head: src.Name + ": " + a.Head + ".", Text: a.Text})
		}
	}
	return out
}

// failureBanners counts the failures of the sources under every
// sourceAlarm, which the Error Feed lists.
func failureBanners(v *pageView) []banner {
	var failed int64
	alarms := false
	for _, src := range v.Sources {
		if src.Alarm != nil {
			alarms = true
		} else {
			failed += src.failed
		}
	}
	if failed == 0 {
		return nil
	}
	head, text := plural(failed, "failed outcome"), v.Window.Phrase()+": grouped by source and message in the Error Feed."
	if alarms {
		head, text = plural(failed, "other failed outcome"), v.Window.Phrase()+", in sources under the thresholds: grouped in the Error Feed."
	}
	return []banner{{Level: "warn", Column: "statuses", Anchor: "errors", Head: head, Text: text}}
}

// cardOrder places the page's two columns when they stack on a narrow
// screen: those a banner is about first, worst first, the statuses before
// the quotas on a tie (they are short, and say what fails now, where the
// quota card is ten 30-day charts long); the others in the page's order.
func cardOrder(banners []banner) map[string]int {
	worst := map[string]int{} // the worst level of a column's banners
	for _, b := range banners {
		if l := slices.Index(levels, b.Level); b.Level != "ok" {
			if w, ok := worst[b.Column]; !ok || l < w {
				worst[b.Column] = l
			}
		}
	}
	columns := []string{"quota", "statuses"} // the page's order
	onTie := []string{"statuses", "quota"}
	rank := func(c string) int {
		if w, ok := worst[c]; ok {
			return w*len(onTie) + slices.Index(onTie, c)
		}
		return len(levels)*len(onTie) + slices.Index(columns, c)
	}
	order := map[string]int{}
	for _, c := range columns {
		for _, other := range columns {
			if rank(other) < rank(c) {
				order[c]++
			}
		}
	}
	return order
}

// A sourceAlarm is a share of a source's outcomes in the window, in one
// status, that puts the source at the top of the page.
type sourceAlarm struct {
	Status  sourcestatus.Status
	Percent int64 // at least this share of the source's outcomes
	Level   string
}

// sourceAlarms are checked in this order: the first that holds heads the
// source's banner.
var sourceAlarms = []sourceAlarm{
	{sourcestatus.CircuitOpen, 10, "bad"},
	{sourcestatus.Failed, 20, "bad"},
}

// thresholds says sourceAlarms in words.
func thresholds() string {
	var parts []string
	for i, a := range sourceAlarms {
		part := fmt.Sprintf("%s on %d %% or more", statusWords(a.Status), a.Percent)
		if i == 0 {
			part += " of its outcomes"
		}
		parts = append(parts, part)
	}
	return strings.Join(parts, ", or ")
}

// An alarm is a source over one of sourceAlarms.
type alarm struct {
	Level string
	Head  string // "circuit open on 169 of 200 prospects (85 %) in the last 24 h"
	Text  string // what else is known of it
	Line  string // for its line in the Enrichment Pipeline card
}

// percent returns n of total in whole percent, halves rounded up.
func percent(n, total int64) int64 { return (n*200 + total) / (total * 2) }

// names are how the page names the counters.
var names = map[string]string{
	"apollo": "Apollo", "contactout": "ContactOut", "exa": "Exa", "edgar": "SEC EDGAR", "claude": "Claude",
	"money": "Total spend", "claude_input_tokens": "Claude input tokens", "claude_output_tokens": "Claude output tokens",
	"claude_cache_read_tokens": "Claude cache-read tokens", "claude_cache_write_tokens": "Claude cache-write tokens",
}

// A measure writes a counter's amounts: calls and tokens as counts, money
// in dollars.
type measure struct {
	unit  string             // after an amount: "calls", "input tokens", "spent"
	short func(int64) string // at a glance: "13.5 M", "$3.70"
	exact func(int64) string // on hover: "13,512,345", "$3.703701"
	axis  func(int64) string // a chart's tick: "2.5M", "$2.5"
}

// counted is the measure of a count of unit.
func counted(unit string) measure {
	return measure{unit: unit, short: count, exact: commas, axis: axisLabel}
}

// spent is the measure of money, in micro-dollars.
var spent = measure{
	unit:  "spent",
	short: func(n int64) string { return dollars(usage.Micros(n)) },
	exact: func(n int64) string { return usage.Micros(n).String() },
	axis:  moneyAxis,
}

// measureOf returns the measure of a counter of unit ("calls", "tokens" or
// "micros") named name.
func measureOf(unit, name string) measure {
	switch unit {
	case "micros":
		return spent
	case "tokens": // which tokens: "input tokens"
		return counted(strings.TrimPrefix(name, "Claude "))
	}
	return counted(unit)
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
	if counters[0].Unit == "micros" {
		return out, fmt.Sprintf("0 to %s a day", dollars(usage.Micros(sc.Top)))
	}
	return out, fmt.Sprintf("0 to %s %s a day", count(sc.Top), counters[0].Unit)
}

func row(u providerUsage, sc scale, now time.Time) rowView {
	name := cmp.Or(names[u.Provider], u.Provider)
	m := measureOf(u.Unit, name)
	what := name // what the chart counts
	if u.Unit == "calls" {
		what += " calls"
	}
	v := rowView{
		ID: "row-" + u.Provider, Name: name,
		Chart: newChart(fmt.Sprintf("%s per day, last %d days", what, len(u.Daily)), m, u.Daily, sc),
	}
	if u.Reported != nil {
		v.Reported = reportedOf(name, *u.Reported, now)
	}
	v.Origin = originOf(u, m.unit, now)
	for _, a := range u.Alerts {
		v.Alerts = append(v.Alerts, alertOf(a, u.Quota, m.unit))
	}
	b := u.Burn
	if b == nil {
		var total int64
		for _, d := range u.Daily {
			total += d.Count
		}
		v.State, v.Badge = "none", "No quota set"
		v.Caption = fmt.Sprintf("%s %s in the last %d days", m.short(total), m.unit, len(u.Daily))
		v.Stats = []stat{
			{"Today so far", m.short(u.Today), m.exact(u.Today)},
			{fmt.Sprintf("Last %d days", len(u.Daily)), m.short(total), m.exact(total)},
			{"Average per day", m.short(total / int64(max(len(u.Daily), 1))), fmt.Sprintf("over the last %d days", len(u.Daily))},
		}
		return v
	}

	period, resets := "this month", day(b.PeriodEnd)
	if b.Period == "day" {
		period, resets = "today", "00:00 UTC"
	}
	share := float64(b.Used) / float64(b.Limit) * 100
	v.State = b.State
	v.Caption = fmt.Sprintf("%s of %s %s %s (%.0f %%)", m.short(b.Used), m.short(b.Limit), m.unit, period, share)
	v.Bar = template.CSS(fmt.Sprintf("width: %.1f%%", min(share, 100)))
	runsOut := stat{"Runs out", "not this period", "at the average daily burn, the quota lasts until it resets"}
	switch b.State {
	case stateOver:
		v.Badge, v.Alert = "Over quota by "+m.short(b.Over), "over quota by "+m.short(b.Over)
		runsOut = stat{"Ran out", "already", fmt.Sprintf("%s past the limit of %s", m.exact(b.Over), m.exact(b.Limit))}
	case stateUsedUp:
		v.Badge, v.Alert = "Quota used up", "has used its whole quota"
		runsOut = stat{"Ran out", "already", "nothing left until the quota resets"}
	case stateRunsOut:
		v.Badge, v.Alert = "Runs out "+when(*b.ExhaustsAt, now), "runs out "+when(*b.ExhaustsAt, now)+" at this rate"
		runsOut = stat{"Runs out", when(*b.ExhaustsAt, now), exact(*b.ExhaustsAt) + ", at the average daily burn"}
	default:
		v.Badge = "On track"
	}
	remaining := stat{"Remaining", m.short(b.Remaining), m.exact(b.Remaining)}
	if b.Over > 0 {
		remaining = stat{"Remaining", m.short(0), m.exact(b.Over) + " past the limit"}
	}
	v.Stats = []stat{
		{"Used " + period, m.short(b.Used), m.exact(b.Used)},
		{"Limit", m.short(b.Limit), m.exact(b.Limit) + " per " + b.Period},
		remaining,
		{"Average per day", m.short(int64(b.DailyAverage + 0.5)), "over the last 7 days"},
		runsOut,
		{"Resets", resets, exact(b.PeriodEnd)},
	}
	return v
}

// originOf says where u's quota came from, or that it has none.
func originOf(u providerUsage, unit string, now time.Time) origin {
	q := u.Quota
	switch {
	case q == nil && u.Provider == string(usage.Money):
		return origin{Text: "No quota: ", Code: "-quota money=DOLLARS/month", After: " (or /day) sets one here."}
	case q == nil:
		return origin{Text: "No guard shares a quota for it; ", Code: "-quota " + u.Provider + "=LIMIT/month", After: " (or /day) sets one here."}
	case q.Source == fromFlag && u.Provider == string(usage.Money):
		return origin{Text: "Quota set by ", Code: "-quota", After: "."}
	case q.Source == fromFlag && q.Overrides == nil:
		return origin{Text: "Quota set by ", Code: "-quota", After: "; no guard shares one for it."}
	case q.Source == fromFlag:
		o := origin{Text: "Quota set by ", Code: "-quota", Title: "the guard's, written " + exact(*q.Overrides.At)}
		if q.same(q.Overrides) {
			o.After = fmt.Sprintf(", as the fleet's guard enforces it (written %s).", ago(*q.Overrides.At, now))
		} else {
			o.After = fmt.Sprintf(", in place of the fleet's guard's %s (written %s).", quotaWords(q.Overrides, unit), ago(*q.Overrides.At, now))
		}
		return o
	}
	o := origin{Text: fmt.Sprintf("Quota enforced by the fleet's guard, written %s.", ago(*q.At, now)), Title: "shared in Redis by a usage.Guard at " + exact(*q.At)}
	if now.Sub(*q.At) >= staleAfter {
		o.Stale = true
		o.Text = fmt.Sprintf("Quota last written by the fleet's guard %s: a guard that enforces it writes it hourly, so perhaps none does now.", ago(*q.At, now))
	}
	return o
}

// alertOf says when a guard fired a, and of which quota when it is not the
// row's.
func alertOf(a firedAlert, q *quotaInfo, unit string) alertView {
	pct := strconv.FormatFloat(a.Threshold*100, 'f', -1, 64) + " %"
	of := ""
	if q == nil || a.Limit != q.Limit || a.Period != q.Period {
		of = " (of " + quotaWords(&quotaInfo{Limit: a.Limit, Period: a.Period}, unit) + ")"
	}
	return alertView{
		Text:  fmt.Sprintf("%s alert%s fired %s", pct, of, a.At.UTC().Format("Jan 2 15:04 UTC")),
		Title: fmt.Sprintf("%s of %s used by the guard's estimate then; its period ends %s", commas(a.Used), commas(a.Limit), exact(a.Resets)),
	}
}

// quotaWords says a quota in words: "100 calls a day", "2,000 calls a month
// from the 15th".
func quotaWords(q *quotaInfo, unit string) string {
	s := fmt.Sprintf("%s %s a %s", count(q.Limit), unit, q.Period)
	if q.AnchorDay > 1 {
		s += " from the " + ordinal(q.AnchorDay)
	}
	return s
}

// banner says what a row's state asks of a person, if anything.
func (v rowView) banner() (banner, bool) {
	switch v.State {
	case stateOver, stateUsedUp:
		return banner{Level: "bad", Column: "quota", Anchor: v.ID, Head: v.Name + " " + v.Alert + ":", Text: v.Caption + "."}, true
	case stateRunsOut:
		return banner{Level: "warn", Column: "quota", Anchor: v.ID, Head: v.Name + " " + v.Alert + ":", Text: v.Caption + ", before its quota resets."}, true
	}
	return banner{}, false
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

// sources turns the pipeline card into its lines: each source joined to its
// provider's row of calls by its name, and checked against sourceAlarms, in
// words that name its commonest error in groups. Sources over a threshold
// come first.
func sources(card pipelineCard, calls []rowView, groups []errorGroup, win window, now time.Time) []sourceView {
	out := make([]sourceView, 0, len(card.Sources))
	for _, src := range card.Sources {
		v := sourceView{
			ID: "source-" + src.Source, Source: src.Source, Name: cmp.Or(names[src.Source], src.Source),
			Total: plural(src.Total, "outcome"), failed: src.Counts[string(sourcestatus.Failed)],
		}
		if i := slices.IndexFunc(calls, func(r rowView) bool { return r.ID == "row-"+src.Source }); i >= 0 {
			v.Quota = &calls[i]
		}
		var aliases []string
		for _, name := range slices.Sorted(maps.Keys(src.Aliases)) {
			aliases = append(aliases, fmt.Sprintf("%s stored as %s", plural(src.Aliases[name], "outcome"), name))
		}
		if len(aliases) > 0 {
			v.Aliases = "Includes " + strings.Join(aliases, " and ") + " by earlier versions."
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
			label := statusWords(sourcestatus.Status(st))
			v.Counts = append(v.Counts, statusCount{Class: class, Label: label, Value: commas(n), Zero: n == 0})
			if n > 0 && src.Total > 0 {
				v.Segments = append(v.Segments, segment{
					Class: class, Title: fmt.Sprintf("%s: %s of %s", label, commas(n), commas(src.Total)),
					Style: template.CSS(fmt.Sprintf("width: %.2f%%", float64(n)/float64(src.Total)*100)),
				})
			}
		}
		v.Alarm = sourceAlarmOf(src, v.Quota, groups, win, now)
		out = append(out, v)
	}
	// Those over a threshold first, worst first; the others in name order.
	slices.SortStableFunc(out, func(a, b sourceView) int { return cmp.Compare(a.level(), b.level()) })
	return out
}

// level is the rank in levels of the source's alarm, past them without one.
func (v sourceView) level() int {
	if v.Alarm == nil {
		return len(levels)
	}
	return slices.Index(levels, v.Alarm.Level)
}

// sourceAlarmOf returns the first of sourceAlarms src is over, in words, or
// nil.
func sourceAlarmOf(src sourceCounts, quota *rowView, groups []errorGroup, win window, now time.Time) *alarm {
	if src.Total == 0 {
		return nil
	}
	i := slices.IndexFunc(sourceAlarms, func(a sourceAlarm) bool {
		return src.Counts[string(a.Status)]*100 >= a.Percent*src.Total
	})
	if i < 0 {
		return nil
	}
	first := sourceAlarms[i]
	share := func(st sourcestatus.Status) (int64, int64) {
		n := src.Counts[string(st)]
		return n, percent(n, src.Total)
	}
	n, pct := share(first.Status)
	a := &alarm{
		Level: first.Level,
		Head:  fmt.Sprintf("%s on %s of %s (%d %%) %s", statusWords(first.Status), commas(n), plural(src.Total, "prospect"), pct, win.Phrase()),
		Line:  fmt.Sprintf("%s on %d %% of its outcomes (threshold %d %%).", capital(statusWords(first.Status)), pct, first.Percent),
	}
	var text []string
	for _, other := range sourceAlarms {
		if n, pct := share(other.Status); other.Status != first.Status && n > 0 {
			text = append(text, fmt.Sprintf("%s also %s (%d %%).", commas(n), statusWords(other.Status), pct))
		}
	}
	// Its commonest error in the feed's groups, which count every failure
	// in the window.
	var top *errorGroup
	for i, g := range groups {
		if g.Source == src.Source && (top == nil || g.Count > top.Count) {
			top = &groups[i]
		}
	}
	if top != nil {
		latest := "time unknown"
		if top.Latest != nil {
			latest = "latest " + ago(*top.Latest, now)
		}
		text = append(text, fmt.Sprintf("Commonest error: %s (%s, %s).", cmp.Or(top.Error, "(no message)"), plural(top.Count, "prospect"), latest))
	}
	if quota != nil && quota.Alert != "" {
		text = append(text, "Its quota: "+quota.Badge+".")
	}
	a.Text = strings.Join(text, " ")
	return a
}

// statusWords says a status in words: "circuit open".
func statusWords(st sourcestatus.Status) string { return strings.ReplaceAll(string(st), "_", " ") }

// capital returns s with its first letter in upper case.
func capital(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// plural writes n things: "1 outcome", "2,279 outcomes".
func plural(n int64, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return commas(n) + " " + thing + "s"
}

// group turns one group of the Error Feed into what the card shows.
func group(g errorGroup, now time.Time) groupView {
	v := groupView{
		Source: g.Source, Name: cmp.Or(names[g.Source], g.Source), Error: cmp.Or(g.Error, "(no message)"),
		Count: plural(g.Count, "prospect"),
		Ago:   "time unknown", Exact: "written by an older version, without a time",
	}
	if g.Latest != nil {
		v.Ago, v.Exact, v.ISO = ago(*g.Latest, now), exact(*g.Latest), g.Latest.UTC().Format(time.RFC3339)
	}
	for _, f := range g.Newest {
		v.Newest = append(v.Newest, failure(f, now))
	}
	if more := g.Count - int64(len(g.Newest)); more > 0 {
		v.More = "and " + commas(more) + " more"
	}
	return v
}

func failure(f errorFeedRow, now time.Time) failureView {
	v := failureView{Prospect: f.ProspectID, Ago: "time unknown", Exact: "written by an older version, without a time"}
	if f.At != nil {
		v.Ago, v.Exact, v.ISO = ago(*f.At, now), exact(*f.At), f.At.UTC().Format(time.RFC3339)
	}
	return v
}
