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

// TestNetRedactsSecrets stores error messages as providers, their clients
// and Go libraries write them, carrying a secret, through FromHTTP, which
// applies Update's net: each is stored exactly as given, the secret
// redacted and the rest kept. Some cases pin what the net redacts that is
// not secret (an organization id, a trace id, a status after "token:").
func TestNetRedactsSecrets(t *testing.T) {
	cases := []struct {
		name, msg, want string
	}{
		{"anthropic key after its name",
			`anthropic: invalid x-api-key sk-ant-api03-Xq7vR2mLp8TwN4bYc7AZk3vQ9xT2mLp8RwN4bYc7AZk3vQ9xT2mLp8RwN4bYc7AZk3vQ9xT2mLp8RwN4bYc7A-Zk3vQ9AA`,
			`anthropic: invalid x-api-key [REDACTED]`},
		{"anthropic admin key",
			`anthropic admin: GET /v1/organizations/users with sk-ant-admin01-Jd8sK2lQ9wE4rT6yU1iO3pA5sD7fG9hJ2kL4zX6cV8bN0mQ-w1E3rAA: 403 Forbidden`,
			`anthropic admin: GET /v1/organizations/users with [REDACTED]: 403 Forbidden`},
		{"openai masked key",
			`401 Unauthorized: {"error":{"message":"Incorrect API key provided: sk-proj-********************************************Qz7w. You can find your API key at https://platform.openai.com/account/api-keys.","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}`,
			`401 Unauthorized: {"error":{"message":"Incorrect API key provided: [REDACTED]. You can find your API key at https://platform.openai.com/account/api-keys.","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}`},
		{"openai legacy key",
			`openai: retrying with key sk-4fJ9kL2mN8pQ1rS5tU7vW3xY6zA0bC2dE4fG6hI8jK0lM2nO: 429 Too Many Requests`,
			`openai: retrying with key [REDACTED]: 429 Too Many Requests`},
		{"openai org id",
			`{"error":{"message":"Rate limit reached for gpt-4o in organization org-Xk2mP9qR4sT7vW1yZ3bC5dF8 on tokens per min (TPM): Limit 30000, Used 29741, Requested 1200. Please try again in 1.882s.","type":"tokens","param":null,"code":"rate_limit_exceeded"}}`,
			`{"error":{"message":"Rate limit reached for gpt-4o in organization [REDACTED] on tokens per min (TPM): Limit 30000, Used 29741, Requested 1200. Please try again in 1.882s.","type":"tokens","param":null,"code":"rate_limit_exceeded"}}`},
		{"apollo key in query",
			`apollo: POST https://api.apollo.io/api/v1/people/match?api_key=Zk3vQ9xT2mLp8RwN4bYc7A&reveal_personal_emails=true: 422 Unprocessable Entity`,
			`apollo: POST https://api.apollo.io/api/v1/people/match 422 Unprocessable Entity`},
		{"apollo key in body",
			`apollo: 401 for {"api_key":"Zk3vQ9xT2mLp8RwN4bYc7A","q_organization_domains":"acme.com","page":1}`,
			`apollo: 401 for {"api_key":"[REDACTED]","q_organization_domains":"acme.com","page":1}`},
		{"apollo 429",
			`{"message":"The maximum number of api calls allowed for api/v1/people/match is 600 times per hour. Please upgrade your plan from https://app.apollo.io/#/settings/plans/upgrade."}`,
			`{"message":"The maximum number of api calls allowed for api/v1/people/match is 600 times per hour. Please upgrade your plan from https://app.apollo.io/"}`},
		{"exa uuid key in header",
			"exa: refused GET /search HTTP/1.1\r\nHost: api.exa.ai\r\nX-Api-Key: 3b9f2c1e-8a7d-4e6f-b5c4-2d1e0f9a8b7c\r\nContent-Type: application/json\r\n",
			"exa: refused GET /search HTTP/1.1\r\nHost: api.exa.ai\r\nX-Api-Key: [REDACTED]\r\nContent-Type: application/json\r\n"},
		{"exa uuid key in body",
			`exa: 400 Bad Request for {"query":"acme corp","numResults":10,"apiKey":"3b9f2c1e-8a7d-4e6f-b5c4-2d1e0f9a8b7c"}`,
			`exa: 400 Bad Request for {"query":"acme corp","numResults":10,"apiKey":"[REDACTED]"}`},
		{"contactout header dump",
			"contactout: GET /v1/people/linkedin?profile=https://www.linkedin.com/in/jdoe HTTP/1.1\r\nHost: api.contactout.com\r\ntoken: 9f8e7d6c5b4a39281706f5e4d3c2b1a0\r\nAccept: application/json\r\n",
			"contactout: GET /v1/people/linkedin HTTP/1.1\r\nHost: api.contactout.com\r\ntoken: [REDACTED]\r\nAccept: application/json\r\n"},
		{"contactout token in prose",
			`contactout: {"status_code":401,"message":"token A7fK29xQmB3nR8 rejected"}`,
			`contactout: {"status_code":401,"message":"token [REDACTED] rejected"}`},
		{"sec query",
			`Get "https://www.sec.gov/cgi-bin/browse-edgar?action=getcompany&CIK=0000320193&type=10-K": EOF`,
			`Get "https://www.sec.gov/cgi-bin/browse-edgar": EOF`},
		{"aws s3 host id",
			`operation error S3: GetObject, https response error StatusCode: 403, RequestID: 4D2A9C7E5B1F3A8D, HostID: 9fK2x+7Lm0pQ3rS8tU1vW4yZ6aB5cD2eF8gH0iJ3kL5mN7oP9qR1sT3uV5wX7yZ9aBcDeFgHiJkL=, api error InvalidAccessKeyId: The AWS Access Key Id you provided does not exist in our records.`,
			`operation error S3: GetObject, https response error StatusCode: 403, RequestID: 4D2A9C7E5B1F3A8D, HostID: [REDACTED], api error InvalidAccessKeyId: The AWS Access Key Id you provided does not exist in our records.`},
		{"aws sigv4 header",
			"refused: Authorization: AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20261126/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-date, Signature=fe5f80f77d5fa3beca038a248ff027d0445342fe2855ddc963176630326f1024\r\nX-Amz-Date: 20261126T031503Z",
			"refused: Authorization: [REDACTED]\r\nX-Amz-Date: 20261126T031503Z"},
		{"aws sigv4 prose",
			`SignatureDoesNotMatch for Credential=AKIAIOSFODNN7EXAMPLE/20261126/us-east-1/s3/aws4_request, Signature=fe5f80f77d5fa3beca038a248ff027d0445342fe2855ddc963176630326f1024`,
			`SignatureDoesNotMatch for Credential=[REDACTED], Signature=[REDACTED]`},
		{"aws env dump",
			`aws: invalid config AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY AWS_REGION=us-east-1`,
			`aws: invalid config AWS_ACCESS_KEY_ID=[REDACTED] AWS_SECRET_ACCESS_KEY=[REDACTED] AWS_REGION=us-east-1`},
		{"aws bare keys",
			`sts: ExpiredToken for ASIAY34FZKBOKMUTVV7A (secret wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY)`,
			`sts: ExpiredToken for [REDACTED] (secret [REDACTED])`},
		{"aws error code named like a credential", // a name followed by ':' is taken for a field, in prose too
			`operation error STS: AssumeRole, https response error StatusCode: 403, RequestID: 3c9d2e1f-7a6b-4c5d-8e9f-0a1b2c3d4e5f, api error ExpiredToken: The security token included in the request is expired`,
			`operation error STS: AssumeRole, https response error StatusCode: 403, RequestID: 3c9d2e1f-7a6b-4c5d-8e9f-0a1b2c3d4e5f, api error ExpiredToken: [REDACTED] security token included in the request is expired`},
		{"stripe masked key",
			`{"error":{"code":"api_key_expired","doc_url":"https://stripe.com/docs/error-codes/api-key-expired","message":"Expired API Key provided: sk_live_51H8xK2********************************************x7Qz","type":"invalid_request_error"},"request_log_url":"https://dashboard.stripe.com/logs/req_AbC123dEf456Gh?t=1732590903"}`,
			`{"error":{"code":"api_key_expired","doc_url":"https://stripe.com/docs/error-codes/api-key-expired","message":"Expired API Key provided: [REDACTED]","type":"invalid_request_error"},"request_log_url":"https://dashboard.stripe.com/logs/req_AbC123dEf456Gh"}`},
		{"stripe webhook secret",
			`stripe: no signatures found matching the expected signature for payload, secret whsec_5f8aK2mP9qR4sT7vW1yZ3bC5`,
			`stripe: no signatures found matching the expected signature for payload, secret [REDACTED]`},
		{"github token in url",
			`git clone https://x-access-token:ghs_16C7e42F292c6912E7710c838347Ae178B4a@github.com/acme/enrich.git: exit status 128`,
			`git clone https://github.com/acme/enrich.git: exit status 128`},
		{"github token in prose",
			`github: GET https://api.github.com/user: 401 Bad credentials [] (using 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)`,
			`github: GET https://api.github.com/user: 401 Bad credentials [] (using [REDACTED])`},
		{"github fine-grained",
			`github: 403 Resource not accessible by personal access token github_pat_11ABCDEFG0aB1cD2eF3gH4_iJ5kL6mN7oP8qR9sT0uV1wX2yZ3aB4cD5eF6gH7iJ8kL9mN0oP1qR2sT3uV4wX5yZ6aB7cD8`,
			`github: 403 Resource not accessible by personal access token [REDACTED]`},
		{"url error user info",
			`Get "https://jdoe:Tr0ub4dor3@api.contactout.com/v1/people/linkedin?profile=x": EOF`,
			`Get "https://api.contactout.com/v1/people/linkedin": EOF`},
		{"pgx dsn",
			`sql: open "host=db.internal user=enrich password=Tr0ub4dor&3 dbname=prospects sslmode=require": dial tcp 10.0.0.5:5432: i/o timeout`,
			`sql: open "host=db.internal user=enrich password=[REDACTED] dbname=prospects sslmode=require": dial tcp 10.0.0.5:5432: i/o timeout`},
		{"redis url",
			`redis: invalid database number: "redis://default:s3cr3tP4ss@cache.internal:6379/x"`,
			`redis: invalid database number: "redis://cache.internal:6379/x"`},
		{"json client secret",
			`oauth: 401 for {"client_id":"enrich-prod","client_secret":"s3cr3t v@lue, with \"quotes\"","grant_type":"client_credentials"}`,
			`oauth: 401 for {"client_id":"enrich-prod","client_secret":"[REDACTED]","grant_type":"client_credentials"}`},
		{"json password",
			`{"user":"enrich","password":"hunter2"}`,
			`{"user":"enrich","password":"[REDACTED]"}`},
		{"json in json",
			`{"body":"{\"access_token\":\"ya29.a0AfH6SMBxQ\",\"token_type\":\"Bearer\",\"expires_in\":3599}"}`,
			`{"body":"{\"access_token\":\"[REDACTED]\",\"token_type\":\"Bearer\",\"expires_in\":3599}"}`},
		{"json in json in json",
			`{"log":"{\"body\":\"{\\\"apiKey\\\":\\\"Zk3v\\\\\\\"Q9\\\"}\"}"}`,
			`{"log":"{\"body\":\"{\\\"apiKey\\\":\\\"[REDACTED]\\\"}\"}"}`},
		{"node inspect",
			`AxiosError: Request failed with status code 401 { config: { headers: { Accept: 'application/json', Authorization: 'Bearer Zk3vQ9xT2mLp', 'x-api-key': 'KEY\'SECRET', 'User-Agent': 'axios/1.7.2' } } }`,
			`AxiosError: Request failed with status code 401 { config: { headers: { Accept: 'application/json', Authorization: '[REDACTED]', 'x-api-key': '[REDACTED]', 'User-Agent': 'axios/1.7.2' } } }`},
		{"node inspect unquoted",
			`Error: bad config { apiKey: 'Zk3vQ9', baseURL: 'https://api.exa.ai', timeout: 5000 }`,
			`Error: bad config { apiKey: '[REDACTED]', baseURL: 'https://api.exa.ai', timeout: 5000 }`},
		{"go struct %+v",
			`exa: client {APIKey:Zk3vQ9 BaseURL:https://api.exa.ai Timeout:5s}`,
			`exa: client {APIKey:[REDACTED] BaseURL:https://api.exa.ai Timeout:5s}`},
		{"go http.Header",
			`refused with headers map[Authorization:[Bearer AUTHSECRET] Content-Type:[application/json] X-Api-Key:[KEYSECRET]]`,
			`refused with headers map[Authorization:[REDACTED] Content-Type:[application/json] X-Api-Key:[REDACTED]]`},
		{"header dump",
			"POST /v1/messages HTTP/1.1\r\nHost: api.anthropic.com\r\nUser-Agent: Go-http-client/1.1\r\nAnthropic-Version: 2023-06-01\r\nX-Api-Key: sk-ant-api03-Xq7vR2mLp8TwN4bYc7AZk3vQ9xT2mLp8RwN4b\r\nAccept-Encoding: gzip\r\n",
			"POST /v1/messages HTTP/1.1\r\nHost: api.anthropic.com\r\nUser-Agent: Go-http-client/1.1\r\nAnthropic-Version: 2023-06-01\r\nX-Api-Key: [REDACTED]\r\nAccept-Encoding: gzip\r\n"},
		{"cookie dump",
			"upstream: 302 Found\r\nSet-Cookie: session=Zk3vQ9xT; Path=/; HttpOnly\r\nCookie: csrftoken=abc; sid=def\r\nLocation: /login",
			"upstream: 302 Found\r\nSet-Cookie: [REDACTED]\r\nCookie: [REDACTED]\r\nLocation: /login"},
		{"jwt",
			`oidc: verify id_token eyJhbGciOiJSUzI1NiIsImtpZCI6IjEifQ.eyJzdWIiOiIxMjM0NTY3ODkwIiwiZXhwIjoxNzMyNTkwOTAzfQ.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U: token is expired`,
			`oidc: verify id_token [REDACTED]: token is expired`},
		{"google api key",
			`places: REQUEST_DENIED for key AIzaSyD-9tSrke72PouQMnMX-a7eZSW0jkFMBWY`,
			`places: REQUEST_DENIED for key [REDACTED]`},
		{"slack",
			`slack: invalid_auth (token xoxb-2345678901-3456789012345-AbCdEfGhIjKlMnOpQrStUvWx)`,
			`slack: invalid_auth (token [REDACTED])`},
		{"basic in prose",
			`upstream rejected Basic ZW5yaWNoOnMzY3IzdA== for api.apollo.io`,
			`upstream rejected Basic [REDACTED] for api.apollo.io`},
		{"hex key",
			`hunter: 401 for 2f1e8d9c7b6a5f4e3d2c1b0a9f8e7d6c5b4a3f2e`,
			`hunter: 401 for [REDACTED]`},
		{"traceparent",
			`exa: 502 traceparent 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01`,
			`exa: 502 traceparent [REDACTED]`},
		{"oauth2",
			"oauth2: cannot fetch token: 401 Unauthorized\nResponse: {\"error\":\"invalid_client\",\"error_description\":\"Client authentication failed\"}",
			"oauth2: cannot fetch token: [REDACTED] Unauthorized\nResponse: {\"error\":\"invalid_client\",\"error_description\":\"Client authentication failed\"}"},
		{"old fixture scheme after token",
			`token Bearer AUTHSECRET was rejected`,
			`token Bearer [REDACTED] was rejected`},
		{"old fixture params",
			`retry with api_key=QUERYSECRET&access_token=AUTHSECRET, password=PASSSECRET`,
			`retry with api_key=[REDACTED], password=[REDACTED]`},
		{"invalid utf8 beside a key",
			"bad byte \xff before sk-ant-api03-Xq7vR2mLp8TwN4bYc7AZk3vQ9xT2",
			"bad byte \uFFFD before [REDACTED]"}}
	for _, c := range cases {
		if got := sourcestatus.FromHTTP(nil, errors.New(c.msg)).Error; got != c.want {
			t.Errorf("%s: FromHTTP(nil, %q).Error =\n%q, want\n%q", c.name, c.msg, got, c.want)
		}
	}
}

