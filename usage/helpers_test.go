package usage_test

import (
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/enrichmeter/enrichmeter/internal/testsupport"
	"github.com/enrichmeter/enrichmeter/usage"
)

// A backend is a Redis a test runs against: miniredis always, real Redis and
// a real Redis Cluster when their variables are set.
type backend struct {
	rdb    redis.UniversalClient
	prefix string               // unique to the test on shared servers
	mr     *miniredis.Miniredis // nil on real servers
	node   *redis.Options       // a single node's address, database, credentials; nil on a cluster
}

// forEachBackend runs f as a subtest on every backend.
func forEachBackend(t *testing.T, f func(t *testing.T, b backend)) {
	t.Helper()
	t.Run("miniredis", func(t *testing.T) {
		mr := miniredis.RunT(t)
		rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
		t.Cleanup(func() { _ = rdb.Close() })
		f(t, backend{rdb: rdb, prefix: usage.DefaultPrefix, mr: mr, node: &redis.Options{Addr: mr.Addr()}})
	})
	t.Run("redis", func(t *testing.T) {
		f(t, realBackend(t, testsupport.Redis(t), testsupport.RedisOptions(t)))
	})
	t.Run("cluster", func(t *testing.T) {
		f(t, realBackend(t, testsupport.RedisCluster(t), nil))
	})
}

// proxied reaches a backend through fault-injecting proxies, one per node,
// so a test can stop Redis or cut its replies on a single server and on a
// cluster alike.
type proxied struct {
	rdb     redis.UniversalClient
	proxies []*testsupport.Proxy
}

// proxyOptions are the client settings a fault test needs.
type proxyOptions struct {
	readTimeout time.Duration
	maxRetries  int // -1: none
}

func newProxied(t *testing.T, b backend, o proxyOptions) proxied {
	t.Helper()
	if b.node != nil {
		p := testsupport.NewProxy(t, b.node.Addr)
		n := *b.node // the same database and credentials, through the proxy
		n.Addr, n.ReadTimeout, n.MaxRetries, n.DialerRetries = p.Addr, o.readTimeout, o.maxRetries, 1
		rdb := redis.NewClient(&n)
		t.Cleanup(func() { _ = rdb.Close() })
		return proxied{rdb: rdb, proxies: []*testsupport.Proxy{p}}
	}
	// A cluster: every node the client is told about is dialed through its
	// own proxy.
	var addrs []string
	var mu sync.Mutex
	err := b.rdb.(*redis.ClusterClient).ForEachShard(context.Background(), func(ctx context.Context, n *redis.Client) error {
		mu.Lock()
		defer mu.Unlock()
		addrs = append(addrs, n.Options().Addr)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	via := map[string]string{}
	var out proxied
	for _, a := range addrs {
		p := testsupport.NewProxy(t, a)
		via[a] = p.Addr
		out.proxies = append(out.proxies, p)
	}
	rdb := redis.NewClusterClient(&redis.ClusterOptions{
		Addrs: addrs[:1], ReadTimeout: o.readTimeout, MaxRetries: o.maxRetries, DialerRetries: 1,
		Dialer: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if p, ok := via[addr]; ok {
				addr = p
			}
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		},
	})
	t.Cleanup(func() { _ = rdb.Close() })
	out.rdb = rdb
	return out
}

// each calls f on every proxy.
// newProxiedTracker returns b behind proxies, and a tracker of it at noon
// that flushes only when asked, closed when t ends.
func newProxiedTracker(t *testing.T, b backend, o proxyOptions) (proxied, *usage.Tracker) {
	t.Helper()
	p := newProxied(t, b, o)
	tr := usage.NewTracker(p.rdb, usage.WithPrefix(b.prefix), usage.WithClock(newFakeClock(noon).Now), usage.WithFlushInterval(time.Hour))
	closeAtCleanup(t, tr)
	return p, tr
}

func (p proxied) each(f func(*testsupport.Proxy)) {
	for _, x := range p.proxies {
		f(x)
	}
}

func (p proxied) droppedBytes() int64 {
	var n int64
	p.each(func(x *testsupport.Proxy) { n += x.DroppedBytes() })
	return n
}

func realBackend(t *testing.T, rdb redis.UniversalClient, node *redis.Options) backend {
	prefix := testsupport.UniqueName("t")
	testsupport.DeleteKeysAtCleanup(t, rdb, prefix)
	return backend{rdb: rdb, prefix: prefix, node: node}
}

// get returns the integer at key, 0 if it is missing.
func get(t *testing.T, rdb redis.Cmdable, key string) int64 {
	t.Helper()
	n, err := rdb.Get(context.Background(), key).Int64()
	if errors.Is(err, redis.Nil) {
		return 0
	}
	if err != nil {
		t.Fatalf("GET %s: %v", key, err)
	}
	return n
}

// keyFor is usage.Key with the backend's prefix.
func (b backend) keyFor(p usage.Provider, at time.Time) string {
	return b.prefix + ":" + string(p) + ":" + at.UTC().Format("2006-01-02")
}

// fakeClock is a clock a test moves by hand.
type fakeClock struct{ ns atomic.Int64 }

func newFakeClock(at time.Time) *fakeClock {
	c := &fakeClock{}
	c.Set(at)
	return c
}

func (c *fakeClock) Now() time.Time   { return time.Unix(0, c.ns.Load()).UTC() }
func (c *fakeClock) Set(at time.Time) { c.ns.Store(at.UnixNano()) }

// errorLog collects what a tracker passes to its error handler, and lets a
// test wait for a particular error without polling.
type errorLog struct {
	mu   sync.Mutex
	errs []error
	ch   chan error // every error, for waitFor; handle never blocks on it
}

func newErrorLog() *errorLog { return &errorLog{ch: make(chan error, 1024)} }

func (l *errorLog) handle(err error) {
	l.mu.Lock()
	l.errs = append(l.errs, err)
	l.mu.Unlock()
	select {
	case l.ch <- err:
	default:
	}
}

func (l *errorLog) all() []error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]error(nil), l.errs...)
}

