package providers_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/enrichmeter/enrichmeter/providers"
	"github.com/enrichmeter/enrichmeter/usage"
)

// BenchmarkClaudeStreamPaired reads a Messages stream from an httptest TLS
// server through a bare transport and through WithClaudeTokens, in turns
// within each iteration (the order rotating), and reports each one's time
// and their ratio: on a shared machine whose load moves, pairing keeps the
// ratio steady where separate sub-benchmarks do not.
//
//	go test ./providers -run '^$' -bench ClaudeStreamPaired -count 10
//
// ClaudeTokens adds the tokens with an Adder that makes no Meter;
// ClaudeTokensT adds them to a tracker, by model and for the request's
// subject.
func BenchmarkClaudeStreamPaired(b *testing.B) {
	mr := miniredis.RunT(b)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	tracker := usage.NewTracker(rdb)
	b.Cleanup(func() {
		tracker.Close(context.Background())
		rdb.Close()
	})
	ctx := providers.WithSubject(context.Background(), "acme")
	for _, size := range []int{20 << 10, 200 << 10} {
		body := []byte(sseStream(size))
		srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/event-stream")
			w.Write(body)
		}))
		b.Cleanup(srv.Close)
		base := srv.Client().Transport.(*http.Transport).Clone()
		b.Cleanup(base.CloseIdleConnections)
		rts := []namedTransport{
			{"Bare", base},
			{"ClaudeTokens", providers.NewTransport(base, &atomicCounter{}, usage.Claude, providers.WithClaudeTokens(&atomicAdder{}))},
			{"ClaudeTokensT", providers.NewTransport(base, tracker, usage.Claude, providers.WithClaudeTokens(tracker))},
		}
		b.Run(fmt.Sprintf("size=%dKB/where=tls", size>>10), func(b *testing.B) {
			b.SetBytes(int64(len(body) * len(rts)))
			spent := make([]time.Duration, len(rts))
			n := 0
			for b.Loop() {
				for k := range rts {
					j := (k + n) % len(rts)
					start := time.Now()
					req, _ := http.NewRequestWithContext(ctx, "POST", srv.URL+"/v1/messages", nil)
					resp, err := rts[j].rt.RoundTrip(req)
					if err != nil {
						b.Fatal(err)
					}
					if got, err := io.Copy(io.Discard, resp.Body); err != nil || got != int64(len(body)) {
						b.Fatalf("read %d bytes, %v; want %d", got, err, len(body))
					}
					resp.Body.Close()
					spent[j] += time.Since(start)
				}
				n++
			}
			for j, rt := range rts {
				b.ReportMetric(float64(spent[j].Nanoseconds())/float64(n), "ns/"+rt.name)
				if j > 0 {
					b.ReportMetric(float64(spent[j])/float64(spent[0]), rt.name+"/Bare")
				}
			}
		})
	}
}
