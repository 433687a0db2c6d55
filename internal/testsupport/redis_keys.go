package testsupport

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Keys returns the keys that match pattern, from every master when c is a
// cluster client, failing t if the scan fails.
func Keys(t testing.TB, c redis.UniversalClient, pattern string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	keys, err := scan(ctx, c, pattern)
	if err != nil {
		t.Fatalf("scan keys %q: %v", pattern, err)
	}
	return keys
}

// DeleteKeysAtCleanup deletes every key that contains name when t ends, on
// every master when c is a cluster client, so tests leave real servers as
// they found them: the keys a test names with name, and the bookkeeping keys
// the package under test derives from them (markers, claims), wherever name
// stands in them. name must come from [UniqueName], so that no other test's
// key contains it; any other name fails t.
func DeleteKeysAtCleanup(t testing.TB, c redis.UniversalClient, name string) {
	t.Helper()
	pattern, err := containing(name)
	if err != nil {
		t.Fatalf("DeleteKeysAtCleanup: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		keys, err := scan(ctx, c, pattern)
		for _, k := range keys {
			if err == nil {
				err = c.Del(ctx, k).Err()
			}
		}
		if err != nil {
			t.Errorf("delete test keys %q: %v", pattern, err)
		}
	})
}

// containing returns the SCAN pattern that matches the keys that contain
// name, a name from UniqueName.
func containing(name string) (string, error) {
	if _, ok := uniqueNames.Load(name); !ok {
		return "", fmt.Errorf("%q is not a name from UniqueName: keys of other tests may contain it", name)
	}
	var b strings.Builder
	b.WriteByte('*')
	for _, r := range name {
		if strings.ContainsRune(`*?[]\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	b.WriteByte('*')
	return b.String(), nil
}

// scan returns the keys that match pattern on c, or on each master of a
// cluster.
func scan(ctx context.Context, c redis.UniversalClient, pattern string) ([]string, error) {
	var (
		mu   sync.Mutex
		keys []string
	)
	node := func(ctx context.Context, n redis.Cmdable) error {
		iter := n.Scan(ctx, 0, pattern, 1000).Iterator()
		for iter.Next(ctx) {
			mu.Lock()
			keys = append(keys, iter.Val())
			mu.Unlock()
		}
		return iter.Err()
	}
	if cc, ok := c.(*redis.ClusterClient); ok {
		err := cc.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error { return node(ctx, m) })
		return keys, err
	}
	return keys, node(ctx, c)
}
