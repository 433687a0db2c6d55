package sourcestatus_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/enrichmeter/enrichmeter/internal/testsupport"
	"github.com/enrichmeter/enrichmeter/sourcestatus"
)

func TestUpdateMergesWhateverTheColumnHolds(t *testing.T) {
	forEachMode(t, func(t *testing.T, pool *pgxpool.Pool) {
		createProspects(t, pool, "text")
		cases := []struct {
			name   string
			column any // JSON text, or nil for SQL NULL
			want   string
		}{
			{"sql null", nil, `{"exa": {"at": "2026-11-26T03:15:03.123Z", "error": "HTTP 429", "status": "failed"}}`},
			{"json null", `null`, `{"exa": {"at": "2026-11-26T03:15:03.123Z", "error": "HTTP 429", "status": "failed"}}`},
			{"bare string", `"complete"`, `{"exa": {"at": "2026-11-26T03:15:03.123Z", "error": "HTTP 429", "status": "failed"}}`},
			{"array", `["complete"]`, `{"exa": {"at": "2026-11-26T03:15:03.123Z", "error": "HTTP 429", "status": "failed"}}`},
			{"number", `7`, `{"exa": {"at": "2026-11-26T03:15:03.123Z", "error": "HTTP 429", "status": "failed"}}`},
			{"empty object", `{}`, `{"exa": {"at": "2026-11-26T03:15:03.123Z", "error": "HTTP 429", "status": "failed"}}`},
			{"legacy and new entries of other sources", `{"sec": "complete", "claude": {"status": "pending", "at": "2026-11-26T03:00:00.000Z"}}`,
				`{"exa": {"at": "2026-11-26T03:15:03.123Z", "error": "HTTP 429", "status": "failed"}, "sec": "complete", "claude": {"at": "2026-11-26T03:00:00.000Z", "status": "pending"}}`},
			{"replaces the source's own legacy entry", `{"exa": "complete"}`, `{"exa": {"at": "2026-11-26T03:15:03.123Z", "error": "HTTP 429", "status": "failed"}}`},
		}
		u, err := sourcestatus.NewUpdater(pool)
		if err != nil {
			t.Fatal(err)
		}
		for i, c := range cases {
			id := fmt.Sprintf("p%d", i)
			insert(t, pool, id, c.column)
			err := u.Update(ctxT(t), id, "exa", sourcestatus.Payload{Status: sourcestatus.Failed, Error: "HTTP 429", At: at})
			if err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			if got := column(t, pool, id); got != c.want {
				t.Errorf("%s: column = %s, want %s", c.name, got, c.want)
			}
		}
	})
}

