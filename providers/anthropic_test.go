package providers_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/redis/go-redis/v9"

	"github.com/enrichmeter/enrichmeter/providers"
	"github.com/enrichmeter/enrichmeter/usage"
)

// TestAnthropicSDKRetryCountsOnce drives the real Anthropic SDK through a
// wrapped client. The server is overloaded (529) on the first attempt; the
// SDK retries on its own, and the one call that succeeded counts once, all
// the way into Redis.
func TestAnthropicSDKRetryCountsOnce(t *testing.T) {
	var attempts atomic.Int32
	srv := server(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path != "/v1/messages" {
			t.Errorf("SDK called %s", r.URL.Path)
		}
		if attempts.Add(1) == 1 {
			w.Header().Set("Retry-After-Ms", "1")
			w.WriteHeader(529)
			fmt.Fprint(w, `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`)
			return
		}
		fmt.Fprint(w, `{"id":"msg_1","type":"message","role":"assistant","model":"claude-test",
			"content":[{"type":"text","text":"A quaternion is..."}],
			"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":5,"output_tokens":7}}`)
	})

	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	t.Cleanup(func() { rdb.Close() })
	tracker := usage.NewTracker(rdb)

	client := anthropic.NewClient(
		option.WithBaseURL(srv.URL),
		option.WithAPIKey("test-key"),
		option.WithMaxRetries(2),
		option.WithHTTPClient(providers.WrapClient(nil, tracker, usage.Claude)),
	)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	msg, err := client.Messages.New(ctx, anthropic.MessageNewParams{
		MaxTokens: 64,
		Model:     anthropic.Model("claude-test"),
		Messages:  []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("What is a quaternion?"))},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(msg.Content) != 1 || msg.Content[0].Text != "A quaternion is..." {
		t.Fatalf("message content = %+v", msg.Content)
	}
	if attempts.Load() != 2 {
		t.Fatalf("server saw %d attempts, want 2 (one 529, one success)", attempts.Load())
	}
	if err := tracker.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if s := tracker.Stats(); s.Tracked != 1 || s.Flushed != 1 {
		t.Errorf("tracker stats %v, want one call tracked and flushed", s)
	}
	if got, _ := mr.Get(usage.Key(usage.Claude, time.Now())); got != "1" {
		t.Errorf("Redis holds %q calls for claude today, want 1", got)
	}
}

// TestAnthropicSDKTokens drives the real Anthropic SDK through a client
// wrapped with WithClaudeTokens, against a server that replays Anthropic's
// responses: Messages.New and Messages.NewStreaming (each after a 529 the
// SDK retries), with cache tokens and several cumulative message_delta
// events, a stream cut midway, and a free count_tokens call. After a flush,
// each token counter in Redis equals the sum of the SDK's own Usage figures,
// and the call counter counts the four successful attempts.
func TestAnthropicSDKTokens(t *testing.T) {
	forEachRedis(t, func(t *testing.T, rdb redis.UniversalClient, prefix string) {
		srv := replay(t,
			overloaded, jsonMessage,
			overloaded, sseMessage(false),
			sseMessage(true),
			func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				io.WriteString(w, `{"input_tokens":2095}`)
			},
		)
		now := time.Now()
		clock := usage.WithClock(func() time.Time { return now })
		tracker := usage.NewTracker(rdb, usage.WithPrefix(prefix), clock)
		client := anthropic.NewClient(
			option.WithBaseURL(srv.URL),
			option.WithAPIKey("test-key"),
			option.WithMaxRetries(2),
			option.WithHTTPClient(providers.WrapClient(nil, tracker, usage.Claude, providers.WithClaudeTokens(tracker))),
		)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		params := anthropic.MessageNewParams{
			MaxTokens: 1024,
			Model:     anthropic.Model("claude-test"),
			Messages:  []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("Summarise the filing."))},
		}

		var want [4]int64 // input, output, cache read, cache write, as the SDK reports them
		addUsage := func(u anthropic.Usage) {
			for i, n := range []int64{u.InputTokens, u.OutputTokens, u.CacheReadInputTokens, u.CacheCreationInputTokens} {
				want[i] += n
			}
		}
		msg, err := client.Messages.New(ctx, params)
		if err != nil {
			t.Fatal(err)
		}
		addUsage(msg.Usage)
		for _, cut := range []bool{false, true} {
			stream := client.Messages.NewStreaming(ctx, params)
			var acc anthropic.Message
			for stream.Next() {
				if err := acc.Accumulate(stream.Current()); err != nil {
					t.Fatal(err)
				}
			}
			if err := stream.Err(); (err != nil) != cut {
				t.Fatalf("stream (cut %v) ended with %v", cut, err)
			}
			stream.Close()
			if acc.Usage.OutputTokens == 0 {
				t.Fatalf("stream (cut %v): the SDK accumulated no usage", cut)
			}
			addUsage(acc.Usage)
		}
		if _, err := client.Messages.CountTokens(ctx, anthropic.MessageCountTokensParams{
			Model:    anthropic.Model("claude-test"),
			Messages: params.Messages,
		}); err != nil {
			t.Fatal(err)
		}
		if err := tracker.Close(ctx); err != nil {
			t.Fatal(err)
		}

		reader := usage.NewReader(rdb, usage.WithPrefix(prefix), clock)
		for i, p := range append(tokenCounters[:], usage.Claude) {
			days, err := reader.Daily(ctx, p, now, now)
			if err != nil {
				t.Fatal(err)
			}
			wantN := int64(4)
			if p != usage.Claude {
				wantN = want[i]
			}
			if len(days) != 1 || days[0].Count != wantN {
				t.Errorf("Redis holds %v for %s, want %d", days, p, wantN)
			}
		}
		t.Logf("SDK usage totals (in, out, cache read, cache write) %v", want)
	})
}

