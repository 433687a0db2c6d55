package providers_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/enrichmeter/enrichmeter/internal/testsupport"
	"github.com/enrichmeter/enrichmeter/providers"
	"github.com/enrichmeter/enrichmeter/usage"
)

// expectedBreakdowns sums what a fake API sent: the fields the models and
// subjects hashes must hold, and the token totals (input, output, cache
// read, cache write).
func expectedBreakdowns(replies []sentReply) (models, subjects map[string]int64, totals [4]int64) {
	models, subjects = map[string]int64{}, map[string]int64{}
	for _, r := range replies {
		if r.subject != "" {
			subjects[r.subject+":"+string(usage.Claude)]++
		}
		for k, p := range tokenCounters {
			if n := r.tokens[k]; n > 0 {
				totals[k] += n
				models[r.model+":"+string(p)] += n
				if r.subject != "" {
					subjects[r.subject+":"+string(p)+":"+r.model] += n
				}
			}
		}
	}
	return models, subjects, totals
}

// TestBreakdownsLostRepliesCountOnce loses the replies of a flush that
// carries breakdowns: Redis applies the write once, though the client sends
// it three times, and when replies come back the write is sent again and
// not applied twice, so each hash field holds each count once.
func TestBreakdownsLostRepliesCountOnce(t *testing.T) {
	forEachRedis(t, func(t *testing.T, rdb redis.UniversalClient, prefix string) {
		// Short read timeouts, and go-redis' own retries, which send the
		// pipeline whose reply was lost again.
		proxied, proxies := testsupport.ProxiedRedis(t, rdb, 100*time.Millisecond, 2)
		now := time.Now()
		tracker := usage.NewTracker(proxied, usage.WithPrefix(prefix), usage.WithClock(func() time.Time { return now }),
			usage.WithFlushInterval(time.Hour), usage.WithErrorHandler(func(error) {}))
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		defer tracker.Close(ctx)
		api := newModelsAPI(t, "claude-opus-4-5-20251101", "claude-sonnet-4-5-20250929", "claude-haiku-4-5-20251001")
		hc := providers.WrapClient(api.srv.Client(), tracker, usage.Claude, providers.WithClaudeTokens(tracker))
		subjects := []string{"acme", "", "globex@corp.example", "acme"}
		calls := 0
		callUpTo := func(n int) {
			for ; calls < n; calls++ {
				subject := subjects[calls%len(subjects)]
				postMessage(t, hc, providers.WithSubject(ctx, subject), api.srv.URL, subject, calls%2 == 1)
			}
		}
		check := func(when string) {
			t.Helper()
			models, bySubject, _ := expectedBreakdowns(api.replies())
			checkFields(t, when+": models hash", breakdown(t, rdb, prefix, "models", now), models)
			checkFields(t, when+": subjects hash", breakdown(t, rdb, prefix, "subjects", now), bySubject)
		}

		callUpTo(4)
		if err := tracker.Flush(ctx); err != nil { // loads the script
			t.Fatal(err)
		}
		callUpTo(10)
		for _, p := range proxies {
			p.DropReplies(true)
		}
		if err := tracker.Flush(ctx); err == nil {
			t.Fatal("Flush without replies returned nil")
		}
		var dropped int64
		for _, p := range proxies {
			dropped += p.DroppedBytes()
		}
		if dropped == 0 {
			t.Fatal("the proxy dropped no reply")
		}
		check("after lost replies") // applied, once
		callUpTo(13)
		for _, p := range proxies {
			p.DropReplies(false)
			p.CutConnections() // ends the write that waits for its reply
		}
		if err := tracker.Flush(ctx); err != nil {
			t.Fatalf("Flush with replies back: %v", err)
		}
		check("with replies back")
		if s := tracker.Stats(); s.Pending != 0 || s.Dropped != 0 {
			t.Errorf("stats %+v: want nothing pending or dropped", s)
		}
	})
}

// postMessage sends a Messages request through hc to the fake API at base,
// with ctx, naming subject for the API's records, and reads the reply to
// the end.
func postMessage(t *testing.T, hc *http.Client, ctx context.Context, base, subject string, stream bool) {
	t.Helper()
	body := `{"model":"claude-sonnet-4-5","max_tokens":1024,"stream":` + strconv.FormatBool(stream) + `}`
	req, err := http.NewRequestWithContext(ctx, "POST", base+"/v1/messages", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set(subjectHeader, subject)
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d, read error %v", resp.StatusCode, err)
	}
}

