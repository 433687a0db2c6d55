package sourcestatus_test

import (
	"context"
	"errors"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/enrichmeter/enrichmeter/internal/testsupport"
	"github.com/enrichmeter/enrichmeter/sourcestatus"
)

// oddRows are columns that test where the kit's functions and the plain
// SQL could disagree: failures of the same time in several rows and
// sources, times that are empty or not strings, entries that are arrays,
// columns that are not objects, legacy failures beside timed ones, entries
// of one row weeks apart.
var oddRows = map[string]any{
	"empty":  `{"exa": {"status": "failed", "at": ""}, "sec": {"status": "complete", "at": ""}}`,
	"number": `{"exa": {"status": "failed", "at": 5}, "sec": {"status": "complete", "at": 99999}}`,
	"array":  `{"exa": [{"status": "failed", "at": "2026-11-28T11:30:00.000Z"}], "sec": {"status": "complete", "at": "2026-11-20T00:00:00.000Z"}}`,
	"notobj": `[{"status": "failed", "at": "2026-11-28T11:30:00.000Z"}]`,
	"string": `"failed"`,
	"oddat":  `{"exa": {"status": "failed", "at": null}, "sec": {"status": "failed", "at": {"t": "2027"}}, "claude": {"status": "complete", "at": true}}`,
	"null":   `null`,
	"sqlnul": nil,
	"legacy": `{"exa": "failed", "contactout": {"status": "failed", "error": "x", "at": "2026-11-27T00:00:00.000Z"}}`,
	"noat":   `{"exa": {"status": "failed", "error": "no time"}, "sec": {"status": "complete"}}`,
	"future": `{"exa": {"status": "failed", "at": "2027-01-01T00:00:00.000Z"}, "sec": {"status": "pending", "at": "2027-01-01T00:00:00.000Z"}}`,
	"caps":   `{"Exa": {"status": "FAILED", "at": "2026-11-28T11:59:00.000Z"}, "exa": {"status": "failed", "at": "2026-11-28T11:59:00.000Z"}}`,
	"span":   `{"apollo": {"status": "complete", "at": "2026-11-01T00:00:00.000Z"}, "exa": {"status": "failed", "at": "2026-11-28T11:45:00.000Z"}, "sec": {"status": "failed", "at": "2026-11-02T00:00:00.000Z"}}`,
	"badtim": `{"exa": {"status": "failed", "at": "yesterday"}}`,
}

// tieRows hold failures of one time, after every other but "future"'s, and
// are inserted in reverse order of id, so that the table's order differs
// from the feed's.
var tieRows = [][2]string{
	{"tie-e", `{"exa": {"status": "failed", "at": "2026-11-28T12:30:00.000Z"}}`},
	{"tie-d", `{"exa": {"status": "failed", "at": "2026-11-28T12:30:00.000Z"}}`},
	{"tie-c", `{"claude": {"status": "failed", "at": "2026-11-28T12:30:00.000Z"}, "apollo": "failed"}`},
	{"tie-b", `{"exa": {"status": "failed", "error": "b", "at": "2026-11-28T12:30:00.000Z"}}`},
	{"tie-a", `{"exa": {"status": "failed", "error": "a", "at": "2026-11-28T12:30:00.000Z"}, "sec": {"status": "failed", "at": "2026-11-28T12:30:00.000Z"}}`},
}