// replay starts a server that answers its n-th request with the n-th
// handler, and fails the test on requests beyond them or to paths other
// than Anthropic's messages.
func replay(t *testing.T, handlers ...http.HandlerFunc) *httptest.Server {
	var n atomic.Int32
	return server(t, func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, "/v1/messages") {
			t.Errorf("SDK called %s", r.URL.Path)
		}
		i := int(n.Add(1)) - 1
		if i >= len(handlers) {
			t.Errorf("request %d to %s: only %d scripted", i+1, r.URL.Path, len(handlers))
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		handlers[i](w, r)
	})
}

// overloaded answers 529, which the SDK retries after the delay it names.
func overloaded(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Retry-After-Ms", "1")
	w.WriteHeader(529)
	io.WriteString(w, `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`)
}

// jsonMessage answers a Message with a tool call whose input, and a text
// whose words, look like usage objects.
func jsonMessage(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	io.WriteString(w, `{"id":"msg_01","type":"message","role":"assistant","model":"claude-test",
		"content":[{"type":"text","text":"The API said \"usage\":{\"output_tokens\":999}\\"},
			{"type":"tool_use","id":"toolu_01","name":"lookup","input":{"usage":{"input_tokens":999,"output_tokens":999}}}],
		"stop_reason":"tool_use","stop_sequence":null,
		"usage":{"input_tokens":2095,"cache_creation_input_tokens":1200,"cache_read_input_tokens":1800,
			"cache_creation":{"ephemeral_5m_input_tokens":1200,"ephemeral_1h_input_tokens":0},
			"output_tokens":503,"service_tier":"standard"}}`)
}

// sseMessage streams a message in Anthropic's event format, with three
// cumulative message_delta events; cut aborts the connection in the middle
// of the event after the second, so the SDK reports the second's figures.
func sseMessage(cut bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		var b strings.Builder
		event := func(name, data string) { fmt.Fprintf(&b, "event: %s\ndata: %s\n\n", name, data) }
		text := func(s string) {
			event("content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":`+strconv.Quote(s)+`}}`)
		}
		delta := func(out int) {
			event("message_delta", fmt.Sprintf(`{"type":"message_delta","delta":{"stop_reason":null,"stop_sequence":null},"usage":{"output_tokens":%d}}`, out))
		}
		event("message_start", `{"type":"message_start","message":{"id":"msg_02","type":"message","role":"assistant","model":"claude-test","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":25,"cache_creation_input_tokens":400,"cache_read_input_tokens":1800,"output_tokens":1}}}`)
		event("content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`)
		event("ping", `{"type": "ping"}`)
		text(`Revenue "usage":{"output_tokens":999} rose`)
		delta(10)
		text(" 12% on the quarter")
		delta(25)
		if cut {
			io.WriteString(w, b.String())
			io.WriteString(w, "event: message_delta\ndata: {\"type\":\"message_delta\",\"usage\":{\"output_tok")
			w.(http.Flusher).Flush()
			panic(http.ErrAbortHandler) // the connection drops mid-event
		}
		text(", driven by the new segment.")
		event("content_block_stop", `{"type":"content_block_stop","index":0}`)
		delta(42)
		event("message_stop", `{"type":"message_stop"}`)
		io.WriteString(w, b.String())
	}
}

