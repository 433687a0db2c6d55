package main

import (
	"cmp"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/enrichmeter/enrichmeter/examples/internal/enrich"
	"github.com/enrichmeter/enrichmeter/usage"
)

// What the page prints of the spend card: the Spend section of the API
// Quota Burn card, and the Top spenders card.

// spendView is what the page prints of a spendCard.
type spendView struct {
	Prices   string // what the figures are priced at
	Since    string // "since Nov 1"
	Lines    []spendLineView
	Total    spendLineView
	NoPrice  string // the providers whose calls have no price, in words
	Spenders []spenderView
	Span     string // of the spenders: "Oct 28 to Nov 26"
	Other    bool   // the spenders include OtherName
	Unpriced bool   // some spender's cost leaves use out
}

// spendLineView is a model's or a provider's line of the Spend table.
type spendLineView struct {
	ID           string // element id: "spend-model-claude-sonnet-4-5", "spend-calls-apollo"
	Name         string // a model's name, or "Apollo calls"
	Model        bool   // Name is a model's, printed as code
	Version      string // a model's date, if any, apart so that the name breaks before it: "-20250929"
	Price        string // "$3 in · $15 out per M tokens", "$0.0125 a call", "no price"
	PriceTitle   string
	Month, Today spendCell
}

// spendCell is one span's cost and what it bought.
type spendCell struct {
	Cost   string // "$3.70", "unpriced", or "–" for nothing
	Exact  string // "$3.703701", on hover
	Amount string // "1.23 M tokens", "40 calls"
	Dim    bool   // nothing, or nothing priced
}

// spenderView is one line of the Top spenders card.
type spenderView struct {
	Rank                int
	Subject             string
	Other               bool
	Calls, CallsTitle   string
	Tokens, TokensTitle string
	Cost, Exact         string
	Unpriced            bool // Cost leaves some of its use out
}

// spendView turns the spend card into what the page prints.
func (s *server) spendView(card spendCard) spendView {
	v := spendView{Prices: "Claude's tokens at the reader's prices"}
	if s.prices.AsOf != "" {
		v.Prices = "Claude's tokens at Anthropic's list prices of " + s.prices.AsOf
	}
	var priced, unpriced []string
	for _, p := range enrich.Providers {
		name := cmp.Or(names[string(p)], string(p))
		if m, ok := s.prices.Calls[p]; ok {
			priced = append(priced, name+" at "+price(m))
		} else if p != usage.Claude {
			unpriced = append(unpriced, name)
		}
	}
	if len(priced) > 0 {
		v.Prices += "; calls at -price: " + strings.Join(priced, ", ")
	}
	if len(unpriced) > 0 {
		v.NoPrice = "Calls of " + and(unpriced) + " have no price here"
	}
	if t, ok := parseDay(card.Month.From); ok {
		v.Since = "since " + day(t)
	}
	for _, l := range card.Lines {
		v.Lines = append(v.Lines, s.spendLineView(l))
	}
	v.Total = spendLineView{ID: "spend-total", Name: "Total",
		Month: totalCell(card.Total.Month), Today: totalCell(card.Total.Today)}

	if from, ok := parseDay(card.TopSubjects.From); ok {
		to, _ := parseDay(card.TopSubjects.To)
		v.Span = day(from) + " to " + day(to)
	}
	for i, u := range card.TopSubjects.Subjects {
		sp := spenderView{
			Rank: i + 1, Subject: u.Subject, Other: u.Subject == usage.OtherName,
			Calls: count(u.Calls), CallsTitle: callsBy(u.CallsBy),
			Tokens: count(u.Tokens), TokensTitle: commas(u.Tokens) + " tokens",
			Cost: dollars(u.Cost), Exact: u.Cost.String(), Unpriced: u.Unpriced,
		}
		switch {
		case u.Unpriced && u.Cost == 0:
			sp.Cost, sp.Exact, sp.Unpriced = "unpriced", "no price for any of its use", false
		case u.Unpriced:
			sp.Exact += ", and use with no price"
		}
		v.Other = v.Other || sp.Other
		v.Unpriced = v.Unpriced || sp.Unpriced
		v.Spenders = append(v.Spenders, sp)
	}
	return v
}

