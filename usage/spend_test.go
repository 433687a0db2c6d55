package usage_test

import (
	"strings"
	"testing"
	"time"

	"github.com/enrichmeter/enrichmeter/usage"
)

func TestMicros(t *testing.T) {
	cases := []struct {
		m    usage.Micros
		want string
	}{
		{0, "$0.000000"},
		{1, "$0.000001"},
		{3 * usage.Dollar, "$3.000000"},
		{12_345_678, "$12.345678"},
		{-1_500_000, "-$1.500000"},
	}
	for _, c := range cases {
		if got := c.m.String(); got != c.want {
			t.Errorf("Micros(%d).String() = %q, want %q", int64(c.m), got, c.want)
		}
	}
}

func TestPricesModel(t *testing.T) {
	p := usage.DefaultPrices()
	cases := []struct {
		model string
		in    usage.Micros
		ok    bool
	}{
		{"claude-opus-4-5-20251101", 5 * usage.Dollar, true},
		{"claude-opus-4-1-20250805", 15 * usage.Dollar, true},
		{"claude-opus-4-20250514", 15 * usage.Dollar, true},
		{"claude-sonnet-4-5-20250929", 3 * usage.Dollar, true},
		{"claude-haiku-4-5-20251001", 1 * usage.Dollar, true},
		{"claude-3-5-haiku-20241022", 800_000, true},
		{"gpt-4o", 0, false},
		{"other", 0, false},
	}
	for _, c := range cases {
		mp, ok := p.Model(c.model)
		if ok != c.ok || mp.Input != c.in {
			t.Errorf("Model(%q) = %+v, %v; want input %v, %v", c.model, mp, ok, c.in, c.ok)
		}
	}
	if mp, _ := p.Model("claude-sonnet-4-5"); mp.CacheRead != 300_000 || mp.CacheWrite != 3_750_000 || mp.Output != 15*usage.Dollar {
		t.Errorf("Sonnet 4.5's price = %+v, want cache reads at a tenth and writes at 1.25 × input", mp)
	}
}

// TestSpend counts tokens of three models, tokens of no known model and
// priced calls over two days, and checks what Spend, Daily and Burn of
// Money say against a hand computation.
func TestSpend(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		ctx := ctxTimeout(t, 10*time.Second)
		clock := newFakeClock(noon.AddDate(0, 0, -1))
		tr := usage.NewTracker(b.rdb, usage.WithPrefix(b.prefix), usage.WithClock(clock.Now), usage.WithFlushInterval(time.Hour))
		closeAtCleanup(t, tr)
		add := func(counter usage.Provider, model string, n int64) { tr.Meter(counter).Model(model).Add(n) }
		// Yesterday: Sonnet 4.5, 1,234,567 in, 89,012 out, 500,000 cache reads.
		add(usage.ClaudeInputTokens, "claude-sonnet-4-5-20250929", 1_234_567)
		add(usage.ClaudeOutputTokens, "claude-sonnet-4-5-20250929", 89_012)
		add(usage.ClaudeCacheReadTokens, "claude-sonnet-4-5-20250929", 500_000)
		tr.Track(usage.Apollo)
		if err := tr.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		// Today: Opus 4.5 and Haiku 4.5, a model no price names, tokens of
		// no model, and 3 Apollo calls.
		clock.Set(noon)
		add(usage.ClaudeInputTokens, "claude-opus-4-5-20251101", 10_001)
		add(usage.ClaudeOutputTokens, "claude-opus-4-5-20251101", 2_000)
		add(usage.ClaudeCacheWriteTokens, "claude-haiku-4-5-20251001", 333)
		add(usage.ClaudeInputTokens, "claude-next", 1_000)
		tr.Add(usage.ClaudeInputTokens, 77)
		for range 3 {
			tr.Track(usage.Apollo)
		}
		if err := tr.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		prices := usage.DefaultPrices()
		prices.Calls = map[usage.Provider]usage.Micros{usage.Apollo: 12_500} // 1.25 cents a call
		r := usage.NewReader(b.rdb, usage.WithPrefix(b.prefix), usage.WithClock(clock.Now), usage.WithPrices(prices))
		lines, err := r.Spend(ctx, noon.AddDate(0, 0, -1), noon)
		if err != nil {
			t.Fatal(err)
		}
		// By hand, in micro-dollars, each kind rounded half up:
		//   Sonnet: 1,234,567 × 3 = 3,703,701; 89,012 × 15 = 1,335,180;
		//           500,000 × 0.3 = 150,000: 5,188,881
		//   Opus 4.5: 10,001 × 5 = 50,005; 2,000 × 25 = 50,000: 100,005
		//   Haiku 4.5: 333 cache writes × 1.25 = 416.25 → 416
		//   Apollo: 1 and 3 calls × 12,500 = 12,500 and 37,500
		yesterday, today := noon.AddDate(0, 0, -1).Truncate(24*time.Hour), noon.Truncate(24*time.Hour)
		want := []usage.SpendLine{
			{Day: yesterday, Provider: usage.Claude, Model: "claude-sonnet-4-5-20250929", Tokens: usage.Tokens{Input: 1_234_567, Output: 89_012, CacheRead: 500_000}, Cost: 5_188_881, Priced: true},
			{Day: yesterday, Provider: usage.Apollo, Calls: 1, Cost: 12_500, Priced: true},
			{Day: today, Provider: usage.Claude, Model: "claude-haiku-4-5-20251001", Tokens: usage.Tokens{CacheWrite: 333}, Cost: 416, Priced: true},
			{Day: today, Provider: usage.Claude, Model: "claude-next", Tokens: usage.Tokens{Input: 1_000}},
			{Day: today, Provider: usage.Claude, Model: "claude-opus-4-5-20251101", Tokens: usage.Tokens{Input: 10_001, Output: 2_000}, Cost: 100_005, Priced: true},
			{Day: today, Provider: usage.Claude, Tokens: usage.Tokens{Input: 77}},
			{Day: today, Provider: usage.Apollo, Calls: 3, Cost: 37_500, Priced: true},
		}
		if len(lines) != len(want) {
			t.Fatalf("Spend = %+v, want %+v", lines, want)
		}
		for i := range want {
			if lines[i] != want[i] {
				t.Errorf("line %d = %+v, want %+v", i, lines[i], want[i])
			}
		}
		days, err := r.Daily(ctx, usage.Money, noon.AddDate(0, 0, -1), noon)
		if err != nil || len(days) != 2 || days[0].Count != 5_201_381 || days[1].Count != 137_921 {
			t.Errorf("Daily(Money) = %+v, %v; want 5,201,381 and 137,921", days, err)
		}
		burn, err := r.Burn(ctx, usage.Money, usage.Quota{Limit: int64(10 * usage.Dollar), Period: usage.PerMonth})
		if err != nil || burn.Used != 5_339_302 || burn.Remaining != 4_660_698 {
			t.Errorf("Burn(Money) = %+v, %v; want 5,339,302 used of $10", burn, err)
		}
	})
}

