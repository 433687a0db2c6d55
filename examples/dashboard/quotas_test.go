package main

import (
	"strings"
	"testing"

	"github.com/enrichmeter/enrichmeter/usage"
)

func TestParseQuota(t *testing.T) {
	cases := []struct {
		v    string
		p    usage.Provider
		q    usage.Quota
		fail string // part of the error; empty when v is valid
	}{
		{"apollo=10000/month@15", usage.Apollo, usage.Quota{Limit: 10_000, Period: usage.PerMonth, AnchorDay: 15}, ""},
		{"apollo=10000/month", usage.Apollo, usage.Quota{Limit: 10_000, Period: usage.PerMonth, AnchorDay: 1}, ""},
		{"exa=1000/day", usage.Exa, usage.Quota{Limit: 1000, Period: usage.PerDay}, ""},
		{"claude_input_tokens=18000000/month@31", usage.ClaudeInputTokens, usage.Quota{Limit: 18_000_000, Period: usage.PerMonth, AnchorDay: 31}, ""},
		{"money=500/month", usage.Money, usage.Quota{Limit: int64(500 * usage.Dollar), Period: usage.PerMonth, AnchorDay: 1}, ""},
		{"money=0.5/day", usage.Money, usage.Quota{Limit: 500_000, Period: usage.PerDay}, ""},
		{"money=1.0000001/month", "", usage.Quota{}, "finer than a micro-dollar"},
		{"money=0/month", "", usage.Quota{}, "money's limit"},
		{"money=$500/month", "", usage.Quota{}, "money's limit"},
		{"apollo=0.5/day", "", usage.Quota{}, "not a positive integer"},
		{"apollo", "", usage.Quota{}, "no ="},
		{"Apollo=10/day", "", usage.Quota{}, "Apollo"},
		{"=10/day", "", usage.Quota{}, "provider"},
		{"apollo=10", "", usage.Quota{}, "no /period"},
		{"apollo=0/day", "", usage.Quota{}, `limit "0" is not a positive integer`},
		{"apollo=-5/day", "", usage.Quota{}, "not a positive integer"},
		{"apollo=10,000/day", "", usage.Quota{}, "not a positive integer"},
		{"apollo=10/week", "", usage.Quota{}, `period "week" is neither day nor month`},
		{"apollo=10/day@3", "", usage.Quota{}, "a day's quota has no @day"},
		{"apollo=10/month@0", "", usage.Quota{}, "@0 is not a day of the month"},
		{"apollo=10/month@32", "", usage.Quota{}, "@32 is not a day of the month"},
		{"apollo=10/month@", "", usage.Quota{}, "@ is not a day of the month"},
	}
	for _, c := range cases {
		p, q, err := parseQuota(c.v)
		switch {
		case c.fail == "" && (err != nil || p != c.p || q != c.q):
			t.Errorf("parseQuota(%q) = %q, %+v, %v; want %q, %+v", c.v, p, q, err, c.p, c.q)
		case c.fail != "" && (err == nil || !strings.Contains(err.Error(), c.fail) || !strings.Contains(err.Error(), "apollo=10000/month@15")):
			t.Errorf("parseQuota(%q) = %v, want an error saying %q and showing the syntax", c.v, err, c.fail)
		}
	}
}

// TestQuotaFlag reads -quota as the command line gives it: repeated, each
// provider once.
func TestQuotaFlag(t *testing.T) {
	c, err := parseFlags([]string{"-quota", "exa=1000/day", "-quota", "apollo=10000/month@15", "-quota", "money=499.99/month"})
	if err != nil {
		t.Fatal(err)
	}
	want := quotaFlag{
		usage.Exa: {Limit: 1000, Period: usage.PerDay}, usage.Apollo: {Limit: 10_000, Period: usage.PerMonth, AnchorDay: 15},
		usage.Money: {Limit: 499_990_000, Period: usage.PerMonth, AnchorDay: 1}, // micro-dollars
	}
	if len(c.quotas) != len(want) || c.quotas[usage.Exa] != want[usage.Exa] || c.quotas[usage.Apollo] != want[usage.Apollo] || c.quotas[usage.Money] != want[usage.Money] {
		t.Errorf("-quota thrice = %v, want %v", c.quotas, want)
	}
	if got := c.quotas.String(); got != "apollo=10000/month@15 exa=1000/day money=499.99/month@1" {
		t.Errorf("String() = %q", got)
	}
	if c, err := parseFlags(nil); err != nil || len(c.quotas) != 0 {
		t.Errorf("no -quota = %v, %v; want none", c.quotas, err)
	}
	for _, args := range [][]string{
		{"-quota", "exa=1000/day", "-quota", "exa=5/day"},
		{"-quota", "exa=1000/week"},
	} {
		if _, err := parseFlags(args); err == nil {
			t.Errorf("parseFlags(%q) = nil error", args)
		}
	}
}
