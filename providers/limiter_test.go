package providers_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/enrichmeter/enrichmeter/internal/testsupport"
	"github.com/enrichmeter/enrichmeter/providers"
	"github.com/enrichmeter/enrichmeter/sourcestatus"
	"github.com/enrichmeter/enrichmeter/usage"
)

// arrivals is a fake provider that records when each request arrived, and
// answers them with answer (200 when it is nil).
type arrivals struct {
	mu     sync.Mutex
	at     []time.Time
	answer func(n int, w http.ResponseWriter) // n counts from 1
}

func (a *arrivals) serve(t *testing.T) string {
	return server(t, func(w http.ResponseWriter, r *http.Request) {
		a.mu.Lock()
		a.at = append(a.at, time.Now())
		n := len(a.at)
		a.mu.Unlock()
		if a.answer != nil {
			a.answer(n, w)
		}
	}).URL
}

func (a *arrivals) times() []time.Time {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.at)
}

// mostInAWindow returns the most arrivals, sorted, in any window of length w.
func mostInAWindow(at []time.Time, w time.Duration) int {
	most := 0
	for i, j := 0, 0; i < len(at); i++ {
		for at[i].Sub(at[j]) >= w {
			j++
		}
		most = max(most, i-j+1)
	}
	return most
}

// process is one process of a fleet: a tracker, its limiter, and a client
// of SEC EDGAR paced by it.
type process struct {
	tr     *usage.Tracker
	l      *usage.Limiter
	client *http.Client
	leases *sdkmetric.ManualReader
}

// newFleet starts n processes on rdb under prefix, closed when t ends.
func newFleet(t *testing.T, rdb usage.Redis, prefix string, n int, opts ...usage.LimiterOption) []*process {
	t.Helper()
	var fleet []*process
	for range n {
		reader := sdkmetric.NewManualReader()
		tr := usage.NewTracker(rdb, usage.WithPrefix(prefix), usage.WithMeterProvider(sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))))
		l, err := usage.NewLimiter(tr, usage.DefaultLimits(), opts...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = l.Close(ctx)
			_ = tr.Close(ctx)
		})
		client := providers.WrapClient(nil, tr, usage.EDGAR, providers.WithLimiter(l))
		t.Cleanup(client.CloseIdleConnections)
		fleet = append(fleet, &process{tr, l, client, reader})
	}
	return fleet
}

