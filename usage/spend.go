package usage

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Money counts what the other counters cost, in [Micros], at the reader's
// prices ([WithPrices]): Claude's tokens by model, and the calls of the
// providers that have a per-call price. It is read, never written:
// [Reader.Daily] and [Reader.Burn] of Money work as they do on any counter,
// so a money quota burns as a call quota does:
//
//	burn, err := r.Burn(ctx, usage.Money, usage.Quota{Limit: int64(500 * usage.Dollar), Period: usage.PerMonth})
const Money Provider = "money"

// tokenCounters are Claude's token counters, the ones a model's price
// covers.
var tokenCounters = [...]Provider{ClaudeInputTokens, ClaudeOutputTokens, ClaudeCacheReadTokens, ClaudeCacheWriteTokens}

// Tokens counts Claude's tokens by kind.
type Tokens struct {
	Input, Output, CacheRead, CacheWrite int64
}

// Total returns the tokens of every kind.
func (t Tokens) Total() int64 { return t.Input + t.Output + t.CacheRead + t.CacheWrite }

// of returns the count of the token counter c.
func (t *Tokens) of(c Provider) *int64 {
	switch c {
	case ClaudeInputTokens:
		return &t.Input
	case ClaudeOutputTokens:
		return &t.Output
	case ClaudeCacheReadTokens:
		return &t.CacheRead
	case ClaudeCacheWriteTokens:
		return &t.CacheWrite
	}
	return nil
}

// cost returns what t costs at mp, each kind rounded to the micro-dollar.
func (t Tokens) cost(mp ModelPrice) Micros {
	var sum Micros
	for _, c := range tokenCounters {
		price, _ := mp.of(c)
		sum = addCost(sum, cost(*t.of(c), price, true))
	}
	return sum
}

// A SpendLine is what one day of one model's tokens, or of one provider's
// calls, cost.
type SpendLine struct {
	Day      time.Time // UTC midnight
	Provider Provider  // Claude for tokens; for calls, the provider
	// Model is the model the tokens were spent on; "" for calls, and for
	// tokens no model was read for, whose cost is unknown, and
	// [OtherName] for the models over the day's limit.
	Model  string
	Tokens Tokens // for Claude's tokens
	Calls  int64  // for a provider's calls
	Cost   Micros
	Priced bool // false when the prices have none for it: Cost is 0
}

// Spend returns what was spent on each UTC day from the day of from to the
// day of to, both included, oldest first: a line for each model whose
// tokens a tracker counted ([Meter.Model]; the providers package does it
// for Claude's responses), a line for Claude's tokens of no known model
// (the counters' totals less the models'), and a line for the calls of
// each provider with a per-call price. Costs are at the reader's prices
// ([WithPrices], [DefaultPrices] by default), rounded to the micro-dollar
// for each day, model and kind of token. It reads all days in one round
// trip. A field it cannot read is left out and named in an [*EntryError].
func (r *Reader) Spend(ctx context.Context, from, to time.Time) ([]SpendLine, error) {
	first, last := dayOf(from), dayOf(to)
	if err := spanErr("spend", first, last); err != nil {
		return nil, err
	}
	return r.spend(ctx, first, last)
}

// spanErr checks the days of a read.
func spanErr(what string, first, last day) error {
	switch n := int(last-first) + 1; {
	case last < first:
		return fmt.Errorf("usage: %s: to (%s) is before from (%s)", what, last.time().Format(dayLayout), first.time().Format(dayLayout))
	case n > maxDays:
		return fmt.Errorf("usage: %s: %d days asked, at most %d", what, n, maxDays)
	}
	return nil
}

