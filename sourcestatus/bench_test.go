package sourcestatus_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
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
// Reader.Get, beside the same query with its rows scanned into strings and
// not decoded: the difference is what decoding costs.
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
	b.Run("impl=QueryOnly", func(b *testing.B) { // Get's query, one row per entry
		const get = `SELECT e.key, e.value::text FROM prospects p LEFT JOIN LATERAL jsonb_each(CASE WHEN jsonb_typeof(p.enrichment_source_status) = 'object' THEN p.enrichment_source_status ELSE '{}'::jsonb END) e ON true WHERE p.id = $1::text::text`
		b.ReportAllocs()
		for b.Loop() {
			rows, err := pool.Query(ctx, get, "p")
			if err != nil {
				b.Fatal(err)
			}
			var source, value *string
			n, err := pgx.ForEachRow(rows, []any{&source, &value}, func() error { return nil })
			if err != nil || n.RowsAffected() != 5 {
				b.Fatal(n, err)
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

// BenchmarkUpdate records outcomes, one in ten a failure, each of a random
// source of a random prospect among 100,000, from 1, 8 and 32 workers: with
// one merge statement (Update), with Update on a table that has the schema
// kit's indexes (UpdateWithKit), and with the TypeScript app's
// read-modify-write in two round trips, which also loses updates.
//
//	go test ./sourcestatus -run '^$' -bench Update -benchmem -count 6 | benchstat -col /impl -
func BenchmarkUpdate(b *testing.B) {
	const prospects = 100_000
	table := func(kit bool) (*pgxpool.Pool, *sourcestatus.Updater) {
		pool := testsupport.Postgres(b, func(c *pgxpool.Config) { c.MaxConns = 32 })
		testsupport.FillProspects(b, pool, prospects, 3)
		if kit {
			s, err := sourcestatus.NewSchema()
			if err != nil {
				b.Fatal(err)
			}
			if err := s.Apply(context.Background(), pool); err != nil {
				b.Fatal(err)
			}
		}
		u, err := sourcestatus.NewUpdater(pool)
		if err != nil {
			b.Fatal(err)
		}
		return pool, u
	}
	plainPool, plain := table(false)
	_, withKit := table(true)
	ctx := context.Background()
	sources := []string{"apollo", "contactout", "exa", "sec"}
	payload := func() sourcestatus.Payload {
		if rand.IntN(10) == 0 {
			return sourcestatus.Payload{Status: sourcestatus.Failed, Error: "HTTP 429", At: time.Now()}
		}
		return sourcestatus.Payload{Status: sourcestatus.Complete, At: time.Now()}
	}
	readModifyWrite := func(id, source string) error {
		var col string
		if err := plainPool.QueryRow(ctx, `SELECT COALESCE(enrichment_source_status::text, '{}') FROM prospects WHERE id = $1`, id).Scan(&col); err != nil {
			return err
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(col), &m); err != nil {
			return err
		}
		m[source] = payload()
		out, err := json.Marshal(m)
		if err != nil {
			return err
		}
		_, err = plainPool.Exec(ctx, `UPDATE prospects SET enrichment_source_status = $2::text::jsonb WHERE id = $1`, id, string(out))
		return err
	}
	for _, workers := range []int{1, 8, 32} {
		run := func(b *testing.B, update func(id, source string) error) {
			b.ReportAllocs()
			one := func() error {
				return update("p"+strconv.Itoa(1+rand.IntN(prospects)), sources[rand.IntN(len(sources))])
			}
			if workers == 1 {
				for b.Loop() {
					if err := one(); err != nil {
						b.Fatal(err)
					}
				}
				return
			}
			b.SetParallelism(max(1, workers/runtime.GOMAXPROCS(0)))
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := one(); err != nil {
						b.Error(err)
						return
					}
				}
			})
		}
		b.Run(fmt.Sprintf("workers=%d/impl=ReadModifyWrite", workers), func(b *testing.B) { run(b, readModifyWrite) })
		b.Run(fmt.Sprintf("workers=%d/impl=Update", workers), func(b *testing.B) {
			run(b, func(id, source string) error { return plain.Update(ctx, id, source, payload()) })
		})
		b.Run(fmt.Sprintf("workers=%d/impl=UpdateWithKit", workers), func(b *testing.B) {
			run(b, func(id, source string) error { return withKit.Update(ctx, id, source, payload()) })
		})
	}
}
