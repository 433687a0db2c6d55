package testsupport

import (
	"strings"
	"testing"
)

func TestParseRedis(t *testing.T) {
	cases := []struct {
		in             string
		addr, user, pw string
		db             int
		err            string // a part of the error; "" for none
	}{
		{in: "127.0.0.1:6379", addr: "127.0.0.1:6379"},
		{in: "[::1]:6380", addr: "[::1]:6380"},
		{in: "redis://127.0.0.1:6379/5", addr: "127.0.0.1:6379", db: 5},
		{in: "redis://127.0.0.1", addr: "127.0.0.1:6379"},
		{in: "redis://app:s3cret@localhost:7000/2", addr: "localhost:7000", user: "app", pw: "s3cret", db: 2},
		{in: "127.0.0.1", err: "want redis://host:port/db or host:port"},
		{in: "redis://127.0.0.1:6379/x", err: "invalid database number"},
		{in: "http://127.0.0.1:6379", err: "invalid URL scheme"},
		{in: "unix:///tmp/redis.sock", err: "want a TCP address"},
	}
	for _, c := range cases {
		o, err := parseRedis(c.in)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("parseRedis(%q) = %v, want an error with %q", c.in, err, c.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("parseRedis(%q): %v", c.in, err)
			continue
		}
		if o.Addr != c.addr || o.DB != c.db || o.Username != c.user || o.Password != c.pw {
			t.Errorf("parseRedis(%q) = addr %q, db %d, user %q, password %q; want %q, %d, %q, %q",
				c.in, o.Addr, o.DB, o.Username, o.Password, c.addr, c.db, c.user, c.pw)
		}
	}
}