// spend reads and prices the days [first, last].
func (r *Reader) spend(ctx context.Context, first, last day) ([]SpendLine, error) {
	if r.rdbErr != nil {
		return nil, r.rdbErr
	}
	prices := r.cfg.prices
	callers := slices.Sorted(maps.Keys(prices.Calls))
	plain := append(tokenCounters[:len(tokenCounters):len(tokenCounters)], callers...)
	n := int(last-first) + 1
	hashes := make([]*redis.MapStringStringCmd, n)
	counts := make([][]*redis.StringCmd, n)
	_, err := r.rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		for i := range n {
			d := first + day(i)
			hashes[i] = pipe.HGetAll(ctx, hashKey(r.cfg.prefix, modelsHash, d))
			for _, p := range plain {
				counts[i] = append(counts[i], pipe.Get(ctx, key(r.cfg.prefix, p, d)))
			}
		}
		return nil
	})
	if err := readErr(ctx, err); err != nil {
		return nil, fmt.Errorf("usage: spend: %w", err)
	}
	var out []SpendLine
	var errs []error
	for i := range n {
		d := (first + day(i)).time()
		totals := make(map[Provider]int64, len(plain))
		for j, c := range counts[i] {
			v, err := c.Int64()
			if err != nil && !errors.Is(err, redis.Nil) {
				errs = append(errs, fmt.Errorf("usage: spend: key %s: %w", c.Args()[1], err))
			}
			totals[plain[j]] = v
		}
		models, bad := modelTokens(hashes[i].Val())
		for _, f := range bad {
			errs = append(errs, &EntryError{Key: fmt.Sprint(hashes[i].Args()[1]), Field: f.field, Err: f.err})
		}
		var known Tokens
		for _, m := range slices.Sorted(maps.Keys(models)) {
			t := models[m]
			line := SpendLine{Day: d, Provider: Claude, Model: m, Tokens: t}
			if mp, ok := prices.Model(m); ok {
				line.Cost, line.Priced = t.cost(mp), true
			}
			out = append(out, line)
			for _, c := range tokenCounters {
				*known.of(c) += *t.of(c)
			}
		}
		var unknown Tokens
		for _, c := range tokenCounters {
			*unknown.of(c) = max(totals[c]-*known.of(c), 0)
		}
		if unknown.Total() > 0 {
			out = append(out, SpendLine{Day: d, Provider: Claude, Tokens: unknown})
		}
		for _, p := range callers {
			if calls := totals[p]; calls > 0 {
				out = append(out, SpendLine{Day: d, Provider: p, Calls: calls, Cost: cost(calls, prices.Calls[p], false), Priced: true})
			}
		}
	}
	return out, errors.Join(errs...)
}

// readErr returns the error of a pipelined read that matters: none for
// missing keys or error replies, which each command holds, ctx.Err() when
// ctx ended, and otherwise err.
func readErr(ctx context.Context, err error) error {
	var reply redis.Error
	switch {
	case err == nil || errors.Is(err, redis.Nil) || errors.As(err, &reply):
		return nil
	case ctx.Err() != nil:
		return ctx.Err()
	}
	return err
}

// A badField is a field of a hash that could not be read.
type badField struct {
	field string
	err   error
}

// modelTokens reads a models hash: its token fields by model, and the
// fields it could not read.
func modelTokens(fields map[string]string) (map[string]Tokens, []badField) {
	out := make(map[string]Tokens)
	var bad []badField
	for f, v := range fields {
		model, counter, ok := strings.Cut(f, ":")
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			bad = append(bad, badField{f, err})
			continue
		}
		t := out[model]
		if p := t.of(Provider(counter)); ok && p != nil {
			*p += n
			out[model] = t
		}
	}
	return out, bad
}

// A Rank orders subjects for [Reader.TopSubjects].
type Rank int

const (
	ByCalls  Rank = iota // the most calls first
	ByTokens             // the most of Claude's tokens first
	BySpend              // the most money first
)

