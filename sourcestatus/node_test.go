package sourcestatus_test

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/enrichmeter/enrichmeter/internal/testsupport"
	"github.com/enrichmeter/enrichmeter/sourcestatus"
)

// dashboardJS reads a column as the dashboard does, checks each entry, and
// writes back what JavaScript itself would write for the same payload. It
// reads {"column": <column text>, "written": {source: <Go's bytes>}}.
const dashboardJS = `
const input = JSON.parse(require("fs").readFileSync(0, "utf8"));
const column = JSON.parse(input.column);
const out = {};
for (const [source, entry] of Object.entries(column)) {
  const e = typeof entry === "string" ? { status: entry } : entry;  // the dashboard's rule
  if (typeof e.status !== "string" || e.status === "") throw new Error(source + ": no status");
  if (e.at !== undefined && new Date(e.at).toISOString() !== e.at) throw new Error(source + ": at " + e.at + " does not round-trip");
  out[source] = { status: e.status, error: e.error ?? null, at: e.at ?? null };
}
// What the TypeScript app would write for each payload Go wrote.
const rewritten = {};
for (const [source, text] of Object.entries(input.written)) {
  const p = JSON.parse(text);
  const ts = { status: p.status };
  if (p.error) ts.error = p.error;
  if (p.at) ts.at = new Date(p.at).toISOString();
  rewritten[source] = JSON.stringify(ts);
}
process.stdout.write(JSON.stringify({ read: out, rewritten }));
`

type nodeResult struct {
	Read map[string]struct {
		Status string  `json:"status"`
		Error  *string `json:"error"`
		At     *string `json:"at"`
	} `json:"read"`
	Rewritten map[string]string `json:"rewritten"`
}

func runDashboard(t *testing.T, column string, written map[string]string) nodeResult {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed: the JavaScript compatibility test needs Node.js")
	}
	in, _ := json.Marshal(map[string]any{"column": column, "written": written})
	cmd := exec.Command(node, "-e", dashboardJS)
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, stderr.String())
	}
	var res nodeResult
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("node wrote %s: %v", out, err)
	}
	return res
}

var jsPayloads = sourcestatus.Statuses{
	"exa":        {Status: sourcestatus.Failed, Error: "HTTP 429", At: time.Date(2026, 11, 26, 3, 15, 3, 123_999_999, time.UTC)},
	"claude":     {Status: sourcestatus.Complete, At: time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("X", 3600))},
	"contactout": {Status: sourcestatus.CircuitOpen, Error: "<5 failures> & \"quoted\" \\ \n\t\x01 \u2028 é 😀", At: time.Date(1999, 12, 31, 23, 59, 59, 1_000_000, time.UTC)},
	"sec":        {Status: sourcestatus.Skipped, At: time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)},
	"custom":     {Status: "some_future_status", At: time.Date(2026, 11, 26, 0, 0, 0, 999_000, time.UTC)},
}

// TestJavaScriptReadsWhatGoWrites shows that the dashboard's own rule reads
// what Go wrote, that every time survives new Date(at).toISOString(), and
// that JavaScript writes each payload in exactly Go's bytes.
func TestJavaScriptReadsWhatGoWrites(t *testing.T) {
	written := map[string]string{}
	for source, p := range jsPayloads {
		b, err := p.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		written[source] = string(b)
	}
	column, err := jsPayloads.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	// A legacy entry beside the new ones.
	withLegacy := strings.Replace(string(column), "{", `{"apollo":"complete",`, 1)
	res := runDashboard(t, withLegacy, written)
	for source, text := range written {
		if res.Rewritten[source] != text {
			t.Errorf("%s: JavaScript writes %s, Go wrote %s", source, res.Rewritten[source], text)
		}
	}
	if got := res.Read["apollo"]; got.Status != "complete" || got.At != nil {
		t.Errorf("legacy entry read as %+v", got)
	}
	for source, p := range jsPayloads {
		got := res.Read[source]
		at, _ := sourcestatus.FormatTime(p.At)
		if got.Status != string(p.Status) || got.At == nil || *got.At != at {
			t.Errorf("%s read as %+v, want status %s at %s", source, got, p.Status, at)
		}
	}
}

// TestJavaScriptReadsWhatPostgreSQLStores goes through the column: Go
// updates, PostgreSQL stores jsonb and prints it, and the dashboard reads it.
func TestJavaScriptReadsWhatPostgreSQLStores(t *testing.T) {
	pool := testsupport.Postgres(t)
	createProspects(t, pool, "text")
	insert(t, pool, "p", `{"apollo": "complete"}`)
	u := mustNew(t, sourcestatus.NewUpdater, pool)
	for source, p := range jsPayloads {
		if err := u.Update(ctxT(t), "p", source, p); err != nil {
			t.Fatal(err)
		}
	}
	res := runDashboard(t, column(t, pool, "p"), map[string]string{})
	if len(res.Read) != len(jsPayloads)+1 || res.Read["apollo"].Status != "complete" {
		t.Errorf("dashboard read %+v", res.Read)
	}
	for source, p := range jsPayloads {
		got := res.Read[source]
		at, _ := sourcestatus.FormatTime(p.At)
		wantErr := p.Error
		if got.Status != string(p.Status) || got.At == nil || *got.At != at || (wantErr != "") != (got.Error != nil) || got.Error != nil && *got.Error != wantErr {
			t.Errorf("%s read as %+v, want %+v", source, got, p)
		}
	}
}
