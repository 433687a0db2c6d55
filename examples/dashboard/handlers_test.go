package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/enrichmeter/enrichmeter/examples/internal/enrich"
	"github.com/enrichmeter/enrichmeter/internal/testsupport"
	"github.com/enrichmeter/enrichmeter/sourcestatus"
	"github.com/enrichmeter/enrichmeter/usage"
)

var now = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

// newServer returns the dashboard over a miniredis holding exa 10, 20, 30
// calls on the three days up to now, and apollo 5 today, with exa's quota
// of 40 a day set as -quota sets it.
func newServer(t *testing.T) *server {
	mr := miniredis.RunT(t)
	for i, n := range []string{"30", "20", "10"} {
		if err := mr.Set(usage.Key(usage.Exa, now.AddDate(0, 0, -i)), n); err != nil {
			t.Fatal(err)
		}
	}
	if err := mr.Set(usage.Key(usage.Apollo, now), "5"); err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	t.Cleanup(func() { rdb.Close() })
	clock := func() time.Time { return now }
	return &server{
		usage:      usage.NewReader(rdb, usage.WithClock(clock)),
		prices:     usage.DefaultPrices(),
		flagQuotas: quotaFlag{usage.Exa: {Limit: 40, Period: usage.PerDay}},
		table:      sourcestatus.DefaultTable,
		now:        clock,
	}
}

func get(t *testing.T, h http.Handler, url string) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", url, nil))
	return rec
}

func TestQuota(t *testing.T) {
	rec := get(t, newServer(t).routes(), "/api/quota?days=3")
	if rec.Code != 200 || rec.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("status %d, %s: %s", rec.Code, rec.Header().Get("Content-Type"), rec.Body)
	}
	var card quotaCard
	if err := json.Unmarshal(rec.Body.Bytes(), &card); err != nil {
		t.Fatal(err)
	}
	if card.Days != 3 || len(card.Providers) != 5 || len(card.Tokens) != 4 || card.Tokens[0].Unit != "tokens" {
		t.Fatalf("card = %+v", card)
	}
	exa := card.Providers[2]
	if exa.Provider != "exa" || exa.Today != 30 || len(exa.Daily) != 3 ||
		exa.Daily[0] != (dayCount{"2026-11-24", 10}) || exa.Daily[2] != (dayCount{"2026-11-26", 30}) {
		t.Errorf("exa = %+v", exa)
	}
	// 60 calls in the 2.5 days since the first of them: 24 a day, so the 10
	// left of 40 go by 12:00 + 10/24 days = 22:00 today.
	if b := exa.Burn; b == nil || b.Used != 30 || b.Remaining != 10 || b.Over != 0 || b.Period != "day" || b.State != "runs_out" ||
		b.ExhaustsAt == nil || !b.ExhaustsAt.Equal(time.Date(2026, 11, 26, 22, 0, 0, 0, time.UTC)) {
		t.Errorf("exa burn = %+v", exa.Burn)
	}
	if q := exa.Quota; q == nil || q.Source != fromFlag || q.Limit != 40 || q.Period != "day" || q.At != nil || q.Overrides != nil {
		t.Errorf("exa quota = %+v, want -quota's 40 a day", q)
	}
	if apollo := card.Providers[0]; apollo.Today != 5 || apollo.Unit != "calls" || apollo.Burn != nil || apollo.Reported != nil {
		t.Errorf("apollo = %+v", apollo)
	}
}

func TestBurnState(t *testing.T) {
	cases := []struct {
		b    usage.BurnReport
		want string
	}{
		{usage.BurnReport{Used: 2279, Over: 279, Exhausts: now}, "over"},
		{usage.BurnReport{Used: 2000, Exhausts: now}, "used_up"},
		{usage.BurnReport{Used: 1500, Remaining: 500, Exhausts: now.Add(time.Hour)}, "runs_out"},
		{usage.BurnReport{Used: 10, Remaining: 1990}, "ok"},
	}
	for _, c := range cases {
		if got := burnState(c.b); got != c.want {
			t.Errorf("burnState(%+v) = %q, want %q", c.b, got, c.want)
		}
	}
}

