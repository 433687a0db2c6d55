package providers_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/enrichmeter/enrichmeter/internal/testsupport"
	"github.com/enrichmeter/enrichmeter/usage"
)

// forEachRedis runs f as a subtest on miniredis always, and on a real Redis
// and a real Redis Cluster when their variables are set, with a key prefix
// of its own whose keys are deleted when the subtest ends.
func forEachRedis(t *testing.T, f func(t *testing.T, rdb redis.UniversalClient, prefix string)) {
	t.Helper()
	backends := []struct {
		name string
		rdb  func(t *testing.T) redis.UniversalClient
	}{
		{"miniredis", func(t *testing.T) redis.UniversalClient { return miniredisClient(t) }},
		{"redis", func(t *testing.T) redis.UniversalClient { return testsupport.Redis(t) }},
		{"cluster", func(t *testing.T) redis.UniversalClient { return testsupport.RedisCluster(t) }},
	}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			rdb := b.rdb(t)
			prefix := testsupport.UniqueName("p")
			testsupport.DeleteKeysAtCleanup(t, rdb, prefix)
			f(t, rdb, prefix)
		})
	}
}

// counter records what the decorators count.
type counter struct {
	mu sync.Mutex
	n  map[usage.Provider]int
}

func (c *counter) Track(p usage.Provider) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = make(map[usage.Provider]int)
	}
	c.n[p]++
}

func (c *counter) get(p usage.Provider) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[p]
}

func (c *counter) total() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, v := range c.n {
		n += v
	}
	return n
}

// server starts an httptest server with h, closed when t ends.
func server(t testing.TB, h http.HandlerFunc) *httptest.Server {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// roundTripFunc is a transport made of a function, for tests that need no
// network.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// ok200 answers every request with an empty 200 without touching the network.
var ok200 = roundTripFunc(func(r *http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: 200, Body: http.NoBody, Request: r, Header: http.Header{}}, nil
})

// panicOf runs f and returns what it panicked with, formatted, or "" if it
// returned normally.
func panicOf(f func()) (msg string) {
	defer func() {
		if r := recover(); r != nil {
			msg = fmt.Sprint(r)
		}
	}()
	f()
	return ""
}

// breakdown returns the fields of the breakdown hash kind ("models" or
// "subjects") for the UTC day of now under prefix, as integers.
func breakdown(t *testing.T, rdb redis.UniversalClient, prefix, kind string, now time.Time) map[string]int64 {
	t.Helper()
	key := "{" + prefix + "}:" + kind + ":" + now.UTC().Format("2006-01-02")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	m, err := rdb.HGetAll(ctx, key).Result()
	if err != nil {
		t.Fatalf("HGETALL %s: %v", key, err)
	}
	out := make(map[string]int64, len(m))
	for f, v := range m {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			t.Fatalf("HGETALL %s: field %s holds %q", key, f, v)
		}
		out[f] = n
	}
	return out
}

// checkFields compares a breakdown hash with what a test expects, field by
// field.
func checkFields(t *testing.T, what string, got, want map[string]int64) {
	t.Helper()
	for f, n := range want {
		if got[f] != n {
			t.Errorf("%s: field %s = %d, want %d", what, f, got[f], n)
		}
	}
	for f, n := range got {
		if _, ok := want[f]; !ok {
			t.Errorf("%s: field %s = %d, want none", what, f, n)
		}
	}
}
