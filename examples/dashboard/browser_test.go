package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/chromedp/chromedp"
	"github.com/redis/go-redis/v9"

	"github.com/enrichmeter/enrichmeter/examples/internal/enrich"
	"github.com/enrichmeter/enrichmeter/internal/testsupport"
	"github.com/enrichmeter/enrichmeter/sourcestatus"
	"github.com/enrichmeter/enrichmeter/usage"
)

// envScreenshots names a folder to keep the browser test's screenshots in;
// unset, they go to the test's temporary folder, which ends with it.
const envScreenshots = "ENRICHMETER_SCREENSHOTS"

// widths are the page widths the browser test checks: a phone and a desktop.
var widths = []int64{375, 1440}

// TestBrowser loads the dashboard, served over the sample month, in a
// headless Chromium at a phone's and a desktop's width, and checks what a
// person sees there: each row's figures are the ones in Redis, ContactOut is
// marked over quota in words, nothing is wider than the screen, and the
// console has no error. With PostgreSQL it also writes failures through
// sourcestatus and finds them in the Error Feed, before and after the page
// refreshes itself. It saves a full-page screenshot at each width, of all
// three cards when it has PostgreSQL.
func TestBrowser(t *testing.T) {
	browser := startChromium(t)

	t.Run("without PostgreSQL", func(t *testing.T) {
		s, rdb := sampleServer(t)
		site := httptest.NewServer(s.routes())
		t.Cleanup(site.Close)
		for _, width := range widths {
			tab := openTab(t, browser, width, site.URL)
			checkQuotaCard(t, tab, rdb)
			for _, card := range []string{"#pipeline", "#errors"} {
				if text := textOf(t, tab, card); !strings.Contains(text, "-postgres") {
					t.Errorf("%s without PostgreSQL does not say how to turn it on:\n%s", card, text)
				}
			}
			if os.Getenv(testsupport.EnvPostgres) == "" { // else the next subtest shoots all three cards
				saveScreenshot(t, tab, fmt.Sprintf("dashboard-no-postgres-%d.png", width))
			}
		}
	})

	t.Run("with PostgreSQL", func(t *testing.T) {
		pool := testsupport.Postgres(t)
		ctx := context.Background()
		prospects := enrich.Prospects(4)
		if err := enrich.CreateTable(ctx, pool, sourcestatus.DefaultTable, prospects...); err != nil {
			t.Fatal(err)
		}
		u, err := sourcestatus.NewUpdater(pool)
		if err != nil {
			t.Fatal(err)
		}
		leaky := &url.Error{Op: "Get", URL: "https://api.contactout.com/v1/people?api_key=s3cret", Err: errors.New("connection refused")}
		for _, w := range []struct {
			prospect int
			source   string
			p        sourcestatus.Payload
		}{
			{0, "exa", sourcestatus.FromHTTP(&http.Response{StatusCode: http.StatusTooManyRequests}, nil)},
			{1, "contactout", sourcestatus.FromHTTP(nil, leaky)},
			{0, "contactout", sourcestatus.Payload{Status: sourcestatus.Complete}},
			{1, "exa", sourcestatus.Payload{Status: sourcestatus.Complete}},
			{2, "edgar", sourcestatus.Payload{Status: sourcestatus.Skipped, Error: "private company"}},
			{3, "claude", sourcestatus.Payload{Status: sourcestatus.CircuitOpen, Error: "too many recent failures"}},
		} {
			w.p.At = now.Add(-3 * time.Minute)
			if w.source == "contactout" && w.p.Status == sourcestatus.Failed {
				w.p.At = now.Add(-2 * time.Hour)
			}
			if err := u.Update(ctx, prospects[w.prospect].ID, w.source, w.p); err != nil {
				t.Fatal(err)
			}
		}

		s, rdb := sampleServer(t)
		if s.statuses, err = sourcestatus.NewReader(pool); err != nil {
			t.Fatal(err)
		}
		site := httptest.NewServer(s.routes())
		t.Cleanup(site.Close)
		for i, width := range widths {
			tab := openTab(t, browser, width, site.URL)
			checkQuotaCard(t, tab, rdb)

			feed := textOf(t, tab, "#errors")
			for _, want := range []string{"Exa · HTTP 429", prospects[0].ID, "1 prospect · latest 3 min ago", "ContactOut", "connection refused", "2 h ago"} {
				if !strings.Contains(feed, want) {
					t.Errorf("the Error Feed lacks %q:\n%s", want, feed)
				}
			}
			if strings.Contains(feed, "s3cret") {
				t.Errorf("the Error Feed shows a credential:\n%s", feed)
			}
			if title := attr(t, tab, "#errors li:last-child time", "title"); title != "2026-11-26 10:00:00 UTC" {
				t.Errorf("the oldest failure's exact time on hover = %q, want 2026-11-26 10:00:00 UTC", title)
			}
			pipeline := textOf(t, tab, "#pipeline")
			for _, want := range []string{"ContactOut", "failed 1", "complete 1", "SEC EDGAR", "skipped 1", "circuit open 1"} {
				if !strings.Contains(pipeline, want) {
					t.Errorf("the Enrichment Pipeline card lacks %q:\n%s", want, pipeline)
				}
			}

			if i == 0 { // a new failure shows after the page refreshes itself
				p := sourcestatus.Payload{Status: sourcestatus.Failed, Error: "HTTP 503", At: now.Add(-30 * time.Second)}
				if err := u.Update(ctx, prospects[2].ID, "claude", p); err != nil {
					t.Fatal(err)
				}
				ok, err := chromedp.Run(tab, chromedp.Evaluate[bool](`refreshDashboard()`, chromedp.EvalAwaitPromise))
				if err != nil || !ok {
					t.Fatalf("refreshDashboard() = %v, %v", ok, err)
				}
				if feed := textOf(t, tab, "#errors"); !strings.Contains(feed, "HTTP 503") || !strings.Contains(feed, "just now") {
					t.Errorf("after a refresh the Error Feed lacks the new failure:\n%s", feed)
				}
			}
			saveScreenshot(t, tab, fmt.Sprintf("dashboard-%d.png", width))
		}
	})
}

