package testsupport

import (
	"fmt"
	"io"
	"maps"
	"os"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"go.uber.org/goleak"
)

// Main runs a package's tests; it is all its TestMain does:
//
//	func TestMain(m *testing.M) { testsupport.Main(m) }
//
// When the tests end, Main prints one line that counts the tests [Env] and
// [ChangesServerState] skipped by the variable to set, such as
//
//	usage: 41 tests skipped: set ENRICHMETER_TEST_REDIS (23), ENRICHMETER_TEST_REDIS_CLUSTER (18) to run them against real servers
//
// and nothing when none did. Then, if the tests passed, it fails the run
// when a goroutine is left running, as [goleak.VerifyTestMain] does with
// opts.
//
// go test ./... shows a passing package's output only with -v or -json, so
// without them the line goes to the terminal (/dev/tty) when there is one.
// Otherwise it goes to the test's output, which go test shows with -v or
// -json, for a failing package, and when run in the package's directory
// with no package named. A result go test took from its cache prints
// nothing of the kind: -count=1 runs the tests again.
func Main(m *testing.M, opts ...goleak.Option) {
	mainCalled.Store(true)
	pc, _, _, _ := runtime.Caller(1)
	goleak.VerifyTestMain(summarizing{m, packageOf(runtime.FuncForPC(pc).Name())}, opts...)
}

// summarizing runs the tests and prints the summary of their skips.
type summarizing struct {
	m   *testing.M
	pkg string
}

func (s summarizing) Run() int {
	code := s.m.Run()
	if line := summary(s.pkg, skips.counts()); line != "" {
		w, done := summaryOutput()
		fmt.Fprintln(w, line)
		done()
	}
	return code
}

// summaryOutput returns where the summary goes, and a function to call once
// it is written.
func summaryOutput() (io.Writer, func()) {
	if !testing.Verbose() { // -json passes -test.v too
		if tty, err := os.OpenFile("/dev/tty", os.O_WRONLY, 0); err == nil {
			return tty, func() { _ = tty.Close() }
		}
	}
	return os.Stdout, func() {}
}

// summary returns the line that names the variables to set and how many
// tests skipped for each, or "" when none did.
func summary(pkg string, counts map[string]int) string {
	total := 0
	var vars []string
	for _, name := range slices.Sorted(maps.Keys(counts)) {
		if n := counts[name]; n > 0 {
			total += n
			vars = append(vars, fmt.Sprintf("%s (%d)", name, n))
		}
	}
	if total == 0 {
		return ""
	}
	if total == 1 {
		return fmt.Sprintf("%s: 1 test skipped: set %s to run it against a real server", pkg, vars[0])
	}
	return fmt.Sprintf("%s: %d tests skipped: set %s to run them against real servers", pkg, total, strings.Join(vars, ", "))
}

// packageOf returns the package of the function named fn (as
// [runtime.Func.Name] spells it), its path relative to the module, for an
// external test package as for the package it tests.
func packageOf(fn string) string {
	slash := strings.LastIndex(fn, "/")
	pkg := fn
	if dot := strings.Index(fn[slash+1:], "."); dot >= 0 {
		pkg = fn[:slash+1+dot]
	}
	pkg = strings.TrimSuffix(pkg, "_test")
	module := strings.TrimSuffix(reflect.TypeFor[RedisServer]().PkgPath(), "/internal/testsupport")
	if rel, ok := strings.CutPrefix(pkg, module+"/"); ok {
		return rel
	}
	return pkg
}

// mainCalled records that the package's TestMain called Main, without which
// its skips would go unreported.
var mainCalled atomic.Bool

// requireMain fails t unless the package's TestMain called Main.
func requireMain(t testing.TB) {
	t.Helper()
	if !mainCalled.Load() {
		t.Fatal("testsupport: the package's TestMain must call testsupport.Main, which reports the tests that skip")
	}
}

// skips counts the tests that skipped for want of a variable.
var skips = skipCounts{n: map[string]int{}}

// skipCounts counts skips by variable. It is safe for concurrent use.
type skipCounts struct {
	mu sync.Mutex // protects n
	n  map[string]int
}

func (s *skipCounts) add(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.n[name]++
}

func (s *skipCounts) counts() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.n)
}
