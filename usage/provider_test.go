package usage_test

import (
	"strings"
	"testing"
	"time"

	"github.com/enrichmeter/enrichmeter/usage"
)

func TestProviderValidate(t *testing.T) {
	cases := []struct {
		p  usage.Provider
		ok bool
	}{
		{usage.Apollo, true},
		{usage.ContactOut, true},
		{usage.Exa, true},
		{usage.EDGAR, true},
		{usage.Claude, true},
		{"my_api-2", true},
		{usage.Provider(strings.Repeat("a", 64)), true},
		{usage.Provider(strings.Repeat("a", 65)), false},
		{"", false},
		{"Exa", false},
		{"exa:2026", false},
		{"exa ", false},
		{"ex\x00a", false},
		{"{exa}", false},
		{"é", false},
	}
	for _, c := range cases {
		err := c.p.Validate()
		if (err == nil) != c.ok {
			t.Errorf("Provider(%q).Validate() = %v, want ok=%v", c.p, err, c.ok)
		}
		if err != nil && !strings.HasPrefix(err.Error(), "usage: ") {
			t.Errorf("Provider(%q).Validate() = %q, want the package name first", c.p, err)
		}
	}
}

func TestKey(t *testing.T) {
	cases := []struct {
		p    usage.Provider
		t    time.Time
		want string
	}{
		{usage.ContactOut, time.Date(2026, 11, 26, 3, 15, 3, 0, time.UTC), "api_usage:contactout:2026-11-26"},
		{usage.Exa, time.Date(2026, 11, 26, 23, 59, 59, 999999999, time.UTC), "api_usage:exa:2026-11-26"},
		{usage.Exa, time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC), "api_usage:exa:2026-11-27"},
		// The UTC day counts, not the local one.
		{usage.Claude, time.Date(2026, 11, 26, 20, 0, 0, 0, time.FixedZone("EST", -5*3600)), "api_usage:claude:2026-11-27"},
		{usage.Apollo, time.Date(1969, 12, 31, 23, 59, 59, 0, time.UTC), "api_usage:apollo:1969-12-31"},
	}
	for _, c := range cases {
		if got := usage.Key(c.p, c.t); got != c.want {
			t.Errorf("Key(%q, %v) = %q, want %q", c.p, c.t, got, c.want)
		}
	}
}