// TestAnthropicSDKModelsAndSubjects drives the real Anthropic SDK over TLS
// to a fake Messages API that answers three models, with Messages.New and
// Messages.NewStreaming, for requests with and without subjects. After a
// flush, the day's models and subjects hashes hold exactly the tokens the
// server sent, by model and by subject, and the plain counters their
// totals.
func TestAnthropicSDKModelsAndSubjects(t *testing.T) {
	forEachRedis(t, func(t *testing.T, rdb redis.UniversalClient, prefix string) {
		api := newModelsAPI(t, "claude-opus-4-5-20251101", "claude-sonnet-4-5-20250929", "claude-haiku-4-5-20251001")
		now := time.Now()
		clock := usage.WithClock(func() time.Time { return now })
		tracker := usage.NewTracker(rdb, usage.WithPrefix(prefix), clock, usage.WithFlushInterval(time.Hour))
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		defer tracker.Close(ctx)
		client := anthropic.NewClient(
			option.WithBaseURL(api.srv.URL),
			option.WithAPIKey("test-key"),
			option.WithMaxRetries(0),
			option.WithHTTPClient(providers.WrapClient(api.srv.Client(), tracker, usage.Claude, providers.WithClaudeTokens(tracker))),
		)
		params := anthropic.MessageNewParams{
			MaxTokens: 1024,
			Model:     anthropic.Model("claude-sonnet-4-5"),
			Messages:  []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("Summarise the filing."))},
		}
		subjects := []string{"", "acme", "globex@corp.example"}
		// Request i asks for model i%3 (the server answers it), for subject
		// (i/3)%3, streamed when i is odd: each model and subject, JSON and
		// streamed.
		for i := range 18 {
			subject := subjects[(i/3)%3]
			rctx := ctx
			if subject != "" {
				rctx = providers.WithSubject(ctx, subject)
			}
			opt := option.WithHeader(subjectHeader, subject)
			var got anthropic.Message
			if i%2 == 0 {
				msg, err := client.Messages.New(rctx, params, opt)
				if err != nil {
					t.Fatal(err)
				}
				got = *msg
			} else {
				stream := client.Messages.NewStreaming(rctx, params, opt)
				for stream.Next() {
					if err := got.Accumulate(stream.Current()); err != nil {
						t.Fatal(err)
					}
				}
				if err := stream.Err(); err != nil {
					t.Fatal(err)
				}
				stream.Close()
			}
			if sent := api.reply(i); string(got.Model) != sent.model || got.Usage.OutputTokens != sent.tokens[1] {
				t.Fatalf("request %d: the SDK read model %q, %d output tokens; the server sent %q, %d", i, got.Model, got.Usage.OutputTokens, sent.model, sent.tokens[1])
			}
		}
		if err := tracker.Flush(ctx); err != nil {
			t.Fatal(err)
		}

		// What the server sent, summed by model and by subject.
		replies := api.replies()
		models, bySubject, totals := expectedBreakdowns(replies)
		checkFields(t, "models hash", breakdown(t, rdb, prefix, "models", now), models)
		checkFields(t, "subjects hash", breakdown(t, rdb, prefix, "subjects", now), bySubject)

		reader := usage.NewReader(rdb, usage.WithPrefix(prefix), clock)
		for k, p := range append(tokenCounters[:], usage.Claude) {
			want := int64(len(replies))
			if p != usage.Claude {
				want = totals[k]
			}
			if days, err := reader.Daily(ctx, p, now, now); err != nil || len(days) != 1 || days[0].Count != want {
				t.Errorf("Redis holds %v, %v for %s, want %d", days, err, p, want)
			}
		}

		// Spend, by hand: each model's list price per million tokens
		// (input, output, cache read, cache write) in micro-dollars, times
		// the day's tokens of each kind, rounded half up to the
		// micro-dollar.
		perMillion := map[string][4]int64{
			"claude-opus-4-5-20251101":   {5_000_000, 25_000_000, 500_000, 6_250_000},
			"claude-sonnet-4-5-20250929": {3_000_000, 15_000_000, 300_000, 3_750_000},
			"claude-haiku-4-5-20251001":  {1_000_000, 5_000_000, 100_000, 1_250_000},
		}
		byModel := map[string][4]int64{}
		for _, r := range replies {
			t4 := byModel[r.model]
			for k := range t4 {
				t4[k] += r.tokens[k]
			}
			byModel[r.model] = t4
		}
		lines, err := reader.Spend(ctx, now, now)
		if err != nil || len(lines) != len(perMillion) {
			t.Fatalf("Spend = %+v, %v; want a line for each of the %d models", lines, err, len(perMillion))
		}
		for _, l := range lines {
			var want int64
			for k, n := range byModel[l.Model] {
				want += (n*perMillion[l.Model][k] + 500_000) / 1_000_000
			}
			if !l.Priced || int64(l.Cost) != want {
				t.Errorf("Spend of %s = %v (priced %v), want %d micro-dollars by hand", l.Model, l.Cost, l.Priced, want)
			}
		}
	})
}