func TestTopSubjects(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		ctx := ctxTimeout(t, 10*time.Second)
		tr := usage.NewTracker(b.rdb, usage.WithPrefix(b.prefix), usage.WithClock(newFakeClock(noon).Now), usage.WithFlushInterval(time.Hour))
		closeAtCleanup(t, tr)
		exa := tr.Meter(usage.Exa)
		for range 10 {
			exa.For("many-calls").Track()
		}
		exa.For("big-spender").Track()
		tr.Meter(usage.ClaudeOutputTokens).Model("claude-opus-4-5").For("big-spender").Add(100_000)   // $2.50
		tr.Meter(usage.ClaudeInputTokens).Model("claude-haiku-4-5").For("many-tokens").Add(1_000_000) // $1
		tr.Meter(usage.ClaudeInputTokens).Model("mystery").For("many-tokens").Add(5)
		if err := tr.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		prices := usage.DefaultPrices()
		prices.Calls = map[usage.Provider]usage.Micros{usage.Exa: 5_000}
		r := usage.NewReader(b.rdb, usage.WithPrefix(b.prefix), usage.WithPrices(prices))
		order := func(by usage.Rank, n int) string {
			t.Helper()
			top, err := r.TopSubjects(ctx, noon, noon, n, by)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, u := range top {
				names = append(names, u.Subject)
			}
			return strings.Join(names, " ")
		}
		if got := order(usage.ByCalls, 0); got != "many-calls big-spender many-tokens" {
			t.Errorf("by calls: %s", got)
		}
		if got := order(usage.ByTokens, 2); got != "many-tokens big-spender" {
			t.Errorf("by tokens, top 2: %s", got)
		}
		if got := order(usage.BySpend, 1); got != "big-spender" {
			t.Errorf("by spend, top 1: %s", got)
		}
		top, _ := r.TopSubjects(ctx, noon, noon, 0, usage.BySpend)
		want := map[string]struct {
			cost     usage.Micros
			unpriced bool
		}{
			"big-spender": {2_505_000, false},
			"many-tokens": {1_000_000, true},
			"many-calls":  {50_000, false},
		}
		for _, u := range top {
			if w := want[u.Subject]; u.Cost != w.cost || u.Unpriced != w.unpriced {
				t.Errorf("%s: cost %v, unpriced %v; want %v, %v", u.Subject, u.Cost, u.Unpriced, w.cost, w.unpriced)
			}
		}
	})
}
