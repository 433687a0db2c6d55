package main

import (
	"fmt"
	"testing"
	"time"
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
	card := pipelineCard{Sources: []sourceCounts{
		{Source: "exa", Total: 4, Counts: map[string]int64{"complete": 2, "failed": 1, "retrying": 1}},
		{Source: "sec", Total: 1, Counts: map[string]int64{"skipped": 1}},
	}}
	got, failed := sources(card)
	if failed != 1 || len(got) != 2 || got[0].Total != "4 outcomes" || got[1].Total != "1 outcome" {
		t.Fatalf("sources = %+v, %d failed", got, failed)
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
}
