package sourcestatus_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/enrichmeter/enrichmeter/internal/testsupport"
	"github.com/enrichmeter/enrichmeter/sourcestatus"
)

// The benchmarks put each operation beside its baseline in one run:
//
//	go test ./sourcestatus -run '^$' -bench . -benchmem -count 10 | benchstat -col /impl -

// mixedColumn is a column as the dashboard meets it: legacy bare strings
// beside new objects.
const mixedColumn = `{"sec": "complete", "exa": {"at": "2026-11-26T03:15:03.123Z", "error": "HTTP 429", "status": "failed"}, "apollo": "complete", "claude": {"at": "2026-11-26T03:15:04.456Z", "status": "complete"}, "contactout": {"at": "2026-11-26T03:15:02.001Z", "error": "no match", "status": "skipped"}}`

// BenchmarkGet reads one prospect's mixed column end to end with
// Reader.Get, beside the same query scanned into a string and not decoded:
// the difference is what decoding costs.
func BenchmarkGet(b *testing.B) {
	pool := testsupport.Postgres(b)
	ctx := context.Background()
	if _, err := pool.Exec(ctx, `CREATE TABLE prospects (id text PRIMARY KEY, enrichment_source_status jsonb)`); err != nil {
		b.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO prospects VALUES ('p', $1::text::jsonb)`, mixedColumn); err != nil {
		b.Fatal(err)
	}
	r, err := sourcestatus.NewReader(pool)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("impl=QueryOnly", func(b *testing.B) {
		const get = `SELECT CASE WHEN jsonb_typeof(enrichment_source_status) = 'object' THEN enrichment_source_status::text ELSE '{}' END FROM prospects WHERE id = $1::text::text`
		b.ReportAllocs()
		for b.Loop() {
			var col string
			if err := pool.QueryRow(ctx, get, "p").Scan(&col); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("impl=Get", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if s, err := r.Get(ctx, "p"); err != nil || len(s) != 5 {
				b.Fatal(s, err)
			}
		}
	})
}

// BenchmarkUpdate records outcomes from 8 concurrent workers, each a random
// source of a random prospect, with one merge statement (Update) and with the
// TypeScript app's read-modify-write in two round trips, which also loses
// updates.
func BenchmarkUpdate(b *testing.B) {
	const prospects, workers = 1000, 8
	pool := testsupport.Postgres(b, func(c *pgxpool.Config) { c.MaxConns = workers })
	ctx := context.Background()
	if _, err := pool.Exec(ctx, `CREATE TABLE prospects (id text PRIMARY KEY, enrichment_source_status jsonb)`); err != nil {
		b.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO prospects SELECT 'p' || i, '{"apollo": "complete"}' FROM generate_series(0, $1::int - 1) i`, prospects); err != nil {
		b.Fatal(err)
	}
	u, err := sourcestatus.NewUpdater(pool)
	if err != nil {
		b.Fatal(err)
	}
	sources := []string{"contactout", "exa", "sec", "claude"}
	payload := sourcestatus.Payload{Status: sourcestatus.Failed, Error: "HTTP 429", At: time.Now()}
	run := func(b *testing.B, update func(id, source string) error) {
		b.SetParallelism(max(1, workers/runtime.GOMAXPROCS(0)))
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				id := fmt.Sprintf("p%d", rand.IntN(prospects))
				if err := update(id, sources[rand.IntN(len(sources))]); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	b.Run("impl=ReadModifyWrite", func(b *testing.B) {
		run(b, func(id, source string) error {
			var col string
			if err := pool.QueryRow(ctx, `SELECT COALESCE(enrichment_source_status::text, '{}') FROM prospects WHERE id = $1`, id).Scan(&col); err != nil {
				return err
			}
			var m map[string]any
			if err := json.Unmarshal([]byte(col), &m); err != nil {
				return err
			}
			m[source] = payload
			out, err := json.Marshal(m)
			if err != nil {
				return err
			}
			_, err = pool.Exec(ctx, `UPDATE prospects SET enrichment_source_status = $2::text::jsonb WHERE id = $1`, id, string(out))
			return err
		})
	})
	b.Run("impl=Update", func(b *testing.B) {
		run(b, func(id, source string) error { return u.Update(ctx, id, source, payload) })
	})
}
