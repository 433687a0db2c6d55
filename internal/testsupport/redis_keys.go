package testsupport

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// DeleteKeysAtCleanup deletes every key that matches pattern when t ends, on
// every master when c is a cluster client, so tests leave real servers as
// they found them.
func DeleteKeysAtCleanup(t testing.TB, c redis.UniversalClient, pattern string) {
	t.Helper()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		del := func(ctx context.Context, n redis.Cmdable) error {
			iter := n.Scan(ctx, 0, pattern, 1000).Iterator()
			for iter.Next(ctx) {
				n.Del(ctx, iter.Val())
			}
			return iter.Err()
		}
		var err error
		if cc, ok := c.(*redis.ClusterClient); ok {
			err = cc.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error { return del(ctx, m) })
		} else {
			err = del(ctx, c)
		}
		if err != nil {
			t.Errorf("delete test keys %q: %v", pattern, err)
		}
	})
}
