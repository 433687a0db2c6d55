package main

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/enrichmeter/enrichmeter/internal/testsupport"
	"github.com/enrichmeter/enrichmeter/usage"
)

// The models spendServer's service counts tokens of.
const (
	sonnet = "claude-sonnet-4-5-20250929"
	opus   = "claude-opus-4-5-20251101"
	next   = "claude-next" // no price names it
)

// spendServer writes to the Redis at addr, through the library as a
// service does, what the spend tests check against a hand computation:
//
//	Nov 3:  hooli   Sonnet 4.5   89,012 output tokens     × $15/M  = $1.335180
//	Nov 26: acme    Sonnet 4.5   1,234,567 input tokens   × $3/M   = $3.703701
//	        acme    5 Exa calls                             no price
//	        globex  Opus 4.5     10,001 input tokens      × $5/M   = $0.050005
//	                             100,000 output tokens    × $25/M  = $2.500000
//	        initech 40 Apollo calls                       × $0.0125 = $0.500000 (with -price apollo=0.0125)
//	        umbrella claude-next 1,000 input tokens         no price
//	        (none)  77 input tokens of no model             no price
//
// so that this month cost $8.088886, today $6.753706, with 1,077 tokens
// unpriced. At now SEC EDGAR answered 429 with Retry-After 120, and a
// usage.Limiter paused it for 2 minutes: until 12:02:00 by the clock of
// the Redis, which, for a miniredis, stands at now. It returns the
// dashboard that the command builds with -redis on that Redis and the flags
// given, on a clock that the returned pointer moves (now at first).
func spendServer(t *testing.T, addr string, flags ...string) (*server, *atomic.Pointer[time.Time]) {
	t.Helper()
	ctx := context.Background()
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { _ = rdb.Close() })
	var at atomic.Pointer[time.Time] // the service's clock
	nov3 := date(2026, 11, 3).Add(12 * time.Hour)
	at.Store(&nov3)
	tracker := usage.NewTracker(rdb, usage.WithClock(func() time.Time { return *at.Load() }), usage.WithFlushInterval(time.Hour))
	tracker.Meter(usage.ClaudeOutputTokens).Model(sonnet).For("hooli").Add(89_012)
	if err := tracker.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	nowAt := now
	at.Store(&nowAt)
	tracker.Meter(usage.ClaudeInputTokens).Model(sonnet).For("acme").Add(1_234_567)
	tracker.Meter(usage.ClaudeInputTokens).Model(opus).For("globex").Add(10_001)
	tracker.Meter(usage.ClaudeOutputTokens).Model(opus).For("globex").Add(100_000)
	tracker.Meter(usage.ClaudeInputTokens).Model(next).For("umbrella").Add(1_000)
	tracker.Add(usage.ClaudeInputTokens, 77)
	for range 40 {
		tracker.Meter(usage.Apollo).For("initech").Track()
	}
	for range 5 {
		tracker.Meter(usage.Exa).For("acme").Track()
	}
	tracker.SetReported(usage.EDGAR, usage.Reported{At: now, Status: 429, Values: map[string]string{"retry-after": "120"}})
	if err := tracker.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	pauseThroughALimiter(t, rdb, tracker, usage.EDGAR, 2*time.Minute)
	if err := tracker.Close(ctx); err != nil {
		t.Fatal(err)
	}

	var clock atomic.Pointer[time.Time]
	clock.Store(&nowAt)
	c, err := parseFlags(append([]string{"-redis", "redis://" + addr, "-postgres="}, flags...))
	if err != nil {
		t.Fatal(err)
	}
	s, closeAll, err := open(ctx, c, func() time.Time { return *clock.Load() })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(closeAll)
	return s, &clock
}

