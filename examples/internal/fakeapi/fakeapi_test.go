package fakeapi_test

import (
	"maps"
	"slices"
	"testing"

	"github.com/enrichmeter/enrichmeter/examples/internal/fakeapi"
	"github.com/enrichmeter/enrichmeter/providers"
	"github.com/enrichmeter/enrichmeter/usage"
)

func TestHostsFollowDefaultHosts(t *testing.T) {
	want := []string{"apollo", "claude", "contactout", "edgar", "exa"}
	if got := slices.Sorted(maps.Keys(fakeapi.Hosts)); !slices.Equal(got, want) {
		t.Fatalf("Hosts has providers %v, want %v", got, want)
	}
	defaults := providers.DefaultHosts()
	for p, host := range fakeapi.Hosts {
		if defaults[host] != usage.Provider(p) {
			t.Errorf("Hosts[%q] = %q, which DefaultHosts gives to %q", p, host, defaults[host])
		}
	}
	if got := fakeapi.Hosts["edgar"]; got != "efts.sec.gov" {
		t.Errorf(`Hosts["edgar"] = %q, want the full-text search host the examples call, efts.sec.gov`, got)
	}
}
