package testsupport

import (
	"context"
	"net"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// A RedisServer is a redis-server process of a test's own, on a loopback
// port that stays the same when the test stops and starts it again, so that
// a client sees a real server go away (connections refused) and come back.
type RedisServer struct {
	Addr string
	args []string
	cmd  *exec.Cmd
}

// StartRedisServer starts a redis-server that keeps nothing on disk, with
// args added to its command line, and stops it when t ends. Like the other
// servers, it runs only when ENRICHMETER_TEST_REDIS is set; without
// redis-server on the PATH the test skips, or fails when CI is set.
func StartRedisServer(t testing.TB, args ...string) *RedisServer {
	t.Helper()
	Env(t, EnvRedis, "redis://127.0.0.1:6379/0")
	if _, err := exec.LookPath("redis-server"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("redis-server is not on the PATH: %v", err)
		}
		t.Skipf("needs redis-server on the PATH: %v", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &RedisServer{Addr: l.Addr().String(), args: args}
	_ = l.Close()
	s.Start(t)
	t.Cleanup(func() { s.Stop(t) })
	return s
}

// Start starts the server, if it is stopped, and waits until it answers.
func (s *RedisServer) Start(t testing.TB) {
	t.Helper()
	if s.cmd != nil {
		return
	}
	_, port, _ := net.SplitHostPort(s.Addr)
	s.cmd = exec.Command("redis-server", append([]string{"--port", port, "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--daemonize", "no", "--loglevel", "warning"}, s.args...)...)
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("start redis-server on %s: %v", s.Addr, err)
	}
	c := redis.NewClient(&redis.Options{Addr: s.Addr, MaxRetries: -1})
	defer c.Close()
	for deadline := time.Now().Add(10 * time.Second); ; {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := c.Ping(ctx).Err()
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("redis-server on %s does not answer: %v", s.Addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop stops the server, if it runs, and waits until it has exited: from
// then on connections to Addr are refused.
func (s *RedisServer) Stop(t testing.TB) {
	t.Helper()
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
	s.cmd = nil
	if c, err := net.DialTimeout("tcp", s.Addr, time.Second); err == nil {
		c.Close()
		t.Fatalf("%s still accepts connections after its server stopped", s.Addr)
	}
}