// pauseThroughALimiter pauses p for d through a usage.Limiter on tracker,
// whose Redis is rdb, and waits until the pause is in Redis: the limiter's
// goroutine writes it.
func pauseThroughALimiter(t *testing.T, rdb *redis.Client, tracker *usage.Tracker, p usage.Provider, d time.Duration) {
	t.Helper()
	l, err := usage.NewLimiter(tracker, usage.DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	l.Pause(p, d)
	// A reader at the epoch sees every pause recorded, ended or not.
	r := usage.NewReader(rdb, usage.WithClock(func() time.Time { return time.Unix(0, 0) }))
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(2 * time.Millisecond) {
		pauses, err := r.Pauses(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := pauses[p]; ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the limiter did not write the pause of %s in 5 s", p)
		}
	}
	if err := l.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// pausedMiniredis returns the address of a miniredis whose clock stands at
// now, so that a pause ends as long after now as it lasts.
func pausedMiniredis(t *testing.T) string {
	mr := miniredis.RunT(t)
	mr.SetTime(now)
	return mr.Addr()
}

// TestSpend reads /api/spend on what spendServer wrote, with -price
// apollo=0.0125, against the hand computation in its comment: to the
// micro-dollar, tokens of models with no price, and of none, unpriced, not
// $0, and the top spenders in order. On a miniredis, and on a redis-server
// of the test's own when ENRICHMETER_TEST_REDIS is set.
func TestSpend(t *testing.T) {
	servers := map[string]func(t *testing.T) string{
		"miniredis":    pausedMiniredis,
		"redis-server": func(t *testing.T) string { return testsupport.StartRedisServer(t).Addr },
	}
	for name, start := range servers {
		t.Run(name, func(t *testing.T) {
			s, _ := spendServer(t, start(t), "-price", "apollo=0.0125")
			rec := get(t, s.routes(), "/api/spend")
			var card struct {
				Prices struct {
					AsOf    string           `json:"asOf"`
					PerCall map[string]int64 `json:"perCall"`
				} `json:"prices"`
				Month struct{ From, To string } `json:"month"`
				Today string                    `json:"today"`
				Lines []struct {
					Provider string          `json:"provider"`
					Model    *string         `json:"model"`
					Priced   bool            `json:"priced"`
					Month    json.RawMessage `json:"month"`
					Today    json.RawMessage `json:"today"`
				} `json:"lines"`
				Total       json.RawMessage `json:"total"`
				TopSubjects struct {
					From, To string
					Subjects []struct {
						Subject  string           `json:"subject"`
						Calls    int64            `json:"calls"`
						CallsBy  map[string]int64 `json:"callsBy"`
						Tokens   int64            `json:"tokens"`
						Cost     int64            `json:"cost"`
						Unpriced bool             `json:"unpriced"`
					} `json:"subjects"`
				} `json:"topSubjects"`
				Problems []string `json:"problems"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &card); rec.Code != 200 || err != nil {
				t.Fatalf("/api/spend: %d %s", rec.Code, rec.Body)
			}
			if card.Prices.AsOf != "2025-11-24" || fmt.Sprint(card.Prices.PerCall) != "map[apollo:12500]" ||
				card.Month.From != "2026-11-01" || card.Month.To != "2026-11-26" || card.Today != "2026-11-26" || len(card.Problems) != 0 {
				t.Errorf("prices %+v, month %+v, today %s, problems %q", card.Prices, card.Month, card.Today, card.Problems)
			}
			var lines []string
			for _, l := range card.Lines {
				model := "(none)"
				if l.Model != nil {
					model = *l.Model
				}
				lines = append(lines, fmt.Sprintf("%s %s %v %s %s", l.Provider, model, l.Priced, l.Month, l.Today))
			}
			tok := func(in, out int64) string {
				return fmt.Sprintf(`"tokens":{"input":%d,"output":%d,"cacheRead":0,"cacheWrite":0}`, in, out)
			}
			want := []string{
				`claude ` + sonnet + ` true {` + tok(1_234_567, 89_012) + `,"cost":5038881} {` + tok(1_234_567, 0) + `,"cost":3703701}`,
				`claude ` + opus + ` true {` + tok(10_001, 100_000) + `,"cost":2550005} {` + tok(10_001, 100_000) + `,"cost":2550005}`,
				`claude ` + next + ` false {` + tok(1_000, 0) + `,"cost":0} {` + tok(1_000, 0) + `,"cost":0}`,
				`claude (none) false {` + tok(77, 0) + `,"cost":0} {` + tok(77, 0) + `,"cost":0}`,
				`apollo (none) true {"calls":40,"cost":500000} {"calls":40,"cost":500000}`,
			}
			if !slices.Equal(lines, want) {
				t.Errorf("lines =\n%s\nwant\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
			}
			if got, want := string(card.Total), `{"month":{"cost":8088886,"unpricedTokens":1077},"today":{"cost":6753706,"unpricedTokens":1077}}`; got != want {
				t.Errorf("total = %s, want %s", got, want)
			}
			if card.TopSubjects.From != "2026-10-28" || card.TopSubjects.To != "2026-11-26" {
				t.Errorf("top subjects from %s to %s, want the 30 days to 2026-11-26", card.TopSubjects.From, card.TopSubjects.To)
			}
			var top []string
			for _, u := range card.TopSubjects.Subjects {
				top = append(top, fmt.Sprintf("%s %d %v %d %d %v", u.Subject, u.Calls, u.CallsBy, u.Tokens, u.Cost, u.Unpriced))
			}
			wantTop := []string{
				"acme 5 map[exa:5] 1234567 3703701 true",
				"globex 0 map[] 110001 2550005 false",
				"hooli 0 map[] 89012 1335180 false",
				"initech 40 map[apollo:40] 0 500000 false",
				"umbrella 0 map[] 1000 0 true",
			}
			if !slices.Equal(top, wantTop) {
				t.Errorf("top subjects =\n%s\nwant\n%s", strings.Join(top, "\n"), strings.Join(wantTop, "\n"))
			}
		})
	}
}

// TestQuotaPauseAndMoney reads /api/quota on what spendServer wrote, with
// -quota money=8/month: SEC EDGAR's row and the pauses carry the limiter's
// pause until 12:02:00, the other rows none; money burns as the others do,
// $8.088886 of $8, over; and once the pause has ended, nothing says it.
func TestQuotaPauseAndMoney(t *testing.T) {
	s, clock := spendServer(t, pausedMiniredis(t), "-price", "apollo=0.0125", "-quota", "money=8/month")
	h := s.routes()
	type card struct {
		Providers []struct {
			Provider    string     `json:"provider"`
			PausedUntil *time.Time `json:"pausedUntil"`
		} `json:"providers"`
		Money *struct {
			Unit  string          `json:"unit"`
			Today int64           `json:"today"`
			Quota json.RawMessage `json:"quota"`
			Burn  *burn           `json:"burn"`
		} `json:"money"`
		Pauses   map[string]time.Time `json:"pauses"`
		Problems []string             `json:"problems"`
	}
	var c card
	getJSON(t, h, "/api/quota", &c)
	until := time.Date(2026, 11, 26, 12, 2, 0, 0, time.UTC)
	if len(c.Pauses) != 1 || !c.Pauses["edgar"].Equal(until) || len(c.Problems) != 0 {
		t.Errorf("pauses = %v, problems %q; want edgar until %v", c.Pauses, c.Problems, until)
	}
	for _, u := range c.Providers {
		switch {
		case u.Provider == "edgar" && (u.PausedUntil == nil || !u.PausedUntil.Equal(until)):
			t.Errorf("edgar's pausedUntil = %v, want %v", u.PausedUntil, until)
		case u.Provider != "edgar" && u.PausedUntil != nil:
			t.Errorf("%s's pausedUntil = %v, want none", u.Provider, u.PausedUntil)
		}
	}
	if m := c.Money; m == nil || m.Unit != "micros" || m.Today != 6_753_706 || string(m.Quota) != `{"limit":8000000,"period":"month","anchorDay":1,"source":"flag"}` ||
		m.Burn == nil || m.Burn.Used != 8_088_886 || m.Burn.Limit != 8_000_000 || m.Burn.Over != 88_886 || m.Burn.State != stateOver {
		t.Errorf("money = %+v, want today 6753706 and 8088886 used of -quota's 8000000 a month, over", m)
	}

	later := now.Add(3 * time.Minute) // the pause has ended
	clock.Store(&later)
	rec := get(t, h, "/api/quota")
	c = card{}
	if err := json.Unmarshal(rec.Body.Bytes(), &c); err != nil || strings.Contains(rec.Body.String(), "pause") {
		t.Errorf("after the pause ended, /api/quota still says it (%v):\n%s", err, rec.Body)
	}
	if body := get(t, h, "/").Body.String(); strings.Contains(body, "is paused") || strings.Contains(body, "Paused until") {
		t.Errorf("after the pause ended, the page still says it")
	}
}

// TestSpendUnreadableEntry breaks one entry of a day's models hash: the
// spend card names it and shows the rest, and money, read from the same
// hash, is left out of /api/quota with the reason, where the other rows
// stay.
func TestSpendUnreadableEntry(t *testing.T) {
	mr := miniredis.RunT(t)
	mr.SetTime(now)
	s, _ := spendServer(t, mr.Addr())
	mr.HSet("{api_usage}:models:2026-11-26", "claude-haiku-4-5:claude_input_tokens", "many")
	var spend spendCard
	getJSON(t, s.routes(), "/api/spend", &spend)
	if len(spend.Problems) != 1 || !strings.Contains(spend.Problems[0], "claude-haiku-4-5:claude_input_tokens") || spend.Total.Month.Cost == 0 {
		t.Errorf("problems %q, month's cost %v; want the bad field named and the rest counted", spend.Problems, spend.Total.Month.Cost)
	}
	var quota quotaCard
	getJSON(t, s.routes(), "/api/quota", &quota)
	if quota.Money != nil || len(quota.Problems) != 1 || !strings.Contains(quota.Problems[0], "money") || len(quota.Providers) != 5 {
		t.Errorf("money %+v, problems %q, %d providers; want money left out and named, the providers shown", quota.Money, quota.Problems, len(quota.Providers))
	}
	body := get(t, s.routes(), "/").Body.String()
	if !strings.Contains(body, "<strong>Spend partly unreadable, left out:</strong>") {
		t.Errorf("the page does not say the spend is partly unreadable")
	}
}

func TestParseDollars(t *testing.T) {
	cases := []struct {
		s    string
		want usage.Micros
		fail string
	}{
		{"500", 500 * usage.Dollar, ""},
		{"0.0125", 12_500, ""},
		{"3.703701", 3_703_701, ""},
		{"0.000001", 1, ""},
		{"1.5", 1_500_000, ""},
		{"9223372036854", 9_223_372_036_854 * usage.Dollar, ""},
		{"0.0000001", 0, "finer than a micro-dollar"},
		{"9223372036855", 0, "too large"},
		{"0", 0, "not positive"},
		{"0.000000", 0, "not positive"},
		{"", 0, "not an amount"},
		{"-1", 0, "not an amount"},
		{"1e3", 0, "not an amount"},
		{"$5", 0, "not an amount"},
		{"1,000", 0, "not an amount"},
		{".5", 0, "not an amount"},
		{"5.", 0, "not an amount"},
		{"1.2.3", 0, "not an amount"},
	}
	for _, c := range cases {
		got, err := parseDollars(c.s)
		switch {
		case c.fail == "" && (err != nil || got != c.want):
			t.Errorf("parseDollars(%q) = %d, %v; want %d", c.s, got, err, c.want)
		case c.fail != "" && (err == nil || !strings.Contains(err.Error(), c.fail)):
			t.Errorf("parseDollars(%q) = %d, %v; want an error saying %q", c.s, got, err, c.fail)
		}
	}
}

// TestPriceFlag reads -price as the command line gives it: repeated, each
// provider once, in dollars exactly; Claude and its tokens are priced by
// model, never per call.
func TestPriceFlag(t *testing.T) {
	c, err := parseFlags([]string{"-price", "apollo=0.0125", "-price", "contactout=0.3"})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.prices) != 2 || c.prices[usage.Apollo] != 12_500 || c.prices[usage.ContactOut] != 300_000 {
		t.Errorf("-price twice = %v", c.prices)
	}
	if got := c.prices.String(); got != "apollo=0.0125 contactout=0.3" {
		t.Errorf("String() = %q", got)
	}
	for _, c := range []struct {
		args []string
		fail string
	}{
		{[]string{"-price", "apollo=0.01", "-price", "apollo=0.02"}, "given twice"},
		{[]string{"-price", "apollo"}, "no ="},
		{[]string{"-price", "Apollo=1"}, "Apollo"},
		{[]string{"-price", "apollo=0.00000001"}, "finer than a micro-dollar"},
		{[]string{"-price", "claude=0.01"}, "priced by Claude's tokens"},
		{[]string{"-price", "claude_input_tokens=0.01"}, "priced by Claude's tokens"},
		{[]string{"-price", "money=1"}, "priced by Claude's tokens"},
	} {
		if _, err := parseFlags(c.args); err == nil || !strings.Contains(err.Error(), c.fail) || c.fail != "given twice" && !strings.Contains(err.Error(), "apollo=0.0125") {
			t.Errorf("parseFlags(%q) = %v, want an error saying %q and showing the syntax", c.args, err, c.fail)
		}
	}
}
