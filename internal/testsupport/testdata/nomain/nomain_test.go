// Package nomain is run by the testsupport tests: it calls Env without
// testsupport.Main in its TestMain, which fails.
package nomain

import (
	"testing"

	"github.com/enrichmeter/enrichmeter/internal/testsupport"
)

func TestEnv(t *testing.T) {
	testsupport.Env(t, testsupport.EnvRedis, "redis://127.0.0.1:6379/0")
}
