package usage_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/enrichmeter/enrichmeter/internal/testsupport"
	"github.com/enrichmeter/enrichmeter/usage"
)

// hash returns the fields of the hash key as integers, failing t if one is
// not.
func hash(t *testing.T, rdb redis.Cmdable, key string) map[string]int64 {
	t.Helper()
	fields, err := rdb.HGetAll(context.Background(), key).Result()
	if err != nil {
		t.Fatalf("HGETALL %s: %v", key, err)
	}
	out := make(map[string]int64, len(fields))
	for f, v := range fields {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			t.Fatalf("%s %s = %q: %v", key, f, v, err)
		}
		out[f] = n
	}
	return out
}

// hashKeyFor names a breakdown hash of b on the day of at.
func (b backend) hashKeyFor(name string, at time.Time) string {
	return "{" + b.prefix + "}:" + name + ":" + at.UTC().Format("2006-01-02")
}

func equalCounts(a, b map[string]int64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestBreakdownsCountBesideTheCounter(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		tr := usage.NewTracker(b.rdb, usage.WithPrefix(b.prefix), usage.WithClock(newFakeClock(noon).Now), usage.WithFlushInterval(time.Hour))
		closeAtCleanup(t, tr)
		out := tr.Meter(usage.ClaudeOutputTokens)
		out.Model("claude-sonnet-4-5-20250929").For("acme").Add(800)
		out.Model("claude-sonnet-4-5-20250929").Add(200)
		out.Model("claude-haiku-4-5").For("acme").Add(50)
		out.For("globex").Add(7) // no model read
		exa := tr.Meter(usage.Exa)
		for range 3 {
			exa.For("acme").Track()
		}
		exa.For("ops@example.com").Track()
		exa.Track()
		if err := tr.Close(ctxTimeout(t, 10*time.Second)); err != nil {
			t.Fatal(err)
		}
		// The counters hold the totals, as before; the breakdowns are
		// not counted in Stats again.
		if got := get(t, b.rdb, b.keyFor(usage.ClaudeOutputTokens, noon)); got != 1057 {
			t.Errorf("claude_output_tokens holds %d, want 1057", got)
		}
		if got := get(t, b.rdb, b.keyFor(usage.Exa, noon)); got != 5 {
			t.Errorf("exa holds %d, want 5", got)
		}
		checkStats(t, tr, usage.Stats{Tracked: 5, Flushed: 5, Tokens: usage.Units{Tracked: 1057, Flushed: 1057}})
		models := map[string]int64{
			"claude-sonnet-4-5-20250929:claude_output_tokens": 1000,
			"claude-haiku-4-5:claude_output_tokens":           50,
		}
		if got := hash(t, b.rdb, b.hashKeyFor("models", noon)); !equalCounts(got, models) {
			t.Errorf("models hash = %v, want %v", got, models)
		}
		subjects := map[string]int64{
			"acme:claude_output_tokens:claude-sonnet-4-5-20250929": 800,
			"acme:claude_output_tokens:claude-haiku-4-5":           50,
			"globex:claude_output_tokens":                          7,
			"acme:exa":                                             3,
			"ops@example.com:exa":                                  1,
		}
		if got := hash(t, b.rdb, b.hashKeyFor("subjects", noon)); !equalCounts(got, subjects) {
			t.Errorf("subjects hash = %v, want %v", got, subjects)
		}
		// Markers beside the hashes, and no key a SCAN of the prefix lists
		// but the counters.
		for _, k := range testsupport.Keys(t, b.rdb, b.prefix+":*") {
			if !strings.HasPrefix(k, b.prefix+":exa:") && !strings.HasPrefix(k, b.prefix+":claude_output_tokens:") {
				t.Errorf("SCAN %s:* lists %s", b.prefix, k)
			}
		}
	})
}