// TestSchemaKitReadsWhatThePlainSQLReads reads one table through the plain
// SQL, applies the schema kit, and reads it again through the kit's indexes:
// every Failures, FailureGroups and Summary call returns the same, in every
// exec mode.
func TestSchemaKitReadsWhatThePlainSQLReads(t *testing.T) {
	forEachMode(t, func(t *testing.T, pool *pgxpool.Pool) {
		ctx := ctxT(t)
		testsupport.FillProspects(t, pool, 2000, 3)
		for id, col := range oddRows {
			insert(t, pool, id, col)
		}
		for _, row := range tieRows {
			insert(t, pool, row[0], row[1])
		}
		end := testsupport.ProspectsEnd
		sinces := []time.Time{{}, end.Add(time.Millisecond), end.Add(-time.Hour), end.Add(-24 * time.Hour), end.Add(-72 * time.Hour), end.Add(time.Hour),
			time.Date(2026, 11, 28, 11, 0, 0, 0, time.UTC)}
		type reads struct {
			Failures  [][]sourcestatus.Failure
			Groups    [][]sourcestatus.FailureGroup
			Summaries [][]sourcestatus.SourceSummary
		}
		read := func(r *sourcestatus.Reader) reads {
			var out reads
			for _, since := range sinces {
				for _, limit := range []int{1, 3, 4, 50, 10_000} {
					f, err := r.Failures(ctx, since, limit)
					if err != nil {
						t.Fatal(err)
					}
					out.Failures = append(out.Failures, f)
					g, err := r.FailureGroups(ctx, since, limit)
					if err != nil {
						t.Fatal(err)
					}
					out.Groups = append(out.Groups, g)
				}
				s, err := r.Summary(ctx, since)
				if err != nil {
					t.Fatal(err)
				}
				out.Summaries = append(out.Summaries, s)
			}
			return out
		}
		plain := mustNew(t, sourcestatus.NewReader, pool)
		if kit, err := sourcestatus.ReadsThroughKit(ctx, plain); err != nil || kit {
			t.Fatalf("before Apply: reads through the kit = %v, %v", kit, err)
		}
		want := read(plain)
		if n := len(want.Failures[4]); n < 100 { // since zero, limit 10,000
			t.Fatalf("only %d failures: the data tests little", n)
		}
		applyKit(t, pool)
		viaKit := mustNew(t, sourcestatus.NewReader, pool)
		if kit, err := sourcestatus.ReadsThroughKit(ctx, viaKit); err != nil || !kit {
			t.Fatalf("after Apply: reads through the kit = %v, %v", kit, err)
		}
		got := read(viaKit)
		for i := range want.Failures {
			if !reflect.DeepEqual(got.Failures[i], want.Failures[i]) {
				t.Errorf("Failures call %d (since %v): through the kit\n%v\nplain\n%v", i, sinces[i/5], got.Failures[i], want.Failures[i])
			}
		}
		for i := range want.Groups {
			if !reflect.DeepEqual(got.Groups[i], want.Groups[i]) {
				t.Errorf("FailureGroups call %d (since %v): through the kit\n%v\nplain\n%v", i, sinces[i/5], got.Groups[i], want.Groups[i])
			}
		}
		for i := range want.Summaries {
			if !reflect.DeepEqual(got.Summaries[i], want.Summaries[i]) {
				t.Errorf("Summary(%v): through the kit\n%v\nplain\n%v", sinces[i], got.Summaries[i], want.Summaries[i])
			}
		}
		// The plain reader still reads the same: it keeps its SQL.
		if again := read(plain); !reflect.DeepEqual(again, want) {
			t.Error("the plain reader reads differently after Apply")
		}
	})
}

func applyKit(t *testing.T, db sourcestatus.DB, opts ...sourcestatus.Option) *sourcestatus.Schema {
	t.Helper()
	s, err := sourcestatus.NewSchema(opts...)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Apply(ctxT(t), db); err != nil {
		t.Fatal(err)
	}
	if err := s.Check(ctxT(t), db); err != nil {
		t.Fatalf("Check after Apply: %v", err)
	}
	return s
}