func TestQuotaReported(t *testing.T) {
	s, _ := sampleServer(t)
	var card quotaCard
	rec := get(t, s.routes(), "/api/quota")
	if err := json.Unmarshal(rec.Body.Bytes(), &card); rec.Code != 200 || err != nil {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	r := card.Providers[0].Reported
	if r == nil || r.Values["x-24-hour-requests-left"] != "412" || r.Status != 200 || !r.At.Equal(now.Add(-4*time.Minute)) {
		t.Errorf("apollo reported = %+v", r)
	}
	if co := card.Providers[1].Burn; co == nil || co.Used != 2279 || co.Over != 279 || co.State != "over" {
		t.Errorf("contactout burn = %+v", co)
	}
	// The sample's quotas come as a real service's do: from its guard.
	if q := card.Providers[1].Quota; q == nil || q.Source != fromGuard || q.At == nil || !q.At.Equal(now) || q.Limit != 2000 || q.AnchorDay != 15 {
		t.Errorf("contactout quota = %+v, want the sample guard's 2,000 a month from the 15th, written at now", q)
	}
	if a := card.Providers[1].Alerts; len(a) != 2 || a[0].Threshold != 0.8 || a[1].Threshold != 1 || a[1].Used != 2279 {
		t.Errorf("contactout alerts = %+v, want the sample guard's 80 %% and 100 %%", a)
	}
}

func TestBadParametersGet400(t *testing.T) {
	h := newServer(t).routes()
	for _, url := range []string{
		"/api/quota?days=0", "/api/quota?days=91", "/api/quota?days=seven",
		"/api/errors?limit=0", "/api/errors?limit=1001", "/api/errors?limit=x",
		"/api/errors?since=yesterday", "/api/errors?since=2026-11-26",
		"/api/pipeline?window=2d", "/api/pipeline?window=24", "/api/pipeline?window=ALL",
	} {
		rec := get(t, h, url)
		var body map[string]string
		if rec.Code != http.StatusBadRequest || json.Unmarshal(rec.Body.Bytes(), &body) != nil || body["error"] == "" {
			t.Errorf("%s: %d %s, want 400 with a JSON error", url, rec.Code, rec.Body)
		}
	}
}

func TestStatusesWithoutPostgres(t *testing.T) {
	for _, url := range []string{"/api/errors", "/api/pipeline"} {
		rec := get(t, newServer(t).routes(), url)
		if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), "-postgres") {
			t.Errorf("%s: %d %s, want 503 saying how to configure it", url, rec.Code, rec.Body)
		}
	}
}

// statusServer returns newServer reading statuses from a table of three
// prospects in PostgreSQL: failures at 03:15 and 09:00 today and on Nov 20,
// one legacy failure, two completes and a skip.
func statusServer(t *testing.T) *server {
	t.Helper()
	pool := testsupport.Postgres(t)
	ctx := context.Background()
	for _, sql := range []string{
		`CREATE TABLE prospects (id text PRIMARY KEY, enrichment_source_status jsonb)`,
		`INSERT INTO prospects VALUES
		 ('a', '{"exa": {"status": "failed", "error": "HTTP 429", "at": "2026-11-26T03:15:03.123Z"}, "sec": {"status": "complete", "at": "2026-11-26T03:15:00.000Z"}}'),
		 ('b', '{"sec": {"status": "failed", "error": "HTTP 500", "at": "2026-11-26T09:00:00.000Z"}, "exa": "failed"}'),
		 ('c', '{"claude": {"status": "failed", "error": "old", "at": "2026-11-20T00:00:00.000Z"}, "sec": {"status": "skipped", "at": "2026-11-26T10:00:00.000Z"}, "exa": "complete"}')`,
	} {
		if _, err := pool.Exec(ctx, sql); err != nil {
			t.Fatal(err)
		}
	}
	s := newServer(t)
	var err error
	if s.statuses, err = sourcestatus.NewReader(pool); err != nil {
		t.Fatal(err)
	}
	return s
}

// getJSON gets url from h and decodes its 200 answer into v.
func getJSON(t *testing.T, h http.Handler, url string, v any) {
	t.Helper()
	rec := get(t, h, url)
	if err := json.Unmarshal(rec.Body.Bytes(), v); rec.Code != 200 || err != nil {
		t.Fatalf("%s: %d %s", url, rec.Code, rec.Body)
	}
}

func TestErrors(t *testing.T) {
	h := statusServer(t).routes()
	var feed errorFeed
	getJSON(t, h, "/api/errors", &feed) // the last 24 hours
	if len(feed.Errors) != 2 || feed.Errors[0].ProspectID != "b" || feed.Errors[0].Error != "HTTP 500" || feed.Errors[1].Source != "exa" {
		t.Errorf("feed = %+v", feed)
	}
	getJSON(t, h, "/api/errors?since=2026-11-01T00:00:00Z&limit=3", &feed)
	if len(feed.Errors) != 3 || feed.Errors[2].Error != "old" {
		t.Errorf("feed since Nov 1 = %+v", feed)
	}
}

