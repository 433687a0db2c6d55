// Package fakeapi serves stand-ins for the five providers' APIs on a loopback
// port, so the examples run anywhere without touching the internet. A client
// reaches them at their real host names through [Server.Transport], which
// dials every host to the local server.
package fakeapi

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"maps"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/enrichmeter/enrichmeter/providers"
	"github.com/enrichmeter/enrichmeter/usage"
)

// Hosts are the API hosts the examples call, by provider wire name: each
// provider's host in [providers.DefaultHosts], and for SEC EDGAR, which has
// two there, its full-text search, efts.sec.gov. The fakes answer for any
// host.
var Hosts = hostsByProvider(providers.DefaultHosts(), "efts.sec.gov")

// hostsByProvider turns hosts around: it maps each provider to its host, or
// where it has several, to the one in preferred, else the first in sorted
// order.
func hostsByProvider(hosts map[string]usage.Provider, preferred ...string) map[string]string {
	out := make(map[string]string)
	for _, host := range slices.Sorted(maps.Keys(hosts)) {
		p := string(hosts[host])
		if _, seen := out[p]; !seen || slices.Contains(preferred, host) {
			out[p] = host
		}
	}
	return out
}

// A Server answers for every provider host. Each request's outcome is
// decided by a hash of its host, its URL and how many requests that host had
// before: about one in ten is rate limited (429), one in twelve fails (500 or
// 503), the rest succeed.
type Server struct {
	addr string // where the fakes listen
	srv  *http.Server
	wg   sync.WaitGroup
	tr   *http.Transport

	mu   sync.Mutex // protects seen
	seen map[string]int
}

// Start serves the fakes until Close.
func Start() (*Server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &Server{addr: ln.Addr().String(), seen: map[string]int{}}
	s.srv = &http.Server{Handler: http.HandlerFunc(s.serve), ReadHeaderTimeout: 5 * time.Second}
	s.tr = &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, s.addr)
		},
		MaxIdleConnsPerHost: 16,
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		_ = s.srv.Serve(ln)
	}()
	return s, nil
}

// Transport returns a transport that sends requests for any host to the
// fakes. Use it as the base of the client under test, with http:// URLs.
func (s *Server) Transport() *http.Transport { return s.tr }

// Close stops the server and the transport's connections.
func (s *Server) Close() {
	s.tr.CloseIdleConnections()
	_ = s.srv.Close()
	s.wg.Wait()
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	host, _, err := net.SplitHostPort(r.Host)
	if err != nil {
		host = r.Host
	}
	w.Header().Set("Content-Type", "application/json")
	s.mu.Lock()
	count := s.seen[host] // requests to host before this one
	s.seen[host]++
	s.mu.Unlock()
	h := fnv.New32a()
	fmt.Fprint(h, host, r.URL.String(), count)
	switch n := h.Sum32() % 120; {
	case n < 12:
		w.Header().Set("Retry-After", "1")
		w.WriteHeader(http.StatusTooManyRequests)
		fmt.Fprint(w, `{"error":"rate limited"}`)
	case n < 17:
		w.WriteHeader(http.StatusInternalServerError)
		fmt.Fprint(w, `{"error":"internal error"}`)
	case n < 22:
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprint(w, `{"error":"unavailable"}`)
	case host == Hosts["claude"] && r.Method == http.MethodPost && r.URL.Path == "/v1/messages":
		// A Messages API answer, with the usage the token counters read.
		_ = json.NewEncoder(w).Encode(map[string]any{
			"id": fmt.Sprintf("msg_%08x", h.Sum32()), "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
			"content":     []map[string]string{{"type": "text", "text": "A short summary of the prospect's news."}},
			"stop_reason": "end_turn",
			"usage": map[string]int{
				"input_tokens": 600 + int(n)*10, "output_tokens": 150 + int(n)*3,
				"cache_read_input_tokens": 1200, "cache_creation_input_tokens": 0,
			},
		})
	default:
		if host == Hosts["apollo"] {
			// Apollo's own count of what is left today, as its API reports it.
			w.Header().Set("X-Rate-Limit-24-Hour", "600")
			w.Header().Set("X-24-Hour-Requests-Left", fmt.Sprint(max(600-count-1, 0)))
		}
		_ = json.NewEncoder(w).Encode(map[string]any{
			"host": host, "path": r.URL.Path, "query": r.URL.RawQuery,
			"result": strings.ToUpper(host[:1]) + " found it",
		})
	}
}
