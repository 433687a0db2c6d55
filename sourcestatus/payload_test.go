package sourcestatus_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/enrichmeter/enrichmeter/sourcestatus"
)

var at = time.Date(2026, 11, 26, 3, 15, 3, 123_000_000, time.UTC)

func TestPayloadMarshal(t *testing.T) {
	cases := []struct {
		p    sourcestatus.Payload
		want string
	}{
		{sourcestatus.Payload{Status: sourcestatus.Failed, Error: "HTTP 429", At: at},
			`{"status":"failed","error":"HTTP 429","at":"2026-11-26T03:15:03.123Z"}`},
		{sourcestatus.Payload{Status: sourcestatus.Complete, At: at},
			`{"status":"complete","at":"2026-11-26T03:15:03.123Z"}`},
		// Truncated, not rounded, to milliseconds, and always three digits.
		{sourcestatus.Payload{Status: sourcestatus.Pending, At: time.Date(2026, 1, 2, 3, 4, 5, 999_999_999, time.UTC)},
			`{"status":"pending","at":"2026-01-02T03:04:05.999Z"}`},
		{sourcestatus.Payload{Status: sourcestatus.Pending, At: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)},
			`{"status":"pending","at":"2026-01-02T03:04:05.000Z"}`},
		// Converted to UTC.
		{sourcestatus.Payload{Status: sourcestatus.Skipped, At: time.Date(2026, 11, 25, 22, 15, 3, 123_456_000, time.FixedZone("EST", -5*3600))},
			`{"status":"skipped","at":"2026-11-26T03:15:03.123Z"}`},
		// No time: at is left out, as in a legacy entry.
		{sourcestatus.Payload{Status: sourcestatus.CircuitOpen}, `{"status":"circuit_open"}`},
		// Escaped as JSON.stringify does: no \u003c for '<', raw U+2028, lower-case hex.
		{sourcestatus.Payload{Status: "failed", Error: "<b>\"quota\" & \\ \n\t\x01\u2028é😀"},
			`{"status":"failed","error":"<b>\"quota\" & \\ \n\t\u0001` + "\u2028é😀" + `"}`},
		{sourcestatus.Payload{Status: "custom_status", Error: "bad \xff byte"},
			`{"status":"custom_status","error":"bad ` + "\uFFFD" + ` byte"}`},
	}
	for _, c := range cases {
		got, err := c.p.MarshalJSON()
		if err != nil || string(got) != c.want {
			t.Errorf("MarshalJSON(%+v) = %s, %v; want %s", c.p, got, err, c.want)
		}
		// json.Marshal may escape more (HTML-safe), but the value is the same.
		var back sourcestatus.Payload
		viaJSON, err := json.Marshal(c.p)
		if err != nil || json.Unmarshal(viaJSON, &back) != nil || back.Status != c.p.Status {
			t.Errorf("json.Marshal(%+v) = %s, %v", c.p, viaJSON, err)
		}
	}
}

func TestPayloadMarshalErrors(t *testing.T) {
	for _, p := range []sourcestatus.Payload{
		{},
		{Error: "x", At: at},
		{Status: "failed", At: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)},
		{Status: "failed", At: time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC)},
	} {
		if _, err := p.MarshalJSON(); err == nil || !strings.HasPrefix(err.Error(), "sourcestatus: ") {
			t.Errorf("MarshalJSON(%+v) = %v, want a sourcestatus error", p, err)
		}
	}
}

func TestFormatTime(t *testing.T) {
	got, err := sourcestatus.FormatTime(at)
	if err != nil || got != "2026-11-26T03:15:03.123Z" || len(got) != 24 {
		t.Errorf("FormatTime(%v) = %q, %v", at, got, err)
	}
}