// TestPipeline counts each source's outcomes in a window; entries stored
// as sec, as earlier versions named SEC EDGAR's source, count under edgar.
func TestPipeline(t *testing.T) {
	h := statusServer(t).routes()
	type counts struct {
		Source  string           `json:"source"`
		Total   int64            `json:"total"`
		Counts  map[string]int64 `json:"counts"`
		Aliases map[string]int64 `json:"aliases"`
	}
	edgar := counts{Source: "edgar", Total: 3, Counts: map[string]int64{"complete": 1, "failed": 1, "skipped": 1}, Aliases: map[string]int64{"sec": 3}}
	cases := []struct {
		url   string
		since string // RFC 3339, empty for null
		want  []counts
	}{
		{"/api/pipeline", "2026-11-25T12:00:00Z", []counts{edgar, {Source: "exa", Total: 1, Counts: map[string]int64{"failed": 1}}}},
		{"/api/pipeline?window=1h", "2026-11-26T11:00:00Z", []counts{}},
		{"/api/pipeline?window=all", "", []counts{ // legacy entries too
			{Source: "claude", Total: 1, Counts: map[string]int64{"failed": 1}},
			edgar,
			{Source: "exa", Total: 3, Counts: map[string]int64{"complete": 1, "failed": 2}},
		}},
	}
	for _, c := range cases {
		var card struct {
			Since   *time.Time `json:"since"`
			Sources []counts   `json:"sources"`
		}
		getJSON(t, h, c.url, &card)
		since := ""
		if card.Since != nil {
			since = card.Since.Format(time.RFC3339)
		}
		if since != c.since || !reflect.DeepEqual(card.Sources, c.want) {
			t.Errorf("%s = since %q, %+v; want since %q, %+v", c.url, since, card.Sources, c.since, c.want)
		}
	}
}

// TestMissingTable shows that a status table that does not exist is
// explained, with what to do, in the JSON and on the page.
func TestMissingTable(t *testing.T) {
	s := newServer(t)
	var err error
	if s.statuses, err = sourcestatus.NewReader(testsupport.Postgres(t)); err != nil {
		t.Fatal(err)
	}
	h := s.routes()
	for _, url := range []string{"/api/pipeline", "/api/errors"} {
		if rec := get(t, h, url); rec.Code != http.StatusBadGateway || !strings.Contains(rec.Body.String(), "examples/pipeline") {
			t.Errorf("%s: %d %s, want 502 saying how to fill the table", url, rec.Code, rec.Body)
		}
	}
	if rec := get(t, h, "/"); rec.Code != 200 || strings.Count(rec.Body.String(), "does not exist: fill it with examples/pipeline") != 2 {
		t.Errorf("the page does not explain the missing table in both cards:\n%s", rec.Body)
	}
}

func TestPage(t *testing.T) {
	s, _ := sampleServer(t)
	h := s.routes()
	rec := get(t, h, "/")
	body := rec.Body.String()
	if rec.Code != 200 || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") || rec.Header().Get("Cache-Control") != "no-store" {
		t.Fatalf("%d %s", rec.Code, rec.Header())
	}
	for _, want := range []string{
		"<title>Enrichment health</title>",
		`<li class="bad"><a href="#row-contactout"><strong>ContactOut over quota by 279:</strong> 2,279 of 2,000 calls this month (114 %).</a></li>`,
		`<li class="warn"><a href="#row-claude_input_tokens"><strong>Claude input tokens runs out Nov 28 at this rate:</strong>`,
		`<article class="row s-over" id="row-contactout">`,
		"Apollo itself reports:</span> 412 requests left in 24 h · 48 requests left this minute",
		"every provider on one scale (0 to 800 calls a day)",
		"-postgres",
		// The sample's limiter paused SEC EDGAR at now, for samplePause.
		`<li class="warn"><a href="#row-edgar"><strong>SEC EDGAR is paused until 12:10:00 UTC (in 10 min):</strong> it answered HTTP 429 with Retry-After 600 s (just now); a usage.Limiter holds its calls across the fleet until then.</a></li>`,
		`title="2026-11-26 12:10:00 UTC, in 10 min: it answered HTTP 429`,
		`>Paused until 12:10:00 UTC</span>`,
		// Its spend of three models and of no model, and its top spenders.
		`<tr id="spend-model-claude-sonnet-4-5-20250929">`, `<tr id="spend-model-claude-opus-4-5-20251101">`,
		`<tr id="spend-model-claude-haiku-4-5-20251001">`, `<tr id="spend-model-none">`,
		`Claude&#39;s tokens at Anthropic&#39;s list prices of 2025-11-24`,
		`<article class="row s-none" id="row-money">`,
		`<h2 id="spenders-title">Top spenders</h2>`, `<td>1</td><th scope="row">acme</th>`, `<i>other</i>`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the page lacks %s", want)
		}
	}
	if n := strings.Count(body, "<svg"); n != 10 {
		t.Errorf("%d charts, want 10: 5 providers, 4 token counters and money", n)
	}
	for url, code := range map[string]int{"/?window=7d": 200, "/?window=2d": 400, "/nope": 404} {
		if rec := get(t, h, url); rec.Code != code {
			t.Errorf("%s: %d, want %d", url, rec.Code, code)
		}
	}
}

