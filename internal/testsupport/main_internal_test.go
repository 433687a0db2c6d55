package testsupport

import "testing"

func TestSummary(t *testing.T) {
	cases := []struct {
		counts map[string]int
		want   string
	}{
		{nil, ""},
		{map[string]int{EnvRedis: 0}, ""},
		{map[string]int{EnvPostgres: 1}, "p: 1 test skipped: set ENRICHMETER_TEST_POSTGRES (1) to run it against a real server"},
		{map[string]int{EnvRedisCluster: 18, EnvRedis: 23}, "p: 41 tests skipped: set ENRICHMETER_TEST_REDIS (23), ENRICHMETER_TEST_REDIS_CLUSTER (18) to run them against real servers"},
	}
	for _, c := range cases {
		if got := summary("p", c.counts); got != c.want {
			t.Errorf("summary(p, %v) = %q, want %q", c.counts, got, c.want)
		}
	}
}

func TestPackageOf(t *testing.T) {
	cases := []struct{ fn, want string }{
		{"github.com/enrichmeter/enrichmeter/usage_test.TestMain", "usage"},
		{"github.com/enrichmeter/enrichmeter/examples/pipeline.TestMain", "examples/pipeline"},
		{"github.com/enrichmeter/enrichmeter/internal/testsupport_test.TestMain", "internal/testsupport"},
		{"example.com/other.TestMain", "example.com/other"},
	}
	for _, c := range cases {
		if got := packageOf(c.fn); got != c.want {
			t.Errorf("packageOf(%q) = %q, want %q", c.fn, got, c.want)
		}
	}
}
