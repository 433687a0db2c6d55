package testsupport

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// ProxiedRedis returns a client of the server or cluster rdb talks to that
// reaches every node through a [Proxy] of its own, and the proxies, so a
// test can cut replies on a single server and on a cluster alike. rdb is a
// *redis.Client or a *redis.ClusterClient; the client keeps its database
// and credentials, has the read timeout and the retries given (maxRetries
// -1: none) and dials each node once a try. It is closed when t ends.
func ProxiedRedis(t testing.TB, rdb redis.UniversalClient, readTimeout time.Duration, maxRetries int) (redis.UniversalClient, []*Proxy) {
	t.Helper()
	switch c := rdb.(type) {
	case *redis.Client:
		o := c.Options()
		p := NewProxy(t, o.Addr)
		pc := redis.NewClient(&redis.Options{
			Addr: p.Addr, DB: o.DB, Username: o.Username, Password: o.Password, Protocol: o.Protocol,
			ReadTimeout: readTimeout, MaxRetries: maxRetries, DialerRetries: 1,
		})
		t.Cleanup(func() { _ = pc.Close() })
		return pc, []*Proxy{p}
	case *redis.ClusterClient:
		var (
			mu    sync.Mutex
			addrs []string
		)
		err := c.ForEachShard(context.Background(), func(_ context.Context, n *redis.Client) error {
			mu.Lock()
			defer mu.Unlock()
			addrs = append(addrs, n.Options().Addr)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		via := map[string]string{}
		var proxies []*Proxy
		for _, a := range addrs {
			p := NewProxy(t, a)
			via[a] = p.Addr
			proxies = append(proxies, p)
		}
		o := c.Options()
		pc := redis.NewClusterClient(&redis.ClusterOptions{
			Addrs: addrs[:1], Username: o.Username, Password: o.Password, Protocol: o.Protocol,
			ReadTimeout: readTimeout, MaxRetries: maxRetries, DialerRetries: 1,
			Dialer: func(ctx context.Context, network, addr string) (net.Conn, error) {
				if p, ok := via[addr]; ok {
					addr = p
				}
				return (&net.Dialer{}).DialContext(ctx, network, addr)
			},
		})
		t.Cleanup(func() { _ = pc.Close() })
		return pc, proxies
	}
	t.Fatalf("ProxiedRedis: a %T is neither a *redis.Client nor a *redis.ClusterClient", rdb)
	return nil, nil
}
