package main

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/enrichmeter/enrichmeter/usage"
)

func TestReportedOf(t *testing.T) {
	at := now.Add(-4 * time.Minute)
	cases := []struct {
		r    reported
		want string // empty: nothing worth a line
	}{
		{reported{At: at, Status: 200, Values: map[string]string{
			"x-24-hour-requests-left": "412", "x-minute-requests-left": "48", "x-rate-limit-24-hour": "600",
		}}, "412 requests left in 24 h · 48 requests left this minute"},
		{reported{At: at, Status: 429, Values: map[string]string{
			"anthropic-ratelimit-input-tokens-remaining": "0", "anthropic-ratelimit-requests-remaining": "12",
			"anthropic-ratelimit-requests-limit": "50", "retry-after": "30",
		}}, "0 input tokens left · 12 requests left · retry after 30 s · last answer HTTP 429"},
		{reported{At: at, Status: 402}, "last answer HTTP 402"},
		{reported{At: at, Status: 200, Values: map[string]string{"x-rate-limit-24-hour": "600"}}, ""},
	}
	for _, c := range cases {
		v := reportedOf("Claude", c.r, now)
		switch {
		case c.want == "" && v != nil:
			t.Errorf("reportedOf(%v) = %+v, want nothing", c.r.Values, v)
		case c.want == "":
		case v == nil || v.Text != c.want || v.Ago != "4 min ago" || v.Exact != "2026-11-26 11:56:00 UTC":
			t.Errorf("reportedOf(%v) = %+v, want %q 4 min ago", c.r.Values, v, c.want)
		}
	}
}

func TestSources(t *testing.T) {
	card := pipelineCard{Sources: []sourceCounts{ // in name order
		{Source: "edgar", Total: 1, Counts: map[string]int64{"skipped": 1}, Aliases: map[string]int64{"sec": 1}},
		{Source: "exa", Total: 4, Counts: map[string]int64{"complete": 2, "failed": 1, "retrying": 1}},
	}}
	calls := []rowView{{ID: "row-exa", Name: "Exa", State: stateOver, Badge: "Over quota by 3", Alert: "over quota by 3"}}
	got := sources(card, calls, nil, windows[1], now) // exa, over a threshold, first
	if len(got) != 2 || got[0].Total != "4 outcomes" || got[1].Total != "1 outcome" || got[0].Name != "Exa" || got[1].Name != "SEC EDGAR" {
		t.Fatalf("sources = %+v", got)
	}
	var labels []string
	for _, c := range got[0].Counts {
		labels = append(labels, c.Label+" "+c.Value)
	}
	// The known statuses in their order, zeros included, then unknown ones.
	if want := "[complete 2 failed 1 circuit open 0 skipped 0 pending 0 retrying 1]"; fmt.Sprint(labels) != want {
		t.Errorf("exa's counts %v, want %s", labels, want)
	}
	if segs := got[0].Segments; len(segs) != 3 || segs[0].Style != "width: 50.00%" || segs[2].Class != "st-other" {
		t.Errorf("exa's bar = %+v", segs)
	}
	// Joined by name to its provider's row; edgar has none here.
	if got[0].Quota != &calls[0] || got[1].Quota != nil {
		t.Errorf("quota rows: exa %v, edgar %v; want exa's and none", got[0].Quota, got[1].Quota)
	}
	if got[1].Aliases != "Includes 1 outcome stored as sec by earlier versions." {
		t.Errorf("edgar's aliases = %q", got[1].Aliases)
	}
	if a := got[0].Alarm; a == nil || a.Head != "failed on 1 of 4 prospects (25 %) in the last 24 h" || a.Text != "Its quota: Over quota by 3." {
		t.Errorf("exa's alarm = %+v", a)
	}
}

