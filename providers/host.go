package providers

import (
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
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
// nothing for hosts it does not know. The host is the one the request is sent
// to, req.URL.Host. A nil next, typed or not, means [http.DefaultTransport].
//
// Keys of hosts are host names ("api.exa.ai") or suffix patterns
// ("*.example.com", which matches "api.example.com" and "a.b.example.com" but
// not "example.com"), each optionally with a port ("127.0.0.1:8080",
// "*.example.com:8443"). A key without a port matches any port; a key with
// one matches only requests sent to that port: the URL's, or 80 for http and
// 443 for https when the URL has none. Letter case and a trailing dot
// ("api.exa.ai.", a fully qualified name) are ignored, in keys and in request
// hosts alike. When several keys match, an exact name wins over a pattern and
// a longer pattern over a shorter one, and between two keys of the same name
// the one with the port wins. IPv6 addresses are not supported.
//
// ByHost copies hosts, so later changes to the map have no effect. It panics
// if c is nil, typed or not (as for [NewTransport]), if a provider of hosts is
// invalid, if a key is malformed (the message says why), if two keys name
// the same host and port for different providers, or if [WithClaudeTokens]
// is given and no key maps to [usage.Claude].
func ByHost(next http.RoundTripper, c Counter, hosts map[string]usage.Provider, opts ...Option) http.RoundTripper {
	mustNotBeNil("ByHost", "Counter", c)
	t := &hostTransport{next: orDefault(next)}
	from := make(map[hostKey]string) // the key each entry came from
	var ps []usage.Provider          // the providers keys map to
	for _, key := range slices.Sorted(maps.Keys(hosts)) {
		p := hosts[key]
		if !slices.Contains(ps, p) {
			ps = append(ps, p)
		}
		if err := p.Validate(); err != nil {
			panic(fmt.Sprintf("providers: ByHost: key %q: %v", key, err))
		}
		k, pattern, err := parseKey(key)
		if err != nil {
			panic(fmt.Sprintf("providers: ByHost: key %q: %v", key, err))
		}
		m := &t.exact
		if pattern {
			m = &t.suffix
			k.name = "." + k.name
		}
		if q, had := m.add(k, p); had && q != p {
			panic(fmt.Sprintf("providers: ByHost: keys %q and %q name the same host for different providers (%s, %s)", from[k], key, q, p))
		}
		from[k] = key
	}
	t.obs = newObserver("ByHost", c, opts, ps, "no key maps to "+string(usage.Claude))
	unregisterWhenCollected(t, &t.obs)
	return t
}

// hostKey is a host as ByHost matches it: a lower-case name without a
// trailing dot (for a pattern, the suffix with its leading dot) and a port, 0
// meaning any port.
type hostKey struct {
	name string
	port uint16
}

// parseKey parses a key of ByHost's map, or says why it is refused.
func parseKey(key string) (k hostKey, pattern bool, err error) {
	name := strings.ToLower(key)
	if strings.Contains(name, "://") {
		return k, false, errors.New(`a key is a host name, without a scheme ("api.exa.ai")`)
	}
	if strings.HasPrefix(name, "[") || strings.Count(name, ":") > 1 {
		return k, false, errors.New("IPv6 addresses are not supported")
	}
	if host, port, ok := strings.Cut(name, ":"); ok {
		n, ok := parsePort(port)
		if !ok {
			return k, false, fmt.Errorf("port %q is not a number from 1 to 65535", port)
		}
		name, k.port = host, n
	}
	name, pattern = strings.CutPrefix(name, "*.")
	name = strings.TrimSuffix(name, ".")
	if err := checkHostname(name); err != nil {
		return k, false, err
	}
	k.name = name
	return k, pattern, nil
}

// checkHostname says what is wrong with h, a lower-case host name without a
// trailing dot, or what follows "*." in a pattern: it must be non-empty
// dot-separated labels of letters, digits, '-' and '_'. An IPv4 address
// passes.
func checkHostname(h string) error {
	if h == "" {
		return errors.New("no host name")
	}
	for label := range strings.SplitSeq(h, ".") {
		if label == "" {
			return errors.New("empty label (two dots in a row, or a leading dot)")
		}
		if strings.Contains(label, "*") {
			return errors.New(`"*" is allowed only as a whole first label, as in "*.example.com"`)
		}
		for i := 0; i < len(label); i++ {
			if c := label[i]; !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
				return fmt.Errorf("character %q is not allowed in a host name", c)
			}
		}
	}
	return nil
}

// parsePort parses a port number from 1 to 65535 in decimal, without
// allocating.
func parsePort(s string) (uint16, bool) {
	if s == "" || len(s) > 5 {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + int(s[i]-'0')
	}
	if n < 1 || n > 65535 {
		return 0, false
	}
	return uint16(n), true
}

type hostTransport struct {
	next   http.RoundTripper
	obs    observer
	exact  hostMap // host names
	suffix hostMap // ".example.com" for "*.example.com"
}

// RoundTrip implements [http.RoundTripper].
func (t *hostTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	p, ok := t.lookup(req.URL)
	if !ok {
		return t.next.RoundTrip(req)
	}
	return t.obs.roundTrip(t.next, req, p)
}

// lookup finds the provider of the host a request to u is sent to. It
// allocates only for a host with upper-case letters.
func (t *hostTransport) lookup(u *url.URL) (usage.Provider, bool) {
	k := hostKey{name: strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")}
	if port := u.Port(); port != "" {
		k.port, _ = parsePort(port) // 0 if invalid: only keys without a port match
	} else if u.Scheme == "http" {
		k.port = 80
	} else if u.Scheme == "https" {
		k.port = 443
	}
	if p, ok := t.exact.find(k); ok {
		return p, true
	}
	for i := 0; i < len(k.name); i++ {
		if k.name[i] == '.' {
			if p, ok := t.suffix.find(hostKey{k.name[i:], k.port}); ok {
				return p, true
			}
		}
	}
	return "", false
}

// A hostMap maps host names, each for one port or for any port, to
// providers. The zero value is an empty map ready to add to.
type hostMap struct {
	anyPort map[string]usage.Provider
	onPort  map[hostKey]usage.Provider // nil until a key has a port
}

// add maps k to p, and returns the provider k had before, if any.
func (m *hostMap) add(k hostKey, p usage.Provider) (prev usage.Provider, had bool) {
	if k.port == 0 {
		if m.anyPort == nil {
			m.anyPort = make(map[string]usage.Provider)
		}
		prev, had = m.anyPort[k.name]
		m.anyPort[k.name] = p
		return prev, had
	}
	if m.onPort == nil {
		m.onPort = make(map[hostKey]usage.Provider)
	}
	prev, had = m.onPort[k]
	m.onPort[k] = p
	return prev, had
}

// find looks k up, then k's name for any port.
func (m *hostMap) find(k hostKey) (usage.Provider, bool) {
	if k.port != 0 && m.onPort != nil {
		if p, ok := m.onPort[k]; ok {
			return p, true
		}
	}
	p, ok := m.anyPort[k.name]
	return p, ok
}

// CloseIdleConnections closes the idle connections of the wrapped transport,
// if it has any.
func (t *hostTransport) CloseIdleConnections() {
	closeIdle(t.next)
}