// TestPageWithStatuses shows the statuses' cards on the page, in the chosen
// window.
func TestPageWithStatuses(t *testing.T) {
	h := statusServer(t).routes()
	body := get(t, h, "/").Body.String()
	for _, want := range []string{
		`<li class="bad"><a href="#source-edgar"><strong>SEC EDGAR: failed on 1 of 3 prospects (33 %) in the last 24 h.</strong> Commonest error: HTTP 500 (1 prospect, latest 3 h ago).</a></li>`,
		`<li class="bad"><a href="#source-exa"><strong>Exa: failed on 1 of 1 prospect (100 %) in the last 24 h.</strong>`,
		`<div class="source alarm-bad" id="source-edgar">`,
		`<h3 title="stored as edgar">SEC EDGAR</h3><span class="muted">3 outcomes</span>`,
		`Includes 3 outcomes stored as sec by earlier versions.`,
		`<li class="st-failed"><i></i>failed <b>1</b></li>`,
		`<span class="src" title="stored as edgar">SEC EDGAR</span> · <span class="msg">HTTP 500</span>`,
		`<b>1 prospect</b> · latest <time datetime="2026-11-26T09:00:00Z" title="2026-11-26 09:00:00 UTC">3 h ago</time>`,
		`<a href="?window=24h" aria-current="true">24 h</a>`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the page lacks %s", want)
		}
	}
	body = get(t, h, "/?window=all").Body.String()
	for _, want := range []string{`<span class="msg">old</span>`, `title="written by an older version, without a time">time unknown</time>`} {
		if !strings.Contains(body, want) {
			t.Errorf("the page of all time lacks %s", want)
		}
	}
}

// sampleServer returns the dashboard over a miniredis holding the sample
// month up to now, and a client of that miniredis. The miniredis's clock
// stands at now, so that the sample's pause ends samplePause after it.
func sampleServer(t *testing.T) (*server, *redis.Client) {
	t.Helper()
	mr := miniredis.RunT(t)
	mr.SetTime(now)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	t.Cleanup(func() { _ = rdb.Close() })
	if err := seedSample(context.Background(), rdb, now); err != nil {
		t.Fatal(err)
	}
	clock := func() time.Time { return now }
	return &server{usage: usage.NewReader(rdb, usage.WithClock(clock)), prices: usage.DefaultPrices(), table: sourcestatus.DefaultTable, now: clock}, rdb
}

// outageAt is when outageServer's prospect i was enriched: one every 20
// seconds, the last 20 seconds before now.
func outageAt(i int) time.Time { return now.Add(-time.Duration(200-i) * 20 * time.Second) }

