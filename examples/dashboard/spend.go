package main

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/enrichmeter/enrichmeter/examples/internal/enrich"
	"github.com/enrichmeter/enrichmeter/usage"
)

// Money is counted in usage.Micros from the flags to the JSON: a price or
// a money quota is read from its decimal string digit by digit, never
// through a float, and the JSON carries micro-dollars as integers. Only the
// page rounds, to the cent, with the exact amount on hover.

// priceFlag is -price, repeatable: what a provider's successful call costs.
type priceFlag map[usage.Provider]usage.Micros

const priceSyntax = "provider=dollars a call, to the micro-dollar, such as apollo=0.0125"

// String returns the prices as the flag takes them, in provider order.
func (f priceFlag) String() string {
	parts := make([]string, 0, len(f))
	for _, p := range slices.Sorted(maps.Keys(f)) {
		parts = append(parts, string(p)+"="+decimal(f[p]))
	}
	return strings.Join(parts, " ")
}

// Set adds one price; a provider given twice is an error.
func (f priceFlag) Set(v string) error {
	p, m, err := parsePrice(v)
	if err != nil {
		return err
	}
	if _, ok := f[p]; ok {
		return fmt.Errorf("%s is given twice", p)
	}
	f[p] = m
	return nil
}

// parsePrice reads one -price value. Claude is priced by its tokens, by
// model, so neither it nor its token counters take a price per call; nor
// does money, which is what the prices make.
func parsePrice(v string) (usage.Provider, usage.Micros, error) {
	bad := func(format string, args ...any) (usage.Provider, usage.Micros, error) {
		return "", 0, fmt.Errorf("%s: want %s", fmt.Sprintf(format, args...), priceSyntax)
	}
	name, amount, ok := strings.Cut(v, "=")
	if !ok {
		return bad("no =")
	}
	p := usage.Provider(name)
	if err := p.Validate(); err != nil {
		return bad("%v", err)
	}
	if p == usage.Claude || p == usage.Money || slices.Contains(tokenCounters, p) {
		return bad("%s is priced by Claude's tokens, by model, not per call", p)
	}
	m, err := parseDollars(amount)
	if err != nil {
		return bad("%v", err)
	}
	return p, m, nil
}

// parseDollars reads a positive amount of dollars written in decimal, "500"
// or "0.0125", to the micro-dollar exactly.
func parseDollars(s string) (usage.Micros, error) {
	whole, frac, _ := strings.Cut(s, ".")
	digits := func(d string) bool {
		return strings.IndexFunc(d, func(r rune) bool { return r < '0' || r > '9' }) < 0
	}
	switch {
	case whole == "" || !digits(whole) || !digits(frac) || strings.HasSuffix(s, "."):
		return 0, fmt.Errorf("%q is not an amount of dollars, such as 500 or 0.0125", s)
	case len(frac) > 6:
		return 0, fmt.Errorf("%q is finer than a micro-dollar (six decimals)", s)
	}
	n, err := strconv.ParseInt(whole+frac+strings.Repeat("0", 6-len(frac)), 10, 64)
	switch {
	case err != nil:
		return 0, fmt.Errorf("%q is too large an amount", s)
	case n == 0:
		return 0, fmt.Errorf("%q is not positive", s)
	}
	return usage.Micros(n), nil
}

// spendCard is the JSON of GET /api/spend: what the month and today cost,
// by model and by provider, and the top spenders. Money is in
// micro-dollars.
type spendCard struct {
	Prices      pricesInfo  `json:"prices"`
	Month       daySpan     `json:"month"` // from the 1st of the UTC month to today
	Today       string      `json:"today"` // YYYY-MM-DD, UTC
	Lines       []spendLine `json:"lines"`
	Total       spendTotals `json:"total"`
	TopSubjects topSubjects `json:"topSubjects"`
	// Problems names what could not be read, left out: a day's entry of a
	// model or subject that is not a count.
	Problems []string `json:"problems,omitempty"`
}

// pricesInfo says what the figures are priced at.
type pricesInfo struct {
	AsOf    string                  `json:"asOf"`    // of the models' prices, usage.Prices.AsOf
	PerCall map[string]usage.Micros `json:"perCall"` // -price's, by provider; {} when none
}

type daySpan struct {
	From string `json:"from"` // YYYY-MM-DD, UTC, both included
	To   string `json:"to"`
}

// A spendLine is what a model's tokens, or a provider's calls, cost this
// month and today.
type spendLine struct {
	Provider string `json:"provider"` // claude for tokens
	// Model is the model the tokens were spent on: "other" for the models
	// past a day's limit, left out for tokens no model was counted for.
	Model  string      `json:"model,omitempty"`
	Priced bool        `json:"priced"` // false: the prices name no such model; costs are 0
	Month  spendAmount `json:"month"`
	Today  spendAmount `json:"today"`
}

type spendAmount struct {
	Tokens *tokens      `json:"tokens,omitempty"` // of a model
	Calls  int64        `json:"calls,omitempty"`  // of a provider
	Cost   usage.Micros `json:"cost"`
}

type tokens struct {
	Input      int64 `json:"input"`
	Output     int64 `json:"output"`
	CacheRead  int64 `json:"cacheRead"`
	CacheWrite int64 `json:"cacheWrite"`
}

func (t *tokens) add(u usage.Tokens) {
	t.Input += u.Input
	t.Output += u.Output
	t.CacheRead += u.CacheRead
	t.CacheWrite += u.CacheWrite
}

func (t *tokens) total() int64 { return t.Input + t.Output + t.CacheRead + t.CacheWrite }

type spendTotals struct {
	Month spendTotal `json:"month"`
	Today spendTotal `json:"today"`
}