// run makes each process call url as fast as its limiter lets it until ctx
// is done.
func run(ctx context.Context, fleet []*process, url string) *sync.WaitGroup {
	var wg sync.WaitGroup
	for _, p := range fleet {
		wg.Go(func() {
			for ctx.Err() == nil {
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
				resp, err := p.client.Do(req)
				if err != nil {
					continue // the context ended while it waited
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if providers.Refusal(resp) != nil {
					return // its next slot comes after ctx's deadline
				}
			}
		})
	}
	return &wg
}

// leased returns the leases a process took from Redis and their slots.
func (p *process) leased(t *testing.T) (leases, slots int64) {
	c := testsupport.Collect(t, p.leases)
	src := []string{"enrichmeter.lease.source", "redis", "enrichmeter.provider", "edgar"}
	return c.Int64(t, "enrichmeter.limiter.leases", "{lease}", src...), c.Int64(t, "enrichmeter.limiter.slots", "{slot}", src...)
}

// TestFleetKeepsSECsRate runs 8 processes calling SEC EDGAR as fast as
// their limiters let them for 5 s: the server sees at most 11 calls in any
// second (Rate·(1 s + V) + Burst, V = 50 ms), where leases spent at will
// could have let through Rate + Burst + 8 × 20.
func TestFleetKeepsSECsRate(t *testing.T) {
	forEachRedis(t, func(t *testing.T, rdb redis.UniversalClient, prefix string) {
		var srv arrivals
		url := srv.serve(t)
		fleet := newFleet(t, rdb, prefix, 8)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		start := time.Now()
		run(ctx, fleet, url).Wait()
		took := time.Since(start)
		at := srv.times()
		var leases, slots int64
		for _, p := range fleet {
			l, s := p.leased(t)
			leases, slots = leases+l, slots+s
		}
		most := mostInAWindow(at, time.Second)
		t.Logf("%d calls in %v, at most %d in a second; %d leases from Redis held %d slots: %.1f calls per Redis command",
			len(at), took.Round(time.Millisecond), most, leases, slots, float64(len(at))/float64(leases))
		if most > 11 {
			t.Errorf("the server saw %d calls in one second, want at most 11", most)
		}
		if want := int(took.Seconds()*10) - 5; len(at) < want {
			t.Errorf("the server saw %d calls in %v, want at least %d: the fleet should use its rate", len(at), took, want)
		}
		// Leases start at one slot and double while they run out, so a
		// short run takes more of them than a long one (BenchmarkFleet
		// measures the steady state); still never one a call.
		if leases == 0 || int64(len(at)) <= leases {
			t.Errorf("%d calls took %d leases, want fewer leases than calls", len(at), leases)
		}
	})
}

// TestRetryAfterPausesTheFleet answers one request of 8 processes with a
// 429 and Retry-After: 2. The server sees nothing more for 2 s.
func TestRetryAfterPausesTheFleet(t *testing.T) {
	forEachRedis(t, func(t *testing.T, rdb redis.UniversalClient, prefix string) {
		var told atomic.Int64 // when the 429 was sent, in Unix ns
		srv := arrivals{answer: func(n int, w http.ResponseWriter) {
			if n == 8 {
				told.Store(time.Now().UnixNano())
				w.Header().Set("Retry-After", "2")
				w.WriteHeader(http.StatusTooManyRequests)
			}
		}}
		url := srv.serve(t)
		fleet := newFleet(t, rdb, prefix, 8)
		ctx, cancel := context.WithTimeout(context.Background(), 3500*time.Millisecond)
		defer cancel()
		run(ctx, fleet, url).Wait()
		paused := time.Unix(0, told.Load())
		if told.Load() == 0 {
			t.Fatal("the server never answered 429")
		}
		var after int
		for _, at := range srv.times() {
			switch d := at.Sub(paused); {
			case d > 20*time.Millisecond && d < 2*time.Second:
				t.Errorf("a request arrived %v after the 429 that asked for 2 s", d.Round(time.Millisecond))
			case d >= 2*time.Second:
				after++
			}
		}
		if after < 5 {
			t.Errorf("%d requests in the 0.8 s after the pause, want the pace back", after)
		}
		pauses, err := usage.NewReader(rdb, usage.WithPrefix(prefix)).Pauses(context.Background())
		if err != nil || len(pauses) != 0 {
			t.Errorf("Pauses after the pause ended = %v, %v; want none", pauses, err)
		}
	})
}

// TestAStoppedProcessCostsAtMostALease stops one of 4 processes in the
// middle of a lease: the server waits no longer than that lease for the
// next call.
func TestAStoppedProcessCostsAtMostALease(t *testing.T) {
	forEachRedis(t, func(t *testing.T, rdb redis.UniversalClient, prefix string) {
		const span = 500 * time.Millisecond
		var srv arrivals
		url := srv.serve(t)
		fleet := newFleet(t, rdb, prefix, 4, usage.WithLeaseSpan(span))
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		victim, kill := context.WithTimeout(ctx, time.Second)
		defer kill()
		others := run(ctx, fleet[1:], url)
		run(victim, fleet[:1], url).Wait()
		_ = fleet[0].l.Close(context.Background()) // with slots leased and unused
		others.Wait()
		at := srv.times()
		var gap time.Duration
		for i := 1; i < len(at); i++ {
			gap = max(gap, at[i].Sub(at[i-1]))
		}
		t.Logf("%d calls, the longest gap %v", len(at), gap.Round(time.Millisecond))
		if limit := span + 300*time.Millisecond; gap > limit {
			t.Errorf("the server waited %v for a call, want at most a lease (%v) and slack", gap, span)
		}
	})
}

// TestWaitEndsWithTheRequestsContext pauses EDGAR for a minute: a request
// whose context ends while it waits returns the context's error, and one
// whose deadline comes before the pause ends is refused at once, as a
// skipped outcome; neither is sent or counted.
func TestWaitEndsWithTheRequestsContext(t *testing.T) {
	rdb := miniredisClient(t)
	srv := arrivals{}
	url := srv.serve(t)
	fleet := newFleet(t, rdb, usage.DefaultPrefix, 1)
	p := fleet[0]
	p.l.Pause(usage.EDGAR, time.Minute)

	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	body := &closeBody{Reader: strings.NewReader("q")}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, body)
	resp, err := p.client.Do(req)
	if !errors.Is(err, context.Canceled) || resp != nil || !body.closed.Load() {
		t.Errorf("a request cancelled while it waits: %v, %v, body closed %v; want context.Canceled, no response, the body closed", resp, err, body.closed.Load())
	}

	dl, cancel2 := context.WithTimeout(context.Background(), time.Second)
	defer cancel2()
	req, _ = http.NewRequestWithContext(dl, http.MethodGet, url, nil)
	start := time.Now()
	resp, err = p.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var we *usage.WaitError
	if !errors.As(providers.Refusal(resp), &we) || !we.Paused || time.Since(start) > 500*time.Millisecond {
		t.Errorf("a request whose deadline comes before the pause ends: %v after %v, want a refusal with a *usage.WaitError at once", providers.Refusal(resp), time.Since(start))
	}
	if got := sourcestatus.FromHTTP(resp, err); got.Status != sourcestatus.Skipped || !strings.HasPrefix(got.Error, "edgar paused until ") {
		t.Errorf("FromHTTP of the refusal = %+v, want skipped, edgar paused until ...", got)
	}
	if n := len(srv.times()); n != 0 {
		t.Errorf("the server saw %d requests, want none", n)
	}
	if s := p.tr.Stats(); s.Tracked != 0 {
		t.Errorf("the tracker counted %v, want nothing", s)
	}
}