// outageServer returns the dashboard over what a pipeline leaves when Exa's
// circuit opens, written through the library as a pipeline writes it, and
// its 200 prospects. In PostgreSQL, through a sourcestatus.Updater: Exa
// complete for the first 11 prospects, failed with HTTP 503 for the next 20,
// circuit open for the last 169; ContactOut and Claude complete; SEC EDGAR
// skipped for private companies, written as sec (as earlier versions named
// it) for the first 50, failed with HTTP 500 for prospects 3 and 4 (as sec)
// and 60 (as edgar). In a miniredis, through a usage.Tracker: ContactOut's
// 2,100 calls today, past its 2,000 a month, and Exa's 31; and the quotas
// (sampleQuotas) through the pipeline's usage.Guard, which shares them.
func outageServer(t *testing.T) (*server, []enrich.Prospect) {
	t.Helper()
	pool := testsupport.Postgres(t)
	ctx := context.Background()
	prospects := enrich.Prospects(200)
	if err := enrich.CreateTable(ctx, pool, sourcestatus.DefaultTable, prospects...); err != nil {
		t.Fatal(err)
	}
	u, err := sourcestatus.NewUpdater(pool)
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range prospects {
		at := outageAt(i)
		exa := sourcestatus.Payload{Status: sourcestatus.Complete}
		switch {
		case i >= 31:
			exa = sourcestatus.Payload{Status: sourcestatus.CircuitOpen, Error: "too many recent failures"}
		case i >= 11:
			exa = sourcestatus.FromHTTP(&http.Response{StatusCode: http.StatusServiceUnavailable}, nil)
		}
		edgar, edgarName := sourcestatus.Payload{Status: sourcestatus.Complete}, "edgar"
		if p.Ticker == "" {
			edgar = sourcestatus.Payload{Status: sourcestatus.Skipped, Error: "private company"}
		}
		if i == 3 || i == 4 || i == 60 {
			edgar = sourcestatus.FromHTTP(&http.Response{StatusCode: http.StatusInternalServerError}, nil)
		}
		if i < 50 {
			edgarName = "sec"
		}
		for source, outcome := range map[string]sourcestatus.Payload{
			"exa": exa, edgarName: edgar,
			"contactout": {Status: sourcestatus.Complete}, "claude": {Status: sourcestatus.Complete},
		} {
			outcome.At = at
			if err := u.Update(ctx, p.ID, source, outcome); err != nil {
				t.Fatal(err)
			}
		}
	}

	rdb := redis.NewClient(&redis.Options{Addr: miniredis.RunT(t).Addr()})
	t.Cleanup(func() { _ = rdb.Close() })
	clock := func() time.Time { return now }
	tracker := usage.NewTracker(rdb, usage.WithClock(clock))
	for range 2100 {
		tracker.Track(usage.ContactOut)
	}
	for range 31 {
		tracker.Track(usage.Exa)
	}
	if err := tracker.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	runGuard(t, tracker, sampleQuotas)
	if err := tracker.Close(ctx); err != nil {
		t.Fatal(err)
	}
	r, err := sourcestatus.NewReader(pool)
	if err != nil {
		t.Fatal(err)
	}
	return &server{
		usage: usage.NewReader(rdb, usage.WithClock(clock)), prices: usage.DefaultPrices(),
		statuses: r, table: sourcestatus.DefaultTable, now: clock,
	}, prospects
}