// TestBrowserOutage loads the page over what a pipeline leaves when Exa's
// circuit opens (outageServer, written through sourcestatus and usage) at a
// phone's and a desktop's width, and checks what a person sees first: the
// outage on the top banner, in words and numbers, before ContactOut's quota;
// the Enrichment Pipeline card straight after the banners on a phone
// (before the quota card's 30-day charts) and beside the quota card, on the
// first screen, on a desktop; the Error Feed's 20 alike failures as one
// group; SEC EDGAR's outcomes stored as sec under its name; and the
// thresholds, said on the page.
func TestBrowserOutage(t *testing.T) {
	browser := startChromium(t)
	s, prospects := outageServer(t)
	site := httptest.NewServer(s.routes())
	t.Cleanup(site.Close)
	for _, width := range widths {
		tab := openTab(t, browser, width, site.URL)
		banners, err := chromedp.Run(tab, chromedp.Evaluate[[]string](`[...document.querySelectorAll('.attention li')].map(li => li.innerText)`))
		if err != nil {
			t.Fatal(err)
		}
		want := []string{
			"Exa: circuit open on 169 of 200 prospects (85 %) in the last 24 h. 20 also failed (10 %). Commonest error: HTTP 503 (20 prospects, latest 56 min ago).",
			"ContactOut over quota by 100: 2,100 of 2,000 calls this month (105 %).",
			"3 other failed outcomes in the last 24 h, in sources under the thresholds: grouped in the Error Feed.",
		}
		if !slices.Equal(banners, want) {
			t.Errorf("at %d px the banners are\n%s\nwant\n%s", width, strings.Join(banners, "\n"), strings.Join(want, "\n"))
		}

		groups, err := chromedp.Run(tab, chromedp.Evaluate[[]string](`[...document.querySelectorAll('#errors .feed > li')].map(li => li.innerText.replace(/\s+/g, ' '))`))
		if err != nil {
			t.Fatal(err)
		}
		if len(groups) != 2 || !strings.HasPrefix(groups[1], "Exa · HTTP 503 20 prospects · latest 56 min ago") ||
			!strings.HasPrefix(groups[0], "SEC EDGAR · HTTP 500 3 prospects · latest 46 min ago") {
			t.Errorf("at %d px the Error Feed's groups are\n%s\nwant SEC EDGAR's 3 failures with HTTP 500, then Exa's 20 with HTTP 503", width, strings.Join(groups, "\n--\n"))
		}

		type box struct{ Top, Bottom, Left float64 }
		boxes, err := chromedp.Run(tab, chromedp.Evaluate[map[string]box](`Object.fromEntries(['.attention', '#pipeline', '#quota'].map(sel => {
			const r = document.querySelector(sel).getBoundingClientRect();
			return [sel, {top: r.top + scrollY, bottom: r.bottom + scrollY, left: r.left}];
		}))`))
		if err != nil {
			t.Fatal(err)
		}
		banner, pipeline, quota := boxes[".attention"], boxes["#pipeline"], boxes["#quota"]
		t.Logf("at %d px: banners %v, pipeline %v, quota %v", width, banner, pipeline, quota)
		switch width {
		case 375: // one column: the banners, then the pipeline, then the rest
			if pipeline.Top < banner.Bottom || pipeline.Top-banner.Bottom > 40 || quota.Top < pipeline.Bottom {
				t.Errorf("at 375 px the pipeline card starts at %.0f px, the banners end at %.0f px and the quota card starts at %.0f px: want the pipeline card right after the banners, the quota card after it",
					pipeline.Top, banner.Bottom, quota.Top)
			}
		default: // two columns: the pipeline beside the quota card, on the first screen
			if pipeline.Top < banner.Bottom || pipeline.Top > 900 || pipeline.Left <= quota.Left || pipeline.Top-quota.Top > 1 {
				t.Errorf("at %d px the pipeline card is at %.0f px down, %.0f px across, the quota card at %.0f px down, %.0f px across, the banners end at %.0f px: want the pipeline beside the quota card on the first screen",
					width, pipeline.Top, pipeline.Left, quota.Top, quota.Left, banner.Bottom)
			}
		}

		edgar := textOf(t, tab, "#source-edgar")
		for _, want := range []string{"SEC EDGAR", "200 outcomes", "failed 3", "Includes 50 outcomes stored as sec by earlier versions."} {
			if !strings.Contains(edgar, want) {
				t.Errorf("at %d px SEC EDGAR's line lacks %q:\n%s", width, want, edgar)
			}
		}
		if note := textOf(t, tab, "#pipeline .note"); !strings.Contains(note, "circuit open on 10 % or more of its outcomes, or failed on 20 % or more") {
			t.Errorf("the pipeline card does not say the thresholds:\n%s", note)
		}
		// The newest prospects of a group are a click away.
		if err := chromedp.Do(tab, chromedp.Click(chromedp.CSS(`#errors .feed > li:nth-child(2) summary`))); err != nil {
			t.Fatal(err)
		}
		if group := textOf(t, tab, "#errors .feed > li:nth-child(2) .prospects"); !strings.Contains(group, prospects[30].ID) || !strings.Contains(group, prospects[26].ID) {
			t.Errorf("Exa's group, open, lacks its newest prospects 30 to 26:\n%s", group)
		}
		saveScreenshot(t, tab, fmt.Sprintf("dashboard-outage-%d.png", width))
	}
}

