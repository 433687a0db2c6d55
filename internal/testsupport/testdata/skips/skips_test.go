// Package skips is run by the testsupport tests: its tests skip for each
// variable they lack, and Main sums the skips up.
package skips

import (
	"testing"

	"github.com/enrichmeter/enrichmeter/internal/testsupport"
)

func TestMain(m *testing.M) {
	testsupport.Main(m)
}

func TestRedis(t *testing.T) {
	for _, name := range []string{"a", "b"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			testsupport.Env(t, testsupport.EnvRedis, "redis://127.0.0.1:6379/0")
		})
	}
}

func TestPostgres(t *testing.T) {
	testsupport.Env(t, testsupport.EnvPostgres, "postgres://127.0.0.1/test")
}

func TestServerState(t *testing.T) {
	testsupport.ChangesServerState(t)
}

func TestOtherSkip(t *testing.T) {
	t.Skip("a skip of its own, not counted")
}

func TestRuns(t *testing.T) {}
