package usage

import (
	"context"
	"testing"
	"time"

	"github.com/enrichmeter/enrichmeter/internal/testsupport"
)

// TestIncrScriptErrorAppliesNothing runs the script on a real server, whose
// HINCRBY refuses some values that look like integers: a field Redis cannot
// increment makes the script reply an error before any field is written,
// wherever the field stands among the write's.
func TestIncrScriptErrorAppliesNothing(t *testing.T) {
	rdb := testsupport.Redis(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, bad := range []string{"007", "-0", "00", "-007"} {
		t.Run(bad, func(t *testing.T) {
			name := testsupport.UniqueName("incr")
			testsupport.DeleteKeysAtCleanup(t, rdb, name)
			key := "{" + name + "}:models:2026-11-26"
			if err := rdb.HSet(ctx, key, "good", "1", "bad", bad).Err(); err != nil {
				t.Fatal(err)
			}
			err := incrScript.Run(ctx, rdb, []string{key, markerKey(key)}, "t", 1, 60000, "good", 5, "bad", 5).Err()
			if err == nil {
				t.Fatalf("the script incremented %q", bad)
			}
			got, gerr := rdb.HGetAll(ctx, key).Result()
			if gerr != nil {
				t.Fatal(gerr)
			}
			if got["good"] != "1" || got["bad"] != bad {
				t.Errorf("after the error reply %v, the hash holds %v: a write landed", err, got)
			}
		})
	}
}
