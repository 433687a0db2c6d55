package usage_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/enrichmeter/enrichmeter/internal/testsupport"
	"github.com/enrichmeter/enrichmeter/usage"
)

// keyError returns a matcher of a *usage.KeyError naming key.
func keyError(key string) func(error) bool {
	return func(err error) bool {
		var ke *usage.KeyError
		return errors.As(err, &ke) && ke.Key == key
	}
}

func TestBadKeyHoldsBackOnlyItsOwnCounts(t *testing.T) {
	breakers := []struct {
		name   string
		break_ func(ctx context.Context, rdb redis.Cmdable, key string) error
	}{
		{"not an integer", func(ctx context.Context, rdb redis.Cmdable, key string) error {
			return rdb.Set(ctx, key, "n/a", time.Hour).Err()
		}},
		{"wrong type", func(ctx context.Context, rdb redis.Cmdable, key string) error {
			return rdb.HSet(ctx, key, "f", "v").Err()
		}},
		{"increment overflows", func(ctx context.Context, rdb redis.Cmdable, key string) error {
			return rdb.Set(ctx, key, math.MaxInt64, time.Hour).Err()
		}},
	}
	for _, br := range breakers {
		t.Run(br.name, func(t *testing.T) {
			forEachBackend(t, func(t *testing.T, b backend) {
				ctx := ctxTimeout(t, 20*time.Second)
				bad := b.keyFor(usage.Exa, noon)
				if err := br.break_(ctx, b.rdb, bad); err != nil {
					t.Fatal(err)
				}
				errs := newErrorLog()
				tr := usage.NewTracker(b.rdb, usage.WithPrefix(b.prefix), usage.WithClock(newFakeClock(noon).Now),
					usage.WithFlushInterval(5*time.Millisecond), usage.WithErrorHandler(errs.handle))
				closeAtCleanup(t, tr)
				for range 5 {
					tr.Track(usage.Exa)
				}
				for range 100 {
					tr.Track(usage.Apollo)
					tr.Track(usage.Claude)
				}
				// The background flusher reports the bad key; a tick may have
				// come in the middle of the loop above, so the others are
				// checked after a Flush, whose round sends every key.
				errs.waitFor(t, "a KeyError naming "+bad, keyError(bad))
				err := tr.Flush(ctx)
				var ke *usage.KeyError
				if !errors.As(err, &ke) || ke.Key != bad {
					t.Fatalf("Flush = %v, want a *KeyError for %s", err, bad)
				}
				for _, p := range []usage.Provider{usage.Apollo, usage.Claude} {
					if got := get(t, b.rdb, b.keyFor(p, noon)); got != 100 {
						t.Errorf("%s holds %d, want 100 beside the bad key", p, got)
					}
				}
				checkStats(t, tr, usage.Stats{Tracked: 205, Flushed: 200, Pending: 5})

				// Repaired, the key gets every count, once: the error replies
				// applied nothing, and the counts went out again merged.
				if err := b.rdb.Del(ctx, bad).Err(); err != nil {
					t.Fatal(err)
				}
				tr.Track(usage.Exa)
				tr.Track(usage.Exa)
				if err := tr.Close(ctx); err != nil {
					t.Fatalf("Close after the repair: %v", err)
				}
				if got := get(t, b.rdb, bad); got != 7 {
					t.Errorf("repaired key holds %d, want 7", got)
				}
				checkStats(t, tr, usage.Stats{Tracked: 207, Flushed: 207})
			})
		})
	}
}

