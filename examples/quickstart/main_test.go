package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/enrichmeter/enrichmeter/internal/testsupport"
)

func TestQuickstartWithoutServers(t *testing.T) {
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := run(ctx, &out, config{}); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	t.Log("\n" + text)
	for _, want := range []string{"apollo", "contactout", "exa", "edgar", "claude", "pending=0 dropped=0", `"status":"failed"`, "legacy shape"} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	// Every provider has a line with a count for today.
	for _, p := range allProviders {
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
			conn.Exec(context.Background(), "DROP TABLE IF EXISTS "+pgx.Identifier{table}.Sanitize())
			conn.Close(context.Background())
		}
	})
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := run(ctx, &out, config{postgresURL: dsn, table: table}); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	t.Log("\n" + text)
	if !strings.Contains(text, "Error Feed") || !strings.Contains(text, "HTTP 429") && !strings.Contains(text, "HTTP 5") {
		t.Errorf("no error feed with failures in:\n%s", text)
	}
}
