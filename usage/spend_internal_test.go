package usage

import (
	"math"
	"testing"
)

// TestMoneySumsSaturate: a cost too large for Micros is held at the
// largest, and so is a sum of such costs, rather than turning negative
// (which a Money quota would read as nothing spent).
func TestMoneySumsSaturate(t *testing.T) {
	mp := ModelPrice{Input: 3 * Dollar, Output: 15 * Dollar, CacheRead: Dollar, CacheWrite: Dollar}
	for _, tc := range []struct {
		name string
		t    Tokens
	}{
		{"one kind", Tokens{Output: math.MaxInt64}},
		{"two kinds", Tokens{Input: math.MaxInt64, Output: math.MaxInt64}},
		{"every kind", Tokens{Input: math.MaxInt64, Output: math.MaxInt64, CacheRead: math.MaxInt64, CacheWrite: math.MaxInt64}},
		{"sum past the largest", Tokens{Input: math.MaxInt64 / 3 / 2, Output: math.MaxInt64 / 15}},
	} {
		if got := tc.t.cost(mp); got != math.MaxInt64 {
			t.Errorf("%s: cost = %d, want %d", tc.name, got, int64(math.MaxInt64))
		}
	}
	uses := map[string]*SubjectUse{}
	r := &Reader{cfg: config{prices: Prices{Calls: map[Provider]Micros{Exa: Dollar}}}}
	for range 2 {
		if err := r.addSubjectField(uses, "acme:exa", "9223372036854775807"); err != nil {
			t.Fatal(err)
		}
	}
	if got := uses["acme"].Cost; got != math.MaxInt64 {
		t.Errorf("a subject's cost = %d, want %d", got, int64(math.MaxInt64))
	}
}

func TestMicrosStringOfTheSmallest(t *testing.T) {
	if got, want := Micros(math.MinInt64).String(), "-$9223372036854.775808"; got != want {
		t.Errorf("String = %q, want %q", got, want)
	}
}