// TestKeyTheClientMayNotWrite runs on real servers, whose ACLs can forbid a
// user some keys: NOPERM is a per-key error too. Redis checks a script's
// declared keys before running it, so a user who may write the counter but
// only read the marker is refused before anything is applied.
func TestKeyTheClientMayNotWrite(t *testing.T) {
	testsupport.ChangesServerState(t) // ACL SETUSER on the shared servers
	forEachBackend(t, func(t *testing.T, b backend) {
		if b.mr != nil {
			t.Skip("miniredis has no ACLs")
		}
		ctx := ctxTimeout(t, 20*time.Second)
		user := testsupport.UniqueName("u")
		// acl runs ACL SETUSER with rules on every node.
		acl := func(rules ...string) {
			t.Helper()
			args := append([]any{"ACL", "SETUSER", user, "reset", "on", "nopass", "+@all", "~" + b.prefix + ":apollo:*", "~{" + b.prefix + ":apollo:*"}, toAny(rules)...)
			if err := forEachNode(ctx, b.rdb, func(c *redis.Client) error { return c.Do(ctx, args...).Err() }); err != nil {
				t.Fatal(err)
			}
		}
		t.Cleanup(func() {
			_ = forEachNode(context.Background(), b.rdb, func(c *redis.Client) error {
				return c.Do(context.Background(), "ACL", "DELUSER", user).Err()
			})
		})
		acl() // apollo only
		client := userClient(t, b, user)
		errs := newErrorLog()
		tr := usage.NewTracker(client, usage.WithPrefix(b.prefix), usage.WithClock(newFakeClock(noon).Now),
			usage.WithFlushInterval(5*time.Millisecond), usage.WithErrorHandler(errs.handle))
		closeAtCleanup(t, tr)
		exa := b.keyFor(usage.Exa, noon)
		for range 3 {
			tr.Track(usage.Exa)
			tr.Track(usage.Apollo)
		}
		err := errs.waitFor(t, "NOPERM for "+exa, keyError(exa))
		if !strings.Contains(err.Error(), "NOPERM") {
			t.Errorf("error handler got %v, want NOPERM", err)
		}
		if got := get(t, b.rdb, b.keyFor(usage.Apollo, noon)); got != 3 {
			t.Errorf("apollo holds %d, want 3", got)
		}

		// Write access to the counter, read-only access to the marker.
		acl("~"+b.prefix+":exa:*", "%R~{"+b.prefix+":exa:*")
		tr.Track(usage.Exa)
		if err := tr.Flush(ctx); !keyError(exa)(err) {
			t.Fatalf("Flush with a read-only marker = %v, want a KeyError for %s", err, exa)
		}
		if got := get(t, b.rdb, exa); got != 0 {
			t.Fatalf("after a refused write %s holds %d, want 0", exa, got)
		}

		acl("~"+b.prefix+":exa:*", "~{"+b.prefix+":exa:*")
		if err := tr.Close(ctx); err != nil {
			t.Fatalf("Close once allowed: %v", err)
		}
		if got := get(t, b.rdb, exa); got != 4 {
			t.Errorf("%s holds %d, want 4", exa, got)
		}
		checkStats(t, tr, usage.Stats{Tracked: 7, Flushed: 7})
	})
}

func toAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

// forEachNode runs f on the one server of a plain client, or on every
// master of a cluster.
func forEachNode(ctx context.Context, rdb redis.UniversalClient, f func(*redis.Client) error) error {
	if cc, ok := rdb.(*redis.ClusterClient); ok {
		return cc.ForEachMaster(ctx, func(_ context.Context, c *redis.Client) error { return f(c) })
	}
	return f(rdb.(*redis.Client))
}