// TestSourceAlarms checks the thresholds at their edges, and what an alarm
// says beside its head.
func TestSourceAlarms(t *testing.T) {
	latest := now.Add(-3 * time.Minute)
	groups := []errorGroup{
		{Source: "exa", Error: "HTTP 429", Count: 2, Latest: &now},
		{Source: "exa", Error: "HTTP 503", Count: 20, Latest: &latest},
		{Source: "claude", Error: "HTTP 529", Count: 90, Latest: &now},
	}
	cases := []struct {
		counts     map[string]int64
		head, text string // head "" for no alarm
	}{
		{map[string]int64{"complete": 11, "failed": 20, "circuit_open": 169}, "circuit open on 169 of 200 prospects (85 %) in the last 24 h",
			"20 also failed (10 %). Commonest error: HTTP 503 (20 prospects, latest 3 min ago)."},
		{map[string]int64{"complete": 9, "circuit_open": 1}, "circuit open on 1 of 10 prospects (10 %) in the last 24 h",
			"Commonest error: HTTP 503 (20 prospects, latest 3 min ago)."},
		{map[string]int64{"complete": 91, "circuit_open": 9}, "", ""},
		{map[string]int64{"complete": 4, "failed": 1}, "failed on 1 of 5 prospects (20 %) in the last 24 h",
			"Commonest error: HTTP 503 (20 prospects, latest 3 min ago)."},
		{map[string]int64{"complete": 801, "failed": 199}, "", ""}, // 19.9 %: shown as 20 %, under
		{map[string]int64{"complete": 50, "failed": 30, "circuit_open": 20}, "circuit open on 20 of 100 prospects (20 %) in the last 24 h",
			"30 also failed (30 %). Commonest error: HTTP 503 (20 prospects, latest 3 min ago)."},
		{map[string]int64{"skipped": 3, "pending": 7}, "", ""},
	}
	for _, c := range cases {
		src := sourceCounts{Source: "exa", Counts: c.counts}
		for _, n := range c.counts {
			src.Total += n
		}
		a := sourceAlarmOf(src, nil, groups, windows[1], now)
		switch {
		case c.head == "" && a != nil:
			t.Errorf("%v: alarm %+v, want none", c.counts, a)
		case c.head != "" && (a == nil || a.Head != c.head || a.Text != c.text || a.Level != "bad"):
			t.Errorf("%v: alarm %+v, want %q, %q", c.counts, a, c.head, c.text)
		}
	}
	if got, want := thresholds(), "circuit open on 10 % or more of its outcomes, or failed on 20 % or more"; got != want {
		t.Errorf("thresholds() = %q, want %q", got, want)
	}
}

// TestCardOrder checks where the columns go when they stack: those a banner
// is about first, worst first, the statuses first on a tie.
func TestCardOrder(t *testing.T) {
	b := func(level, column string) banner { return banner{Level: level, Column: column} }
	cases := []struct {
		banners []banner
		want    string // the columns, first first
	}{
		{nil, "quota statuses"},
		{[]banner{b("ok", "quota")}, "quota statuses"},
		{[]banner{b("bad", "quota")}, "quota statuses"},
		{[]banner{b("warn", "statuses")}, "statuses quota"},
		{[]banner{b("bad", "quota"), b("warn", "statuses")}, "quota statuses"},
		{[]banner{b("warn", "quota"), b("bad", "statuses")}, "statuses quota"},
		{[]banner{b("bad", "quota"), b("warn", "quota"), b("bad", "statuses")}, "statuses quota"},
		{[]banner{b("warn", "quota"), b("warn", "statuses")}, "statuses quota"},
	}
	for _, c := range cases {
		order := cardOrder(c.banners)
		columns := []string{"quota", "statuses"}
		slices.SortFunc(columns, func(a, b string) int { return order[a] - order[b] })
		if got := strings.Join(columns, " "); got != c.want {
			t.Errorf("cardOrder(%v) = %v, want %s", c.banners, order, c.want)
		}
	}
}