// TestErrorsGrouped reads the outage's Error Feed grouped by source and
// message: Exa's 20 alike failures are one group, SEC EDGAR's failures
// stored as sec and as edgar another, the newer first; and the flat form
// still lists each failure.
func TestErrorsGrouped(t *testing.T) {
	s, prospects := outageServer(t)
	h := s.routes()
	type row struct {
		ProspectID string     `json:"prospectId"`
		Source     string     `json:"source"`
		Error      string     `json:"error"`
		At         *time.Time `json:"at"`
	}
	var grouped struct {
		Since  time.Time `json:"since"`
		Groups []struct {
			Source string     `json:"source"`
			Error  string     `json:"error"`
			Count  int64      `json:"count"`
			Latest *time.Time `json:"latest"`
			Newest []row      `json:"newest"`
		} `json:"groups"`
	}
	getJSON(t, h, "/api/errors?group=1", &grouped)
	newest := func(source, error string, ids ...int) string {
		var out []string
		for _, i := range ids {
			out = append(out, fmt.Sprintf("%s %s %s %s", prospects[i].ID, source, error, outageAt(i).Format(time.RFC3339)))
		}
		return strings.Join(out, "\n")
	}
	cases := []struct {
		source, error string
		count         int64
		latest        time.Time
		newest        string
	}{
		{"edgar", "HTTP 500", 3, outageAt(60), newest("edgar", "HTTP 500", 60, 4, 3)},
		{"exa", "HTTP 503", 20, outageAt(30), newest("exa", "HTTP 503", 30, 29, 28, 27, 26)},
	}
	if len(grouped.Groups) != len(cases) || !grouped.Since.Equal(now.Add(-24*time.Hour)) {
		t.Fatalf("/api/errors?group=1 = %+v, want %d groups since 24 h ago", grouped, len(cases))
	}
	for i, c := range cases {
		g := grouped.Groups[i]
		var rows []string
		for _, r := range g.Newest {
			rows = append(rows, fmt.Sprintf("%s %s %s %s", r.ProspectID, r.Source, r.Error, r.At.Format(time.RFC3339)))
		}
		if g.Source != c.source || g.Error != c.error || g.Count != c.count || g.Latest == nil || !g.Latest.Equal(c.latest) ||
			strings.Join(rows, "\n") != c.newest {
			t.Errorf("group %d = %s %q %d latest %v, newest\n%s\nwant %s %q %d latest %v, newest\n%s",
				i, g.Source, g.Error, g.Count, g.Latest, strings.Join(rows, "\n"), c.source, c.error, c.count, c.latest, c.newest)
		}
	}
	getJSON(t, h, "/api/errors?group=1&limit=1", &grouped)
	if len(grouped.Groups) != 1 || grouped.Groups[0].Source != "edgar" {
		t.Errorf("/api/errors?group=1&limit=1 = %+v, want edgar's group", grouped.Groups)
	}

	var flat struct {
		Errors []row `json:"errors"`
	}
	for _, url := range []string{"/api/errors?limit=4", "/api/errors?limit=4&group=0"} {
		getJSON(t, h, url, &flat)
		var got []string
		for _, r := range flat.Errors {
			got = append(got, r.ProspectID+" "+r.Source+" "+r.Error)
		}
		want := []string{prospects[60].ID + " edgar HTTP 500", prospects[30].ID + " exa HTTP 503", prospects[29].ID + " exa HTTP 503", prospects[28].ID + " exa HTTP 503"}
		if !slices.Equal(got, want) {
			t.Errorf("%s = %q, want %q", url, got, want)
		}
	}
}