// userClient returns a client of b's servers that logs in as user.
func userClient(t *testing.T, b backend, user string) redis.UniversalClient {
	var c redis.UniversalClient
	if cc, ok := b.rdb.(*redis.ClusterClient); ok {
		o := cc.Options()
		c = redis.NewClusterClient(&redis.ClusterOptions{Addrs: o.Addrs, Username: user, Password: "x"})
	} else {
		o := *b.node
		o.Username, o.Password = user, "x"
		c = redis.NewClient(&o)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func TestPrefixesWithBracesWorkOnEveryBackend(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		shapes := []string{"x}y", "{}x", "a{}b{c}", "{%s}", "p{q", "}{"}
		for _, shape := range shapes {
			prefix := shape + b.prefix
			if strings.Contains(shape, "%s") {
				prefix = fmt.Sprintf(shape, b.prefix)
			}
			t.Run(prefix, func(t *testing.T) {
				tr := usage.NewTracker(b.rdb, usage.WithPrefix(prefix), usage.WithClock(newFakeClock(noon).Now), usage.WithFlushInterval(time.Hour))
				closeAtCleanup(t, tr)
				for range 3 {
					tr.Track(usage.Exa)
				}
				if err := tr.Close(ctxTimeout(t, 5*time.Second)); err != nil {
					t.Fatalf("Close: %v", err)
				}
				key := prefix + ":exa:2026-11-26"
				if got := get(t, b.rdb, key); got != 3 {
					t.Errorf("%s holds %d, want 3", key, got)
				}
			})
		}
	})
}

// TestTTLsThatWouldDeleteTheCounter sets TTLs that Redis would take as zero
// or negative, which delete the key: under a millisecond, and one that
// overflows when rounded up to milliseconds.
func TestTTLsThatWouldDeleteTheCounter(t *testing.T) {
	for _, c := range []struct {
		ttl, want time.Duration
	}{
		{500 * time.Microsecond, time.Millisecond},
		{time.Duration(math.MaxInt64), usage.MaxTTL},
	} {
		rdb := newMiniredisClient(t)
		tr := usage.NewTracker(rdb, usage.WithTTL(c.ttl), usage.WithClock(newFakeClock(noon).Now))
		tr.Track(usage.Exa)
		if err := tr.Close(ctxTimeout(t, 5*time.Second)); err != nil {
			t.Fatal(err)
		}
		key := usage.Key(usage.Exa, noon)
		// miniredis' clock stands still, so the key is there with its TTL.
		ttl, err := rdb.PTTL(context.Background(), key).Result()
		if err != nil || ttl != c.want {
			t.Errorf("WithTTL(%v): PTTL %s = %v, %v; want %v", c.ttl, key, ttl, err, c.want)
		}
		if got := get(t, rdb, key); got != 1 {
			t.Errorf("WithTTL(%v): %s holds %d, want 1", c.ttl, key, got)
		}
	}
}

func TestMaxKeysBoundsPendingKeysNotKeysSeen(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		errs := newErrorLog()
		tr := usage.NewTracker(b.rdb, usage.WithPrefix(b.prefix), usage.WithClock(newFakeClock(noon).Now),
			usage.WithMaxKeys(2), usage.WithFlushInterval(time.Hour), usage.WithErrorHandler(errs.handle))
		closeAtCleanup(t, tr)
		ctx := ctxTimeout(t, 10*time.Second)
		tr.Track("p1")
		tr.Track("p2")
		if err := tr.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		// p1 and p2 are confirmed: nothing of theirs is pending.
		tr.Track("p3")
		tr.Track("p4")
		checkStats(t, tr, usage.Stats{Tracked: 4, Flushed: 2, Pending: 2})
		tr.Track("p5") // p3 and p4 are pending: the cap holds
		tr.Track("p1")
		checkStats(t, tr, usage.Stats{Tracked: 6, Flushed: 2, Pending: 2, Dropped: 2})
		if err := tr.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		tr.Track("p1") // a key confirmed and reclaimed comes back
		tr.Track("p5")
		if err := tr.Close(ctx); err != nil {
			t.Fatal(err)
		}
		checkStats(t, tr, usage.Stats{Tracked: 8, Flushed: 6, Dropped: 2})
		want := map[usage.Provider]int64{"p1": 2, "p2": 1, "p3": 1, "p4": 1, "p5": 1}
		for p, n := range want {
			if got := get(t, b.rdb, b.keyFor(p, noon)); got != n {
				t.Errorf("%s holds %d, want %d", p, got, n)
			}
		}
		if got := errs.all(); len(got) == 0 || !errors.Is(got[0], usage.ErrTooManyKeys) {
			t.Errorf("error handler got %v, want ErrTooManyKeys", got)
		}
	})
}

