package providers_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/enrichmeter/enrichmeter/providers"
	"github.com/enrichmeter/enrichmeter/usage"
)

// exampleRedis starts an in-process Redis for the examples; a real program
// passes its own *redis.Client or *redis.ClusterClient to the tracker.
func exampleRedis() (*redis.Client, func()) {
	mr, err := miniredis.Run()
	if err != nil {
		log.Fatal(err)
	}
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	return rdb, func() { rdb.Close(); mr.Close() }
}

// printCounter prints what it counts, to show which calls count.
type printCounter struct{}

func (printCounter) Track(p usage.Provider) { fmt.Println("counted", p) }

func ExampleNewTransport() {
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/limited" {
			w.WriteHeader(http.StatusTooManyRequests)
		}
	}))
	defer api.Close()

	hc := &http.Client{Transport: providers.NewTransport(http.DefaultTransport, printCounter{}, usage.Exa)}
	for _, path := range []string{"/search", "/limited"} {
		resp, err := hc.Get(api.URL + path)
		if err != nil {
			log.Fatal(err)
		}
		resp.Body.Close()
		fmt.Println(path, resp.StatusCode)
	}
	// Output:
	// counted exa
	// /search 200
	// /limited 429
}

func ExampleWrapClient() {
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer api.Close()
	rdb, stop := exampleRedis()
	defer stop()

	tracker := usage.NewTracker(rdb)
	// One line: the SDK or REST client takes this *http.Client and never knows.
	apollo := providers.WrapClient(http.DefaultClient, tracker, usage.Apollo)

	resp, err := apollo.Get(api.URL + "/api/v1/people/match")
	if err != nil {
		log.Fatal(err)
	}
	resp.Body.Close()
	if err := tracker.Close(context.Background()); err != nil {
		log.Fatal(err)
	}
	fmt.Println(tracker.Stats())
	// Output: tracked=1 flushed=1 pending=0 dropped=0
}

func ExampleByHost() {
	// A stand-in for every provider's API; the dialer below sends all calls
	// here, so the example never leaves this machine.
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer api.Close()
	local := &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, api.Listener.Addr().String())
	}}
	defer local.CloseIdleConnections()

	hc := &http.Client{Transport: providers.ByHost(local, printCounter{}, providers.DefaultHosts())}
	for _, url := range []string{
		"http://api.exa.ai/search",
		"http://efts.sec.gov/LATEST/search-index?q=acme",
		"http://example.com/not-a-provider",
		"http://api.anthropic.com/v1/messages",
	} {
		resp, err := hc.Get(url)
		if err != nil {
			log.Fatal(err)
		}
		resp.Body.Close()
	}
	// Output:
	// counted exa
	// counted edgar
	// counted claude
}

func ExampleCountAtEOF() {
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.(http.Flusher).Flush() // no Content-Length: the body is chunked
		fmt.Fprint(w, `{"results":["Acme raises a Series B"]}`)
	}))
	defer api.Close()

	hc := providers.WrapClient(nil, printCounter{}, usage.Exa, providers.CountAtEOF())
	resp, err := hc.Get(api.URL + "/search")
	if err != nil {
		log.Fatal(err)
	}
	var found struct{ Results []string }
	if err := json.NewDecoder(resp.Body).Decode(&found); err != nil {
		log.Fatal(err)
	}
	// The decoder stops at the end of the value; reading on to io.EOF is what
	// tells that the body is complete.
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		log.Fatal(err)
	}
	resp.Body.Close()
	fmt.Println(found.Results[0])
	// Output:
	// counted exa
	// Acme raises a Series B
}