func TestPayloadUnmarshal(t *testing.T) {
	cases := []struct {
		in   string
		want sourcestatus.Payload
	}{
		{`"complete"`, sourcestatus.Payload{Status: sourcestatus.Complete}},
		{` "some_new_status" `, sourcestatus.Payload{Status: "some_new_status"}},
		{`{"status":"failed","error":"HTTP 429","at":"2026-11-26T03:15:03.123Z"}`,
			sourcestatus.Payload{Status: sourcestatus.Failed, Error: "HTTP 429", At: at}},
		// PostgreSQL's jsonb output: other key order, spaces.
		{`{"at": "2026-11-26T03:15:03.123Z", "error": "HTTP 429", "status": "failed"}`,
			sourcestatus.Payload{Status: sourcestatus.Failed, Error: "HTTP 429", At: at}},
		{`{"status":"complete","error":null,"at":null,"attempts":3,"meta":{"a":[1,2.5e3,{"b":null}],"c":true}}`,
			sourcestatus.Payload{Status: sourcestatus.Complete}},
		{`{"status":"complete","at":"2026-11-26T03:15:03Z"}`,
			sourcestatus.Payload{Status: sourcestatus.Complete, At: at.Truncate(time.Second)}},
		{`{"status":"complete","at":"2026-11-26T03:15:03.123456789Z"}`,
			sourcestatus.Payload{Status: sourcestatus.Complete, At: at.Add(456789)}},
		{`{"status":"complete","at":"2026-11-26T05:15:03.123+02:00"}`,
			sourcestatus.Payload{Status: sourcestatus.Complete, At: at}},
		// RFC 3339 allows lower-case "t" and "z" (section 5.6).
		{`{"status":"complete","at":"2026-11-26t03:15:03.123z"}`,
			sourcestatus.Payload{Status: sourcestatus.Complete, At: at}},
		{`{"status":"fa\u0069led","error":"\"quoted\" \\ \/ \ud83d\ude00 \u00e9\n"}`,
			sourcestatus.Payload{Status: sourcestatus.Failed, Error: "\"quoted\" \\ / 😀 é\n"}},
		// A lone surrogate, and each byte of invalid UTF-8, become U+FFFD, as
		// encoding/json and MarshalJSON make them.
		{`{"status":"failed","error":"\ud800 a` + "\xff\xfe" + `b"}`,
			sourcestatus.Payload{Status: sourcestatus.Failed, Error: "\uFFFD a\uFFFD\uFFFDb"}},
		// The last of repeated keys wins.
		{`{"status":"pending","status":"failed"}`, sourcestatus.Payload{Status: sourcestatus.Failed}},
	}
	for _, c := range cases {
		var got sourcestatus.Payload
		if err := json.Unmarshal([]byte(c.in), &got); err != nil || got != c.want {
			t.Errorf("Unmarshal(%s) = %+v, %v; want %+v", c.in, got, err, c.want)
		}
		if !got.At.IsZero() && got.At.Location() != time.UTC {
			t.Errorf("Unmarshal(%s): At in %v, want UTC", c.in, got.At.Location())
		}
	}
}