func TestCloseClosesWhateverItsContext(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		tr := usage.NewTracker(b.rdb, usage.WithPrefix(b.prefix), usage.WithClock(newFakeClock(noon).Now), usage.WithFlushInterval(time.Hour))
		for range 10 {
			tr.Track(usage.Exa)
		}
		done, cancel := context.WithCancel(context.Background())
		cancel()
		if err := tr.Close(done); !errors.Is(err, context.Canceled) {
			t.Fatalf("Close with a done context = %v, want context.Canceled", err)
		}
		tr.Track(usage.Exa)
		if err := tr.Flush(ctxTimeout(t, time.Second)); !errors.Is(err, usage.ErrClosed) {
			t.Errorf("Flush after Close = %v, want ErrClosed", err)
		}
		if err := tr.Close(ctxTimeout(t, 5*time.Second)); err != nil {
			t.Fatalf("second Close: %v", err)
		}
		checkStats(t, tr, usage.Stats{Tracked: 11, Flushed: 10, Dropped: 1})
		if got := get(t, b.rdb, b.keyFor(usage.Exa, noon)); got != 10 {
			t.Errorf("Redis holds %d, want 10", got)
		}
	})
}

func TestCloseDeliversWhileTheErrorHandlerIsSlow(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		entered, leave := make(chan struct{}, 1), make(chan struct{})
		slow := func(error) {
			select {
			case entered <- struct{}{}:
			default:
			}
			<-leave // far longer than Close's deadline
		}
		tr := usage.NewTracker(b.rdb, usage.WithPrefix(b.prefix), usage.WithClock(newFakeClock(noon).Now),
			usage.WithFlushInterval(time.Millisecond), usage.WithErrorHandler(slow))
		tr.Track("Not Valid") // the next tick reports it, and the handler blocks
		<-entered
		for range 50 {
			tr.Track(usage.EDGAR)
		}
		if err := tr.Close(ctxTimeout(t, 100*time.Millisecond)); err != nil {
			t.Errorf("Close with the handler blocked = %v, want nil", err)
		}
		tr.Track(usage.EDGAR)
		checkStats(t, tr, usage.Stats{Tracked: 52, Flushed: 50, Dropped: 2})
		if got := get(t, b.rdb, b.keyFor(usage.EDGAR, noon)); got != 50 {
			t.Errorf("Redis holds %d, want 50", got)
		}
		close(leave)
		if err := tr.Close(ctxTimeout(t, 5*time.Second)); err != nil { // waits for the goroutines, for goleak
			t.Errorf("Close after the handler returned: %v", err)
		}
	})
}

func TestCloseAgainRetriesWhatIsLeft(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		p, tr := newProxiedTracker(t, b, proxyOptions{maxRetries: -1, readTimeout: -1})
		for range 20 {
			tr.Track(usage.Apollo)
		}
		// A failed write, then one that hangs: Flush's deadline passes, and
		// its error says both.
		p.each(func(x *testsupport.Proxy) { x.SetDown(true) })
		if err := tr.Flush(ctxTimeout(t, 5*time.Second)); err == nil {
			t.Fatal("Flush with Redis down returned nil")
		}
		p.each(func(x *testsupport.Proxy) {
			x.SetDown(false)
			x.DropReplies(true)
		})
		err := tr.Flush(ctxTimeout(t, 200*time.Millisecond))
		if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "last write error") || !strings.Contains(err.Error(), "had no answer") {
			t.Fatalf("Flush = %v, want the deadline, the last write error and the unanswered write", err)
		}
		if err := tr.Close(ctxTimeout(t, 100*time.Millisecond)); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Close while the write hangs = %v, want the deadline", err)
		}
		tr.Track(usage.Apollo)
		checkStats(t, tr, usage.Stats{Tracked: 21, Pending: 20, Dropped: 1})

		p.each(func(x *testsupport.Proxy) {
			x.DropReplies(false)
			x.CutConnections() // ends the write that waits for its reply
		})
		if err := tr.Close(ctxTimeout(t, 10*time.Second)); err != nil {
			t.Fatalf("Close once Redis answers: %v", err)
		}
		checkStats(t, tr, usage.Stats{Tracked: 21, Flushed: 20, Dropped: 1})
		if got := get(t, b.rdb, b.keyFor(usage.Apollo, noon)); got != 20 {
			t.Errorf("Redis holds %d, want 20", got)
		}
	})
}

