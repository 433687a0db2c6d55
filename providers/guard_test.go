package providers_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/enrichmeter/enrichmeter/providers"
	"github.com/enrichmeter/enrichmeter/usage"
)

// closeBody records that a request body was closed.
type closeBody struct {
	io.Reader
	closed atomic.Bool
}

func (b *closeBody) Close() error { b.closed.Store(true); return nil }

// newTrackerAndGuard returns a tracker of rdb with opts and a guard of it
// with quotas and guardOpts, both closed when t ends.
func newTrackerAndGuard(t *testing.T, rdb usage.Redis, quotas map[usage.Provider]usage.Quota, opts []usage.Option, guardOpts ...usage.GuardOption) (*usage.Tracker, *usage.Guard) {
	t.Helper()
	tr := usage.NewTracker(rdb, opts...)
	g, err := usage.NewGuard(tr, quotas, guardOpts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = g.Close(ctx)
		_ = tr.Close(ctx)
	})
	return tr, g
}

func miniredisClient(t *testing.T) *redis.Client {
	rdb := redis.NewClient(&redis.Options{Addr: miniredis.RunT(t).Addr()})
	t.Cleanup(func() { _ = rdb.Close() })
	return rdb
}

func TestGuardRefusesBeforeSending(t *testing.T) {
	var served atomic.Int64
	srv := server(t, func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		_, _ = io.Copy(io.Discard, r.Body)
	})
	clients := map[string]func(tr *usage.Tracker, g *usage.Guard) *http.Client{
		"WrapClient": func(tr *usage.Tracker, g *usage.Guard) *http.Client {
			return providers.WrapClient(nil, tr, usage.Exa, providers.WithGuard(g))
		},
		"ByHost": func(tr *usage.Tracker, g *usage.Guard) *http.Client {
			hosts := map[string]usage.Provider{"127.0.0.1": usage.Exa}
			return &http.Client{Transport: providers.ByHost(nil, tr, hosts, providers.WithGuard(g))}
		},
		"WrapDoer": func(tr *usage.Tracker, g *usage.Guard) *http.Client {
			d := providers.WrapDoer(http.DefaultClient, tr, usage.Exa, providers.WithGuard(g))
			return &http.Client{Transport: roundTripFunc(d.Do)}
		},
	}
	for name, newClient := range clients {
		t.Run(name, func(t *testing.T) {
			tr, g := newTrackerAndGuard(t, miniredisClient(t), map[usage.Provider]usage.Quota{usage.Exa: {Limit: 3}}, []usage.Option{usage.WithFlushInterval(time.Hour)})
			client := newClient(tr, g)
			t.Cleanup(client.CloseIdleConnections)
			before := served.Load()
			for i := range 4 {
				body := &closeBody{Reader: strings.NewReader("q=1")}
				req, _ := http.NewRequest("POST", srv.URL, body)
				resp, err := client.Do(req)
				if err != nil {
					t.Fatalf("request %d of a quota of 3: %v", i+1, err)
				}
				resp.Body.Close()
				var qe *usage.QuotaError
				switch refused := errors.As(providers.Refusal(resp), &qe); {
				case i < 3 && refused:
					t.Fatalf("request %d of a quota of 3 refused: %v", i+1, qe)
				case i == 3 && (!refused || qe.Provider != usage.Exa || qe.Used != 3):
					t.Fatalf("request 4 of a quota of 3: HTTP %d, want refused with a *usage.QuotaError", resp.StatusCode)
				case i == 3 && !body.closed.Load():
					t.Fatal("the refused request's body was not closed")
				}
			}
			if got := served.Load() - before; got != 3 {
				t.Errorf("the server served %d requests, want 3", got)
			}
			if s := tr.Stats(); s.Tracked != 3 {
				t.Errorf("tracker %v, want 3 calls counted", s)
			}
		})
	}
}

