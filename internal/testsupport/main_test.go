package testsupport_test

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/enrichmeter/enrichmeter/internal/testsupport"
)

// TestMain checks, through Main, that Proxy.Close and Hang's stop end every
// goroutine they started.
func TestMain(m *testing.M) {
	testsupport.Main(m)
}

// TestMainReportsSkipsAndLeaks runs go test -v on the packages in testdata:
// one whose tests skip for want of variables, one that calls Env without
// Main, and one that leaves a goroutine running. (Without -v, go test ./...
// drops what a passing package prints; Main then writes to the terminal,
// which a test cannot read.)
func TestMainReportsSkipsAndLeaks(t *testing.T) {
	const pkg = "github.com/enrichmeter/enrichmeter/internal/testsupport/testdata/"
	cases := []struct {
		name    string
		env     []string // ENRICHMETER_TEST_ variables set; the others are unset
		pkgs    []string
		fails   bool
		want    []string
		notWant []string
	}{
		{
			name:  "variables unset",
			pkgs:  []string{"skips", "nomain", "leak"},
			fails: true,
			want: []string{
				"\ninternal/testsupport/testdata/skips: 4 tests skipped: set ENRICHMETER_TEST_POSTGRES (1), " +
					"ENRICHMETER_TEST_REDIS (2), ENRICHMETER_TEST_SERVER_STATE (1) to run them against real servers\nok  \t" + pkg + "skips\t",
				"TestMain must call testsupport.Main", "\nFAIL\t" + pkg + "nomain\t",
				"goleak: Errors on successful test run", "leak.TestLeaves.func1", "\nFAIL\t" + pkg + "leak\t",
			},
		},
		{
			name:    "variables set",
			env:     []string{testsupport.EnvRedis + "=127.0.0.1:1", testsupport.EnvPostgres + "=postgres://127.0.0.1:1/x", testsupport.EnvServerState + "=1"},
			pkgs:    []string{"skips"},
			want:    []string{"\nok  \t" + pkg + "skips\t"},
			notWant: []string{"skipped: set", "set ENRICHMETER_TEST"},
		},
		{
			name:    "server state off",
			env:     []string{testsupport.EnvRedis + "=127.0.0.1:1", testsupport.EnvPostgres + "=postgres://127.0.0.1:1/x", testsupport.EnvServerState + "=0"},
			pkgs:    []string{"skips"},
			want:    []string{"\ninternal/testsupport/testdata/skips: 1 test skipped: set ENRICHMETER_TEST_SERVER_STATE (1) to run it against a real server\nok  \t"},
			notWant: []string{"set ENRICHMETER_TEST_REDIS", "set ENRICHMETER_TEST_POSTGRES"},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			args := []string{"test", "-count=1", "-vet=off", "-v"}
			for _, p := range c.pkgs {
				args = append(args, "./testdata/"+p)
			}
			cmd := exec.Command("go", args...)
			for _, kv := range os.Environ() {
				if !strings.HasPrefix(kv, "ENRICHMETER_TEST_") {
					cmd.Env = append(cmd.Env, kv)
				}
			}
			cmd.Env = append(cmd.Env, c.env...)
			out, err := cmd.CombinedOutput()
			if failed := err != nil; failed != c.fails {
				t.Errorf("go %s: %v, want failure %v", strings.Join(args, " "), err, c.fails)
			}
			for _, w := range c.want {
				if !strings.Contains(string(out), w) {
					t.Errorf("output lacks %q", w)
				}
			}
			for _, w := range c.notWant {
				if strings.Contains(string(out), w) {
					t.Errorf("output holds %q", w)
				}
			}
			if t.Failed() {
				t.Logf("go %s printed:\n%s", strings.Join(args, " "), out)
			}
		})
	}
}