// TestBrowserFleetQuotas loads the page the command serves with -redis on
// what a service wrote through the library (fleetServer: its tracker counted
// 30 Apollo calls, its guard of 30 Apollo calls a day refreshed), with
// -quota setting SEC EDGAR's and Exa's, at a phone's and a desktop's width,
// and checks what a person sees: Apollo 30 of 30, used up, at the top and in
// its row, with the quota's origin and the guard's alerts, never the
// sample's 10,000; ContactOut, which nothing limits, "No quota set"; SEC
// EDGAR and Exa under -quota's limits, saying so.
func TestBrowserFleetQuotas(t *testing.T) {
	browser := startChromium(t)
	s := fleetServer(t, miniredis.RunT(t).Addr(), "-quota", "edgar=1000/day", "-quota", "exa=500/day")
	site := httptest.NewServer(s.routes())
	t.Cleanup(site.Close)
	for _, width := range widths {
		tab := openTab(t, browser, width, site.URL)
		banners, err := chromedp.Run(tab, chromedp.Evaluate[[]string](`[...document.querySelectorAll('.attention li')].map(li => li.innerText)`))
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{"Apollo has used its whole quota: 30 of 30 calls today (100 %)."}; !slices.Equal(banners, want) {
			t.Errorf("at %d px the banners are %q, want %q", width, banners, want)
		}
		rows := map[string][]string{
			"apollo": {"Quota used up", "30 of 30 calls today (100 %)", "Remaining\n0", "Quota enforced by the fleet's guard, written 3 min ago.",
				"80 % alert fired Nov 26 11:57 UTC", "100 % alert fired Nov 26 11:57 UTC"},
			"contactout": {"No quota set", "7 calls in the last 30 days", "No guard shares a quota for it; -quota contactout=LIMIT/month (or /day) sets one here."},
			"edgar":      {"On track", "40 of 1,000 calls today (4 %)", "Quota set by -quota, in place of the fleet's guard's 100 calls a day (written 3 min ago)."},
			"exa":        {"On track", "0 of 500 calls today (0 %)", "Quota set by -quota; no guard shares one for it."},
			"claude":     {"No quota set"},
		}
		for _, p := range tokenCounters {
			rows[string(p)] = []string{"No quota set"}
		}
		for p, wants := range rows {
			row := textOf(t, tab, "#row-"+p)
			for _, want := range wants {
				if !strings.Contains(row, want) {
					t.Errorf("at %d px %s's row lacks %q:\n%s", width, p, want, row)
				}
			}
			if strings.Contains(row, "10,000") || p != "apollo" && strings.Contains(row, "alert fired") {
				t.Errorf("at %d px %s's row shows the sample's quota or an alert no guard fired:\n%s", width, p, row)
			}
		}
		if title := attr(t, tab, "#row-apollo .alerts li", "title"); title != "30 of 30 used by the guard's estimate then; its period ends 2026-11-27 00:00:00 UTC" {
			t.Errorf("the first alert's title = %q", title)
		}
		if title := attr(t, tab, "#row-apollo .origin", "title"); title != "shared in Redis by a usage.Guard at 2026-11-26 11:57:00 UTC" {
			t.Errorf("the origin's title = %q", title)
		}
		fits, err := chromedp.Run(tab, chromedp.Evaluate[bool](`document.documentElement.scrollWidth <= window.innerWidth`))
		if err != nil || !fits {
			t.Errorf("at %d px the page is wider than the window (%v)", width, err)
		}
		saveScreenshot(t, tab, fmt.Sprintf("dashboard-fleet-%d.png", width))
	}
}

