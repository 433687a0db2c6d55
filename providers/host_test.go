package providers_test

import (
	"net/http"
	"testing"

	"github.com/enrichmeter/enrichmeter/providers"
	"github.com/enrichmeter/enrichmeter/usage"
)

func TestByHostRoutes(t *testing.T) {
	hosts := providers.DefaultHosts()
	hosts["*.apollo.io"] = "apollo_any"
	hosts["*.eu.apollo.io"] = "apollo_eu"
	hosts["127.0.0.1"] = "local"
	cnt := &counter{}
	rt := providers.ByHost(ok200, cnt, hosts)
	cases := []struct {
		url  string
		want usage.Provider // empty: counts nothing
	}{
		{"https://api.exa.ai/search", usage.Exa},
		{"https://api.exa.ai:443/search", usage.Exa},
		{"https://API.Exa.AI/search", usage.Exa},
		{"https://api.apollo.io/api/v1/people/match", usage.Apollo}, // exact beats pattern
		{"https://app.apollo.io/", "apollo_any"},
		{"https://x.eu.apollo.io:8443/", "apollo_eu"}, // longer pattern wins
		{"https://apollo.io/", ""},                    // a pattern needs a subdomain
		{"https://data.sec.gov/submissions/CIK0000320193.json", usage.EDGAR},
		{"https://efts.sec.gov/LATEST/search-index?q=x", usage.EDGAR},
		{"https://www.sec.gov/", ""},
		{"https://api.anthropic.com/v1/messages", usage.Claude},
		{"https://api.contactout.com/v1/people/enrich", usage.ContactOut},
		{"http://127.0.0.1:8080/", "local"},
		{"http://[::1]:8080/", ""},
		{"https://example.com/", ""},
	}
	for _, c := range cases {
		before := cnt.get(c.want)
		total := cnt.total()
		req, _ := http.NewRequest("GET", c.url, nil)
		if _, err := rt.RoundTrip(req); err != nil {
			t.Fatal(err)
		}
		switch {
		case c.want == "" && cnt.total() != total:
			t.Errorf("%s: counted, want nothing", c.url)
		case c.want != "" && cnt.get(c.want) != before+1:
			t.Errorf("%s: not counted for %q", c.url, c.want)
		}
	}
}

func TestDefaultHostsIsAFreshCopy(t *testing.T) {
	a := providers.DefaultHosts()
	for _, p := range []usage.Provider{usage.Apollo, usage.ContactOut, usage.Exa, usage.EDGAR, usage.Claude} {
		found := false
		for _, q := range a {
			found = found || q == p
		}
		if !found {
			t.Errorf("DefaultHosts has no host for %s", p)
		}
	}
	delete(a, "api.exa.ai")
	if _, ok := providers.DefaultHosts()["api.exa.ai"]; !ok {
		t.Error("changing one DefaultHosts map changed the next")
	}
}

func TestByHostCopiesItsMap(t *testing.T) {
	hosts := map[string]usage.Provider{"api.exa.ai": usage.Exa}
	cnt := &counter{}
	rt := providers.ByHost(ok200, cnt, hosts)
	hosts["api.exa.ai"] = usage.Claude
	req, _ := http.NewRequest("GET", "https://api.exa.ai/", nil)
	rt.RoundTrip(req)
	if cnt.get(usage.Exa) != 1 {
		t.Errorf("counted %v, want exa once", cnt.n)
	}
}