// TestCloseWaitsForRedisToComeBack closes a tracker while Redis is down and
// brings Redis back 300 ms later: Close tries again until its deadline, so
// the counts arrive, once, instead of Close giving up on the first failed
// write.
func TestCloseWaitsForRedisToComeBack(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		p, tr := newProxiedTracker(t, b, proxyOptions{maxRetries: -1})
		for range 30 {
			tr.Track(usage.Exa)
		}
		p.each(func(x *testsupport.Proxy) { x.SetDown(true) })
		back := time.AfterFunc(300*time.Millisecond, func() { p.each(func(x *testsupport.Proxy) { x.SetDown(false) }) })
		defer back.Stop()
		start := time.Now()
		if err := tr.Close(ctxTimeout(t, 10*time.Second)); err != nil {
			t.Fatalf("Close with Redis back after 300 ms = %v (after %v), want nil", err, time.Since(start))
		}
		checkStats(t, tr, usage.Stats{Tracked: 30, Flushed: 30})
		if got := get(t, b.rdb, b.keyFor(usage.Exa, noon)); got != 30 {
			t.Errorf("Redis holds %d, want 30", got)
		}
	})
}

// TestCloseWaitsForAStoppedRedisServer stops a Redis server of its own, so
// that connections are refused, and starts it again on the same port while
// Close waits: the counts arrive within Close's deadline.
func TestCloseWaitsForAStoppedRedisServer(t *testing.T) {
	srv := testsupport.StartRedisServer(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr, MaxRetries: -1, DialerRetries: 1}) // fail at once: no retries of its own
	t.Cleanup(func() { _ = rdb.Close() })
	tr := usage.NewTracker(rdb, usage.WithClock(newFakeClock(noon).Now), usage.WithFlushInterval(time.Hour))
	closeAtCleanup(t, tr)
	for range 30 {
		tr.Track(usage.Exa)
	}
	srv.Stop(t)
	if err := tr.Flush(ctxTimeout(t, 5*time.Second)); err == nil || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("Flush with the server stopped = %v, want connection refused", err)
	}
	if err := closeWhile(t, tr, func() { srv.Start(t) }); err != nil {
		t.Fatalf("Close with the server started again = %v, want nil", err)
	}
	checkStats(t, tr, usage.Stats{Tracked: 30, Flushed: 30})
	if got := get(t, rdb, usage.Key(usage.Exa, noon)); got != 30 {
		t.Errorf("Redis holds %d, want 30", got)
	}
}