// A SubjectUse is what one subject used over some days.
type SubjectUse struct {
	Subject string
	Calls   int64              // successful calls, of every provider
	ByCalls map[Provider]int64 // the calls by provider
	Tokens  Tokens             // Claude's tokens
	Cost    Micros             // at the reader's prices
	// Unpriced is true when some of the use has no price: tokens of a
	// model the prices do not name, or calls of a provider without a
	// per-call price; Cost leaves it out.
	Unpriced bool
}

// TopSubjects returns the n subjects that used the most from the day of
// from to the day of to, by rank, the largest first, the subjects a tracker
// counted with [Meter.For] (the providers package does it for requests with
// a subject): [OtherName] holds the subjects over a day's limit. Costs are
// at the reader's prices, rounded for each day, subject, model and kind of
// token, so their sum can differ from [Reader.Spend]'s by those roundings.
// A field it cannot read is left out and named in an [*EntryError].
// A non-positive n returns every subject.
func (r *Reader) TopSubjects(ctx context.Context, from, to time.Time, n int, by Rank) ([]SubjectUse, error) {
	first, last := dayOf(from), dayOf(to)
	if err := spanErr("top subjects", first, last); err != nil {
		return nil, err
	}
	if r.rdbErr != nil {
		return nil, r.rdbErr
	}
	days := int(last-first) + 1
	hashes := make([]*redis.MapStringStringCmd, days)
	_, err := r.rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		for i := range hashes {
			hashes[i] = pipe.HGetAll(ctx, hashKey(r.cfg.prefix, subjectsHash, first+day(i)))
		}
		return nil
	})
	if err := readErr(ctx, err); err != nil {
		return nil, fmt.Errorf("usage: top subjects: %w", err)
	}
	uses := make(map[string]*SubjectUse)
	var errs []error
	for _, h := range hashes {
		if err := h.Err(); err != nil && !errors.Is(err, redis.Nil) {
			errs = append(errs, fmt.Errorf("usage: top subjects: key %s: %w", h.Args()[1], err))
			continue
		}
		for f, v := range h.Val() {
			if err := r.addSubjectField(uses, f, v); err != nil {
				errs = append(errs, &EntryError{Key: fmt.Sprint(h.Args()[1]), Field: f, Err: err})
			}
		}
	}
	out := make([]SubjectUse, 0, len(uses))
	for _, u := range uses {
		out = append(out, *u)
	}
	rank := func(u SubjectUse) int64 {
		switch by {
		case ByTokens:
			return u.Tokens.Total()
		case BySpend:
			return int64(u.Cost)
		}
		return u.Calls
	}
	slices.SortFunc(out, func(a, b SubjectUse) int {
		if c := cmp.Compare(rank(b), rank(a)); c != 0 {
			return c
		}
		return strings.Compare(a.Subject, b.Subject)
	})
	if n > 0 && len(out) > n {
		out = out[:n]
	}
	return out, errors.Join(errs...)
}

// addSubjectField adds one field of a subjects hash, "subject:counter" or
// "subject:counter:model", to uses.
func (r *Reader) addSubjectField(uses map[string]*SubjectUse, f, v string) error {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return err
	}
	subject, rest, ok := strings.Cut(f, ":")
	if !ok {
		return errors.New("no counter in the field's name")
	}
	counter, model, _ := strings.Cut(rest, ":")
	u := uses[subject]
	if u == nil {
		u = &SubjectUse{Subject: subject, ByCalls: make(map[Provider]int64)}
		uses[subject] = u
	}
	prices := r.cfg.prices
	if t := u.Tokens.of(Provider(counter)); t != nil {
		*t += n
		mp, known := prices.Model(model)
		price, _ := mp.of(Provider(counter))
		u.Cost = addCost(u.Cost, cost(n, price, true))
		u.Unpriced = u.Unpriced || !known
		return nil
	}
	u.Calls += n
	u.ByCalls[Provider(counter)] += n
	price, known := prices.Calls[Provider(counter)]
	u.Cost = addCost(u.Cost, cost(n, price, false))
	u.Unpriced = u.Unpriced || !known
	return nil
}