// subjectHeader names, in a test's request, the subject the test set, so
// the fake API can record what it sent for whom.
const subjectHeader = "X-Test-Subject"

// A sentReply is what the fake API answered one request: its model and its
// final token counts (input, output, cache read, cache write), for the
// subject the request named.
type sentReply struct {
	subject, model string
	tokens         [4]int64
}

// modelsAPI is a fake Messages API over TLS: request n gets model n%len,
// with counts of its own, as JSON or as a stream as the request asks.
type modelsAPI struct {
	srv    *httptest.Server
	models []string
	mu     sync.Mutex
	sent   []sentReply
}

func newModelsAPI(t *testing.T, models ...string) *modelsAPI {
	a := &modelsAPI{models: models}
	a.srv = httptest.NewTLSServer(http.HandlerFunc(a.serve))
	t.Cleanup(a.srv.Close)
	return a
}

func (a *modelsAPI) reply(i int) sentReply {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.sent[i]
}

func (a *modelsAPI) replies() []sentReply {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.sent)
}

func (a *modelsAPI) serve(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Stream bool `json:"stream"`
	}
	if r.URL.Path != "/v1/messages" || json.NewDecoder(r.Body).Decode(&req) != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	a.mu.Lock()
	n := int64(len(a.sent))
	s := sentReply{subject: r.Header.Get(subjectHeader), model: a.models[n%int64(len(a.models))],
		tokens: [4]int64{100 + n, 20 + 3*n, 1000 * (n % 2), 7 * (n % 3)}}
	a.sent = append(a.sent, s)
	a.mu.Unlock()
	in, out, cacheRead, cacheWrite := s.tokens[0], s.tokens[1], s.tokens[2], s.tokens[3]
	if !req.Stream {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"id":"msg_%d","type":"message","role":"assistant","model":%q,
			"content":[{"type":"text","text":"The reply quotes \"model\":\"claude-evil\""},
				{"type":"tool_use","id":"toolu_1","name":"lookup","input":{"model":"claude-evil","usage":{"output_tokens":999}}}],
			"stop_reason":"end_turn","stop_sequence":null,
			"usage":{"input_tokens":%d,"cache_creation_input_tokens":%d,"cache_read_input_tokens":%d,"output_tokens":%d}}`,
			n, s.model, in, cacheWrite, cacheRead, out)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	event := func(name, data string) { fmt.Fprintf(w, "event: %s\ndata: %s\n\n", name, data) }
	event("message_start", fmt.Sprintf(`{"type":"message_start","message":{"id":"msg_%d","type":"message","role":"assistant","model":%q,"content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":%d,"cache_creation_input_tokens":%d,"cache_read_input_tokens":%d,"output_tokens":1}}}`,
		n, s.model, in, cacheWrite, cacheRead))
	event("content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`)
	event("content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"\"message\":{\"model\":\"claude-evil\"}"}}`)
	event("message_delta", fmt.Sprintf(`{"type":"message_delta","delta":{"stop_reason":null,"stop_sequence":null},"usage":{"output_tokens":%d}}`, out/2))
	event("content_block_stop", `{"type":"content_block_stop","index":0}`)
	event("message_delta", fmt.Sprintf(`{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":%d}}`, out))
	event("message_stop", `{"type":"message_stop"}`)
}
