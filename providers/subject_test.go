package providers_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/enrichmeter/enrichmeter/providers"
	"github.com/enrichmeter/enrichmeter/usage"
)

func TestSubjectOf(t *testing.T) {
	bg := context.Background()
	acme := providers.WithSubject(bg, "acme")
	child, cancel := context.WithCancel(acme)
	defer cancel()
	cases := []struct {
		name string
		ctx  context.Context
		want string
	}{
		{"none", bg, ""},
		{"nil", nil, ""},
		{"set", acme, "acme"},
		{"derived", child, "acme"},
		{"replaced", providers.WithSubject(child, "globex"), "globex"},
		{"removed", providers.WithSubject(child, ""), ""},
		{"another key's string", context.WithValue(bg, struct{}{}, "acme"), ""},
	}
	for _, c := range cases {
		if got := providers.SubjectOf(c.ctx); got != c.want {
			t.Errorf("SubjectOf(%s) = %q, want %q", c.name, got, c.want)
		}
	}
}

// TestDecoratorsCountSubjects sends the same calls through every decorator
// counting into a tracker: each successful call of a request with a subject
// counts in the provider's counter and in the subject's field; a failed
// call, in neither; a malformed subject, under "other". A Counter that
// makes no Meter counts every call, as it always did.
func TestDecoratorsCountSubjects(t *testing.T) {
	next := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		status := http.StatusOK
		if strings.HasSuffix(r.URL.Path, "/fail") {
			status = http.StatusInternalServerError
		}
		return &http.Response{StatusCode: status, Header: http.Header{}, Body: io.NopCloser(strings.NewReader(`{"ok":true}`)), Request: r}, nil
	})
	hosts := map[string]usage.Provider{"api.exa.ai": usage.Exa, "api.apollo.io": usage.Apollo}
	decorators := map[string]func(c providers.Counter) providers.Doer{
		"NewTransport": func(c providers.Counter) providers.Doer {
			return &http.Client{Transport: providers.NewTransport(next, c, usage.Exa)}
		},
		"NewTransport+CountAtEOF": func(c providers.Counter) providers.Doer {
			return &http.Client{Transport: providers.NewTransport(next, c, usage.Exa, providers.CountAtEOF())}
		},
		"WrapClient": func(c providers.Counter) providers.Doer {
			return providers.WrapClient(&http.Client{Transport: next}, c, usage.Exa)
		},
		"WrapDoer": func(c providers.Counter) providers.Doer {
			return providers.WrapDoer(&http.Client{Transport: next}, c, usage.Exa)
		},
		"ByHost": func(c providers.Counter) providers.Doer {
			return &http.Client{Transport: providers.ByHost(next, c, hosts)}
		},
	}
	calls := []struct {
		subject, path string
	}{
		{"acme", "/search"}, {"acme", "/search"}, {"acme", "/search"},
		{"globex@corp.example", "/search"}, {"globex@corp.example", "/search"},
		{"", "/search"},
		{"acme", "/fail"},
		{"not a subject!", "/search"},
	}
	for name, decorate := range decorators {
		t.Run(name, func(t *testing.T) {
			now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
			rdb := miniredisClient(t)
			tracker := usage.NewTracker(rdb, usage.WithClock(func() time.Time { return now }), usage.WithFlushInterval(time.Hour))
			custom := &counter{}
			for _, c := range []providers.Counter{tracker, custom} {
				d := decorate(c)
				for _, call := range calls {
					ctx := context.Background()
					if call.subject != "" {
						ctx = providers.WithSubject(ctx, call.subject)
					}
					send(t, d, ctx, "https://api.exa.ai"+call.path)
				}
				if name == "ByHost" {
					send(t, d, providers.WithSubject(context.Background(), "acme"), "https://api.apollo.io/v1/people")
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := tracker.Close(ctx); err != nil {
				t.Fatal(err)
			}
			want := map[string]int64{"acme:exa": 3, "globex@corp.example:exa": 2, "other:exa": 1}
			wantApollo := int64(0)
			if name == "ByHost" {
				want["acme:apollo"], wantApollo = 1, 1
			}
			checkFields(t, "subjects hash", breakdown(t, rdb, usage.DefaultPrefix, "subjects", now), want)
			if got := rdb.Get(ctx, usage.Key(usage.Exa, now)).Val(); got != "7" {
				t.Errorf("exa's counter holds %q, want 7", got)
			}
			if got := custom.get(usage.Exa); got != 7 || int64(custom.get(usage.Apollo)) != wantApollo {
				t.Errorf("a Counter that makes no Meter counted %d exa, %d apollo calls; want 7, %d", got, custom.get(usage.Apollo), wantApollo)
			}
			if m := breakdown(t, rdb, usage.DefaultPrefix, "models", now); len(m) != 0 {
				t.Errorf("calls counted by model: %v", m)
			}
		})
	}
}

// send sends a GET to url with ctx through d and reads the body to the end.
func send(t *testing.T, d providers.Doer, ctx context.Context, url string) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := d.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
}

// TestClaudeTokensSubjectsWithoutMeters reads tokens with an Adder that
// makes no Meter, for a request with a subject: the tokens count in the
// plain counters, as without a subject.
func TestClaudeTokensSubjectsWithoutMeters(t *testing.T) {
	next := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {jsonType}},
			Body: io.NopCloser(strings.NewReader(`{"model":"claude-x","usage":{"input_tokens":3,"output_tokens":4}}`)), Request: r}, nil
	})
	rec := &tokenRecorder{}
	d := &http.Client{Transport: providers.NewTransport(next, &counter{}, usage.Claude, providers.WithClaudeTokens(rec))}
	req, _ := http.NewRequestWithContext(providers.WithSubject(context.Background(), "acme"), "POST", "https://api.anthropic.com/v1/messages", strings.NewReader(`{}`))
	resp, err := d.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if got := rec.counts(); got != (tokenCounts{3, 4, 0, 0}) {
		t.Errorf("tokens %v, want input 3, output 4", got)
	}
}

// TestSubjectsAddNoAllocation pins what BenchmarkSubject measures: once a
// subject has been seen that day, counting a call for it through a
// decorator allocates nothing beyond the wrapped transport.
func TestSubjectsAddNoAllocation(t *testing.T) {
	resp := &http.Response{StatusCode: 200, Body: http.NoBody, Header: http.Header{}}
	next := roundTripFunc(func(*http.Request) (*http.Response, error) { return resp, nil })
	tracker := usage.NewTracker(miniredisClient(t), usage.WithFlushInterval(time.Hour))
	defer tracker.Close(context.Background())
	req, _ := http.NewRequestWithContext(providers.WithSubject(context.Background(), "acme"), "GET", "https://api.exa.ai/search", nil)
	for name, rt := range map[string]http.RoundTripper{
		"NewTransport": providers.NewTransport(next, tracker, usage.Exa),
		"ByHost":       providers.ByHost(next, tracker, providers.DefaultHosts()),
		"CountAtEOF":   providers.NewTransport(next, tracker, usage.Exa, providers.CountAtEOF()), // NoBody: counted at once
	} {
		rt.RoundTrip(req) // the subject's first call of the day
		allocs := testing.AllocsPerRun(100, func() {
			if _, err := rt.RoundTrip(req); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("%s: a call for a known subject allocates %v times, want 0", name, allocs)
		}
	}
	if s := tracker.Stats(); s.Tracked != 3*102 { // AllocsPerRun's runs, its warm-up, and the first call
		t.Errorf("tracked %d calls, want %d", s.Tracked, 3*102)
	}
}
