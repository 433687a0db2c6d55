package sourcestatus_test

import (
	"testing"
	"time"

	"github.com/enrichmeter/enrichmeter/sourcestatus"
)

// FuzzPayloadUnmarshal checks that no input panics, and that what reads
// marshals and reads back to the same payload, at millisecond precision. Its
// seeds in testdata/fuzz run in every go test.
func FuzzPayloadUnmarshal(f *testing.F) {
	f.Add([]byte(`{"status":"failed","error":"HTTP 429","at":"2026-11-26T03:15:03.123Z"}`))
	f.Add([]byte(`"complete"`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var p sourcestatus.Payload
		if err := p.UnmarshalJSON(data); err != nil {
			return
		}
		var s sourcestatus.Statuses
		_ = s.UnmarshalJSON(data)
		if p.Status == "" {
			return // JSON null: p was left as it was, zero
		}
		out, err := p.MarshalJSON()
		if err != nil {
			if p.At.Year() < 0 || p.At.Year() > 9999 {
				return // JavaScript writes such years in another form
			}
			t.Fatalf("MarshalJSON(%+v) after reading %q: %v", p, data, err)
		}
		var back sourcestatus.Payload
		if err := back.UnmarshalJSON(out); err != nil {
			t.Fatalf("reading %s back: %v", out, err)
		}
		want := p
		want.At = p.At.Truncate(time.Millisecond)
		if back != want {
			t.Fatalf("round trip of %q: %+v, want %+v", data, back, want)
		}
	})
}
