package providers_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/enrichmeter/enrichmeter/usage"
)

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