// TestCloseWaitsOutABusyServer keeps a private redis-server busy with a
// script that never ends, so it answers every other command with BUSY, and
// kills the script 300 ms into Close: a reply about the whole server is not
// a refused key, so Close tries again and the counts arrive, once.
func TestCloseWaitsOutABusyServer(t *testing.T) {
	srv := testsupport.StartRedisServer(t, "--busy-reply-threshold", "20")
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr, MaxRetries: -1})
	t.Cleanup(func() { _ = rdb.Close() })
	errs := newErrorLog()
	tr := usage.NewTracker(rdb, usage.WithClock(newFakeClock(noon).Now), usage.WithFlushInterval(time.Hour), usage.WithErrorHandler(errs.handle))
	closeAtCleanup(t, tr)
	for range 30 {
		tr.Track(usage.Exa)
	}
	busy := redis.NewClient(&redis.Options{Addr: srv.Addr, MaxRetries: -1, ReadTimeout: -1})
	t.Cleanup(func() { _ = busy.Close() })
	go func() { _ = busy.Eval(context.Background(), "while true do end", nil).Err() }()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if err := rdb.Ping(context.Background()).Err(); err != nil && strings.HasPrefix(err.Error(), "BUSY") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the server is not busy 5 s after the script started")
		}
	}
	if err := tr.Flush(ctxTimeout(t, 5*time.Second)); err == nil || !strings.Contains(err.Error(), "BUSY") {
		t.Fatalf("Flush while a script runs = %v, want BUSY", err)
	}
	err := closeWhile(t, tr, func() {
		if err := rdb.ScriptKill(ctxTimeout(t, 5*time.Second)).Err(); err != nil {
			t.Error(err)
		}
	})
	if err != nil {
		t.Fatalf("Close with the script killed = %v, want nil", err)
	}
	checkStats(t, tr, usage.Stats{Tracked: 30, Flushed: 30})
	if got := get(t, rdb, usage.Key(usage.Exa, noon)); got != 30 {
		t.Errorf("Redis holds %d, want 30", got)
	}
	for _, err := range errs.all() {
		var ke *usage.KeyError
		if errors.As(err, &ke) {
			t.Errorf("the error handler got %v: a busy server is not a refused key", err)
		}
	}
}

// TestCloseWaitsOutAFullServer gives a private redis-server a memory limit
// it is already past, so it refuses every write with OOM: that is the
// server's state, not a refused key, and Close delivers the counts once the
// limit is lifted.
func TestCloseWaitsOutAFullServer(t *testing.T) {
	srv := testsupport.StartRedisServer(t, "--maxmemory", "1")
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr, MaxRetries: -1})
	t.Cleanup(func() { _ = rdb.Close() })
	tr := usage.NewTracker(rdb, usage.WithClock(newFakeClock(noon).Now), usage.WithFlushInterval(time.Hour))
	closeAtCleanup(t, tr)
	for range 7 {
		tr.Track(usage.Exa)
	}
	var ke *usage.KeyError
	if err := tr.Flush(ctxTimeout(t, 5*time.Second)); err == nil || !strings.Contains(err.Error(), "OOM") || errors.As(err, &ke) {
		t.Fatalf("Flush on a full server = %v, want OOM, not a *KeyError", err)
	}
	err := closeWhile(t, tr, func() {
		if err := rdb.ConfigSet(ctxTimeout(t, 5*time.Second), "maxmemory", "0").Err(); err != nil {
			t.Error(err)
		}
	})
	if err != nil {
		t.Fatalf("Close once the limit is lifted = %v, want nil", err)
	}
	checkStats(t, tr, usage.Stats{Tracked: 7, Flushed: 7})
	if got := get(t, rdb, usage.Key(usage.Exa, noon)); got != 7 {
		t.Errorf("Redis holds %d, want 7", got)
	}
}

