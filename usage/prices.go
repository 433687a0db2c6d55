package usage

import (
	"fmt"
	"math"
	"math/bits"
	"strings"
)

// Micros is an amount of money in millionths of a US dollar. Money is
// counted in integers, never in floats, so sums are exact.
type Micros int64

// Dollar is one US dollar in Micros.
const Dollar Micros = 1_000_000

// String formats m in dollars with six decimals: "$12.345678".
func (m Micros) String() string {
	sign, u := "", uint64(m)
	if m < 0 {
		sign, u = "-", -u // -m overflows for the smallest m; -u does not
	}
	return fmt.Sprintf("%s$%d.%06d", sign, u/uint64(Dollar), u%uint64(Dollar))
}

// A ModelPrice is what a model's tokens cost, in Micros per million tokens
// of each kind: $3 per million input tokens is Input: 3 * Dollar.
type ModelPrice struct {
	Input, Output, CacheRead, CacheWrite Micros
}

// of returns the price of the tokens of the token counter c, and false for
// a counter that is not one of Claude's token counters.
func (mp ModelPrice) of(c Provider) (Micros, bool) {
	switch c {
	case ClaudeInputTokens:
		return mp.Input, true
	case ClaudeOutputTokens:
		return mp.Output, true
	case ClaudeCacheReadTokens:
		return mp.CacheRead, true
	case ClaudeCacheWriteTokens:
		return mp.CacheWrite, true
	}
	return 0, false
}

// Prices says what calls and tokens cost, for [Reader.Spend],
// [Reader.TopSubjects] and the [Money] counter. The zero value prices
// nothing.
type Prices struct {
	// Models prices Claude's tokens by model. A model the API names, such as
	// "claude-sonnet-4-5-20250929", takes the price of the longest key it
	// starts with ("claude-sonnet-4-5").
	Models map[string]ModelPrice
	// Calls prices a provider's successful calls, in Micros a call: the
	// plans of Apollo, ContactOut and Exa differ, so there is no default.
	Calls map[Provider]Micros
	// AsOf says when the prices were taken, for people: "2025-11-24".
	AsOf string
}

// Model returns the price of the model name: the entry of the longest key
// of p.Models that name starts with, and false when none does.
func (p Prices) Model(name string) (ModelPrice, bool) {
	best, found := "", false
	for k := range p.Models {
		if strings.HasPrefix(name, k) && (!found || len(k) > len(best)) {
			best, found = k, true
		}
	}
	return p.Models[best], found
}

// DefaultPricesAsOf is the date of the prices in [DefaultPrices].
const DefaultPricesAsOf = "2025-11-24"

// DefaultPrices returns a new copy of Anthropic's list prices for the
// Claude models, as its pricing page gave them on [DefaultPricesAsOf], per
// million tokens: cache reads at a tenth of input, cache writes at 1.25 ×
// input (the 5-minute cache; the 1-hour cache costs 2 × input, and Sonnet's
// prompts over 200K tokens cost more, neither of which the token counts
// tell apart). Prices change: pass your own to [WithPrices], starting from a
// copy of these if you like. Per-call prices of other providers depend on
// the plan and are left out.
func DefaultPrices() Prices {
	tier := func(in, out Micros) ModelPrice { // in and out in cents per million
		in, out = in*Dollar/100, out*Dollar/100
		return ModelPrice{Input: in, Output: out, CacheRead: in / 10, CacheWrite: in * 5 / 4}
	}
	opus, opus45, sonnet, haiku45, haiku35, haiku3 := tier(1500, 7500), tier(500, 2500), tier(300, 1500), tier(100, 500), tier(80, 400), tier(25, 125)
	return Prices{
		AsOf: DefaultPricesAsOf,
		Models: map[string]ModelPrice{
			"claude-opus-4-5":   opus45,
			"claude-opus-4-1":   opus,
			"claude-opus-4":     opus,
			"claude-3-opus":     opus,
			"claude-sonnet-4-5": sonnet,
			"claude-sonnet-4":   sonnet,
			"claude-3-7-sonnet": sonnet,
			"claude-3-5-sonnet": sonnet,
			"claude-haiku-4-5":  haiku45,
			"claude-3-5-haiku":  haiku35,
			"claude-3-haiku":    haiku3,
		},
	}
}

// addCost returns a + b for costs, which are never negative, held at the
// largest Micros as cost holds a product.
func addCost(a, b Micros) Micros {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

// cost returns what n units cost at price, a price per million when
// perMillion is true and per unit otherwise, rounded half up to the
// micro-dollar; the product never overflows.
func cost(n int64, price Micros, perMillion bool) Micros {
	if n <= 0 || price <= 0 {
		return 0
	}
	if !perMillion {
		hi, lo := bits.Mul64(uint64(n), uint64(price))
		if hi != 0 || lo > 1<<63-1 {
			return 1<<63 - 1
		}
		return Micros(lo)
	}
	hi, lo := bits.Mul64(uint64(n), uint64(price))
	lo, carry := bits.Add64(lo, 500_000, 0) // half up
	hi += carry
	if hi >= 1_000_000 {
		return 1<<63 - 1
	}
	q, _ := bits.Div64(hi, lo, 1_000_000)
	return Micros(min(q, 1<<63-1))
}