func ExampleWithClaudeTokens() {
	// A stand-in for api.anthropic.com that streams one message, as the
	// Messages API does: usage in message_start, running totals in
	// message_delta.
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "event: message_start\n",
			`data: {"type":"message_start","message":{"id":"msg_01","usage":{"input_tokens":2095,"cache_read_input_tokens":1800,"cache_creation_input_tokens":400,"output_tokens":1}}}`+"\n\n",
			"event: content_block_delta\n",
			`data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Acme's revenue rose 12%."}}`+"\n\n",
			"event: message_delta\n",
			`data: {"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":503}}`+"\n\n",
			"event: message_stop\n",
			`data: {"type":"message_stop"}`+"\n\n")
	}))
	defer api.Close()
	rdb, stop := exampleRedis()
	defer stop()
	at := time.Date(2026, 11, 26, 3, 15, 3, 0, time.UTC)
	tracker := usage.NewTracker(rdb, usage.WithClock(func() time.Time { return at }))

	// The call counts for claude, its tokens in the four token counters. Give
	// hc to the SDK: anthropic.NewClient(option.WithHTTPClient(hc)).
	hc := providers.WrapClient(nil, tracker, usage.Claude, providers.WithClaudeTokens(tracker))
	resp, err := hc.Post(api.URL+"/v1/messages", "application/json", strings.NewReader(`{"stream":true}`))
	if err != nil {
		log.Fatal(err)
	}
	if _, err := io.Copy(io.Discard, resp.Body); err != nil { // the SDK's stream reads it as it comes
		log.Fatal(err)
	}
	resp.Body.Close()
	if err := tracker.Close(context.Background()); err != nil {
		log.Fatal(err)
	}

	for _, p := range []usage.Provider{usage.Claude, usage.ClaudeInputTokens, usage.ClaudeOutputTokens, usage.ClaudeCacheReadTokens, usage.ClaudeCacheWriteTokens} {
		n, _ := rdb.Get(context.Background(), usage.Key(p, at)).Result()
		fmt.Println(usage.Key(p, at), "=", n)
	}
	// Output:
	// api_usage:claude:2026-11-26 = 1
	// api_usage:claude_input_tokens:2026-11-26 = 2095
	// api_usage:claude_output_tokens:2026-11-26 = 503
	// api_usage:claude_cache_read_tokens:2026-11-26 = 1800
	// api_usage:claude_cache_write_tokens:2026-11-26 = 400
}

func ExampleWithGuard() {
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer api.Close()
	rdb, stop := exampleRedis()
	defer stop()
	ctx := context.Background()

	tracker := usage.NewTracker(rdb)
	defer tracker.Close(ctx)
	guard, err := usage.NewGuard(tracker, map[usage.Provider]usage.Quota{usage.Exa: {Limit: 2, Period: usage.PerDay}})
	if err != nil {
		log.Fatal(err)
	}
	defer guard.Close(ctx)
	exa := providers.WrapClient(nil, tracker, usage.Exa, providers.WithGuard(guard))
	defer exa.CloseIdleConnections()

	for i := range 3 {
		resp, err := exa.Get(api.URL + "/search")
		if err != nil {
			log.Fatal(err)
		}
		resp.Body.Close()
		var spent *usage.QuotaError
		if errors.As(providers.Refusal(resp), &spent) {
			fmt.Printf("call %d not sent (%d): %d of %d used\n", i+1, resp.StatusCode, spent.Used, spent.Quota.Limit)
			continue
		}
		fmt.Printf("call %d: %d\n", i+1, resp.StatusCode)
	}
	// Output:
	// call 1: 200
	// call 2: 200
	// call 3 not sent (402): 2 of 2 used
}

func ExampleWithReportedQuota() {
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-24-Hour-Requests-Left", "412")
		w.Header().Set("X-Rate-Limit-24-Hour", "600")
	}))
	defer api.Close()
	rdb, stop := exampleRedis()
	defer stop()
	ctx := context.Background()

	tracker := usage.NewTracker(rdb)
	apollo := providers.WrapClient(nil, tracker, usage.Apollo, providers.WithReportedQuota(tracker))
	defer apollo.CloseIdleConnections()
	resp, err := apollo.Get(api.URL + "/api/v1/people/match")
	if err != nil {
		log.Fatal(err)
	}
	resp.Body.Close()
	if err := tracker.Close(ctx); err != nil { // the flusher writes the report with the counts
		log.Fatal(err)
	}

	rep, err := usage.NewReader(rdb).Reported(ctx, usage.Apollo)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("Apollo says %s of %s left today\n", rep.Values["x-24-hour-requests-left"], rep.Values["x-rate-limit-24-hour"])
	// Output: Apollo says 412 of 600 left today
}
