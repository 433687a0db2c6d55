package providers

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/enrichmeter/enrichmeter/usage"
)

// DefaultHosts returns a fresh map of the five providers' API hosts, for
// [ByHost]: Apollo, ContactOut, Exa, SEC EDGAR (its data APIs and its
// full-text search) and Anthropic. The caller may change it freely.
func DefaultHosts() map[string]usage.Provider {
	return map[string]usage.Provider{
		"api.apollo.io":      usage.Apollo,
		"api.contactout.com": usage.ContactOut,
		"api.exa.ai":         usage.Exa,
		"data.sec.gov":       usage.EDGAR,
		"efts.sec.gov":       usage.EDGAR,
		"api.anthropic.com":  usage.Claude,
	}
}

// ByHost returns an [http.RoundTripper] for all outgoing calls that counts
// each successful call for the provider of its request's host, and counts
// nothing for hosts it does not know. Keys of hosts are host names
// ("api.exa.ai") or suffix patterns ("*.example.com", which matches
// "api.example.com" and "a.b.example.com" but not "example.com"); an exact
// name wins over a pattern and a longer pattern over a shorter one. Ports and
// letter case are ignored. The host is the one the request is sent to,
// req.URL.Host. A nil next, typed or not, means [http.DefaultTransport].
//
// ByHost copies hosts, so later changes to the map have no effect. It panics
// if c is nil, typed or not (as for [NewTransport]), or a key or provider of
// hosts is invalid.
func ByHost(next http.RoundTripper, c Counter, hosts map[string]usage.Provider, opts ...Option) http.RoundTripper {
	mustNotBeNil("ByHost", "Counter", c)
	t := &hostTransport{
		next:   orDefault(next),
		obs:    observer{c: c, cfg: newConfig(opts)},
		exact:  make(map[string]usage.Provider),
		suffix: make(map[string]usage.Provider),
	}
	for pattern, p := range hosts {
		if err := p.Validate(); err != nil {
			panic(fmt.Sprintf("providers: ByHost: host %q: %v", pattern, err))
		}
		name := strings.ToLower(pattern)
		if rest, ok := strings.CutPrefix(name, "*."); ok {
			if !validHostname(rest) {
				panic(fmt.Sprintf("providers: ByHost: invalid host pattern %q", pattern))
			}
			t.suffix["."+rest] = p
			continue
		}
		if !validHostname(name) {
			panic(fmt.Sprintf("providers: ByHost: invalid host %q", pattern))
		}
		t.exact[name] = p
	}
	return t
}

// validHostname accepts a lower-case host name, or what follows "*." in a
// pattern: non-empty dot-separated labels of letters, digits, '-' and '_'.
// An IPv4 address passes; an IPv6 literal, a port or a scheme does not.
func validHostname(h string) bool {
	if h == "" || h[0] == '.' || h[len(h)-1] == '.' || strings.Contains(h, "..") {
		return false
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

type hostTransport struct {
	next   http.RoundTripper
	obs    observer
	exact  map[string]usage.Provider // lower-case host names
	suffix map[string]usage.Provider // ".example.com" for "*.example.com"
}

// RoundTrip implements [http.RoundTripper].
func (t *hostTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(req)
	if p, ok := t.lookup(req.URL.Host); ok {
		resp = t.obs.observe(req, resp, err, p)
	}
	return resp, err
}

// lookup finds the provider of host, which may carry a port.
func (t *hostTransport) lookup(host string) (usage.Provider, bool) {
	host = strings.ToLower(hostname(host)) // allocates only for upper-case hosts
	if p, ok := t.exact[host]; ok {
		return p, true
	}
	for i := 0; i < len(host); i++ {
		if host[i] == '.' {
			if p, ok := t.suffix[host[i:]]; ok {
				return p, true
			}
		}
	}
	return "", false
}

// hostname strips the port from host, and the brackets from an IPv6 literal,
// without allocating.
func hostname(host string) string {
	if strings.HasPrefix(host, "[") {
		if i := strings.IndexByte(host, ']'); i > 0 {
			return host[1:i]
		}
		return host
	}
	if i := strings.LastIndexByte(host, ':'); i >= 0 {
		return host[:i]
	}
	return host
}

// CloseIdleConnections closes the idle connections of the wrapped transport,
// if it has any.
func (t *hostTransport) CloseIdleConnections() {
	closeIdle(t.next)
}