// TestPipelineNamesSourcesAsProviders shows SEC EDGAR's outcomes under the
// name its quota has, edgar, those stored as sec by earlier versions
// included and counted apart.
func TestPipelineNamesSourcesAsProviders(t *testing.T) {
	s, _ := outageServer(t)
	var card struct {
		Sources []struct {
			Source  string           `json:"source"`
			Total   int64            `json:"total"`
			Counts  map[string]int64 `json:"counts"`
			Aliases map[string]int64 `json:"aliases"`
		} `json:"sources"`
	}
	getJSON(t, s.routes(), "/api/pipeline", &card)
	var got []string
	for _, src := range card.Sources {
		got = append(got, fmt.Sprintf("%s %d %v %v", src.Source, src.Total, src.Counts, src.Aliases))
	}
	want := []string{
		"claude 200 map[complete:200] map[]",
		"contactout 200 map[complete:200] map[]",
		"edgar 200 map[complete:131 failed:3 skipped:66] map[sec:50]",
		"exa 200 map[circuit_open:169 complete:11 failed:20] map[]",
	}
	if !slices.Equal(got, want) {
		t.Errorf("/api/pipeline sources =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// runGuard runs a usage.Guard of quotas, with alerts, on tracker for one
// refresh, as a service's guard does at start-up: it shares its quotas in
// Redis and records the alerts it fires.
func runGuard(t *testing.T, tracker *usage.Tracker, quotas map[usage.Provider]usage.Quota) {
	t.Helper()
	ctx := context.Background()
	guard, err := usage.NewGuard(tracker, quotas, usage.WithAlert(func(usage.Alert) {}))
	if err != nil {
		t.Fatal(err)
	}
	if err := guard.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if err := guard.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

// guardAt is when fleetServer's service counted its calls and its guard
// refreshed: 3 minutes before now.
var guardAt = now.Add(-3 * time.Minute)

// fleetServer writes to the Redis at addr, through the library as a service
// does at guardAt, today's calls: Apollo 30, SEC EDGAR 40, ContactOut 7;
// and then refreshes the service's usage.Guard, whose quotas are Apollo's 30
// a day (so used up) and SEC EDGAR's 100 a day: it shares them and records
// Apollo's 80 % and 100 % alerts. It returns the dashboard that the command
// builds with -redis on that Redis and the flags given.
func fleetServer(t *testing.T, addr string, flags ...string) *server {
	t.Helper()
	ctx := context.Background()
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { _ = rdb.Close() })
	tracker := usage.NewTracker(rdb, usage.WithClock(func() time.Time { return guardAt }))
	for p, n := range map[usage.Provider]int{usage.Apollo: 30, usage.EDGAR: 40, usage.ContactOut: 7} {
		for range n {
			tracker.Track(p)
		}
	}
	if err := tracker.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	runGuard(t, tracker, map[usage.Provider]usage.Quota{
		usage.Apollo: {Limit: 30, Period: usage.PerDay},
		usage.EDGAR:  {Limit: 100, Period: usage.PerDay},
	})
	if err := tracker.Close(ctx); err != nil {
		t.Fatal(err)
	}
	return dashboardOn(t, addr, flags...)
}

// dashboardOn returns the dashboard that the command builds with -redis on
// the Redis at addr, no PostgreSQL, and the flags given.
func dashboardOn(t *testing.T, addr string, flags ...string) *server {
	t.Helper()
	c, err := parseFlags(append([]string{"-redis", "redis://" + addr, "-postgres="}, flags...))
	if err != nil {
		t.Fatal(err)
	}
	s, closeAll, err := open(context.Background(), c, func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(closeAll)
	return s
}

// sharedJSON is what /api/quota says of each provider's quota, as sent.
type sharedJSON struct {
	Providers []struct {
		Provider string          `json:"provider"`
		Today    int64           `json:"today"`
		Quota    json.RawMessage `json:"quota"`
		Burn     *burn           `json:"burn"`
		Alerts   json.RawMessage `json:"alerts"`
	} `json:"providers"`
	Tokens []struct {
		Provider string          `json:"provider"`
		Quota    json.RawMessage `json:"quota"`
	} `json:"tokens"`
	Problems []string `json:"problems"`
}

// TestQuotaFromTheFleet reads /api/quota on a Redis a service wrote through
// the library (fleetServer), as the command serves it with -redis and two
// -quota flags: Apollo's quota is the guard's 30 a day, used up, never the
// sample's 10,000, with the guard's alerts; ContactOut, which no guard
// limits, has none; SEC EDGAR's guard quota is replaced by -quota's, which
// says what it replaces; Exa's is -quota's alone; the token counters have
// none. On a miniredis, and on a redis-server of the test's own when
// ENRICHMETER_TEST_REDIS is set.
func TestQuotaFromTheFleet(t *testing.T) {
	servers := map[string]func(t *testing.T) string{
		"miniredis":    func(t *testing.T) string { return miniredis.RunT(t).Addr() },
		"redis-server": func(t *testing.T) string { return testsupport.StartRedisServer(t).Addr },
	}
	for name, start := range servers {
		t.Run(name, func(t *testing.T) {
			s := fleetServer(t, start(t), "-quota", "edgar=1000/day", "-quota", "exa=500/day")
			var card sharedJSON
			getJSON(t, s.routes(), "/api/quota", &card)
			const at = `"at":"2026-11-26T11:57:00Z"`
			want := map[string]struct {
				today         int64
				quota, alerts string // as sent; empty when left out
				used, limit   int64
				state         string // empty without a burn
			}{
				"apollo": {30, `{"limit":30,"period":"day","source":"guard",` + at + `}`,
					`[{"threshold":0.8,"used":30,"limit":30,"period":"day",` + at + `,"resets":"2026-11-27T00:00:00Z"},` +
						`{"threshold":1,"used":30,"limit":30,"period":"day",` + at + `,"resets":"2026-11-27T00:00:00Z"}]`,
					30, 30, stateUsedUp},
				"contactout": {7, "", "", 0, 0, ""},
				"exa":        {0, `{"limit":500,"period":"day","source":"flag"}`, "", 0, 500, stateOK},
				"edgar": {40, `{"limit":1000,"period":"day","source":"flag","overrides":{"limit":100,"period":"day","source":"guard",` + at + `}}`,
					"", 40, 1000, stateOK},
				"claude": {0, "", "", 0, 0, ""},
			}
			if len(card.Providers) != len(want) || len(card.Problems) != 0 {
				t.Fatalf("/api/quota has %d providers and problems %q, want %d and none", len(card.Providers), card.Problems, len(want))
			}
			for _, u := range card.Providers {
				w := want[u.Provider]
				if u.Today != w.today || string(u.Quota) != w.quota || string(u.Alerts) != w.alerts {
					t.Errorf("%s: today %d, quota %s, alerts %s;\nwant today %d, quota %s, alerts %s", u.Provider, u.Today, u.Quota, u.Alerts, w.today, w.quota, w.alerts)
				}
				switch b := u.Burn; {
				case w.state == "" && b != nil:
					t.Errorf("%s: burn %+v, want none without a quota", u.Provider, b)
				case w.state != "" && (b == nil || b.Used != w.used || b.Limit != w.limit || b.State != w.state):
					t.Errorf("%s: burn %+v, want %d of %d, %s", u.Provider, b, w.used, w.limit, w.state)
				}
			}
			for _, u := range card.Tokens {
				if u.Quota != nil {
					t.Errorf("%s: quota %s, want none: no guard or flag sets one", u.Provider, u.Quota)
				}
			}
		})
	}
}

// TestQuotaOnRealDataWithoutAGuard serves a Redis that holds counts and
// nothing a guard shared, as a service without a guard leaves it: no
// provider has a quota, where the sample's were shown before.
func TestQuotaOnRealDataWithoutAGuard(t *testing.T) {
	mr := miniredis.RunT(t)
	if err := mr.Set(usage.Key(usage.Apollo, now), "30"); err != nil {
		t.Fatal(err)
	}
	h := dashboardOn(t, mr.Addr()).routes()
	var card sharedJSON
	getJSON(t, h, "/api/quota", &card)
	for _, u := range card.Providers {
		if u.Quota != nil || u.Burn != nil {
			t.Errorf("%s: quota %s, burn %+v; want none", u.Provider, u.Quota, u.Burn)
		}
	}
	body := get(t, h, "/").Body.String()
	for _, want := range []string{
		`<article class="row s-none" id="row-apollo">`,
		`No guard shares a quota for it; <code>-quota apollo=LIMIT/month</code> (or /day) sets one here.`,
		`All quotas on track.`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the page lacks %s", want)
		}
	}
	if strings.Contains(body, "10,000") {
		t.Errorf("the page shows the sample's 10,000 on real data")
	}
}

// TestQuotaIsReadAtEachLoad changes the fleet's quota between two loads:
// the second shows the new one, without a restart.
func TestQuotaIsReadAtEachLoad(t *testing.T) {
	mr := miniredis.RunT(t)
	h := fleetServer(t, mr.Addr()).routes()
	quotaOf := func() string {
		var card sharedJSON
		getJSON(t, h, "/api/quota", &card)
		return string(card.Providers[0].Quota)
	}
	if got, want := quotaOf(), `{"limit":30,"period":"day","source":"guard","at":"2026-11-26T11:57:00Z"}`; got != want {
		t.Fatalf("apollo's quota = %s, want %s", got, want)
	}
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	t.Cleanup(func() { _ = rdb.Close() })
	tracker := usage.NewTracker(rdb, usage.WithClock(func() time.Time { return now.Add(-time.Minute) }))
	runGuard(t, tracker, map[usage.Provider]usage.Quota{usage.Apollo: {Limit: 9000, Period: usage.PerMonth, AnchorDay: 15}})
	if err := tracker.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got, want := quotaOf(), `{"limit":9000,"period":"month","anchorDay":15,"source":"guard","at":"2026-11-26T11:59:00Z"}`; got != want {
		t.Errorf("after a guard shared another, apollo's quota = %s, want %s", got, want)
	}
}

// TestUnreadableSharedQuota breaks one provider's shared quota: the others
// are shown, and the broken one is named in the JSON and at the top of the
// page.
func TestUnreadableSharedQuota(t *testing.T) {
	mr := miniredis.RunT(t)
	h := fleetServer(t, mr.Addr()).routes()
	mr.HSet("{api_usage}:quotas", "exa", `{"limit":1000,"period":"week"}`)
	var card sharedJSON
	getJSON(t, h, "/api/quota", &card)
	if len(card.Problems) != 1 || !strings.Contains(card.Problems[0], "exa") || !strings.Contains(card.Problems[0], "week") {
		t.Errorf("problems = %q, want exa's period named", card.Problems)
	}
	if card.Providers[0].Quota == nil || card.Providers[2].Quota != nil {
		t.Errorf("apollo's quota %s, exa's %s; want apollo's and none for exa", card.Providers[0].Quota, card.Providers[2].Quota)
	}
	body := get(t, h, "/").Body.String()
	if want := `<li class="warn"><a href="#quota"><strong>Shared quotas, alerts or pauses unreadable, left out:</strong> usage: entry exa of {api_usage}:quotas: period &#34;week&#34; is neither day nor month.</a></li>`; !strings.Contains(body, want) {
		t.Errorf("the page lacks %s", want)
	}
}
