package main

import (
	"context"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/enrichmeter/enrichmeter/internal/testsupport"
)

// TestDashboardReadsTheQuickstartsTable runs examples/quickstart with
// -postgres and no -table, as a new user does, then the dashboard's handlers
// as its flags set them, with -postgres and no -table, on the same database
// (a fresh schema of its own): the status cards show what the quickstart
// wrote, and the quickstart says how to see it.
func TestDashboardReadsTheQuickstartsTable(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs examples/quickstart")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("no go command to run examples/quickstart with: %v", err)
	}
	// go test caches a result by the files a test reads, not by those of
	// the programs it runs: reading the quickstart's makes a change to it
	// run the test again.
	if _, err := os.ReadFile("../quickstart/main.go"); err != nil {
		t.Fatal(err)
	}
	var schema string
	if err := testsupport.Postgres(t).QueryRow(context.Background(), `SELECT current_schema()`).Scan(&schema); err != nil {
		t.Fatal(err)
	}
	dsn, err := url.Parse(os.Getenv(testsupport.EnvPostgres))
	if err != nil || dsn.Scheme == "" {
		t.Skipf("%s is not a URL (%v): this test adds the schema to its query", testsupport.EnvPostgres, err)
	}
	q := dsn.Query()
	q.Set("search_path", schema) // pgx sends it as a run-time parameter
	dsn.RawQuery = q.Encode()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goTool, "run", "./examples/quickstart", "-postgres", dsn.String())
	cmd.Dir = "../.."
	for _, kv := range os.Environ() { // the flags' defaults come from these
		if !strings.HasPrefix(kv, "DATABASE_URL=") && !strings.HasPrefix(kv, "REDIS_URL=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go run ./examples/quickstart: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "See them on the health page: go run ./examples/dashboard -postgres URL\n") {
		t.Errorf("the quickstart does not say how to see its statuses on the dashboard, with its default table:\n%s", out)
	}

	c, err := parseFlags([]string{"-postgres", dsn.String()})
	if err != nil {
		t.Fatal(err)
	}
	pool, err := pgxpool.New(ctx, c.postgresURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	s, _ := sampleServer(t)
	s.table, s.now = c.table, time.Now // the quickstart's week ends at its run
	if s.statuses, err = openStatuses(ctx, pool, c.table); err != nil {
		t.Fatal(err)
	}
	h := s.routes()
	var card pipelineCard
	getJSON(t, h, "/api/pipeline?window=all", &card)
	var names []string
	for _, src := range card.Sources {
		if src.Total == 0 {
			t.Errorf("%s has no outcomes", src.Source)
		}
		names = append(names, src.Source)
	}
	if got := strings.Join(names, " "); got != "claude contactout edgar exa" {
		t.Errorf("the dashboard reads the sources %q from the quickstart's table, want claude contactout edgar exa", got)
	}
	var groups errorGroups
	getJSON(t, h, "/api/errors?group=1&since=2000-01-01T00:00:00Z", &groups)
	if len(groups.Groups) == 0 {
		t.Errorf("the dashboard finds no failures in the quickstart's table")
	}
	if body := get(t, h, "/?window=all").Body.String(); strings.Contains(body, "does not exist") {
		t.Errorf("the page says a table is missing:\n%s", body)
	}
}

func TestMain(m *testing.M) {
	testsupport.Main(m)
}