// TestNetKeepsHarmlessMessages stores messages that carry no secret, with
// request ids, UUIDs, paths, hosts, identifiers and words that follow a
// credential's name: each is stored unchanged.
func TestNetKeepsHarmlessMessages(t *testing.T) {
	for _, msg := range []string{
		`POST "https://api.anthropic.com/v1/messages": 401 Unauthorized {"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"},"request_id":"req_011CV4yQ8mTzLwJr5XbNd2Hs"}`,                                                                                                                         // anthropic 401
		`POST "https://api.anthropic.com/v1/messages": 429 Too Many Requests {"type":"error","error":{"type":"rate_limit_error","message":"This request would exceed the rate limit for your organization (7c1e9a42-3b5d-4f6e-8a2c-1d0b9e8f7a6c) of 50,000 input tokens per minute."},"request_id":"req_011CUm6ZRN6SsMQg9VhBCCXJ"}`, // anthropic 429
		`{"type":"error","error":{"type":"invalid_request_error","message":"max_tokens: 100000 > 64000, which is the maximum allowed number of output tokens for claude-sonnet-4-5-20250929"},"request_id":"req_011CVA5mF9kQx2Zt7YbLw3Rp"}`,                                                                                         // anthropic 400 max_tokens
		`{"error":"api/v1/mixed_people/search is not accessible with this api_key on a free plan. Please upgrade your plan from https://app.apollo.io/.","error_code":"API_INACCESSIBLE"}`,                                                                                                                                          // apollo plan
		`sec: 403 Forbidden: Your Request Originates from an Undeclared Automated Tool`,                                                                                                    // sec undeclared tool
		`Get "https://www.sec.gov/Archives/edgar/data/320193/000032019323000106/aapl-20230930.htm": net/http: TLS handshake timeout`,                                                       // sec archive path
		"remote: Invalid username or token. Password authentication is not supported for Git operations.\nfatal: Authentication failed for 'https://github.com/acme/enrich.git/'",          // github git auth
		`Get "https://api.exa.ai/search": dial tcp: lookup api.exa.ai on 127.0.0.53:53: no such host`,                                                                                      // url error dns
		`Post "https://api.anthropic.com/v1/messages": net/http: request canceled while waiting for connection (Client.Timeout exceeded while awaiting headers)`,                           // url error timeout
		`Get "https://api.apollo.io/v1/people/match": tls: failed to verify certificate: x509: certificate is valid for *.cloudflare.com, not api.apollo.io`,                               // url error tls
		`Post "https://oauth2.googleapis.com/token": read tcp 10.0.0.5:51234->142.250.72.10:443: read: connection reset by peer`,                                                           // url error path named token
		"failed to connect to `user=enrich database=prospects`: 10.0.0.5:5432 (db.internal): failed SASL auth: FATAL: password authentication failed for user \"enrich\" (SQLSTATE 28P01)", // pgx auth
		`ERROR: duplicate key value violates unique constraint "prospects_pkey" (SQLSTATE 23505)`,                                                                                          // pgx unique
		`WRONGPASS invalid username-password pair or user is disabled.`,                                                                                                                    // redis wrongpass
		`NOPERM User enrich has no permissions to run the 'evalsha' command`,                                                                                                               // redis noperm
		`MOVED 12539 10.0.0.7:7002`, // redis moved
		`googleapi: Error 400: API key not valid. Please pass a valid API key., badRequest`,                                                                                                                                  // google api key not valid
		`WWW-Authenticate: Bearer realm="api", error="invalid_token", error_description="The access token expired"`,                                                                                                          // www-authenticate
		`enrich-worker-7d9f8b6c5d-x2k4p: OOMKilled`,                                                                                                                                                                          // pod name
		`sourcestatus: update exa of 123e4567-e89b-12d3-a456-426614174000: Get "https://api.exa.ai/v1/prospects/123e4567-e89b-12d3-a456-426614174000/contents": EOF`,                                                         // uuid path
		`json: cannot unmarshal string into Go struct field SearchResponse.results.publishedDate of type time.Time`,                                                                                                          // go json
		`http2: server sent GOAWAY and closed the connection; LastStreamID=1999, ErrCode=NO_ERROR, debug=""`,                                                                                                                 // http2
		`operation error DynamoDB: PutItem, https response error StatusCode: 400, RequestID: 7f3e8c1a-2b4d-4e6f-9a8b-0c1d2e3f4a5b, ProvisionedThroughputExceededException: Rate of requests exceeds the allowed throughput.`, // aws identifier
		`HTTP 429`, // status
		`Post "https://api.exa.ai/findSimilar": context deadline exceeded`, // exa camel path
		`auth: missing Bearer token in request`,                            // bearer word
		`token has invalid claims: token is expired`,                       // jwt lib
	} {
		if got := sourcestatus.FromHTTP(nil, errors.New(msg)).Error; got != msg {
			t.Errorf("FromHTTP(nil, %q).Error = %q, want it unchanged", msg, got)
		}
	}
}