type spendTotal struct {
	Cost           usage.Micros `json:"cost"`           // of what has a price
	UnpricedTokens int64        `json:"unpricedTokens"` // tokens of models with no price, or of none
}

// topSubjects are the subjects that cost the most over the last
// topSubjectDays.
type topSubjects struct {
	daySpan
	Subjects []subjectSpend `json:"subjects"` // the most first, at most topSubjectsShown
}

type subjectSpend struct {
	Subject string           `json:"subject"` // "other": the subjects past a day's limit, together
	Calls   int64            `json:"calls"`   // of every provider
	CallsBy map[string]int64 `json:"callsBy"` // by provider
	Tokens  int64            `json:"tokens"`  // of Claude, of every kind
	Cost    usage.Micros     `json:"cost"`
	// Unpriced is true when Cost leaves some of the use out: calls of a
	// provider without -price, or tokens of a model without a price.
	Unpriced bool `json:"unpriced"`
}

const (
	topSubjectDays   = 30 // the days the top spenders are ranked over
	topSubjectsShown = 10
)

// spend serves GET /api/spend.
func (s *server) spend(w http.ResponseWriter, r *http.Request) {
	card, err := s.spendCard(r.Context())
	if err != nil {
		writeError(w, http.StatusBadGateway, err)
		return
	}
	writeJSON(w, card)
}

func (s *server) spendCard(ctx context.Context) (spendCard, error) {
	now := s.now().UTC()
	today := now.Truncate(24 * time.Hour)
	monthStart := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	card := spendCard{
		Prices: pricesInfo{AsOf: s.prices.AsOf, PerCall: map[string]usage.Micros{}},
		Month:  daySpan{From: monthStart.Format(time.DateOnly), To: today.Format(time.DateOnly)},
		Today:  today.Format(time.DateOnly),
		Lines:  []spendLine{},
	}
	for p, m := range s.prices.Calls {
		card.Prices.PerCall[string(p)] = m
	}

	lines, err := s.usage.Spend(ctx, monthStart, now)
	if err != nil {
		// Spend returns the lines it could read beside the entries it
		// could not; none at all is a failed read.
		if lines == nil {
			return card, err
		}
		card.Problems = appendProblems(card.Problems, err)
	}
	type key struct {
		p     usage.Provider
		model string
	}
	index := map[key]int{}
	for _, l := range lines {
		k := key{l.Provider, l.Model}
		i, ok := index[k]
		if !ok {
			i = len(card.Lines)
			index[k] = i
			line := spendLine{Provider: string(l.Provider), Model: l.Model, Priced: l.Priced}
			if l.Provider == usage.Claude {
				line.Month.Tokens, line.Today.Tokens = &tokens{}, &tokens{}
			}
			card.Lines = append(card.Lines, line)
		}
		line := &card.Lines[i]
		amounts := []*spendAmount{&line.Month}
		totals := []*spendTotal{&card.Total.Month}
		if l.Day.Equal(today) {
			amounts, totals = append(amounts, &line.Today), append(totals, &card.Total.Today)
		}
		for _, a := range amounts {
			if a.Tokens != nil {
				a.Tokens.add(l.Tokens)
			}
			a.Calls += l.Calls
			a.Cost += l.Cost
		}
		for _, t := range totals {
			t.Cost += l.Cost
			if !l.Priced {
				t.UnpricedTokens += l.Tokens.Total()
			}
		}
	}
	slices.SortStableFunc(card.Lines, spendOrder)

	from := today.AddDate(0, 0, 1-topSubjectDays)
	card.TopSubjects = topSubjects{daySpan: daySpan{From: from.Format(time.DateOnly), To: card.Today}, Subjects: []subjectSpend{}}
	uses, err := s.usage.TopSubjects(ctx, from, now, topSubjectsShown, usage.BySpend)
	if err != nil {
		if uses == nil { // as Spend: the subjects it could read, or none
			return card, err
		}
		card.Problems = appendProblems(card.Problems, err)
	}
	for _, u := range uses {
		sp := subjectSpend{Subject: u.Subject, Calls: u.Calls, CallsBy: map[string]int64{}, Tokens: u.Tokens.Total(), Cost: u.Cost, Unpriced: u.Unpriced}
		for p, n := range u.ByCalls {
			sp.CallsBy[string(p)] = n
		}
		card.TopSubjects.Subjects = append(card.TopSubjects.Subjects, sp)
	}
	return card, nil
}

// spendOrder orders the lines: Claude's priced models, the month's most
// costly first; its models without a price, the most tokens first; its
// tokens of no model; then the providers' calls, in the cards' order.
func spendOrder(a, b spendLine) int {
	rank := func(l spendLine) int {
		switch {
		case l.Provider != string(usage.Claude):
			return 3
		case l.Model == "":
			return 2
		case !l.Priced:
			return 1
		}
		return 0
	}
	if c := cmp.Compare(rank(a), rank(b)); c != 0 {
		return c
	}
	switch rank(a) {
	case 0:
		if c := cmp.Compare(b.Month.Cost, a.Month.Cost); c != 0 {
			return c
		}
	case 1:
		if c := cmp.Compare(b.Month.Tokens.total(), a.Month.Tokens.total()); c != 0 {
			return c
		}
	case 3:
		order := func(p string) int {
			if i := slices.Index(enrich.Providers, usage.Provider(p)); i >= 0 {
				return i
			}
			return len(enrich.Providers)
		}
		if c := cmp.Compare(order(a.Provider), order(b.Provider)); c != 0 {
			return c
		}
		return strings.Compare(a.Provider, b.Provider)
	}
	return strings.Compare(a.Model, b.Model)
}
