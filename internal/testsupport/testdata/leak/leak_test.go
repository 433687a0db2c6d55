// Package leak is run by the testsupport tests: a test leaves a goroutine
// running, and Main fails the run.
package leak

import (
	"testing"

	"github.com/enrichmeter/enrichmeter/internal/testsupport"
)

func TestMain(m *testing.M) {
	testsupport.Main(m)
}

var never = make(chan struct{})

func TestLeaves(t *testing.T) {
	go func() { <-never }()
}
