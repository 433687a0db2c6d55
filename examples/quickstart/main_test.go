package main

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/enrichmeter/enrichmeter/examples/internal/enrich"
	"github.com/enrichmeter/enrichmeter/internal/testsupport"
)

func TestMain(m *testing.M) {
	testsupport.Main(m)
}

// now is when the tests' simulated week ends.
var now = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

func TestQuickstartWithoutServers(t *testing.T) {
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := run(ctx, &out, config{now: now}); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	t.Log("\n" + text)
	for _, want := range []string{"apollo", "contactout", "exa", "edgar", "claude", "pending=0 dropped=0", `"status":"failed"`, "legacy shape",
		"alert: apollo               passed 100% of its 100 a month", "refused: 8 calls, never sent: the month's 100 apollo were used",
		"claude_output_tokens", "Apollo itself reports"} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	// Every provider has a line with a count for today.
	for _, p := range enrich.Providers {
		found := false
		for _, line := range strings.Split(text, "\n") {
			f := strings.Fields(line)
			found = found || len(f) > 2 && f[0] == string(p) && f[1] != "0"
		}
		if !found {
			t.Errorf("no count for %s today", p)
		}
	}
}

func TestQuickstartWithPostgres(t *testing.T) {
	dsn := testsupport.Env(t, testsupport.EnvPostgres, "postgres://postgres@127.0.0.1:5432/test")
	table := testsupport.UniqueName("quickstart_")
	t.Cleanup(func() {
		conn, err := pgx.Connect(context.Background(), dsn)
		if err == nil {
			_, err = conn.Exec(context.Background(), "DROP TABLE IF EXISTS "+pgx.Identifier{table}.Sanitize())
			err = errors.Join(err, conn.Close(context.Background()))
		}
		if err != nil {
			t.Errorf("drop %s: %v", table, err)
		}
	})
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := run(ctx, &out, config{postgresURL: dsn, table: table, now: now}); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	t.Log("\n" + text)
	if !strings.Contains(text, "Error Feed") || !strings.Contains(text, "HTTP 429") && !strings.Contains(text, "HTTP 5") {
		t.Errorf("no error feed with failures in:\n%s", text)
	}
}

// TestQuickstartPrintsTheSameOnEveryRun runs the simulation twice, ending at
// the same time, and compares what it printed: no wall clock decides it.
func TestQuickstartPrintsTheSameOnEveryRun(t *testing.T) {
	var outs [2]bytes.Buffer
	for i := range outs {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := run(ctx, &outs[i], config{now: now}); err != nil {
			t.Fatal(err)
		}
	}
	if a, b := outs[0].String(), outs[1].String(); a != b {
		t.Errorf("two runs printed different output:\n%s\n----\n%s", a, b)
	}
}