func (s *server) spendLineView(l spendLine) spendLineView {
	v := spendLineView{}
	switch {
	case l.Provider != string(usage.Claude):
		name := cmp.Or(names[l.Provider], l.Provider)
		v.ID, v.Name = "spend-calls-"+l.Provider, name+" calls"
		v.Price = price(s.prices.Calls[usage.Provider(l.Provider)]) + " a call"
		v.PriceTitle = "set by -price"
	case l.Model == "":
		v.ID, v.Name = "spend-model-none", "Tokens of no known model"
		v.Price, v.PriceTitle = "counted without a model", "counted without usage.Meter.Model, so their price is unknown"
	case l.Model == usage.OtherName:
		v.ID, v.Name = "spend-model-other", "other models"
		v.Price, v.PriceTitle = "unpriced", "the models past a tracker's daily limit of models (usage.WithModelLimit), together: their price is unknown"
	default:
		v.ID, v.Name, v.Model = "spend-model-"+l.Model, l.Model, true
		if i := len(l.Model) - 9; i > 0 && modelDate.MatchString(l.Model[i:]) {
			v.Name, v.Version = l.Model[:i], l.Model[i:]
		}
		v.Price, v.PriceTitle = "no price", "the prices name no such model: its tokens are unpriced"
		if mp, ok := s.prices.Model(l.Model); ok {
			v.Price = fmt.Sprintf("%s in · %s out per M tokens", price(mp.Input), price(mp.Output))
			v.PriceTitle = fmt.Sprintf("per million tokens: %s input, %s output, %s cache read, %s cache write",
				price(mp.Input), price(mp.Output), price(mp.CacheRead), price(mp.CacheWrite))
		}
	}
	v.Month, v.Today = spendCellOf(l.Month, l.Priced), spendCellOf(l.Today, l.Priced)
	return v
}

// spendCellOf says what a line's amount cost.
func spendCellOf(a spendAmount, priced bool) spendCell {
	var c spendCell
	switch {
	case a.Tokens != nil:
		c.Amount = count(a.Tokens.total()) + " tokens"
		c.Exact = fmt.Sprintf("%s input, %s output, %s cache read, %s cache write tokens",
			commas(a.Tokens.Input), commas(a.Tokens.Output), commas(a.Tokens.CacheRead), commas(a.Tokens.CacheWrite))
		if a.Tokens.total() == 0 {
			return spendCell{Cost: "–", Dim: true}
		}
	case a.Calls == 0:
		return spendCell{Cost: "–", Dim: true}
	default:
		c.Amount = plural(a.Calls, "call")
	}
	if !priced {
		c.Cost, c.Dim = "unpriced", true
		return c
	}
	c.Cost, c.Exact = dollars(a.Cost), a.Cost.String()+": "+c.Exact
	if a.Tokens == nil {
		c.Exact = a.Cost.String()
	}
	return c
}

func totalCell(t spendTotal) spendCell {
	c := spendCell{Cost: dollars(t.Cost), Exact: t.Cost.String()}
	if t.UnpricedTokens > 0 {
		c.Amount = "+ " + count(t.UnpricedTokens) + " tokens unpriced"
	}
	return c
}

// modelDate matches the date that ends a model's name: "-20250929".
var modelDate = regexp.MustCompile(`^-[0-9]{8}$`)

// callsBy says a subject's calls by provider: "Apollo 40, Exa 12".
func callsBy(by map[string]int64) string {
	var parts []string
	for _, p := range enrich.Providers {
		if n := by[string(p)]; n > 0 {
			parts = append(parts, names[string(p)]+" "+commas(n))
		}
	}
	for _, p := range slices.Sorted(maps.Keys(by)) {
		if !slices.Contains(enrich.Providers, usage.Provider(p)) && by[p] > 0 {
			parts = append(parts, p+" "+commas(by[p]))
		}
	}
	if len(parts) == 0 {
		return "no calls"
	}
	return strings.Join(parts, ", ")
}

// and joins names in a sentence: "A", "A and B", "A, B and C".
func and(names []string) string {
	if len(names) < 2 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
}

// parseDay reads a day as the JSON writes it, YYYY-MM-DD.
func parseDay(s string) (time.Time, bool) {
	t, err := time.Parse(time.DateOnly, s)
	return t, err == nil
}