// TestSchemaKitReadsThroughItsIndexes shows, with EXPLAIN ANALYZE on 50,000
// rows, that the error feed, its groups and a day's summary read through the
// kit's indexes, and that the feed reads no more rows than it returns.
func TestSchemaKitReadsThroughItsIndexes(t *testing.T) {
	pool := testsupport.Postgres(t)
	ctx := ctxT(t)
	testsupport.FillProspects(t, pool, 50_000, 30)
	applyKit(t, pool)
	r := mustNew(t, sourcestatus.NewReader, pool)
	since, _ := sourcestatus.FormatTime(testsupport.ProspectsEnd.Add(-24 * time.Hour))
	failures, err := sourcestatus.Explain(ctx, r, "failures", since, "50")
	if err != nil {
		t.Fatal(err)
	}
	summary, err := sourcestatus.Explain(ctx, r, "summary", since)
	if err != nil {
		t.Fatal(err)
	}
	groups, err := sourcestatus.Explain(ctx, r, "failureGroups", since, "50", "5")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("Failures(24 h, 50):\n%s\nSummary(24 h):\n%s\nFailureGroups(24 h, 50):\n%s", failures, summary, groups)
	if !strings.Contains(failures, "Index Scan using prospects_enrichment_source_status_failed_at on prospects (actual rows=50 loops=1)") {
		t.Errorf("Failures does not read 50 rows through the failed-time index:\n%s", failures)
	}
	if !strings.Contains(summary, "Index Scan on prospects_enrichment_source_status_newest_at") &&
		!strings.Contains(summary, "Index Scan using prospects_enrichment_source_status_newest_at") {
		t.Errorf("Summary does not read through the newest-time index:\n%s", summary)
	}
	if !strings.Contains(groups, "Index Scan using prospects_enrichment_source_status_failed_at") &&
		!strings.Contains(groups, "Bitmap Index Scan on prospects_enrichment_source_status_failed_at") {
		t.Errorf("FailureGroups does not read through the failed-time index:\n%s", groups)
	}
	if strings.Contains(failures+summary+groups, "Seq Scan") {
		t.Errorf("a read scans the whole table:\n%s\n%s\n%s", failures, summary, groups)
	}
}

// TestSchemaCheckSaysWhatIsMissing checks a database step by step: no
// table, a table without the kit, an index left invalid by an interrupted
// build, and the kit applied.
func TestSchemaCheckSaysWhatIsMissing(t *testing.T) {
	pool := testsupport.Postgres(t)
	ctx := ctxT(t)
	kit, err := sourcestatus.NewSchema()
	if err != nil {
		t.Fatal(err)
	}
	problems := func() []string {
		t.Helper()
		err := kit.Check(ctx, pool)
		if err == nil {
			return nil
		}
		var se *sourcestatus.SchemaError
		if !errors.As(err, &se) || !errors.Is(err, sourcestatus.ErrSchema) {
			t.Fatalf("Check = %v, want a *SchemaError", err)
		}
		return se.Problems
	}
	if p := problems(); len(p) != 1 || !strings.Contains(p[0], "no such table") {
		t.Errorf("no table: %q", p)
	}
	createProspects(t, pool, "uuid")
	p := problems()
	for _, want := range []string{"no function", "no index prospects_enrichment_source_status_failed_at", "no index prospects_enrichment_source_status_newest_at"} {
		if !strings.Contains(strings.Join(p, "\n"), want) {
			t.Errorf("table without the kit: %q does not say %q", p, want)
		}
	}
	// An interrupted concurrent build leaves an invalid index behind: cause
	// one by cancelling Apply while its first index build waits for a
	// transaction that has written to the table.
	insert(t, pool, "8c1f0a52-3c3e-4b4e-9a43-0f4b2d9c6b11", `{}`)
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `UPDATE prospects SET name = 'x'`); err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	if err := kit.Apply(short, pool); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Apply beside an open writing transaction = %v, want it to wait until its deadline", err)
	}
	// pgx cancels the statement on the server after Apply has returned: wait
	// for that before the transaction ends, or the build could go on and
	// finish.
	waitIdle(t, pool)
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	p = problems()
	if !strings.Contains(strings.Join(p, "\n"), "is invalid") {
		t.Errorf("after an interrupted Apply: %q does not name an invalid index", p)
	}
	if kitOn, err := sourcestatus.ReadsThroughKit(ctx, mustNew(t, sourcestatus.NewReader, pool)); err != nil || kitOn {
		t.Errorf("a reader reads through a half-built kit = %v, %v", kitOn, err)
	}
	if err := kit.Apply(ctx, pool); err != nil {
		t.Fatal(err)
	}
	if p := problems(); p != nil {
		t.Errorf("after Apply: %q", p)
	}
	if _, err := pool.Exec(ctx, `DROP INDEX prospects_enrichment_source_status_newest_at`); err != nil {
		t.Fatal(err)
	}
	if p := problems(); len(p) != 1 || !strings.Contains(p[0], "no index prospects_enrichment_source_status_newest_at") {
		t.Errorf("one index dropped: %q", p)
	}
}