// TestBreakdownNamesAreBounded floods a tracker with made-up names: a day
// admits as many as its limits, malformed ones never, and every count of
// the rest is in "other".
func TestBreakdownNamesAreBounded(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		clock := newFakeClock(noon)
		tr := usage.NewTracker(b.rdb, usage.WithPrefix(b.prefix), usage.WithClock(clock.Now), usage.WithFlushInterval(time.Hour),
			usage.WithSubjectLimit(100), usage.WithModelLimit(3))
		closeAtCleanup(t, tr)
		ctx := ctxTimeout(t, 30*time.Second)
		exa := tr.Meter(usage.Exa)
		const flood = 100_000
		for i := range flood {
			exa.For(fmt.Sprintf("tenant-%d", i)).Track()
		}
		for _, bad := range []string{"a:b", "x y", strings.Repeat("s", 65), "ünïcode", "{tag}"} {
			exa.For(bad).Track()
		}
		tokens := tr.Meter(usage.ClaudeInputTokens)
		for i := range 10 {
			tokens.Model(fmt.Sprintf("model-%d", i)).Add(10)
		}
		if err := tr.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		subjects := hash(t, b.rdb, b.hashKeyFor("subjects", noon))
		if len(subjects) != 101 || subjects["other:exa"] != flood-100+5 || subjects["tenant-0:exa"] != 1 || subjects["tenant-99:exa"] != 1 {
			t.Errorf("subjects hash has %d fields, other:exa %d; want the first 100 and other with %d", len(subjects), subjects["other:exa"], flood-100+5)
		}
		models := hash(t, b.rdb, b.hashKeyFor("models", noon))
		if len(models) != 4 || models["other:claude_input_tokens"] != 70 {
			t.Errorf("models hash = %v, want 3 models and other with 70", models)
		}
		if got := get(t, b.rdb, b.keyFor(usage.Exa, noon)); got != flood+5 {
			t.Errorf("exa holds %d, want every call, %d", got, flood+5)
		}
		if b.mr == nil {
			mem, err := b.rdb.MemoryUsage(ctx, b.hashKeyFor("subjects", noon)).Result()
			if err != nil {
				t.Fatal(err)
			}
			// 101 fields of up to 64 + 1 + 64 bytes and a number: a hash
			// table of them, about 64 B a field beside the bytes.
			t.Logf("subjects hash: %d B for 101 fields", mem)
			if mem > 101*(64+1+64+20+64) {
				t.Errorf("subjects hash takes %d B, over the bound for 101 fields", mem)
			}
		}
		// A new day admits names again.
		clock.Set(noon.AddDate(0, 0, 1))
		exa.For("tenant-500").Track()
		if err := tr.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		if got := hash(t, b.rdb, b.hashKeyFor("subjects", noon.AddDate(0, 0, 1))); got["tenant-500:exa"] != 1 {
			t.Errorf("the next day's subjects = %v, want tenant-500", got)
		}
	})
}

// TestBreakdownsAreAppliedOnce loses the reply of a round that wrote
// breakdowns, and breaks one of their hashes: each field counts once, and
// a field Redis refuses holds back only its hash.
func TestBreakdownsAreAppliedOnce(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		p, tr := newProxiedTracker(t, b, proxyOptions{readTimeout: 100 * time.Millisecond, maxRetries: 2})
		ctx := ctxTimeout(t, 20*time.Second)
		m := tr.Meter(usage.ClaudeOutputTokens).Model("claude-opus-4-5").For("acme")
		m.Add(1)
		if err := tr.Flush(ctx); err != nil { // loads the script
			t.Fatal(err)
		}
		m.Add(99)
		p.each(func(x *testsupport.Proxy) { x.DropReplies(true) })
		if err := tr.Flush(ctx); err == nil {
			t.Fatal("Flush without replies returned nil")
		}
		m.Add(10)
		p.each(func(x *testsupport.Proxy) {
			x.DropReplies(false)
			x.CutConnections()
		})
		if err := tr.Flush(ctx); err != nil {
			t.Fatalf("Flush with replies back: %v", err)
		}
		want := map[string]map[string]int64{
			"models":   {"claude-opus-4-5:claude_output_tokens": 110},
			"subjects": {"acme:claude_output_tokens:claude-opus-4-5": 110},
		}
		for h, w := range want {
			if got := hash(t, b.rdb, b.hashKeyFor(h, noon)); !equalCounts(got, w) {
				t.Errorf("%s = %v, want %v: applied once", h, got, w)
			}
		}

		// A field that holds no integer refuses its hash's write, and only
		// its hash's; repaired, the held-back units count once.
		models := b.hashKeyFor("models", noon)
		if err := b.rdb.HSet(ctx, models, "claude-opus-4-5:claude_output_tokens", "n/a").Err(); err != nil {
			t.Fatal(err)
		}
		m.Add(5)
		err := tr.Flush(ctx)
		var ke *usage.KeyError
		if !errors.As(err, &ke) || ke.Key != models {
			t.Fatalf("Flush with a bad field = %v, want a *KeyError for %s", err, models)
		}
		if got := hash(t, b.rdb, b.hashKeyFor("subjects", noon)); got["acme:claude_output_tokens:claude-opus-4-5"] != 115 {
			t.Errorf("subjects = %v, want 115 beside the bad hash", got)
		}
		if err := b.rdb.HSet(ctx, models, "claude-opus-4-5:claude_output_tokens", "110").Err(); err != nil {
			t.Fatal(err)
		}
		if err := tr.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		if got := hash(t, b.rdb, models); got["claude-opus-4-5:claude_output_tokens"] != 115 {
			t.Errorf("repaired models = %v, want 115", got)
		}
	})
}
