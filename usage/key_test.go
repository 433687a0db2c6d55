package usage

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/enrichmeter/enrichmeter/internal/testsupport"
)

func TestKey(t *testing.T) {
	cases := []struct {
		p    Provider
		t    time.Time
		want string
	}{
		{ContactOut, time.Date(2026, 11, 26, 3, 15, 3, 0, time.UTC), "api_usage:contactout:2026-11-26"},
		{Exa, time.Date(2026, 11, 26, 23, 59, 59, 999999999, time.UTC), "api_usage:exa:2026-11-26"},
		{Exa, time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC), "api_usage:exa:2026-11-27"},
		// The UTC day counts, not the local one.
		{Claude, time.Date(2026, 11, 26, 20, 0, 0, 0, time.FixedZone("EST", -5*3600)), "api_usage:claude:2026-11-27"},
		{Apollo, time.Date(1969, 12, 31, 23, 59, 59, 0, time.UTC), "api_usage:apollo:1969-12-31"},
	}
	for _, c := range cases {
		if got := Key(c.p, c.t); got != c.want {
			t.Errorf("Key(%q, %v) = %q, want %q", c.p, c.t, got, c.want)
		}
	}
}

// prefixShapes are prefixes of every brace shape: none, a hash tag, braces
// that make no tag, and a '}' that no tag can hold.
var prefixShapes = []string{"api_usage", "{usage}", "a{b}c", "x}y", "{}x", "a{}b{c}", "p{q", "}{", "{", "}", "{{}}"}

func TestMarkerSharesTheCounterSlot(t *testing.T) {
	for _, prefix := range prefixShapes {
		k := key(prefix, Exa, dayOf(time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)))
		m := markerKey(k)
		if clusterSlot(m) != clusterSlot(k) {
			t.Errorf("markerKey(%q) = %q: slot %d, want the counter's %d", k, m, clusterSlot(m), clusterSlot(k))
		}
		if !strings.Contains(m, k) {
			t.Errorf("markerKey(%q) = %q does not name its key", k, m)
		}
		if strings.HasPrefix(m, prefix+":") {
			t.Errorf("markerKey(%q) = %q: a SCAN of the prefix would list it as a counter", k, m)
		}
	}
	if got := markerKey("api_usage:exa:2026-11-26"); got != "{api_usage:exa:2026-11-26}:applied" {
		t.Errorf("default marker = %q, want the README's form", got)
	}
}

func TestSlotTagsCoverEverySlot(t *testing.T) {
	for s, tag := range slotTags() {
		if tag == "" || clusterSlot(tag) != s || strings.ContainsAny(tag, "{}") {
			t.Fatalf("slot %d has tag %q, which hashes to %d", s, tag, clusterSlot(tag))
		}
	}
}

// TestClusterSlotAgreesWithRedis asks a real cluster node for the slots of
// keys of every shape.
func TestClusterSlotAgreesWithRedis(t *testing.T) {
	c := testsupport.RedisCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, prefix := range prefixShapes {
		k := key(prefix, Claude, 20000)
		for _, s := range []string{k, markerKey(k)} {
			want, err := c.ClusterKeySlot(ctx, s).Result()
			if err != nil {
				t.Fatal(err)
			}
			if got := clusterSlot(s); int64(got) != want {
				t.Errorf("clusterSlot(%q) = %d, CLUSTER KEYSLOT says %d", s, got, want)
			}
		}
	}
}