// TestBrowserSpendAndPause loads the page the command serves with -redis,
// -price apollo=0.0125 and -quota money=8/month on what a service wrote
// through the library (spendServer: tokens of three models and of none,
// calls for subjects, SEC EDGAR's 429 and a usage.Limiter's pause of it),
// at a phone's and a desktop's width, and checks what a person sees: the
// pause at the top with its end and its cause, and on SEC EDGAR's row; the
// spend per model and per provider to the cent, the exact amount on hover,
// equal to the hand computation in spendServer's comment; tokens with no
// price said to be unpriced, not $0; money over its quota like any counter;
// the top spenders in order. Once the pause has ended, a refresh shows it
// no more.
func TestBrowserSpendAndPause(t *testing.T) {
	browser := startChromium(t)
	s, clock := spendServer(t, pausedMiniredis(t), "-price", "apollo=0.0125", "-quota", "money=8/month")
	site := httptest.NewServer(s.routes())
	t.Cleanup(site.Close)
	moneyBanner := "Total spend over quota by $0.09: $8.09 of $8.00 spent this month (101 %)."
	for _, width := range widths {
		at := now
		clock.Store(&at)
		tab := openTab(t, browser, width, site.URL)
		banners, err := chromedp.Run(tab, chromedp.Evaluate[[]string](`[...document.querySelectorAll('.attention li')].map(li => li.innerText)`))
		if err != nil {
			t.Fatal(err)
		}
		want := []string{
			moneyBanner,
			"SEC EDGAR is paused until 12:02:00 UTC (in 2 min): it answered HTTP 429 with Retry-After 120 s (just now); a usage.Limiter holds its calls across the fleet until then.",
		}
		if !slices.Equal(banners, want) {
			t.Errorf("at %d px the banners are\n%s\nwant\n%s", width, strings.Join(banners, "\n"), strings.Join(want, "\n"))
		}
		if got := textOf(t, tab, "#row-edgar .paused"); got != "Paused until 12:02:00 UTC" {
			t.Errorf("at %d px SEC EDGAR's row says %q, want Paused until 12:02:00 UTC", width, got)
		}

		// Each line of the Spend table: its name and price, then each
		// span's cost, its exact amount on hover, and what it bought.
		lines, err := chromedp.Run(tab, chromedp.Evaluate[map[string]string](`Object.fromEntries([...document.querySelectorAll('#quota .spend tr[id]')].map(tr =>
			[tr.id, [...tr.children].map(c => c.tagName === 'TH' ? c.innerText.replace(/\s+/g, ' ') :
				c.querySelector('b').innerText + ' [' + (c.querySelector('b').title.split(':')[0]) + '] ' + (c.querySelector('small')?.innerText.replace(/\s+/g, ' ') ?? '')).join(' | ')]))`))
		if err != nil {
			t.Fatal(err)
		}
		wantLines := map[string]string{
			"spend-model-" + sonnet: "claude-sonnet-4-5-20250929 $3 in · $15 out per M tokens | $5.04 [$5.038881] 1.32 M tokens | $3.70 [$3.703701] 1.23 M tokens",
			"spend-model-" + opus:   "claude-opus-4-5-20251101 $5 in · $25 out per M tokens | $2.55 [$2.550005] 110 k tokens | $2.55 [$2.550005] 110 k tokens",
			"spend-model-" + next:   "claude-next no price | unpriced [1,000 input, 0 output, 0 cache read, 0 cache write tokens] 1,000 tokens | unpriced [1,000 input, 0 output, 0 cache read, 0 cache write tokens] 1,000 tokens",
			"spend-model-none":      "Tokens of no known model counted without a model | unpriced [77 input, 0 output, 0 cache read, 0 cache write tokens] 77 tokens | unpriced [77 input, 0 output, 0 cache read, 0 cache write tokens] 77 tokens",
			"spend-calls-apollo":    "Apollo calls $0.0125 a call | $0.50 [$0.500000] 40 calls | $0.50 [$0.500000] 40 calls",
			"spend-total":           "Total | $8.09 [$8.088886] + 1,077 tokens unpriced | $6.75 [$6.753706] + 1,077 tokens unpriced",
		}
		for id, want := range wantLines {
			if got := lines[id]; got != want {
				t.Errorf("at %d px the spend line %s is\n%s\nwant\n%s", width, id, got, want)
			}
		}
		if len(lines) != len(wantLines) {
			t.Errorf("at %d px the spend table has the lines %v, want %d", width, lines, len(wantLines))
		}
		money := textOf(t, tab, "#row-money")
		for _, want := range []string{"Total spend", "Over quota by $0.09", "$8.09 of $8.00 spent this month (101 %)", "Quota set by -quota."} {
			if !strings.Contains(money, want) {
				t.Errorf("at %d px the money row lacks %q:\n%s", width, want, money)
			}
		}

		spenders, err := chromedp.Run(tab, chromedp.Evaluate[[]string](`[...document.querySelectorAll('#spenders tbody tr')].map(tr => [...tr.children].map(c => c.innerText).join(' | '))`))
		if err != nil {
			t.Fatal(err)
		}
		wantSpenders := []string{
			"1 | acme | 5 | 1.23 M | $3.70*",
			"2 | globex | 0 | 110 k | $2.55",
			"3 | hooli | 0 | 89,012 | $1.34",
			"4 | initech | 40 | 0 | $0.50",
			"5 | umbrella | 0 | 1,000 | unpriced",
		}
		if !slices.Equal(spenders, wantSpenders) {
			t.Errorf("at %d px the top spenders are\n%s\nwant\n%s", width, strings.Join(spenders, "\n"), strings.Join(wantSpenders, "\n"))
		}
		if title := attr(t, tab, "#spenders tbody tr:first-child td:last-child", "title"); title != "$3.703701, and use with no price" {
			t.Errorf("acme's cost on hover = %q", title)
		}
		fits, err := chromedp.Run(tab, chromedp.Evaluate[bool](`document.documentElement.scrollWidth <= window.innerWidth`))
		if err != nil || !fits {
			t.Errorf("at %d px the page is wider than the window (%v)", width, err)
		}
		saveScreenshot(t, tab, fmt.Sprintf("dashboard-spend-%d.png", width))

		ended := now.Add(3 * time.Minute)
		clock.Store(&ended)
		ok, err := chromedp.Run(tab, chromedp.Evaluate[bool](`refreshDashboard()`, chromedp.EvalAwaitPromise))
		if err != nil || !ok {
			t.Fatalf("refreshDashboard() = %v, %v", ok, err)
		}
		banners, err = chromedp.Run(tab, chromedp.Evaluate[[]string](`[...document.querySelectorAll('.attention li')].map(li => li.innerText)`))
		if err != nil || !slices.Equal(banners, []string{moneyBanner}) {
			t.Errorf("at %d px, the pause ended, the banners are %q, %v; want only %q", width, banners, err, moneyBanner)
		}
		if n, err := chromedp.Run(tab, chromedp.Evaluate[int](`document.querySelectorAll('.paused').length`)); err != nil || n != 0 {
			t.Errorf("at %d px, the pause ended, %d rows say paused (%v)", width, n, err)
		}
	}
}

