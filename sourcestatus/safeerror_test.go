package sourcestatus_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"strings"
	"testing"

	"github.com/enrichmeter/enrichmeter/internal/testsupport"
	"github.com/enrichmeter/enrichmeter/sourcestatus"
)

// The secrets a failing call may carry: in the URL's query, fragment and
// user info, and in credential headers.
var secrets = []string{"QUERYSECRET", "FRAGSECRET", "USERSECRET", "PASSSECRET", "AUTHSECRET", "KEYSECRET"}

// secretRequest is a request to base carrying every secret.
func secretRequest(t *testing.T, base string) *http.Request {
	t.Helper()
	u := strings.Replace(base, "://", "://USERSECRET:PASSSECRET@", 1) + "/v1/search?api_key=QUERYSECRET&q=acme#FRAGSECRET"
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer AUTHSECRET")
	req.Header.Set("X-Api-Key", "KEYSECRET")
	return req
}

// quotingTransport fails every request with an error that quotes it whole,
// as a careless logging or retrying layer might.
type quotingTransport struct{}

func (quotingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	dump, _ := httputil.DumpRequestOut(req, false)
	return nil, fmt.Errorf("refused %s with headers %v, request:\n%s", req.URL, req.Header, dump)
}

// TestNoSecretReachesTheColumn makes real calls that fail in the ways a call
// fails, carrying a secret in every place a request can, and stores each
// outcome through FromHTTP, and each raw err.Error() through Update, in
// PostgreSQL: no secret reaches the column or the error feed, and the
// messages keep what helps (the host, the path, the cause).
func TestNoSecretReachesTheColumn(t *testing.T) {
	limited := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "slow down: "+r.URL.String()+" "+r.Header.Get("Authorization"), http.StatusTooManyRequests)
	}))
	defer limited.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := "http://" + ln.Addr().String()
	ln.Close() // nothing listens there now
	calls := []struct {
		source string
		client *http.Client
		base   string
		keep   string // a part of the message that must stay
	}{
		{"refused", http.DefaultClient, refused, "connection refused"},
		{"limited", http.DefaultClient, limited.URL, "HTTP 429"},
		{"quoted", &http.Client{Transport: quotingTransport{}}, limited.URL, "/v1/search"},
	}

	pool := testsupport.Postgres(t)
	createProspects(t, pool, "text")
	insert(t, pool, "p", nil)
	u := mustNew(t, sourcestatus.NewUpdater, pool)
	for _, c := range calls {
		resp, err := c.client.Do(secretRequest(t, c.base))
		if resp != nil {
			resp.Body.Close()
		}
		p := sourcestatus.FromHTTP(resp, err)
		if p.Status != sourcestatus.Failed || !strings.Contains(p.Error, c.keep) {
			t.Errorf("%s: FromHTTP = %+v, want failed with %q", c.source, p, c.keep)
		}
		if err := u.Update(ctxT(t), "p", c.source, p); err != nil {
			t.Fatal(err)
		}
		if err != nil { // the raw message, straight to Update
			raw := sourcestatus.Payload{Status: sourcestatus.Failed, Error: err.Error()}
			if err := u.Update(ctxT(t), "p", c.source+"_raw", raw); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Messages of other shapes, straight to Update.
	for source, msg := range map[string]string{
		"header_lines": "upstream said:\nAuthorization: Bearer AUTHSECRET\r\nx-api-key: KEYSECRET\nproxy-authorization: Basic USERSECRET",
		"json_echo":    `{"headers": {"x-api-key": "KEYSECRET", "authorization": "Bearer AUTHSECRET"}}`,
		"node_inspect": `headers: { 'x-api-key': 'KEYSECRET', authorization: 'Bearer AUTHSECRET' }`,
		"json_in_json": `{"body":"{\"x-api-key\":\"KEYSECRET\"}"}`,
		"params":       "retry with api_key=QUERYSECRET&access_token=AUTHSECRET, password=PASSSECRET",
		"bare_bearer":  "token Bearer AUTHSECRET was rejected",
		"other_scheme": "dial postgres://USERSECRET:PASSSECRET@db.internal:5432/app?sslkey=QUERYSECRET failed",
	} {
		if err := u.Update(ctxT(t), "p", source, sourcestatus.Payload{Status: sourcestatus.Failed, Error: msg}); err != nil {
			t.Fatal(err)
		}
	}

	col := column(t, pool, "p")
	t.Log(col)
	feed, err := mustNew(t, sourcestatus.NewReader, pool).Failures(ctxT(t), at.AddDate(-1, 0, 0), 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(feed) != 2*len(calls)-1+7 {
		t.Errorf("%d failures in the feed, want %d", len(feed), 2*len(calls)-1+7)
	}
	for _, secret := range secrets {
		if strings.Contains(col, secret) {
			t.Errorf("the column holds %s", secret)
		}
		for _, f := range feed {
			if strings.Contains(f.Error, secret) {
				t.Errorf("the error feed's %s holds %s: %q", f.Source, secret, f.Error)
			}
		}
	}
	if !strings.Contains(col, ln.Addr().String()+"/v1/search") {
		t.Errorf("the column lost the failing call's host and path")
	}
}

func TestFromHTTP(t *testing.T) {
	cases := []struct {
		resp *http.Response
		err  error
		want sourcestatus.Payload
	}{
		{&http.Response{StatusCode: 200}, nil, sourcestatus.Payload{Status: sourcestatus.Complete}},
		{&http.Response{StatusCode: 204}, nil, sourcestatus.Payload{Status: sourcestatus.Complete}},
		{&http.Response{StatusCode: 429}, nil, sourcestatus.Payload{Status: sourcestatus.Failed, Error: "HTTP 429"}},
		{&http.Response{StatusCode: 302}, nil, sourcestatus.Payload{Status: sourcestatus.Failed, Error: "HTTP 302"}},
		{nil, nil, sourcestatus.Payload{Status: sourcestatus.Failed, Error: "no response"}},
		{nil, context.DeadlineExceeded, sourcestatus.Payload{Status: sourcestatus.Failed, Error: "context deadline exceeded"}},
		// A redirect refused by CheckRedirect returns both: the error wins.
		{&http.Response{StatusCode: 301}, errors.New("stopped after 10 redirects"), sourcestatus.Payload{Status: sourcestatus.Failed, Error: "stopped after 10 redirects"}},
	}
	for _, c := range cases {
		if got := sourcestatus.FromHTTP(c.resp, c.err); got != c.want {
			t.Errorf("FromHTTP(%v, %v) = %+v, want %+v", c.resp, c.err, got, c.want)
		}
	}
}

// TestCutNeverKeepsPartOfACredential cuts a long message inside a URL with
// user info and inside a credential header: what is kept must not carry a
// piece of either, which cleaning the cut text alone would miss (a URL cut
// before its '@' has no user info to strip).
func TestCutNeverKeepsPartOfACredential(t *testing.T) {
	for _, tail := range []string{
		" https://alice:s3cretpassw0rd@api.exa.ai/search?api_key=SECRET",
		" x-api-key=SECRET-KEY-VALUE and more",
	} {
		for pad := sourcestatus.DefaultMaxErrorLen - 60; pad < sourcestatus.DefaultMaxErrorLen; pad++ {
			msg := strings.Repeat("x", pad) + tail
			got := sourcestatus.FromHTTP(nil, errors.New(msg)).Error
			for _, secret := range []string{"alice", "s3cret", "passw0rd", "SECRET"} {
				if strings.Contains(got, secret) {
					t.Fatalf("cut at %d of %q: the stored message keeps %q: ...%s", sourcestatus.DefaultMaxErrorLen, tail, secret, got[max(0, len(got)-80):])
				}
			}
			if len(got) > sourcestatus.DefaultMaxErrorLen {
				t.Fatalf("stored %d bytes, want at most %d", len(got), sourcestatus.DefaultMaxErrorLen)
			}
		}
	}
}