// TestCutNeverKeepsPartOfAKey cuts a message at each byte of a key whose
// start is too short to be recognised ("sk-ant-ap"), in a message that the
// net shortens before the key (a URL's query), so that no later cut to the
// limit would remove the piece: the piece is dropped, the rest kept.
func TestCutNeverKeepsPartOfAKey(t *testing.T) {
	const key = "sk-ant-api03-Xq7vR2mLp8TwN4bYc7AZk3vQ9xT2"
	head := "POST https://api.anthropic.com/v1/messages?" + strings.Repeat("q", 100) + " failed: invalid x-api-key "
	msg := head + key + " (401)"
	want := "POST https://api.anthropic.com/v1/messages failed: invalid x-api-key " + sourcestatus.TruncatedMark
	for max := len(head) + 1; max < len(head)+len(key); max++ {
		if got := sourcestatus.SafeError(msg, max); got != want {
			t.Errorf("SafeError(%q, %d) = %q, want %q", msg, max, got, want)
		}
	}
	// Cut just after the key: the key is whole, and recognised.
	if got, want := sourcestatus.SafeError(msg, len(head)+len(key)), "POST https://api.anthropic.com/v1/messages failed: invalid x-api-key [REDACTED]"+sourcestatus.TruncatedMark; got != want {
		t.Errorf("SafeError(%q, %d) = %q, want %q", msg, len(head)+len(key), got, want)
	}
}