func TestConcurrentUpdatesKeepEveryEntry(t *testing.T) {
	for _, idType := range []string{"text", "uuid"} {
		t.Run(idType, func(t *testing.T) {
			pool := testsupport.Postgres(t, func(c *pgxpool.Config) { c.MaxConns = 16 })
			createProspects(t, pool, idType)
			const prospects = 500
			sources := []string{"contactout", "exa", "sec", "claude"}
			ids := make([]string, prospects)
			for i := range ids {
				ids[i] = fmt.Sprintf("00000000-0000-4000-8000-%012d", i)
				insert(t, pool, ids[i], `{"apollo": "complete"}`)
			}
			u, err := sourcestatus.NewUpdater(pool)
			if err != nil {
				t.Fatal(err)
			}
			// All four sources of every prospect finish at once.
			var wg sync.WaitGroup
			for _, src := range sources {
				wg.Go(func() {
					for _, id := range ids {
						if err := u.Update(ctxT(t), id, src, sourcestatus.Payload{Status: sourcestatus.Complete}); err != nil {
							t.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			var kept int
			err = pool.QueryRow(ctxT(t), `SELECT count(*) FROM prospects, jsonb_object_keys(enrichment_source_status) k WHERE k <> 'apollo'`).Scan(&kept)
			if err != nil {
				t.Fatal(err)
			}
			if want := prospects * len(sources); kept != want {
				t.Errorf("%d of %d entries kept", kept, want)
			}
			var legacy int
			err = pool.QueryRow(ctxT(t), `SELECT count(*) FROM prospects WHERE enrichment_source_status->>'apollo' = 'complete'`).Scan(&legacy)
			if err != nil {
				t.Fatal(err)
			}
			if legacy != prospects {
				t.Errorf("%d of %d legacy entries kept", legacy, prospects)
			}
		})
	}
}

func TestUpdateErrors(t *testing.T) {
	forEachMode(t, func(t *testing.T, pool *pgxpool.Pool) {
		createProspects(t, pool, "uuid")
		u, err := sourcestatus.NewUpdater(pool)
		if err != nil {
			t.Fatal(err)
		}
		ctx := ctxT(t)
		missing := "11111111-1111-4111-8111-111111111111"
		err = u.Update(ctx, missing, "exa", sourcestatus.Payload{Status: sourcestatus.Complete})
		if !errors.Is(err, sourcestatus.ErrNotFound) || !strings.Contains(err.Error(), missing) {
			t.Errorf("Update of a missing prospect = %v, want ErrNotFound naming it", err)
		}
		if err := u.Init(ctx, missing, "exa"); !errors.Is(err, sourcestatus.ErrNotFound) {
			t.Errorf("Init of a missing prospect = %v, want ErrNotFound", err)
		}
		for _, c := range []struct {
			id, source string
			status     sourcestatus.Status
			want       string
		}{
			{"", "exa", "complete", "empty prospect id"},
			{missing, "", "complete", "empty source"},
			{missing, "exa", "", "empty status"},
			{missing, "ex\x00a", "complete", "NUL"},
		} {
			err := u.Update(ctx, c.id, c.source, sourcestatus.Payload{Status: c.status})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("Update(%q, %q, %q) = %v, want an error with %q", c.id, c.source, c.status, err, c.want)
			}
		}
		if err := u.Init(ctx, missing); err == nil {
			t.Error("Init with no sources succeeded")
		}
	})
}

func TestUpdateErrorMessageWithNUL(t *testing.T) {
	pool := testsupport.Postgres(t)
	createProspects(t, pool, "text")
	insert(t, pool, "p", nil)
	u := mustNew(t, sourcestatus.NewUpdater, pool)
	if err := u.Update(ctxT(t), "p", "exa", sourcestatus.Payload{Status: "failed", Error: "bad\x00body", At: at}); err != nil {
		t.Fatal(err)
	}
	r := mustNew(t, sourcestatus.NewReader, pool)
	s, err := r.Get(ctxT(t), "p")
	if err != nil || s["exa"].Error != "bad\uFFFDbody" {
		t.Errorf("Get = %+v, %v", s, err)
	}
}

func TestUpdateInsideARolledBackTransaction(t *testing.T) {
	pool := testsupport.Postgres(t)
	createProspects(t, pool, "text")
	insert(t, pool, "p", `{"sec": "complete"}`)
	ctx := ctxT(t)
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	u := mustNew(t, sourcestatus.NewUpdater, tx)
	if err := u.Update(ctx, "p", "exa", sourcestatus.Payload{Status: sourcestatus.Failed, At: at}); err != nil {
		t.Fatal(err)
	}
	if got := column(t, tx, "p"); !strings.Contains(got, "exa") {
		t.Fatalf("inside the transaction the column is %s", got)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if got := column(t, pool, "p"); got != `{"sec": "complete"}` {
		t.Errorf("after rollback the column is %s, want it untouched", got)
	}
}

func TestInitMarksSourcesPending(t *testing.T) {
	forEachMode(t, func(t *testing.T, pool *pgxpool.Pool) {
		createProspects(t, pool, "text")
		insert(t, pool, "p", `{"apollo": "complete", "exa": {"status": "failed", "error": "HTTP 500", "at": "2026-11-25T00:00:00.000Z"}}`)
		u := mustNew(t, sourcestatus.NewUpdater, pool, fixedClock(at))
		if err := u.Init(ctxT(t), "p", "exa", "sec", `we"ird`); err != nil {
			t.Fatal(err)
		}
		want := `{"exa": {"at": "2026-11-26T03:15:03.123Z", "status": "pending"}, "sec": {"at": "2026-11-26T03:15:03.123Z", "status": "pending"}, "apollo": "complete", "we\"ird": {"at": "2026-11-26T03:15:03.123Z", "status": "pending"}}`
		if got := column(t, pool, "p"); got != want {
			t.Errorf("column = %s\nwant       %s", got, want)
		}
	})
}

func TestUpdateZeroAtMeansNow(t *testing.T) {
	pool := testsupport.Postgres(t)
	createProspects(t, pool, "text")
	insert(t, pool, "p", nil)
	u := mustNew(t, sourcestatus.NewUpdater, pool, fixedClock(at))
	if err := u.Update(ctxT(t), "p", "exa", sourcestatus.Payload{Status: sourcestatus.Complete}); err != nil {
		t.Fatal(err)
	}
	if got := column(t, pool, "p"); got != `{"exa": {"at": "2026-11-26T03:15:03.123Z", "status": "complete"}}` {
		t.Errorf("column = %s", got)
	}
}

func TestIgnoreStale(t *testing.T) {
	forEachMode(t, func(t *testing.T, pool *pgxpool.Pool) {
		createProspects(t, pool, "text")
		insert(t, pool, "p", `{"sec": "complete", "claude": {"status": "failed", "at": "2026-11-27T00:00:00Z"}}`)
		ctx := ctxT(t)
		u := mustNew(t, sourcestatus.NewUpdater, pool, sourcestatus.IgnoreStale())
		r := mustNew(t, sourcestatus.NewReader, pool)
		later, earlier := at.Add(time.Minute), at.Add(-time.Minute)
		steps := []struct {
			source string
			p      sourcestatus.Payload
			want   sourcestatus.Payload
		}{
			{"exa", sourcestatus.Payload{Status: sourcestatus.Complete, At: at}, sourcestatus.Payload{Status: sourcestatus.Complete, At: at}},
			// A replayed older step leaves the newer outcome.
			{"exa", sourcestatus.Payload{Status: sourcestatus.Failed, Error: "timeout", At: earlier}, sourcestatus.Payload{Status: sourcestatus.Complete, At: at}},
			{"exa", sourcestatus.Payload{Status: sourcestatus.Failed, Error: "HTTP 500", At: later}, sourcestatus.Payload{Status: sourcestatus.Failed, Error: "HTTP 500", At: later}},
			// The same time wins: last writer.
			{"exa", sourcestatus.Payload{Status: sourcestatus.Complete, At: later}, sourcestatus.Payload{Status: sourcestatus.Complete, At: later}},
			// Legacy entries, and times not in toISOString form, have nothing to compare: overwritten.
			{"sec", sourcestatus.Payload{Status: sourcestatus.Failed, At: earlier}, sourcestatus.Payload{Status: sourcestatus.Failed, At: earlier}},
			{"claude", sourcestatus.Payload{Status: sourcestatus.Complete, At: earlier}, sourcestatus.Payload{Status: sourcestatus.Complete, At: earlier}},
		}
		for i, s := range steps {
			if err := u.Update(ctx, "p", s.source, s.p); err != nil {
				t.Fatalf("step %d: %v", i, err)
			}
			got, err := r.Get(ctx, "p")
			if err != nil {
				t.Fatal(err)
			}
			if got[s.source] != s.want {
				t.Errorf("step %d: %s = %+v, want %+v", i, s.source, got[s.source], s.want)
			}
		}
		// Without the option, the last update wins.
		plain := mustNew(t, sourcestatus.NewUpdater, pool)
		if err := plain.Update(ctx, "p", "exa", sourcestatus.Payload{Status: sourcestatus.Pending, At: earlier}); err != nil {
			t.Fatal(err)
		}
		if got, err := r.Get(ctx, "p"); err != nil || got["exa"].Status != sourcestatus.Pending {
			t.Errorf("without IgnoreStale, exa = %+v, %v; want pending", got["exa"], err)
		}
	})
}

func TestOptions(t *testing.T) {
	pool := testsupport.Postgres(t)
	ctx := ctxT(t)
	schema := currentSchema(t, pool)
	if _, err := pool.Exec(ctx, `CREATE TABLE leads (lead_id bigint PRIMARY KEY, status_by_source jsonb, other text)`); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO leads VALUES (42, NULL, 'x')`); err != nil {
		t.Fatal(err)
	}
	opts := []sourcestatus.Option{sourcestatus.WithTable(schema + ".leads"), sourcestatus.WithColumn("status_by_source"), sourcestatus.WithIDColumn("lead_id")}
	u := mustNew(t, sourcestatus.NewUpdater, pool, opts...)
	if err := u.Update(ctx, "42", "exa", sourcestatus.Payload{Status: sourcestatus.Complete, At: at}); err != nil {
		t.Fatal(err)
	}
	r := mustNew(t, sourcestatus.NewReader, pool, opts...)
	if s, err := r.Get(ctx, "42"); err != nil || s["exa"].Status != sourcestatus.Complete {
		t.Errorf("Get = %v, %v", s, err)
	}

	// Unsafe identifiers fail at construction, before any I/O.
	for _, o := range []sourcestatus.Option{
		sourcestatus.WithTable(`prospects; DROP TABLE prospects`),
		sourcestatus.WithTable(`a.b.c`),
		sourcestatus.WithTable(`.`),
		sourcestatus.WithColumn(`"quoted"`),
		sourcestatus.WithColumn(`col-umn`),
		sourcestatus.WithIDColumn(`1id`),
		sourcestatus.WithIDColumn(strings.Repeat("x", 64)),
	} {
		if _, err := sourcestatus.NewUpdater(pool, o); err == nil || !strings.HasPrefix(err.Error(), "sourcestatus: ") {
			t.Errorf("NewUpdater with a bad identifier = %v", err)
		}
		if _, err := sourcestatus.NewReader(pool, o); err == nil {
			t.Error("NewReader accepted a bad identifier")
		}
	}
	if _, err := sourcestatus.NewUpdater(nil); err == nil {
		t.Error("NewUpdater(nil) succeeded")
	}

	// Wrong tables and columns get clear errors on first use.
	for _, c := range []struct {
		opts []sourcestatus.Option
		want string
	}{
		{[]sourcestatus.Option{sourcestatus.WithTable("nope")}, "nope"},
		{append(opts[:1:1], sourcestatus.WithColumn("other"), sourcestatus.WithIDColumn("lead_id")), "is not jsonb"},
		{append(opts[:1:1], sourcestatus.WithIDColumn("missing")), "has no column missing"},
	} {
		err := mustNew(t, sourcestatus.NewUpdater, pool, c.opts...).Update(ctx, "42", "exa", sourcestatus.Payload{Status: sourcestatus.Complete})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Update = %v, want an error with %q", err, c.want)
		}
	}
}

// TestEmptyOptionsKeepTheDefaults shows that an option given its zero value
// keeps the default, as usage.WithPrefix("") does.
func TestEmptyOptionsKeepTheDefaults(t *testing.T) {
	pool := testsupport.Postgres(t)
	createProspects(t, pool, "text")
	insert(t, pool, "p", nil)
	empty := []sourcestatus.Option{sourcestatus.WithTable(""), sourcestatus.WithColumn(""), sourcestatus.WithIDColumn(""),
		sourcestatus.WithClock(nil), sourcestatus.WithMaxErrorLen(0)}
	u := mustNew(t, sourcestatus.NewUpdater, pool, empty...)
	if err := u.Update(ctxT(t), "p", "exa", sourcestatus.Payload{Status: sourcestatus.Complete, At: at}); err != nil {
		t.Fatal(err)
	}
	if s, err := mustNew(t, sourcestatus.NewReader, pool, empty...).Get(ctxT(t), "p"); err != nil || s["exa"].Status != sourcestatus.Complete {
		t.Errorf("Get = %v, %v", s, err)
	}
}

func TestUpdateReturnsContextErrors(t *testing.T) {
	pool := testsupport.Postgres(t)
	createProspects(t, pool, "text")
	insert(t, pool, "p", nil)
	u := mustNew(t, sourcestatus.NewUpdater, pool)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := u.Update(ctx, "p", "exa", sourcestatus.Payload{Status: sourcestatus.Complete}); err != context.Canceled {
		t.Errorf("Update with a cancelled context = %v, want context.Canceled", err)
	}
}

// TestUpdateRefusesStatusesNotLowerCase shows that a status other than
// lower-case a-z and '_', which the error feed would never list as failed,
// is refused before any I/O, while unknown lower-case statuses are stored.
func TestUpdateRefusesStatusesNotLowerCase(t *testing.T) {
	pool := testsupport.Postgres(t)
	createProspects(t, pool, "text")
	insert(t, pool, "p", nil)
	u := mustNew(t, sourcestatus.NewUpdater, pool)
	for _, s := range []sourcestatus.Status{"FAILED", "Failed", "circuit-open", "failed ", "fail3d", "échec", "com\xffplete"} {
		if err := u.Update(ctxT(t), "p", "exa", sourcestatus.Payload{Status: s}); !errors.Is(err, sourcestatus.ErrInvalidStatus) {
			t.Errorf("Update with status %q = %v, want ErrInvalidStatus", s, err)
		}
	}
	if got := column(t, pool, "p"); got != "NULL" {
		t.Errorf("column = %s after refused updates, want NULL", got)
	}
	if err := u.Update(ctxT(t), "p", "exa", sourcestatus.Payload{Status: "some_future_status", At: at}); err != nil {
		t.Errorf("Update with an unknown lower-case status = %v, want it stored", err)
	}
}

// TestUpdateCapsErrorMessages shows that an error message longer than the
// limit is stored cut at a rune boundary, ending with a marker, within the
// limit; shorter ones are stored whole.
// TestUpdateCapsInvalidUTF8 stores messages of invalid UTF-8: each bad byte
// becomes U+FFFD (three bytes) and the message still fits its limit.
func TestUpdateCapsInvalidUTF8(t *testing.T) {
	pool := testsupport.Postgres(t)
	createProspects(t, pool, "text")
	insert(t, pool, "p", nil)
	r := mustNew(t, sourcestatus.NewReader, pool)
	for _, c := range []struct {
		max       int
		msg, want string
	}{
		{sourcestatus.DefaultMaxErrorLen, "ok\xffok\xfe\xfd", "ok\uFFFDok\uFFFD\uFFFD"},
		{sourcestatus.DefaultMaxErrorLen, strings.Repeat("\xff", sourcestatus.DefaultMaxErrorLen), ""},
		{100, strings.Repeat("\xfe", 10_000), ""},
	} {
		u := mustNew(t, sourcestatus.NewUpdater, pool, sourcestatus.WithMaxErrorLen(c.max))
		if err := u.Update(ctxT(t), "p", "exa", sourcestatus.Payload{Status: sourcestatus.Failed, Error: c.msg, At: at}); err != nil {
			t.Fatal(err)
		}
		var stored int
		if err := pool.QueryRow(ctxT(t), `SELECT octet_length(enrichment_source_status->'exa'->>'error') FROM prospects`).Scan(&stored); err != nil {
			t.Fatal(err)
		}
		s, err := r.Get(ctxT(t), "p")
		if err != nil {
			t.Fatal(err)
		}
		got := s["exa"].Error
		switch {
		case stored > c.max || len(got) > c.max:
			t.Errorf("max %d: stored %d bytes, read %d", c.max, stored, len(got))
		case c.want != "" && got != c.want:
			t.Errorf("max %d: stored %q, want %q", c.max, got, c.want)
		case c.want == "" && !strings.HasSuffix(got, sourcestatus.TruncatedMark):
			t.Errorf("max %d: stored %q, want it cut and marked", c.max, got)
		}
	}
}

func TestUpdateCapsErrorMessages(t *testing.T) {
	pool := testsupport.Postgres(t)
	createProspects(t, pool, "text")
	insert(t, pool, "p", nil)
	huge := "x" + strings.Repeat("é", 8<<20) // 16 MiB, the cut lands inside a rune
	cases := []struct {
		opts []sourcestatus.Option
		msg  string
		max  int
	}{
		{nil, huge, sourcestatus.DefaultMaxErrorLen},
		{[]sourcestatus.Option{sourcestatus.WithMaxErrorLen(100)}, huge, 100},
		{[]sourcestatus.Option{sourcestatus.WithMaxErrorLen(0)}, huge, sourcestatus.DefaultMaxErrorLen}, // 0 keeps the default
		{[]sourcestatus.Option{sourcestatus.WithMaxErrorLen(10)}, huge, 64},                             // raised to 64
		{[]sourcestatus.Option{sourcestatus.WithMaxErrorLen(100)}, "HTTP 429", 100},
	}
	r := mustNew(t, sourcestatus.NewReader, pool)
	for _, c := range cases {
		u := mustNew(t, sourcestatus.NewUpdater, pool, c.opts...)
		if err := u.Update(ctxT(t), "p", "exa", sourcestatus.Payload{Status: sourcestatus.Failed, Error: c.msg, At: at}); err != nil {
			t.Fatal(err)
		}
		s, err := r.Get(ctxT(t), "p")
		if err != nil {
			t.Fatal(err)
		}
		got := s["exa"].Error
		if len(c.msg) <= c.max {
			if got != c.msg {
				t.Errorf("max %d: stored %q, want %q whole", c.max, got, c.msg)
			}
			continue
		}
		kept, cut := strings.CutSuffix(got, sourcestatus.TruncatedMark)
		if len(got) > c.max || !cut || !utf8.ValidString(got) || !strings.HasPrefix(c.msg, kept) || len(kept) < c.max-len(sourcestatus.TruncatedMark)-utf8.UTFMax {
			t.Errorf("max %d: stored %d bytes %.30q...%q, want the message's start cut at a rune boundary and the marker, within the limit",
				c.max, len(got), got, got[max(0, len(got)-30):])
		}
	}
}