// waitFor returns the first error handled from now on for which match
// holds, failing t after ten seconds.
func (l *errorLog) waitFor(t *testing.T, what string, match func(error) bool) error {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case err := <-l.ch:
			if match(err) {
				return err
			}
		case <-timeout:
			t.Fatalf("gave up waiting for the error handler to get %s; it got %v", what, l.all())
			return nil
		}
	}
}

// anyError matches every error.
func anyError(error) bool { return true }

// closeAtCleanup closes tr when t ends, if the test did not.
func closeAtCleanup(t *testing.T, tr *usage.Tracker) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = tr.Close(ctx)
	})
}

func ctxTimeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// checkStats fails t unless the tracker's stats are want.
func checkStats(t *testing.T, tr *usage.Tracker, want usage.Stats) {
	t.Helper()
	if got := tr.Stats(); got != want {
		t.Fatalf("Stats() = %v, want %v", got, want)
	}
}

// newMiniredisClient returns a client of a fresh miniredis.
func newMiniredisClient(t *testing.T) *redis.Client {
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	t.Cleanup(func() { _ = rdb.Close() })
	return rdb
}

// closeWhile starts tr.Close with a 10 s deadline, lets it meet a fault for
// 300 ms, runs mend, and returns what Close returns.
func closeWhile(t *testing.T, tr *usage.Tracker, mend func()) error {
	t.Helper()
	closed := make(chan error, 1)
	go func() { closed <- tr.Close(ctxTimeout(t, 10*time.Second)) }()
	time.Sleep(300 * time.Millisecond) // Close meets the fault meanwhile
	mend()
	return <-closed
}

// aclRedis is a private redis-server with a user "app", password "pw",
// whose rights a test changes with acl.
type aclRedis struct {
	srv   *testsupport.RedisServer
	admin *redis.Client
	acl   func(rules ...any)
}

// newACLRedis starts the server and gives app the rules.
func newACLRedis(t *testing.T, rules ...any) aclRedis {
	t.Helper()
	srv := testsupport.StartRedisServer(t)
	admin := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { _ = admin.Close() })
	acl := func(rules ...any) {
		t.Helper()
		if err := admin.Do(ctxTimeout(t, 5*time.Second), append([]any{"ACL", "SETUSER", "app"}, rules...)...).Err(); err != nil {
			t.Fatal(err)
		}
	}
	acl(append([]any{"on", ">pw"}, rules...)...)
	return aclRedis{srv: srv, admin: admin, acl: acl}
}

// tracker returns a tracker at noon, flushing only when asked, of a client
// with o that logs in as app.
func (r aclRedis) tracker(t *testing.T, o redis.Options) *usage.Tracker {
	t.Helper()
	o.Username, o.Password = "app", "pw"
	rdb := redis.NewClient(&o)
	t.Cleanup(func() { _ = rdb.Close() })
	tr := usage.NewTracker(rdb, usage.WithClock(newFakeClock(noon).Now), usage.WithFlushInterval(time.Hour))
	closeAtCleanup(t, tr)
	return tr
}
