package testsupport

import "testing"

func TestContaining(t *testing.T) {
	t.Run("unique names", func(t *testing.T) {
		for _, prefix := range []string{"t", "a*b", "q?[x]\\"} {
			name := UniqueName(prefix)
			hex := name[len(prefix):]
			want := map[string]string{"t": "*t", "a*b": `*a\*b`, "q?[x]\\": `*q\?\[x\]\\`}[prefix] + hex + "*"
			if got, err := containing(name); got != want || err != nil {
				t.Errorf("containing(%q) = %q, %v; want %q", name, got, err, want)
			}
		}
	})
	t.Run("other names", func(t *testing.T) {
		for _, name := range []string{"", "t", "api_usage", "*", UniqueName("t") + "x"} {
			if got, err := containing(name); err == nil {
				t.Errorf("containing(%q) = %q, want an error: it is no name from UniqueName", name, got)
			}
		}
	})
}
