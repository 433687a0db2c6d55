package providers

import (
	"testing"
	"time"
)

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 12, 5, 8, 0, 0, 0, time.UTC)
	cases := []struct {
		v    string
		want time.Duration
		ok   bool
	}{
		{"2", 2 * time.Second, true},
		{" 120 ", 2 * time.Minute, true},
		{"0", 0, true},
		{"-5", -5 * time.Second, true},                            // Limiter.Pause reports it and holds nothing
		{"99999999999999999999", 1<<63 - 1, true},                 // years: Limiter.Pause caps and reports it
		{"-9999999999", -1 << 63, true},                           // past a Duration's range below: still negative
		{"Sat, 05 Dec 2026 08:00:30 GMT", 30 * time.Second, true}, // an HTTP date
		{"Sat, 05 Dec 2026 07:59:00 GMT", -time.Minute, true},     // in the past
		{"Saturday, 05-Dec-26 08:01:00 GMT", time.Minute, true},
		{"", 0, false},
		{"soon", 0, false},
		{"1.5", 0, false},
	}
	for _, c := range cases {
		got, ok := retryAfter(c.v, now)
		if got != c.want || ok != c.ok {
			t.Errorf("retryAfter(%q) = %v, %v; want %v, %v", c.v, got, ok, c.want, c.ok)
		}
	}
}