// periodStarts are, at the tests' now, where each counter's figures in its
// row begin: its quota's period, or the chart's 30 days without a quota.
var periodStarts = map[usage.Provider]time.Time{
	usage.Apollo: date(2026, 11, 1), usage.ContactOut: date(2026, 11, 15), usage.Exa: date(2026, 11, 26),
	usage.EDGAR: date(2026, 10, 28), usage.Claude: date(2026, 11, 1),
	usage.ClaudeInputTokens: date(2026, 11, 1), usage.ClaudeOutputTokens: date(2026, 11, 1),
	usage.ClaudeCacheReadTokens: date(2026, 10, 28), usage.ClaudeCacheWriteTokens: date(2026, 10, 28),
}

func date(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }

// checkQuotaCard checks that each counter's row shows the sum of its keys in
// rdb since its period began, against the limit the sample's guard shared,
// saying so, and that ContactOut's row and the top of the page say in words
// that it is over its quota, its row with the alerts the guard fired.
func checkQuotaCard(t *testing.T, tab context.Context, rdb *redis.Client) {
	t.Helper()
	for p, from := range periodStarts {
		var used int64
		for d := from; !d.After(now); d = d.AddDate(0, 0, 1) {
			n, err := rdb.Get(context.Background(), usage.Key(p, d)).Int64()
			if err != nil {
				t.Fatal(err)
			}
			used += n
		}
		row := textOf(t, tab, "#row-"+string(p))
		want := count(used)
		if q, ok := sampleQuotas[p]; ok {
			if !strings.Contains(row, "Quota enforced by the fleet's guard, written just now.") {
				t.Errorf("%s's row does not say its quota is the guard's:\n%s", p, row)
			}
			want += " of " + count(q.Limit)
			if got := attr(t, tab, "#row-"+string(p)+" dd", "title"); got != commas(used) {
				t.Errorf("%s: exact use on hover = %q, want %s", p, got, commas(used))
			}
		}
		if !strings.Contains(row, want) {
			t.Errorf("%s's row lacks %q, its use in Redis:\n%s", p, want, row)
		}
	}
	if row := textOf(t, tab, "#row-contactout"); !strings.Contains(row, "2,279 of 2,000 calls this month") || !strings.Contains(row, "Over quota by 279") ||
		!strings.Contains(row, "80 % alert fired Nov 26 12:00 UTC") || !strings.Contains(row, "100 % alert fired Nov 26 12:00 UTC") {
		t.Errorf("ContactOut's row does not say it is over quota, with the alerts its guard fired:\n%s", row)
	}
	if top := textOf(t, tab, ".attention"); !strings.Contains(top, "ContactOut over quota by 279") {
		t.Errorf("the top of the page does not say ContactOut is over quota:\n%s", top)
	}
	if row := textOf(t, tab, "#row-apollo"); !strings.Contains(row, "412 requests left in 24 h") {
		t.Errorf("Apollo's row lacks its own report of 412 left:\n%s", row)
	}
	fits, err := chromedp.Run(tab, chromedp.Evaluate[bool](`document.documentElement.scrollWidth <= window.innerWidth`))
	if err != nil || !fits {
		t.Errorf("the page is wider than the window (%v)", err)
	}
}

