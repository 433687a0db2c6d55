// Package enrich is the examples' enrichment pipeline: for a prospect it asks
// Apollo for a match, then runs four sources (ContactOut, Exa, SEC EDGAR,
// Claude) concurrently over one HTTP client, and reports each source's
// outcome as a [sourcestatus.Payload]. Counting the calls is not its
// business: the client it is given does that.
package enrich

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/enrichmeter/enrichmeter/sourcestatus"
	"github.com/enrichmeter/enrichmeter/usage"
)

// A Prospect is a company contact to enrich.
type Prospect struct {
	ID     string // a UUID
	Name   string
	Domain string
	Ticker string // empty for private companies: SEC EDGAR does not apply
}

// Sources are the four sources a prospect goes through, in the status
// column's names: each its provider's name in usage, so that the dashboard
// finds a source's quota by its name.
var Sources = []string{string(usage.ContactOut), string(usage.Exa), string(usage.EDGAR), string(usage.Claude)}

// Prospects returns n made-up prospects, the same on every run.
func Prospects(n int) []Prospect {
	names := []string{"Acme", "Globex", "Initech", "Umbrella", "Hooli", "Stark", "Wayne", "Wonka", "Tyrell", "Soylent"}
	out := make([]Prospect, n)
	for i := range out {
		name := fmt.Sprintf("%s %d", names[i%len(names)], i/len(names)+1)
		out[i] = Prospect{
			ID:     fmt.Sprintf("00000000-0000-4000-8000-%012d", i+1),
			Name:   name,
			Domain: fmt.Sprintf("%s%d.example", names[i%len(names)], i),
		}
		if i%3 != 2 {
			out[i].Ticker = fmt.Sprintf("T%03d", i)
		}
	}
	return out
}

// Providers are the five providers the examples call, in the order the
// dashboard shows them.
var Providers = []usage.Provider{usage.Apollo, usage.ContactOut, usage.Exa, usage.EDGAR, usage.Claude}

// An Enricher calls the providers' APIs (at the base URL, normally their
// real hosts) through Client, and keeps a circuit breaker per source.
type Enricher struct {
	Client *http.Client // for every host not in Clients
	// Clients, when set, gives each API host its own client.
	Clients map[string]*http.Client
	Scheme  string // "https", or "http" for local fakes
	// Cooldown is how long a source's circuit stays open after 3 failures
	// in a row; zero means 2 seconds.
	Cooldown time.Duration
	// Now is the clock of the circuits and of the outcomes' times; nil means
	// time.Now. A simulation gives its own, so that its runs agree.
	Now     func() time.Time
	breaker breaker
}

// Run enriches p and returns each source's outcome, keyed by source. It waits
// for all four sources.
func (e *Enricher) Run(ctx context.Context, p Prospect) map[string]sourcestatus.Payload {
	// Apollo's match comes first; the sources run whether it succeeds or not.
	_ = e.call(ctx, "api.apollo.io", "/api/v1/people/match", url.Values{"domain": {p.Domain}}, "")

	calls := map[usage.Provider]func() sourcestatus.Payload{
		usage.ContactOut: func() sourcestatus.Payload {
			return e.call(ctx, "api.contactout.com", "/v1/people/enrich", url.Values{"domain": {p.Domain}}, "")
		},
		usage.Exa: func() sourcestatus.Payload {
			return e.call(ctx, "api.exa.ai", "/search", url.Values{"query": {p.Name + " news"}}, "")
		},
		usage.EDGAR: func() sourcestatus.Payload {
			return e.call(ctx, "efts.sec.gov", "/LATEST/search-index", url.Values{"q": {p.Ticker}}, "")
		},
		usage.Claude: func() sourcestatus.Payload {
			prompt, _ := json.Marshal("Summarize the latest news about " + p.Name)
			return e.call(ctx, "api.anthropic.com", "/v1/messages", nil,
				`{"model":"claude-sonnet-4-5","max_tokens":400,"messages":[{"role":"user","content":`+string(prompt)+`}]}`)
		},
	}
	out := make(map[string]sourcestatus.Payload, len(calls))
	var mu sync.Mutex
	var wg sync.WaitGroup
	for source, call := range calls {
		wg.Go(func() {
			r := e.outcome(string(source), p, call)
			mu.Lock()
			out[string(source)] = r
			mu.Unlock()
		})
	}
	wg.Wait()
	return out
}

// outcome runs one source's call unless it does not apply or its circuit is
// open, and describes what happened.
func (e *Enricher) outcome(source string, p Prospect, call func() sourcestatus.Payload) sourcestatus.Payload {
	now := time.Now
	if e.Now != nil {
		now = e.Now
	}
	switch {
	case source == string(usage.EDGAR) && p.Ticker == "":
		return sourcestatus.Payload{Status: sourcestatus.Skipped, Error: "private company", At: now()}
	case e.breaker.open(source, now()):
		return sourcestatus.Payload{Status: sourcestatus.CircuitOpen, Error: "too many recent failures", At: now()}
	}
	r := call()
	r.At = now()
	e.breaker.record(source, r.Status == sourcestatus.Complete, r.At.Add(cmp.Or(e.Cooldown, 2*time.Second)))
	return r
}

// call sends one GET, or a POST of a JSON body when body is not empty, and
// describes its outcome with sourcestatus.FromHTTP, which keeps the URL's
// query and any credential out of the status column.
func (e *Enricher) call(ctx context.Context, host, path string, q url.Values, body string) sourcestatus.Payload {
	u := url.URL{Scheme: e.Scheme, Host: host, Path: path, RawQuery: q.Encode()}
	method, r := http.MethodGet, io.Reader(nil)
	if body != "" {
		method, r = http.MethodPost, strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), r)
	if err != nil {
		return sourcestatus.FromHTTP(nil, err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	client := e.Client
	if c, ok := e.Clients[host]; ok {
		client = c
	}
	resp, err := client.Do(req)
	if err == nil {
		_, _ = io.Copy(io.Discard, resp.Body) // to its end: Claude's tokens are read as it is
		_ = resp.Body.Close()
	}
	return sourcestatus.FromHTTP(resp, err)
}

// breaker opens a source's circuit after 3 failures in a row, until a time.
type breaker struct {
	mu       sync.Mutex // protects the maps
	failures map[string]int
	until    map[string]time.Time
}

func (b *breaker) open(source string, now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return now.Before(b.until[source])
}

// record counts a call's outcome; the third failure in a row opens the
// circuit until reopen.
func (b *breaker) record(source string, ok bool, reopen time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.failures == nil {
		b.failures, b.until = map[string]int{}, map[string]time.Time{}
	}
	if ok {
		b.failures[source] = 0
		return
	}
	if b.failures[source]++; b.failures[source] >= 3 {
		b.failures[source] = 0
		b.until[source] = reopen
	}
}
