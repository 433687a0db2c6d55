package providers_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/enrichmeter/enrichmeter/providers"
	"github.com/enrichmeter/enrichmeter/usage"
)

func TestByHostRoutes(t *testing.T) {
	hosts := providers.DefaultHosts()
	hosts["*.apollo.io"] = "apollo_any"
	hosts["*.eu.apollo.io"] = "apollo_eu"
	hosts["127.0.0.1"] = "local"
	hosts["127.0.0.1:9000"] = "local_9000"           // an exact host:port wins over the host alone
	hosts["api.anthropic.com:8443"] = "claude_8443"  // ...and only on its port
	hosts["localhost:80"] = "local_80"               // a URL without a port is sent to its scheme's
	hosts["Search.Example.org."] = "search"          // case and a trailing dot are normalised in keys
	hosts["*.example.net:8443"] = "example_net_8443" // patterns take ports too
	hosts["api.contactout.com."] = usage.ContactOut  // the same host twice, for the same provider
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
		{"https://api.exa.ai./search", usage.Exa}, // a fully qualified name
		{"https://API.EXA.AI.:443/search", usage.Exa},
		{"https://x.eu.apollo.io./", "apollo_eu"},
		{"https://api.exa.ai../", ""},
		{"http://127.0.0.1:9000/", "local_9000"},
		{"https://api.anthropic.com:8443/v1/messages", "claude_8443"},
		{"https://api.anthropic.com:443/v1/messages", usage.Claude},
		{"http://localhost/", "local_80"},
		{"http://localhost:80/", "local_80"},
		{"https://localhost/", ""},
		{"http://localhost:8080/", ""},
		{"https://search.example.org/", "search"},
		{"https://SEARCH.example.org./", "search"},
		{"https://a.example.net:8443/", "example_net_8443"},
		{"https://a.b.example.net.:8443/", "example_net_8443"},
		{"https://a.example.net/", ""},
		{"https://api.contactout.com./", usage.ContactOut},
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

func TestByHostSaysWhyAKeyIsRefused(t *testing.T) {
	cases := []struct {
		key  string
		want string // in the panic message, after the key
	}{
		{"", "no host name"},
		{".", "no host name"},
		{"*.", "no host name"},
		{"*", `"*" is allowed only as a whole first label`},
		{"a.*.exa.ai", `"*" is allowed only as a whole first label`},
		{"*api.exa.ai", `"*" is allowed only as a whole first label`},
		{"api..exa.ai", "empty label"},
		{".api.exa.ai", "empty label"},
		{"api.exa.ai..", "empty label"},
		{"https://api.exa.ai", "scheme"},
		{"api.exa.ai/search", `character '/'`},
		{"key@api.exa.ai", `character '@'`},
		{"api.exa.ai:", `port ""`},
		{"api.exa.ai:0", `port "0"`},
		{"api.exa.ai:65536", `port "65536"`},
		{"api.exa.ai:https", `port "https"`},
		{"api.exa.ai:-1", `port "-1"`},
		{"[::1]:8080", "IPv6"},
		{"::1", "IPv6"},
	}
	for _, c := range cases {
		msg := panicOf(func() {
			providers.ByHost(nil, &counter{}, map[string]usage.Provider{c.key: usage.Exa})
		})
		prefix := fmt.Sprintf("providers: ByHost: key %q: ", c.key)
		if !strings.HasPrefix(msg, prefix) || !strings.Contains(msg[len(prefix):], c.want) {
			t.Errorf("ByHost(key %q) panicked %q, want %q followed by a reason with %q", c.key, msg, prefix, c.want)
		}
	}
}

func TestByHostRefusesKeysThatNameOneHostForTwoProviders(t *testing.T) {
	cases := []map[string]usage.Provider{
		{"api.exa.ai": usage.Exa, "API.exa.ai": usage.Claude},
		{"api.exa.ai": usage.Exa, "api.exa.ai.": usage.Claude},
		{"*.exa.ai:443": usage.Exa, "*.EXA.ai.:443": usage.Claude},
	}
	for _, hosts := range cases {
		msg := panicOf(func() { providers.ByHost(nil, &counter{}, hosts) })
		if !strings.HasPrefix(msg, "providers: ByHost: keys ") || !strings.Contains(msg, "name the same host") {
			t.Errorf("ByHost(%v) panicked %q, want a panic naming both keys", hosts, msg)
		}
	}
}