// startChromium starts a headless Chromium for the test and returns its
// context. Without a chromium on the PATH it skips, unless CI is set.
func startChromium(t *testing.T) context.Context {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("CI is set but there is no chromium on the PATH (.ci/run installs it): %v", err)
		}
		t.Skip("no chromium on the PATH: install it (apt-get install chromium) to run the browser test")
	}
	dir := t.TempDir() // removed after Chromium has stopped, as cleanups run last first
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path), chromedp.UserDataDir(dir), chromedp.NoSandbox,
		chromedp.Flag("disable-gpu", true), chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
	)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	ctx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(cancelAlloc)
	ctx, cancelBrowser := chromedp.NewContext(ctx)
	t.Cleanup(cancelBrowser)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start %s: %v", path, err)
	}
	return ctx
}

// openTab opens url in a new tab of browser, width pixels wide, and fails t
// at its end if the page wrote an error to the console or threw.
func openTab(t *testing.T, browser context.Context, width int64, url string) context.Context {
	t.Helper()
	tab, cancel := chromedp.NewContext(browser)
	messages := chromedp.Console(tab)
	var (
		mu       sync.Mutex // protects problems
		problems []string
		done     = make(chan struct{})
	)
	go func() {
		defer close(done)
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.IsException() {
				mu.Lock()
				problems = append(problems, fmt.Sprintf("%s (%s:%d)", m, m.URL, m.Line+1))
				mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		mu.Lock()
		defer mu.Unlock()
		for _, p := range problems {
			t.Errorf("console at %d px: %s", width, p)
		}
	})
	if err := chromedp.Do(tab, chromedp.EmulateViewport(width, 900), chromedp.Navigate(url)); err != nil {
		t.Fatal(err)
	}
	if title, err := chromedp.Run(tab, chromedp.Title()); err != nil || title != "Enrichment health" {
		t.Errorf("title = %q, %v; want Enrichment health", title, err)
	}
	return tab
}

// queryTimeout bounds the wait for an element that is not there.
const queryTimeout = 5 * time.Second

// textOf returns the text a person sees in the first element sel matches.
func textOf(t *testing.T, tab context.Context, sel string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab, queryTimeout)
	defer cancel()
	text, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel), chromedp.NodeVisible))
	if err != nil {
		t.Fatalf("%s: %v", sel, err)
	}
	return text
}

// attr returns an attribute of the first element sel matches.
func attr(t *testing.T, tab context.Context, sel, name string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab, queryTimeout)
	defer cancel()
	a, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.CSS(sel), name))
	if err != nil {
		t.Fatalf("%s: %v", sel, err)
	}
	return a.Value
}

// saveScreenshot saves a full-page PNG of tab as name and logs where.
func saveScreenshot(t *testing.T, tab context.Context, name string) {
	t.Helper()
	png, err := chromedp.Run(tab, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	dir := os.Getenv(envScreenshots)
	if dir == "" {
		dir = t.TempDir()
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s (keep them with %s=dir)", path, envScreenshots)
}