// TestFleetOvershootIsBounded runs four trackers on one Redis, each with
// its own guard and a client that calls a provider as fast as it can until
// its guard refuses, and measures how far the fleet goes past the quota.
// Each guard misses at most what the others count in a flush interval, a
// refresh interval and the time both take on the wire, so the overshoot is
// at most the fleet's rate times that, plus the one call each client has
// allowed but not yet counted.
func TestFleetOvershootIsBounded(t *testing.T) {
	forEachRedis(t, func(t *testing.T, rdb redis.UniversalClient, prefix string) {
		srv := server(t, func(w http.ResponseWriter, r *http.Request) {})
		const (
			trackers = 4
			limit    = 1000
			flush    = 10 * time.Millisecond
			refresh  = 10 * time.Millisecond
			// wire is how late a flush and a refresh land: their round trips
			// plus the wait for a processor. Under -race on two loaded cores
			// the fleet was seen 72 ms behind (469 over at 6,525 calls/s).
			wire = 100 * time.Millisecond
		)
		quota := map[usage.Provider]usage.Quota{usage.Exa: {Limit: limit}}
		var wg sync.WaitGroup
		calls := make([]int64, trackers)
		took := make([]time.Duration, trackers)
		trs := make([]*usage.Tracker, trackers)
		for i := range trackers {
			tr, g := newTrackerAndGuard(t, rdb, quota, []usage.Option{usage.WithPrefix(prefix), usage.WithFlushInterval(flush)},
				usage.WithRefreshInterval(refresh))
			trs[i] = tr
			client := providers.WrapClient(nil, tr, usage.Exa, providers.WithGuard(g))
			t.Cleanup(client.CloseIdleConnections)
			wg.Go(func() {
				start := time.Now()
				for {
					resp, err := client.Get(srv.URL)
					if err != nil {
						t.Error(err)
						break
					}
					resp.Body.Close()
					if qe := (*usage.QuotaError)(nil); errors.As(providers.Refusal(resp), &qe) {
						break
					}
					calls[i]++
				}
				took[i] = time.Since(start)
			})
		}
		wg.Wait()
		var total int64
		var rate float64 // calls per second, the fleet's
		for i, tr := range trs {
			if err := tr.Flush(context.Background()); err != nil {
				t.Fatal(err)
			}
			total += calls[i]
			rate += float64(calls[i]) / took[i].Seconds()
		}
		got, err := usage.NewReader(rdb, usage.WithPrefix(prefix)).Daily(context.Background(), usage.Exa, time.Now(), time.Now())
		if err != nil || got[0].Count != total {
			t.Fatalf("Redis holds %v (%v), the clients made %d calls", got, err, total)
		}
		bound := int64(rate*(flush+refresh+wire).Seconds()) + trackers
		t.Logf("fleet of %d: %d calls for a quota of %d, overshoot %d; bound %d (%.0f calls/s × %v + %d)",
			trackers, total, limit, total-limit, bound, rate, flush+refresh+wire, trackers)
		if total < limit {
			t.Errorf("the fleet stopped at %d, under the quota of %d", total, limit)
		}
		if total-limit > bound {
			t.Errorf("overshoot %d is over the bound %d", total-limit, bound)
		}
	})
}

// TestGuardRefusesClaudeOnceATokenQuotaIsSpent: with WithClaudeTokens, a
// spent token quota refuses Claude's calls, not only a spent call quota.
func TestGuardRefusesClaudeOnceATokenQuotaIsSpent(t *testing.T) {
	var served atomic.Int64
	srv := server(t, func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"type":"message","usage":{"input_tokens":10,"output_tokens":400}}`)
	})
	tr, g := newTrackerAndGuard(t, miniredisClient(t), map[usage.Provider]usage.Quota{
		usage.Claude:             {Limit: 1000},
		usage.ClaudeOutputTokens: {Limit: 1000},
	}, []usage.Option{usage.WithFlushInterval(time.Hour)})
	claude := providers.WrapClient(nil, tr, usage.Claude, providers.WithClaudeTokens(tr), providers.WithGuard(g))
	t.Cleanup(claude.CloseIdleConnections)
	var errs []error
	for range 4 {
		resp, err := claude.Post(srv.URL+"/v1/messages", "application/json", strings.NewReader(`{}`))
		if err == nil {
			_, err = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		errs = append(errs, cmp(err, providers.Refusal(resp)))
	}
	var qe *usage.QuotaError
	if errs[0] != nil || errs[1] != nil || errs[2] != nil || !errors.As(errs[3], &qe) || qe.Provider != usage.ClaudeOutputTokens || qe.Used != 1200 {
		t.Fatalf("four calls of 400 output tokens each against 1,000: %v, want the fourth refused for claude_output_tokens at 1,200", errs)
	}
	if served.Load() != 3 {
		t.Errorf("the server served %d calls, want 3", served.Load())
	}
}
