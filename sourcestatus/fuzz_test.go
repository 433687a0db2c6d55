package sourcestatus_test

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/enrichmeter/enrichmeter/sourcestatus"
)

// FuzzPayloadUnmarshal reads each input as an entry and as a column, and
// checks that what reads marshals and reads back to the same value, at
// millisecond precision. Its seeds in testdata/fuzz run in every go test.
func FuzzPayloadUnmarshal(f *testing.F) {
	f.Add([]byte(`{"status":"failed","error":"HTTP 429","at":"2026-11-26T03:15:03.123Z"}`))
	f.Add([]byte(`"complete"`))
	f.Add([]byte(`{"exa": "complete", "sec": {"status": "failed", "at": "2026-11-26T05:15:03.123456+02:00"}, "x": null}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var p sourcestatus.Payload
		if err := p.UnmarshalJSON(data); err == nil && p.Status != "" { // "" after JSON null
			checkRoundTrip(t, data, sourcestatus.Statuses{"entry": p})
		}
		var s sourcestatus.Statuses
		if err := s.UnmarshalJSON(data); err == nil {
			checkRoundTrip(t, data, s)
		}
	})
}

// checkRoundTrip checks that s, read from data, marshals and reads back the
// same, its times cut to the millisecond. Years outside 0 to 9999, which
// JavaScript writes in another form and MarshalJSON refuses, are skipped.
func checkRoundTrip(t *testing.T, data []byte, s sourcestatus.Statuses) {
	t.Helper()
	want := sourcestatus.Statuses{}
	for source, p := range s {
		if y := p.At.Year(); y < 0 || y > 9999 {
			return
		}
		p.At = p.At.Truncate(time.Millisecond)
		want[source] = p
	}
	out, err := s.MarshalJSON()
	if err != nil {
		t.Fatalf("MarshalJSON(%+v) after reading %q: %v", s, data, err)
	}
	var back sourcestatus.Statuses
	if err := back.UnmarshalJSON(out); err != nil {
		t.Fatalf("reading %s back: %v", out, err)
	}
	checkStatuses(t, back, want)
}

// FuzzSafeError puts a key, as its own word, between a prefix and a suffix
// of any bytes, and cleans the message under a limit of at least 64 bytes:
// what is stored never panics, fits the limit, is valid UTF-8 without NUL,
// and holds no piece of the key.
func FuzzSafeError(f *testing.F) {
	f.Add(`{"apiKey":"`, `"}`, 4096)
	f.Add("Authorization: Bearer", "\r\nHost: x", 80)
	f.Add(`{\"token\":\"`, `\"}`, 64)
	f.Add("GET https://u:p@h/x?q=", "#frag", 100)
	f.Add("token", "\xff\x00 rejected", 70)
	f.Fuzz(func(t *testing.T, prefix, suffix string, max int) {
		const key = "sk-ant-api03-Xq7vR2mLp8TwN4bYc7AZk3vQ9xT2"
		max = 64 + (max&0xffff)%4096
		msg := prefix + " " + key + " " + suffix
		got := sourcestatus.SafeError(msg, max)
		if len(got) > max || !utf8.ValidString(got) || strings.Contains(got, "\x00") {
			t.Fatalf("SafeError(%q, %d) = %q: over the limit, invalid UTF-8 or NUL", msg, max, got)
		}
		for i := 0; i+6 <= len(key)-13; i++ {
			if piece := key[13+i : 13+i+6]; strings.Contains(got, piece) && !strings.Contains(prefix+suffix, piece) {
				t.Fatalf("SafeError(%q, %d) = %q keeps %q of the key", msg, max, got, piece)
			}
		}
	})
}
