package providers_test

import (
	"context"
	"fmt"
	"net/http"
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