func TestPayloadUnmarshalErrors(t *testing.T) {
	var (
		syntax    *json.SyntaxError
		wrongType *json.UnmarshalTypeError
		badTime   *time.ParseError
	)
	cases := []struct {
		in   string
		want any // an error to match with errors.Is, or a pointer for errors.As
	}{
		{`42`, &wrongType},
		{`[]`, &wrongType},
		{`["complete"]`, &wrongType},
		{`true`, &wrongType},
		{`""`, sourcestatus.ErrEmptyStatus},
		{`{}`, sourcestatus.ErrEmptyStatus},
		{`{"error":"x"}`, sourcestatus.ErrEmptyStatus},
		{`{"status":""}`, sourcestatus.ErrEmptyStatus},
		{`{"status":null}`, sourcestatus.ErrEmptyStatus},
		{`{"Status":"failed"}`, sourcestatus.ErrEmptyStatus}, // keys match exactly, as in JavaScript
		{`{"status":7}`, &wrongType},
		{`{"status":{"x":1}}`, &wrongType},
		{`{"status":"failed","error":5}`, &wrongType},
		{`{"status":"failed","at":1764126903}`, &wrongType},
		{`{"status":"failed","at":"yesterday"}`, &badTime},
		{`{"status":"failed","at":"2026-11-26 03:15:03Z"}`, &badTime},
		{`{"status":"failed","at":""}`, &badTime},
		{`{"status":"failed"`, &syntax},
		{`{"status":"failed",}`, &syntax},
		{`{"status" "failed"}`, &syntax},
		{`"unterminated`, &syntax},
		{`"complete" "again"`, &syntax},
		{`{"status":"ok","x":[1,2}`, &syntax},
		{`{"status":"ok","x":01}`, &syntax},
		{`{"status":"ok","x":tru}`, &syntax},
		{`"bad \x escape"`, &syntax},
		{"\"ctl \x01 char\"", &syntax},
		{``, &syntax},
		{`{"status":"ok","x":` + strings.Repeat("[", 10_001) + strings.Repeat("]", 10_001) + `}`, &syntax},
	}
	for _, c := range cases {
		var p sourcestatus.Payload
		err := p.UnmarshalJSON([]byte(c.in))
		if err == nil || !strings.HasPrefix(err.Error(), "sourcestatus: ") {
			t.Errorf("UnmarshalJSON(%.40s) = %v, want a sourcestatus error", c.in, err)
			continue
		}
		if target, ok := c.want.(error); ok && !errors.Is(err, target) || !ok && !errors.As(err, c.want) {
			t.Errorf("UnmarshalJSON(%.40s) = %v, want %T", c.in, err, c.want)
		}
	}
	p := sourcestatus.Payload{Status: "kept"}
	if err := p.UnmarshalJSON([]byte(` null `)); err != nil || p.Status != "kept" {
		t.Errorf("null: %+v, %v; want the payload unchanged", p, err)
	}
}

func TestStatusesUnmarshal(t *testing.T) {
	col := `{"contactout": "complete", "exa": {"status": "failed", "error": "HTTP 429", "at": "2026-11-26T03:15:03.123Z"},
		"sec": null, "claude": {"status": "pending", "at": "2026-11-26T03:15:03.123Z", "attempt": 2}}`
	var s sourcestatus.Statuses
	if err := json.Unmarshal([]byte(col), &s); err != nil {
		t.Fatal(err)
	}
	want := sourcestatus.Statuses{
		"contactout": {Status: sourcestatus.Complete},
		"exa":        {Status: sourcestatus.Failed, Error: "HTTP 429", At: at},
		"claude":     {Status: sourcestatus.Pending, At: at},
	}
	checkStatuses(t, s, want)
	for _, bad := range []string{`"complete"`, `[]`, `{"exa": "complete"`} {
		if err := json.Unmarshal([]byte(bad), &s); err == nil {
			t.Errorf("Unmarshal(%s) into Statuses succeeded", bad)
		}
	}
	// A malformed entry is reported; the others are read.
	var malformed *sourcestatus.MalformedError
	err := json.Unmarshal([]byte(`{"exa": 1, "sec": "complete"}`), &s)
	if !errors.As(err, &malformed) || len(malformed.Entries) != 1 || malformed.Entries["exa"] == nil {
		t.Errorf("Unmarshal with a malformed entry = %v, want a *MalformedError of exa", err)
	}
	checkStatuses(t, s, sourcestatus.Statuses{"sec": {Status: sourcestatus.Complete}})

	out, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	const wantJSON = `{"claude":{"status":"pending","at":"2026-11-26T03:15:03.123Z"},"contactout":{"status":"complete"},"exa":{"status":"failed","error":"HTTP 429","at":"2026-11-26T03:15:03.123Z"}}`
	if string(out) != wantJSON {
		t.Errorf("Marshal(Statuses) = %s, want %s", out, wantJSON)
	}
}
