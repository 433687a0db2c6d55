// Package testsupport connects the module's tests to the real servers named by
// environment variables, and provides the network faults they inject. Tests
// that need a server skip, naming the variable to set, when it is unset, and
// fail when it is set but the server cannot be reached. Tests that change a
// shared server for its other clients run only when EnvServerState allows
// it. Each package's TestMain calls [Main], which sums up the skips in one
// line.
package testsupport

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// The variables that name the servers for integration tests, and the one
// that lets tests change them.
const (
	EnvRedis        = "ENRICHMETER_TEST_REDIS"         // redis://host:port/db, or host:port (database 0)
	EnvRedisCluster = "ENRICHMETER_TEST_REDIS_CLUSTER" // comma-separated host:port of cluster masters
	EnvPostgres     = "ENRICHMETER_TEST_POSTGRES"      // a PostgreSQL connection string
	EnvServerState  = "ENRICHMETER_TEST_SERVER_STATE"  // 1: tests may change server-wide state
)

// Env returns the value of the variable name, or skips t saying to set it.
// The skip counts in the package's summary (see [Main]).
func Env(t testing.TB, name, example string) string {
	t.Helper()
	requireMain(t)
	v := os.Getenv(name)
	if v == "" {
		skips.add(name)
		t.Skipf("set %s (for example %s) to run this test against a real server", name, example)
	}
	return v
}

// ChangesServerState skips t, naming EnvServerState, unless that variable
// is 1 (or another true value of [strconv.ParseBool]). A test calls it first
// when it changes a shared server for every client: it creates users or
// roles, or sets the configuration. A test that changes only a server of its
// own ([StartRedisServer]) or keys, tables and schemas named by [UniqueName]
// does not call it. The skip counts in the package's summary.
func ChangesServerState(t testing.TB) {
	t.Helper()
	requireMain(t)
	v := os.Getenv(EnvServerState)
	on, err := strconv.ParseBool(v)
	if v != "" && err != nil {
		t.Fatalf("%s=%q: want 1 or 0", EnvServerState, v)
	}
	if !on {
		skips.add(EnvServerState)
		t.Skipf("set %s=1 to run this test: it changes state that other clients of the server share", EnvServerState)
	}
}

// UniqueName returns a fresh name that starts with a letter, for a key prefix
// or a schema that no other test uses: prefix and 12 random hex digits.
func UniqueName(prefix string) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := prefix + hex.EncodeToString(b[:])
	uniqueNames.Store(name, true)
	return name
}

// uniqueNames holds every name UniqueName returned: DeleteKeysAtCleanup
// takes no other.
var uniqueNames sync.Map

// RedisOptions returns fresh client options for the server named by
// ENRICHMETER_TEST_REDIS: its address, database and credentials. A test that
// reaches the server another way (through a [Proxy], as another user)
// changes its copy. It skips t when the variable is unset and fails it when
// the value is neither a redis:// or rediss:// URL nor host:port.
func RedisOptions(t testing.TB) *redis.Options {
	t.Helper()
	o, err := parseRedis(Env(t, EnvRedis, "redis://127.0.0.1:6379/0"))
	if err != nil {
		t.Fatalf("%s: %v", EnvRedis, err)
	}
	return o
}

// parseRedis reads a value of ENRICHMETER_TEST_REDIS.
func parseRedis(v string) (*redis.Options, error) {
	if !strings.Contains(v, "://") {
		if _, _, err := net.SplitHostPort(v); err != nil {
			return nil, fmt.Errorf("want redis://host:port/db or host:port: %w", err)
		}
		return &redis.Options{Addr: v}, nil
	}
	o, err := redis.ParseURL(v)
	if err != nil {
		return nil, err
	}
	if o.Network != "tcp" {
		return nil, fmt.Errorf("%s: want a TCP address, which tests reach through their proxies", o.Network)
	}
	return o, nil
}

// Redis returns a client of the server named by ENRICHMETER_TEST_REDIS (see
// [RedisOptions]), closed when t ends.
func Redis(t testing.TB) *redis.Client {
	t.Helper()
	o := RedisOptions(t)
	c := redis.NewClient(o)
	t.Cleanup(func() { _ = c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatalf("%s is set but %s (database %d) is unreachable: %v", EnvRedis, o.Addr, o.DB, err)
	}
	return c
}

// RedisCluster returns a client of the cluster named by
// ENRICHMETER_TEST_REDIS_CLUSTER, closed when t ends.
func RedisCluster(t testing.TB) *redis.ClusterClient {
	t.Helper()
	addrs := Env(t, EnvRedisCluster, "127.0.0.1:7000,127.0.0.1:7001,127.0.0.1:7002")
	c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: strings.Split(addrs, ",")})
	t.Cleanup(func() { _ = c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := c.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error {
		return m.Ping(ctx).Err()
	})
	if err != nil {
		t.Fatalf("%s=%s is set but unreachable: %v", EnvRedisCluster, addrs, err)
	}
	return c
}