// waitIdle waits until no other session of the database runs a statement
// with CONCURRENTLY in it: pgx cancels a statement on the server only after
// the call whose context ended has returned.
func waitIdle(t *testing.T, pool *pgxpool.Pool) {
	t.Helper()
	for range 100 {
		var n int
		if err := pool.QueryRow(ctxT(t), `SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND state = 'active' AND query ILIKE '%CONCURRENTLY%'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("a concurrent index build is still running")
}

// TestSchemaApplyLetsWritersGoOn applies the kit to a 100,000-row table while
// eight writers update it: every update succeeds, and updates complete while
// the indexes are being built.
func TestSchemaApplyLetsWritersGoOn(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a 100,000-row table")
	}
	pool := testsupport.Postgres(t, func(c *pgxpool.Config) { c.MaxConns = 10 })
	ctx := ctxT(t)
	testsupport.FillProspects(t, pool, 100_000, 30)
	u, err := sourcestatus.NewUpdater(pool)
	if err != nil {
		t.Fatal(err)
	}
	var (
		applying atomic.Bool
		during   atomic.Int64
		wg       sync.WaitGroup
		stop     = make(chan struct{})
	)
	applying.Store(true)
	t.Cleanup(func() { // before the pool closes, whatever ends the test
		close(stop)
		wg.Wait()
	})
	for w := range 8 {
		wg.Go(func() {
			for i := w; ; i += 8 {
				select {
				case <-stop:
					return
				default:
				}
				id := "p" + strconv.Itoa(1+i%100_000)
				if err := u.Update(ctx, id, "exa", sourcestatus.Payload{Status: sourcestatus.Failed, Error: "HTTP 429"}); err != nil {
					t.Error(err)
					return
				}
				if applying.Load() {
					during.Add(1)
				}
			}
		})
	}
	start := time.Now()
	kit := applyKit(t, pool)
	applying.Store(false)
	took := time.Since(start)
	t.Logf("Apply took %v; %d updates completed meanwhile", took, during.Load())
	if during.Load() < 100 {
		t.Errorf("only %d updates completed during Apply: writers were blocked", during.Load())
	}
	// Applying again finds everything in place.
	if err := kit.Apply(ctx, pool); err != nil {
		t.Fatal(err)
	}
}

// TestSchemaKitOnAFreshDatabase creates the table and kit from nothing,
// through Apply and through the SQL text run statement by statement, in a
// schema named with WithTable.
func TestSchemaKitOnAFreshDatabase(t *testing.T) {
	pool := testsupport.Postgres(t)
	ctx := ctxT(t)
	crm := testsupport.UniqueName("crm_") // named per run: other runs may share the database
	if _, err := pool.Exec(ctx, `CREATE SCHEMA `+crm); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = pool.Exec(context.Background(), `DROP SCHEMA `+crm+` CASCADE`) })
	viaApply := applyKit(t, pool, sourcestatus.WithTable(crm+".leads"))
	kit, err := sourcestatus.NewSchema(sourcestatus.WithTable(crm+".accounts"), sourcestatus.WithColumn("status"), sourcestatus.WithIDColumn("account_id"))
	if err != nil {
		t.Fatal(err)
	}
	text := kit.SQL()
	for _, stmt := range strings.Split(text, ";\n\n") {
		if strings.TrimSpace(stmt) == "" {
			continue
		}
		if _, err := pool.Exec(ctx, stmt); err != nil {
			t.Fatalf("%v\n%s", err, stmt)
		}
	}
	if err := kit.Check(ctx, pool); err != nil {
		t.Fatalf("Check after running SQL(): %v\n%s", err, text)
	}
	if err := viaApply.Check(ctx, pool); err != nil {
		t.Fatal(err)
	}
	// Both tables are written and read through the kit.
	at := time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		insert, id string
		opts       []sourcestatus.Option
	}{
		{`INSERT INTO ` + crm + `.leads (id) VALUES ('L1')`, "L1", []sourcestatus.Option{sourcestatus.WithTable(crm + ".leads")}},
		{`INSERT INTO ` + crm + `.accounts (account_id) VALUES ('A1')`, "A1", []sourcestatus.Option{sourcestatus.WithTable(crm + ".accounts"), sourcestatus.WithColumn("status"), sourcestatus.WithIDColumn("account_id")}},
	} {
		if _, err := pool.Exec(ctx, c.insert); err != nil {
			t.Fatal(err)
		}
		u, err := sourcestatus.NewUpdater(pool, c.opts...)
		if err != nil {
			t.Fatal(err)
		}
		if err := u.Update(ctx, c.id, "exa", sourcestatus.Payload{Status: sourcestatus.Failed, Error: "HTTP 500", At: at}); err != nil {
			t.Fatal(err)
		}
		r := mustNew(t, sourcestatus.NewReader, pool, c.opts...)
		if kitOn, err := sourcestatus.ReadsThroughKit(ctx, r); err != nil || !kitOn {
			t.Errorf("%s: reads through the kit = %v, %v", c.id, kitOn, err)
		}
		got, err := r.Failures(ctx, at.Add(-time.Hour), 10)
		want := []sourcestatus.Failure{{ProspectID: c.id, Source: "exa", Error: "HTTP 500", At: at}}
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("%s: Failures = %v, %v; want %v", c.id, got, err, want)
		}
	}
}

// TestReaderOutlivesADroppedKit drops the kit's functions, and with them its
// indexes, under a Reader that reads through them: its next reads use the
// plain SQL and return the same.
func TestReaderOutlivesADroppedKit(t *testing.T) {
	forEachMode(t, func(t *testing.T, pool *pgxpool.Pool) {
		ctx := ctxT(t)
		testsupport.FillProspects(t, pool, 500, 3)
		applyKit(t, pool)
		r := mustNew(t, sourcestatus.NewReader, pool)
		since := testsupport.ProspectsEnd.Add(-24 * time.Hour)
		wantF, err := r.Failures(ctx, since, 20)
		if err != nil || len(wantF) == 0 {
			t.Fatalf("Failures = %v, %v", wantF, err)
		}
		wantS, err := r.Summary(ctx, since)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := pool.Exec(ctx, `DROP FUNCTION enrichmeter_failed_at_v1, enrichmeter_newest_at_v1 CASCADE`); err != nil {
			t.Fatal(err)
		}
		gotF, err := r.Failures(ctx, since, 20)
		if err != nil || !reflect.DeepEqual(gotF, wantF) {
			t.Errorf("Failures after the kit was dropped = %v, %v; want %v", gotF, err, wantF)
		}
		gotS, err := r.Summary(ctx, since)
		if err != nil || !reflect.DeepEqual(gotS, wantS) {
			t.Errorf("Summary after the kit was dropped = %v, %v; want %v", gotS, err, wantS)
		}
		if kitOn, err := sourcestatus.ReadsThroughKit(ctx, r); err != nil || kitOn {
			t.Errorf("reads through the kit after it was dropped = %v, %v", kitOn, err)
		}
	})
}

// TestSchemaApplyTakesTurns starts four Applies of one table at once, as
// replicas starting together do, two naming it with its schema and two
// without: each succeeds and the kit is whole.
func TestSchemaApplyTakesTurns(t *testing.T) {
	pool := testsupport.Postgres(t, func(c *pgxpool.Config) { c.MaxConns = 8 })
	ctx := ctxT(t)
	testsupport.FillProspects(t, pool, 100_000, 30)
	// Two of them name the table with its schema: still the same table.
	kit, err := sourcestatus.NewSchema()
	if err != nil {
		t.Fatal(err)
	}
	qualified, err := sourcestatus.NewSchema(sourcestatus.WithTable(currentSchema(t, pool) + ".prospects"))
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 4)
	for i := range 4 {
		k := kit
		if i%2 == 1 {
			k = qualified
		}
		go func() { errs <- k.Apply(ctx, pool) }()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	if err := kit.Check(ctx, pool); err != nil {
		t.Error(err)
	}
}

// TestSchemaApplyFindsTheTableThroughTheSearchPath applies the kit to an
// unqualified table that lives in the second schema of the search_path: it
// goes on that table, and no empty table appears in front of it.
func TestSchemaApplyFindsTheTableThroughTheSearchPath(t *testing.T) {
	first := testsupport.Postgres(t)
	schema := currentSchema(t, first)
	second := testsupport.Postgres(t)
	createProspects(t, second, "text")
	insert(t, second, "p1", `{"exa": {"status": "failed", "at": "2026-11-28T09:00:00.000Z"}}`)
	secondSchema := currentSchema(t, second)
	ctx := ctxT(t)
	// A pool whose search_path is first, then second.
	cfg := first.Config()
	cfg.ConnConfig.RuntimeParams["search_path"] = schema + "," + secondSchema
	both, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer both.Close()
	applyKit(t, both)
	var n int
	if err := both.QueryRow(ctx, `SELECT count(*) FROM pg_class WHERE relname = 'prospects' AND relnamespace = $1::text::regnamespace`, schema).Scan(&n); err != nil || n != 0 {
		t.Errorf("Apply created a table prospects in front of the one on the search_path (%d, %v)", n, err)
	}
	got, err := mustNew(t, sourcestatus.NewReader, both).Failures(ctx, time.Time{}, 10)
	if err != nil || len(got) != 1 || got[0].ProspectID != "p1" {
		t.Errorf("Failures = %v, %v; want p1's", got, err)
	}
}

// TestSchemaApplyNeedsNoRightsOnceDone applies the kit as the owner, then as
// a role that may only read and write the table: with nothing left to do,
// Apply only reads the catalog and succeeds.
func TestSchemaApplyNeedsNoRightsOnceDone(t *testing.T) {
	testsupport.ChangesServerState(t) // CREATE ROLE: roles belong to the whole PostgreSQL cluster
	pool := testsupport.Postgres(t)
	ctx := ctxT(t)
	createProspects(t, pool, "text")
	applyKit(t, pool)
	schema := currentSchema(t, pool)
	role := schema + "_app"
	for _, sql := range []string{
		`CREATE ROLE ` + role + ` LOGIN`,
		`GRANT USAGE ON SCHEMA ` + schema + ` TO ` + role,
		`GRANT SELECT, UPDATE ON prospects TO ` + role,
	} {
		if _, err := pool.Exec(ctx, sql); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		_, _ = pool.Exec(context.Background(), `DROP OWNED BY `+role)
		_, _ = pool.Exec(context.Background(), `DROP ROLE `+role)
	})
	cfg := pool.Config()
	cfg.ConnConfig.User = role
	app, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	kit, err := sourcestatus.NewSchema()
	if err != nil {
		t.Fatal(err)
	}
	if err := kit.Apply(ctx, app); err != nil {
		t.Errorf("Apply by a role without rights, with the kit in place: %v", err)
	}
}

// TestSchemaApplyLeavesOtherTablesAlone applies the kit to two tables whose
// index names would be the same (a_b.c and a.b_c): the second Apply refuses
// rather than take the first table's indexes, and a column of the wrong type
// is refused before anything is created.
func TestSchemaApplyLeavesOtherTablesAlone(t *testing.T) {
	pool := testsupport.Postgres(t)
	ctx := ctxT(t)
	for _, sql := range []string{
		`CREATE TABLE a_b (id text PRIMARY KEY, c jsonb)`,
		`CREATE TABLE a (id text PRIMARY KEY, b_c jsonb)`,
		`CREATE TABLE j (id text PRIMARY KEY, enrichment_source_status json)`,
	} {
		if _, err := pool.Exec(ctx, sql); err != nil {
			t.Fatal(err)
		}
	}
	first := applyKit(t, pool, sourcestatus.WithTable("a_b"), sourcestatus.WithColumn("c"))
	second, err := sourcestatus.NewSchema(sourcestatus.WithTable("a"), sourcestatus.WithColumn("b_c"))
	if err != nil {
		t.Fatal(err)
	}
	if err := second.Apply(ctx, pool); !errors.Is(err, sourcestatus.ErrSchema) || !strings.Contains(err.Error(), "taken by an index of another table") {
		t.Errorf("Apply on a table whose index names are taken = %v", err)
	}
	if err := first.Check(ctx, pool); err != nil {
		t.Errorf("the first table's kit after the second Apply: %v", err)
	}
	wrong, err := sourcestatus.NewSchema(sourcestatus.WithTable("j"))
	if err != nil {
		t.Fatal(err)
	}
	if err := wrong.Apply(ctx, pool); !errors.Is(err, sourcestatus.ErrSchema) || !strings.Contains(err.Error(), "is json, not jsonb") {
		t.Errorf("Apply on a json column = %v", err)
	}
}