// TestOriginOf says where each kind of quota came from.
func TestOriginOf(t *testing.T) {
	written := now.Add(-3 * time.Minute)
	old := now.Add(-5 * time.Hour)
	guard := func(q usage.Quota, at time.Time) *quotaInfo {
		info := newQuotaInfo(q, fromGuard)
		info.At = &at
		return info
	}
	flag := func(q usage.Quota, overrides *quotaInfo) *quotaInfo {
		info := newQuotaInfo(q, fromFlag)
		info.Overrides = overrides
		return info
	}
	day30 := usage.Quota{Limit: 30, Period: usage.PerDay}
	cases := []struct {
		quota *quotaInfo
		want  string // Text, Code in brackets, After
		stale bool
	}{
		{nil, "No guard shares a quota for it; [-quota exa=LIMIT/month] (or /day) sets one here.", false},
		{guard(day30, written), "Quota enforced by the fleet's guard, written 3 min ago.", false},
		{guard(day30, old), "Quota last written by the fleet's guard 5 h ago: a guard that enforces it writes it hourly, so perhaps none does now.", true},
		{flag(day30, nil), "Quota set by [-quota]; no guard shares one for it.", false},
		{flag(day30, guard(day30, written)), "Quota set by [-quota], as the fleet's guard enforces it (written 3 min ago).", false},
		{flag(day30, guard(usage.Quota{Limit: 10_000, Period: usage.PerMonth, AnchorDay: 15}, old)),
			"Quota set by [-quota], in place of the fleet's guard's 10,000 calls a month from the 15th (written 5 h ago).", false},
	}
	for _, c := range cases {
		o := originOf(providerUsage{Provider: "exa", Quota: c.quota}, "calls", now)
		got := o.Text + o.After
		if o.Code != "" {
			got = o.Text + "[" + o.Code + "]" + o.After
		}
		if got != c.want || o.Stale != c.stale {
			t.Errorf("originOf(%+v) = %q, stale %v; want %q, stale %v", c.quota, got, o.Stale, c.want, c.stale)
		}
	}
}

// TestAlertOf says when an alert fired, and of which quota when it is not
// the row's.
func TestAlertOf(t *testing.T) {
	a := firedAlert{Threshold: 0.8, Used: 24, Limit: 30, Period: "day", At: now.Add(-8*time.Hour - 45*time.Minute), Resets: date(2026, 11, 27)}
	cases := []struct {
		quota *quotaInfo
		want  string
	}{
		{newQuotaInfo(usage.Quota{Limit: 30, Period: usage.PerDay}, fromGuard), "80 % alert fired Nov 26 03:15 UTC"},
		{newQuotaInfo(usage.Quota{Limit: 1000, Period: usage.PerDay}, fromFlag), "80 % alert (of 30 calls a day) fired Nov 26 03:15 UTC"},
		{nil, "80 % alert (of 30 calls a day) fired Nov 26 03:15 UTC"},
	}
	for _, c := range cases {
		if v := alertOf(a, c.quota, "calls"); v.Text != c.want || v.Title != "24 of 30 used by the guard's estimate then; its period ends 2026-11-27 00:00:00 UTC" {
			t.Errorf("alertOf(%+v) = %+v, want %q", c.quota, v, c.want)
		}
	}
}

// TestPauses says each pause, the soonest end first, with what the
// provider's last answer tells of its cause; a pause of a provider without a
// row links to the card.
func TestPauses(t *testing.T) {
	card := quotaCard{
		Pauses: map[string]time.Time{"edgar": now.Add(100 * time.Second), "exa": now.Add(65 * time.Minute), "acme_api": now.Add(30 * time.Second)},
		Providers: []providerUsage{
			{Provider: "edgar", Reported: &reported{At: now.Add(-20 * time.Second), Status: 429, Values: map[string]string{"retry-after": "100"}}},
			{Provider: "exa", Reported: &reported{At: now.Add(-2 * time.Minute), Status: 503, Values: map[string]string{"retry-after": "Thu, 26 Nov 2026 13:05:00 GMT"}}},
		},
	}
	var got []string
	for _, p := range pauses(card, now) {
		got = append(got, fmt.Sprintf("%s #%s %s (%s): %s [%s]", p.Name, p.Anchor, p.Until, p.In, p.Why, p.Exact))
	}
	want := []string{
		"acme_api #quota 12:00:30 UTC (in 30 s): a usage.Limiter holds its calls across the fleet until then, as a 429 or a Retry-After asks. [2026-11-26 12:00:30 UTC]",
		"SEC EDGAR #row-edgar 12:01:40 UTC (in 1 min 40 s): it answered HTTP 429 with Retry-After 100 s (just now); a usage.Limiter holds its calls across the fleet until then. [2026-11-26 12:01:40 UTC]",
		"Exa #row-exa 13:05:00 UTC (in 1 h 5 min): it answered HTTP 503 with Retry-After Thu, 26 Nov 2026 13:05:00 GMT (2 min ago); a usage.Limiter holds its calls across the fleet until then. [2026-11-26 13:05:00 UTC]",
	}
	if !slices.Equal(got, want) {
		t.Errorf("pauses =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