// TestBreakdownsBoundAttackerNames answers 100,000 calls, each for a
// subject of its own, with a model of its own: the hashes hold the first
// WithModelLimit models and WithSubjectLimit subjects, and "other" holds
// the rest, so every total is exact; on real Redis, the hashes' memory
// stays under a bound set by the limits.
func TestBreakdownsBoundAttackerNames(t *testing.T) {
	const (
		calls        = 100_000
		in, out      = 3, 5 // tokens a reply
		modelLimit   = usage.DefaultModelLimit
		subjectLimit = usage.DefaultSubjectLimit
	)
	model := func(i int) string { return fmt.Sprintf("claude-made-up-%06d", i) }
	subject := func(i int) string { return fmt.Sprintf("tenant-%06d@example.com", i) }
	forEachRedis(t, func(t *testing.T, rdb redis.UniversalClient, prefix string) {
		now := time.Now()
		tracker := usage.NewTracker(rdb, usage.WithPrefix(prefix), usage.WithClock(func() time.Time { return now }), usage.WithFlushInterval(time.Hour))
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		defer tracker.Close(ctx)
		next := roundTripFunc(func(r *http.Request) (*http.Response, error) {
			i, _ := strconv.Atoi(r.Header.Get("X-Test-N"))
			body := fmt.Sprintf(`{"model":%q,"usage":{"input_tokens":%d,"output_tokens":%d}}`, model(i), in, out)
			return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {jsonType}}, Body: io.NopCloser(strings.NewReader(body)), Request: r}, nil
		})
		rt := providers.NewTransport(next, tracker, usage.Claude, providers.WithClaudeTokens(tracker))
		for i := range calls {
			req, _ := http.NewRequestWithContext(providers.WithSubject(ctx, subject(i)), "POST", "https://api.anthropic.com/v1/messages", nil)
			req.Header.Set("X-Test-N", strconv.Itoa(i))
			resp, err := rt.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		if err := tracker.Flush(ctx); err != nil {
			t.Fatal(err)
		}

		// Calls are sent one after the other, so the first names of the day
		// are the ones admitted.
		inTok, outTok, claude := string(usage.ClaudeInputTokens), string(usage.ClaudeOutputTokens), string(usage.Claude)
		models := map[string]int64{
			usage.OtherName + ":" + inTok:  in * (calls - modelLimit),
			usage.OtherName + ":" + outTok: out * (calls - modelLimit),
		}
		subjects := map[string]int64{
			usage.OtherName + ":" + claude:                         calls - subjectLimit,
			usage.OtherName + ":" + inTok + ":" + usage.OtherName:  in * (calls - subjectLimit),
			usage.OtherName + ":" + outTok + ":" + usage.OtherName: out * (calls - subjectLimit),
		}
		for i := range modelLimit {
			models[model(i)+":"+inTok], models[model(i)+":"+outTok] = in, out
		}
		for i := range subjectLimit {
			m := usage.OtherName
			if i < modelLimit {
				m = model(i)
			}
			subjects[subject(i)+":"+claude] = 1
			subjects[subject(i)+":"+inTok+":"+m], subjects[subject(i)+":"+outTok+":"+m] = in, out
		}
		checkFields(t, "models hash", breakdown(t, rdb, prefix, "models", now), models)
		checkFields(t, "subjects hash", breakdown(t, rdb, prefix, "subjects", now), subjects)
		for p, want := range map[usage.Provider]int64{usage.Claude: calls, usage.ClaudeInputTokens: in * calls, usage.ClaudeOutputTokens: out * calls} {
			key := prefix + ":" + string(p) + ":" + now.UTC().Format("2006-01-02")
			if got, err := rdb.Get(ctx, key).Int64(); got != want {
				t.Errorf("%s holds %d, %v; want %d", key, got, err, want)
			}
		}

		// The bound: each field is at most 64+1+len("claude_output_tokens")+1+64
		// = 150 bytes, its value at most 20 digits, and Redis spends at most
		// 128 bytes more on an entry (the entry, two string headers, the
		// allocator's rounding, a slot of the table). The limits allow
		// (models+1) fields a token kind in the models hash, and, as each
		// call here names one model, a calls field and a field a token kind
		// for each of (subjects+1) in the subjects hash.
		if len(models) > (modelLimit+1)*2 || len(subjects) > (subjectLimit+1)*3 {
			t.Fatalf("the expected fields pass the limits' bound: %d models, %d subjects", len(models), len(subjects))
		}
		if strings.HasSuffix(t.Name(), "/miniredis") {
			return // miniredis does not measure memory
		}
		const perField = 150 + 20 + 128
		for kind, fields := range map[string]int{"models": (modelLimit + 1) * 2, "subjects": (subjectLimit + 1) * 3} {
			key := "{" + prefix + "}:" + kind + ":" + now.UTC().Format("2006-01-02")
			n, err := rdb.MemoryUsage(ctx, key, 0).Result() // SAMPLES 0: every field
			if err != nil {
				t.Fatalf("MEMORY USAGE %s: %v", key, err)
			}
			if bound := int64(fields * perField); n > bound {
				t.Errorf("%s uses %d bytes, want at most %d (%d fields)", key, n, bound, fields)
			} else {
				t.Logf("%s: %d bytes for %d fields (bound %d)", key, n, fields, bound)
			}
		}
	})
}
