package testsupport_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/enrichmeter/enrichmeter/internal/testsupport"
)

// TestDeleteKeysAtCleanup writes keys that hold a unique name at their
// start, inside a hash tag and at their end, beside keys of another name
// and a key that the name would match as a pattern, and checks that only
// the keys that hold the name are gone once the subtest ends.
func TestDeleteKeysAtCleanup(t *testing.T) {
	servers := map[string]func(testing.TB) redis.UniversalClient{
		"redis":   func(t testing.TB) redis.UniversalClient { return testsupport.Redis(t) },
		"cluster": func(t testing.TB) redis.UniversalClient { return testsupport.RedisCluster(t) },
	}
	for _, server := range []string{"redis", "cluster"} {
		t.Run(server, func(t *testing.T) {
			rdb := servers[server](t)
			name := testsupport.UniqueName("k?") // ? matches any byte in a pattern
			other := testsupport.UniqueName("k")
			lookalike := "kX" + name[2:] + ":exa:2026-11-26" // name matches it as a pattern
			mine := []string{name + ":exa:2026-11-26", "{" + name + ":exa:2026-11-26}:applied:1f", "applied:" + name + ":exa:2026-11-26:1f", "x:" + name}
			theirs := []string{other + ":exa:2026-11-26", "{" + other + ":exa:2026-11-26}:applied:1f", lookalike}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			testsupport.DeleteKeysAtCleanup(t, rdb, other)
			t.Cleanup(func() { _ = rdb.Del(context.Background(), lookalike).Err() })
			t.Run("writes", func(t *testing.T) {
				testsupport.DeleteKeysAtCleanup(t, rdb, name)
				for _, k := range append(slices.Clone(mine), theirs...) {
					if err := rdb.Set(ctx, k, 1, time.Minute).Err(); err != nil {
						t.Fatal(err)
					}
				}
			})
			for _, k := range mine {
				if n, err := rdb.Exists(ctx, k).Result(); n != 0 || err != nil {
					t.Errorf("%q is left (%d, %v)", k, n, err)
				}
			}
			for _, k := range theirs {
				if n, err := rdb.Exists(ctx, k).Result(); n != 1 || err != nil {
					t.Errorf("%q, another test's key, was deleted (%d, %v)", k, n, err)
				}
			}
		})
	}
}