// TestCloseSendsWhatWaitedBehindALostWrite loses the reply of a write of
// one key, counts more on that key, and breaks another key: Close sends the
// units that waited behind the lost write, though a round refused the other
// key, and returns that key's error.
func TestCloseSendsWhatWaitedBehindALostWrite(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		p, tr := newProxiedTracker(t, b, proxyOptions{maxRetries: -1, readTimeout: -1})
		for range 10 {
			tr.Track(usage.Exa)
		}
		p.each(func(x *testsupport.Proxy) { x.DropReplies(true) })
		if err := tr.Flush(ctxTimeout(t, 200*time.Millisecond)); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Flush with the replies dropped = %v, want the deadline", err)
		}
		p.each(func(x *testsupport.Proxy) {
			x.DropReplies(false)
			x.CutConnections() // ends the write that waits for its reply
		})
		for range 5 {
			tr.Track(usage.Exa) // they wait behind the write whose reply was lost
		}
		if err := b.rdb.HSet(context.Background(), b.keyFor(usage.Apollo, noon), "f", "v").Err(); err != nil {
			t.Fatal(err)
		}
		tr.Track(usage.Apollo)
		var ke *usage.KeyError
		if err := tr.Close(ctxTimeout(t, 10*time.Second)); !errors.As(err, &ke) || ke.Key != b.keyFor(usage.Apollo, noon) {
			t.Fatalf("Close = %v, want the apollo key's error", err)
		}
		checkStats(t, tr, usage.Stats{Tracked: 16, Flushed: 15, Pending: 1})
		if got := get(t, b.rdb, b.keyFor(usage.Exa, noon)); got != 15 {
			t.Errorf("Redis holds %d, want 15", got)
		}
	})
}

// TestARefusedResendIsNotAppliedTwice applies a write whose reply is lost,
// then has Redis refuse its resend (the user loses the key in the ACL
// before the script runs) while units of that key wait behind it and
// another key keeps getting calls. The refusal says nothing of the first
// send, so the units stay under its sequence number; Flush returns the
// refusal at once rather than going round again; and once the key is
// allowed again Redis holds every unit once.
func TestARefusedResendIsNotAppliedTwice(t *testing.T) {
	r := newACLRedis(t, "~*", "+@all")
	p := testsupport.NewProxy(t, r.srv.Addr)
	tr := r.tracker(t, redis.Options{Addr: p.Addr, MaxRetries: -1, ReadTimeout: -1})
	admin, acl, ctx := r.admin, r.acl, ctxTimeout(t, 20*time.Second)
	tr.Track(usage.Apollo)
	if err := tr.Flush(ctx); err != nil { // loads the script, and leaves a connection open
		t.Fatal(err)
	}
	for range 10 {
		tr.Track(usage.Exa)
	}
	p.DropReplies(true)
	if err := tr.Flush(ctxTimeout(t, 300*time.Millisecond)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Flush with the reply dropped = %v, want the deadline", err)
	}
	key := usage.Key(usage.Exa, noon)
	if got := get(t, admin, key); got != 10 {
		t.Fatalf("Redis holds %d after the write whose reply was lost, want 10", got)
	}
	p.DropReplies(false)
	p.CutConnections()
	acl("resetkeys", "~*apollo*")
	tr.Track(usage.Exa) // waits behind the write whose reply was lost
	var apollo atomic.Int64
	var stop atomic.Bool
	var wg sync.WaitGroup
	for range 4 { // another key keeps getting calls
		wg.Go(func() {
			for !stop.Load() {
				tr.Track(usage.Apollo)
				apollo.Add(1)
			}
		})
	}
	for apollo.Load() < 1000 { // the calls are under way before Flush starts
		runtime.Gosched()
	}
	var ke *usage.KeyError
	err := tr.Flush(ctxTimeout(t, 3*time.Second))
	stop.Store(true)
	wg.Wait()
	if !errors.As(err, &ke) || !strings.Contains(err.Error(), "NOPERM") || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Flush without access to the key = %v, want a NOPERM *KeyError at once", err)
	}
	acl("resetkeys", "~*")
	if err := tr.Close(ctx); err != nil {
		t.Fatal(err)
	}
	calls := 12 + apollo.Load()
	checkStats(t, tr, usage.Stats{Tracked: calls, Flushed: calls})
	if got := get(t, admin, key); got != 11 {
		t.Errorf("Redis holds %d, want 11: each unit once", got)
	}
}

