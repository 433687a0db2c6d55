package enrich

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/enrichmeter/enrichmeter/examples/internal/fakeapi"
	"github.com/enrichmeter/enrichmeter/sourcestatus"
	"github.com/enrichmeter/enrichmeter/usage"
)

// TestFailedCallsKeepTheirQueryOut runs a prospect against provider fakes
// that have stopped, so every call fails with a *url.Error whose URL carries
// the prospect's query, and checks that no outcome repeats it.
func TestFailedCallsKeepTheirQueryOut(t *testing.T) {
	fakes, err := fakeapi.Start()
	if err != nil {
		t.Fatal(err)
	}
	fakes.Close() // every call now fails to connect
	e := &Enricher{Client: &http.Client{Transport: fakes.Transport()}, Scheme: "http"}
	p := Prospects(1)[0]
	outcomes := e.Run(context.Background(), p)
	if len(outcomes) != len(Sources) {
		t.Fatalf("%d outcomes, want %d", len(outcomes), len(Sources))
	}
	for source, o := range outcomes {
		if o.Status != sourcestatus.Failed || o.Error == "" {
			t.Errorf("%s: %+v, want a failure with its error", source, o)
		}
		if strings.ContainsAny(o.Error, "?=") || strings.Contains(o.Error, p.Domain) {
			t.Errorf("%s: error %q holds the call's query", source, o.Error)
		}
	}
}

// TestSourcesAreNamedAsProviders shows that each source's name in the status
// column is its provider's in usage: one name per provider, so that a
// source's outcomes and its quota meet on the dashboard.
func TestSourcesAreNamedAsProviders(t *testing.T) {
	for _, s := range Sources {
		if !slices.Contains(Providers, usage.Provider(s)) {
			t.Errorf("source %q is not one of the providers %v", s, Providers)
		}
	}
}
