package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/enrichmeter/enrichmeter/internal/testsupport"
)

func TestMain(m *testing.M) {
	testsupport.Main(m)
}

// newConfig points the pipeline at the test database, in a table of its own.
func newConfig(t *testing.T, prospects int) (config, *pgxpool.Pool) {
	dsn := testsupport.Env(t, testsupport.EnvPostgres, "postgres://postgres@127.0.0.1:5432/test")
	table := testsupport.UniqueName("pipeline_")
	pool, err := pgxpool.New(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := pool.Exec(context.Background(), "DROP TABLE IF EXISTS "+pgx.Identifier{table}.Sanitize()); err != nil {
			t.Errorf("drop %s: %v", table, err)
		}
		pool.Close()
	})
	return config{postgresURL: dsn, table: table, prospects: prospects, workers: 4}, pool
}

func TestPipelineRecordsEveryOutcome(t *testing.T) {
	c, pool := newConfig(t, 40)
	var out bytes.Buffer
	if err := run(context.Background(), &out, c); err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + out.String())
	if !strings.Contains(out.String(), "enriched 40 of 40") || !strings.Contains(out.String(), "pending=0 dropped=0") {
		t.Errorf("output:\n%s", out.String())
	}
	// Every prospect has four outcomes, none left pending.
	var entries, pending, skipped int
	err := pool.QueryRow(context.Background(), `SELECT count(*), count(*) FILTER (WHERE e.value->>'status' = 'pending'),
		count(*) FILTER (WHERE e.key = 'edgar' AND e.value->>'status' = 'skipped')
		FROM `+pgx.Identifier{c.table}.Sanitize()+`, jsonb_each(enrichment_source_status) e`).Scan(&entries, &pending, &skipped)
	if err != nil {
		t.Fatal(err)
	}
	if entries != 160 || pending != 0 || skipped == 0 {
		t.Errorf("%d entries (want 160), %d pending (want 0), %d edgar skipped (want some)", entries, pending, skipped)
	}
}

// TestPipelineDrainsOnInterrupt interrupts the pipeline once 20 of 200
// prospects are enriched: it finishes those in flight and starts no more.
func TestPipelineDrainsOnInterrupt(t *testing.T) {
	const interruptAfter = 20
	c, pool := newConfig(t, 200)
	stop, cancel := context.WithCancel(context.Background())
	defer cancel()
	c.enriched = func(done int) {
		if done == interruptAfter {
			cancel() // SIGINT, in effect
		}
	}
	var out bytes.Buffer
	if err := run(stop, &out, c); err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + out.String())
	if !strings.Contains(out.String(), "interrupted") || !strings.Contains(out.String(), "pending=0 dropped=0") {
		t.Errorf("output:\n%s", out.String())
	}
	// Prospects that were started are complete: no source left pending.
	var started, pending int
	err := pool.QueryRow(context.Background(), `SELECT count(DISTINCT id), count(*) FILTER (WHERE e.value->>'status' = 'pending')
		FROM `+pgx.Identifier{c.table}.Sanitize()+`, jsonb_each(enrichment_source_status) e`).Scan(&started, &pending)
	if err != nil {
		t.Fatal(err)
	}
	if started < interruptAfter || started == 200 || pending != 0 {
		t.Errorf("%d prospects started (want at least %d, not all), %d entries pending (want 0)", started, interruptAfter, pending)
	}
}