// TestAWriteTheUserMayNotFinishChangesNothing lets the tracker's user run
// INCRBY but not PEXPIRE: the script refuses before its first write, so no
// flush adds to the counter until the right is given back, and then the
// units land once.
func TestAWriteTheUserMayNotFinishChangesNothing(t *testing.T) {
	r := newACLRedis(t, "~*", "+@all", "-pexpire")
	tr := r.tracker(t, redis.Options{Addr: r.srv.Addr})
	admin, ctx := r.admin, ctxTimeout(t, 20*time.Second)
	for range 5 {
		tr.Track(usage.Exa)
	}
	key := usage.Key(usage.Exa, noon)
	for range 3 {
		var ke *usage.KeyError
		if err := tr.Flush(ctx); !errors.As(err, &ke) {
			t.Fatalf("Flush without the right to PEXPIRE = %v, want a *KeyError", err)
		}
		if got := get(t, admin, key); got != 0 {
			t.Fatalf("Redis holds %d after a refused write, want 0", got)
		}
	}
	r.acl("+pexpire")
	if err := tr.Close(ctx); err != nil {
		t.Fatal(err)
	}
	checkStats(t, tr, usage.Stats{Tracked: 5, Flushed: 5})
	if got := get(t, admin, key); got != 5 {
		t.Errorf("Redis holds %d, want 5", got)
	}
}

// TestAClientRetryThatIsRefusedIsNotAppliedTwice loses the reply of a write
// with go-redis's own retries on: the client sends it again by itself, and
// that retry is refused (the key left the user's ACL meanwhile). The error
// reply says nothing of the first send, which was applied, so Redis holds
// the units once when the key is allowed again.
func TestAClientRetryThatIsRefusedIsNotAppliedTwice(t *testing.T) {
	r := newACLRedis(t, "~*", "+@all")
	p := testsupport.NewProxy(t, r.srv.Addr)
	tr := r.tracker(t, redis.Options{Addr: p.Addr}) // go-redis's default retries
	admin, acl, ctx := r.admin, r.acl, ctxTimeout(t, 20*time.Second)
	tr.Track(usage.Apollo)
	if err := tr.Flush(ctx); err != nil { // loads the script
		t.Fatal(err)
	}
	for range 10 {
		tr.Track(usage.Exa)
	}
	key := usage.Key(usage.Exa, noon)
	p.CutAfter(key)
	flushed := make(chan error, 1)
	go func() { flushed <- tr.Flush(ctx) }()
	for p.DroppedBytes() == 0 { // the write landed and its reply was cut; go-redis waits to retry
		time.Sleep(time.Millisecond)
	}
	acl("resetkeys", "~*apollo*")
	var ke *usage.KeyError
	if err := <-flushed; !errors.As(err, &ke) {
		t.Fatalf("Flush = %v, want the retry's *KeyError", err)
	}
	if got := get(t, admin, key); got != 10 {
		t.Fatalf("Redis holds %d after the first send, want 10", got)
	}
	acl("resetkeys", "~*")
	if err := tr.Close(ctx); err != nil {
		t.Fatal(err)
	}
	checkStats(t, tr, usage.Stats{Tracked: 11, Flushed: 11})
	if got := get(t, admin, key); got != 10 {
		t.Errorf("Redis holds %d, want 10: applied once", got)
	}
}

// TestCloseWithAClosedClientReturns closes the Redis client before the
// tracker, as a service that shuts down in the wrong order does: Close gives
// up at once, since a closed client never comes back, even with no deadline.
func TestCloseWithAClosedClientReturns(t *testing.T) {
	rdb := newMiniredisClient(t)
	tr := usage.NewTracker(rdb, usage.WithFlushInterval(time.Hour))
	tr.Track(usage.Exa)
	_ = rdb.Close()
	closed := make(chan error, 1)
	go func() { closed <- tr.Close(context.Background()) }()
	select {
	case err := <-closed:
		if !errors.Is(err, redis.ErrClosed) {
			t.Errorf("Close = %v, want redis.ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close with a closed client still runs after 5 s")
	}
	checkStats(t, tr, usage.Stats{Tracked: 1, Pending: 1})
}
