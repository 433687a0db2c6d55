package usage_test

import (
	"strings"
	"testing"

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
