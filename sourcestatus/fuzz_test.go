package sourcestatus_test

import (
	"testing"
	"time"

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
