package sourcestatus_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/enrichmeter/enrichmeter/internal/testsupport"
	"github.com/enrichmeter/enrichmeter/sourcestatus"
)

// seedFeed fills the table with every shape an error feed meets.
func seedFeed(t *testing.T, pool *pgxpool.Pool) {
	createProspects(t, pool, "text")
	rows := map[string]any{
		"a": `{"exa": {"status": "failed", "error": "HTTP 429", "at": "2026-11-26T03:15:03.123Z"}, "sec": "complete"}`,
		"b": `{"exa": "failed", "claude": {"status": "failed", "error": "overloaded", "at": "2026-11-26T05:00:00.000Z"}, "sec": {"status": "complete", "at": "2026-11-26T05:00:00.000Z"}}`,
		"c": `{"contactout": {"status": "failed", "at": "2026-11-25T23:59:59.999Z"}, "apollo": {"status": "pending", "at": "2026-11-26T06:00:00.000Z"}}`,
		"d": `"failed"`,
		"e": `[{"status": "failed", "at": "2026-11-26T09:00:00.000Z"}]`,
		"f": nil,
		"g": `{"exa": {"status": "circuit_open", "error": "5 failures", "at": "2026-11-26T07:00:00.000Z"}, "sec": {"status": "failed", "error": "", "at": "2026-11-26T04:00:00.000Z", "extra": 1}}`,
		"h": `{"exa": {"error": "no status", "at": "2026-11-26T08:00:00.000Z"}, "odd": 5}`,
	}
	for id, col := range rows {
		insert(t, pool, id, col)
	}
}

func TestFailures(t *testing.T) {
	forEachMode(t, func(t *testing.T, pool *pgxpool.Pool) {
		seedFeed(t, pool)
		r, err := sourcestatus.NewReader(pool)
		if err != nil {
			t.Fatal(err)
		}
		ctx := ctxT(t)
		ts := func(s string) time.Time { v, _ := time.Parse(time.RFC3339, s); return v }
		all := []sourcestatus.Failure{
			{"b", "claude", "overloaded", ts("2026-11-26T05:00:00Z")},
			{"g", "sec", "", ts("2026-11-26T04:00:00Z")},
			{"a", "exa", "HTTP 429", ts("2026-11-26T03:15:03.123Z")},
			{"c", "contactout", "", ts("2026-11-25T23:59:59.999Z")},
			{"b", "exa", "", time.Time{}}, // legacy: no time, last
		}
		cases := []struct {
			since time.Time
			limit int
			want  []sourcestatus.Failure
		}{
			{time.Time{}, 100, all},
			{time.Time{}, 2, all[:2]},
			{ts("2026-11-26T00:00:00Z"), 100, all[:3]},
			{ts("2026-11-26T03:15:03.123Z"), 100, all[:3]}, // since is inclusive
			{ts("2026-11-26T03:15:03.124Z"), 100, all[:2]},
			{ts("2026-11-27T00:00:00Z"), 100, nil},
		}
		for _, c := range cases {
			got, err := r.Failures(ctx, c.since, c.limit)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(c.want) {
				t.Errorf("Failures(%v, %d) = %d failures %+v, want %d", c.since, c.limit, len(got), got, len(c.want))
				continue
			}
			for i := range got {
				if got[i] != c.want[i] {
					t.Errorf("Failures(%v, %d)[%d] = %+v, want %+v", c.since, c.limit, i, got[i], c.want[i])
				}
			}
		}
		for _, limit := range []int{0, -1, 10_001} {
			if _, err := r.Failures(ctx, time.Time{}, limit); err == nil {
				t.Errorf("Failures with limit %d succeeded", limit)
			}
		}
	})
}

func TestSummary(t *testing.T) {
	forEachMode(t, func(t *testing.T, pool *pgxpool.Pool) {
		seedFeed(t, pool)
		r := mustNew(t, sourcestatus.NewReader, pool)
		got, err := r.Summary(ctxT(t), time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]map[sourcestatus.Status]int64{
			"apollo":     {"pending": 1},
			"claude":     {"failed": 1},
			"contactout": {"failed": 1},
			"exa":        {"failed": 2, "circuit_open": 1, "": 1},
			"sec":        {"complete": 2, "failed": 1},
		}
		check := func(got []sourcestatus.SourceSummary, want map[string]map[sourcestatus.Status]int64) {
			t.Helper()
			if len(got) != len(want) {
				t.Fatalf("Summary = %+v, want %v", got, want)
			}
			for i, s := range got {
				if i > 0 && got[i-1].Source >= s.Source {
					t.Errorf("sources out of order: %s before %s", got[i-1].Source, s.Source)
				}
				var total int64
				for st, n := range want[s.Source] {
					total += n
					if s.Counts[st] != n {
						t.Errorf("%s %q = %d, want %d", s.Source, st, s.Counts[st], n)
					}
				}
				if s.Total != total || len(s.Counts) != len(want[s.Source]) {
					t.Errorf("%s: %+v, want %v", s.Source, s, want[s.Source])
				}
			}
		}
		check(got, want)
		since, _ := time.Parse(time.RFC3339, "2026-11-26T05:00:00Z")
		got, err = r.Summary(ctxT(t), since)
		if err != nil {
			t.Fatal(err)
		}
		check(got, map[string]map[sourcestatus.Status]int64{
			"apollo": {"pending": 1}, "claude": {"failed": 1}, "exa": {"circuit_open": 1, "": 1}, "sec": {"complete": 1},
		})
	})
}

func TestGet(t *testing.T) {
	forEachMode(t, func(t *testing.T, pool *pgxpool.Pool) {
		seedFeed(t, pool)
		r := mustNew(t, sourcestatus.NewReader, pool)
		ctx := ctxT(t)
		got, err := r.Get(ctx, "b")
		if err != nil {
			t.Fatal(err)
		}
		five, _ := time.Parse(time.RFC3339, "2026-11-26T05:00:00Z")
		want := sourcestatus.Statuses{
			"exa":    {Status: sourcestatus.Failed},
			"claude": {Status: sourcestatus.Failed, Error: "overloaded", At: five},
			"sec":    {Status: sourcestatus.Complete, At: five},
		}
		checkStatuses(t, got, want)
		for _, id := range []string{"d", "e", "f"} { // not objects: no statuses
			if s, err := r.Get(ctx, id); err != nil || len(s) != 0 {
				t.Errorf("Get(%s) = %v, %v; want no statuses", id, s, err)
			}
		}
		if _, err := r.Get(ctx, "zzz"); !errors.Is(err, sourcestatus.ErrNotFound) {
			t.Errorf("Get of a missing prospect = %v, want ErrNotFound", err)
		}
	})
}

// TestGetReturnsTheWellFormedEntries shows that malformed entries do not hide
// a prospect's other sources: Get returns those it can read together with a
// *MalformedError that names the others.
func TestGetReturnsTheWellFormedEntries(t *testing.T) {
	pool := testsupport.Postgres(t)
	createProspects(t, pool, "text")
	insert(t, pool, "p", `{"apollo": "complete", "exa": 5, "sec": {"status": "failed", "at": 1732590903123},
		"claude": {"status": "complete", "at": "2026-11-26T03:15:03.123Z"}, "odd": {"error": "no status"}}`)
	s, err := mustNew(t, sourcestatus.NewReader, pool).Get(ctxT(t), "p")
	checkStatuses(t, s, sourcestatus.Statuses{
		"apollo": {Status: sourcestatus.Complete},
		"claude": {Status: sourcestatus.Complete, At: at},
	})
	var malformed *sourcestatus.MalformedError
	if !errors.As(err, &malformed) {
		t.Fatalf("Get = %v, want a *MalformedError", err)
	}
	var wrongType *json.UnmarshalTypeError
	if len(malformed.Entries) != 3 || !errors.As(malformed.Entries["exa"], &wrongType) ||
		!errors.As(malformed.Entries["sec"], &wrongType) || !errors.Is(malformed.Entries["odd"], sourcestatus.ErrEmptyStatus) {
		t.Errorf("malformed entries = %v, want exa and sec of the wrong type, odd without status", malformed.Entries)
	}
	if !errors.Is(err, sourcestatus.ErrEmptyStatus) {
		t.Errorf("errors.Is(%v, ErrEmptyStatus) = false, want each entry's error reachable", err)
	}
	for _, name := range []string{`"p"`, "exa", "sec", "odd"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error %q does not name %s", err, name)
		}
	}
}

// TestGetReadsPastAnEntryNestedTooDeep stores, as another writer may, an
// entry nested deeper than encoding/json reads (10,000 levels): Get still
// returns the prospect's other entries, and names that one as malformed.
func TestGetReadsPastAnEntryNestedTooDeep(t *testing.T) {
	pool := testsupport.Postgres(t)
	createProspects(t, pool, "text")
	deep := strings.Repeat("[", 10_001) + strings.Repeat("]", 10_001)
	insert(t, pool, "p", `{"claude": {"status": "complete", "at": "2026-11-26T03:15:03.123Z"}, "bad": {"status": "failed", "x": `+deep+`}}`)
	s, err := mustNew(t, sourcestatus.NewReader, pool).Get(ctxT(t), "p")
	checkStatuses(t, s, sourcestatus.Statuses{"claude": {Status: sourcestatus.Complete, At: at}})
	var malformed *sourcestatus.MalformedError
	if !errors.As(err, &malformed) || len(malformed.Entries) != 1 || malformed.Entries["bad"] == nil {
		t.Errorf("Get = %v, want a *MalformedError naming bad alone", err)
	}
}

func TestFailureGroups(t *testing.T) {
	forEachMode(t, func(t *testing.T, pool *pgxpool.Pool) {
		seedFeed(t, pool)
		// An outage: eight prospects' exa failed alike, two at one time, one
		// without a time.
		for i, at := range []string{"06:05", "06:00", "06:01", "06:02", "06:03", "06:04", "06:05"} {
			insert(t, pool, fmt.Sprintf("z%d", i), `{"exa": {"status": "failed", "error": "HTTP 503", "at": "2026-11-26T`+at+`:00.000Z"}}`)
		}
		insert(t, pool, "z7", `{"exa": {"status": "failed", "error": "HTTP 503"}, "sec": "complete"}`)
		r := mustNew(t, sourcestatus.NewReader, pool)
		ctx := ctxT(t)
		ts := func(s string) time.Time { v, _ := time.Parse(time.RFC3339, s); return v }
		outage := func(count int64, ids ...string) sourcestatus.FailureGroup {
			g := sourcestatus.FailureGroup{Source: "exa", Error: "HTTP 503", Count: count, Latest: ts("2026-11-26T06:05:00Z")}
			for _, id := range ids {
				at := map[string]string{"z0": "06:05", "z6": "06:05", "z5": "06:04", "z4": "06:03", "z3": "06:02"}[id]
				g.Newest = append(g.Newest, sourcestatus.Failure{ProspectID: id, Source: "exa", Error: "HTTP 503", At: ts("2026-11-26T" + at + ":00Z")})
			}
			return g
		}
		one := func(f sourcestatus.Failure) sourcestatus.FailureGroup {
			return sourcestatus.FailureGroup{Source: f.Source, Error: f.Error, Count: 1, Latest: f.At, Newest: []sourcestatus.Failure{f}}
		}
		claude := one(sourcestatus.Failure{"b", "claude", "overloaded", ts("2026-11-26T05:00:00Z")})
		sec := one(sourcestatus.Failure{"g", "sec", "", ts("2026-11-26T04:00:00Z")})
		exa429 := one(sourcestatus.Failure{"a", "exa", "HTTP 429", ts("2026-11-26T03:15:03.123Z")})
		contactout := one(sourcestatus.Failure{"c", "contactout", "", ts("2026-11-25T23:59:59.999Z")})
		legacy := one(sourcestatus.Failure{"b", "exa", "", time.Time{}})
		newest := []string{"z0", "z6", "z5", "z4", "z3"} // the time, then the id, orders them
		all := []sourcestatus.FailureGroup{outage(8, newest...), claude, sec, exa429, contactout, legacy}
		cases := []struct {
			since time.Time
			limit int
			want  []sourcestatus.FailureGroup
		}{
			{time.Time{}, 100, all},
			{time.Time{}, 2, all[:2]},
			{ts("2026-11-26T00:00:00Z"), 100, []sourcestatus.FailureGroup{outage(7, newest...), claude, sec, exa429}},
			{ts("2026-11-26T06:03:00Z"), 100, []sourcestatus.FailureGroup{outage(4, newest[:4]...)}}, // since is inclusive
			{ts("2026-11-27T00:00:00Z"), 100, nil},
		}
		for _, c := range cases {
			got, err := r.FailureGroups(ctx, c.since, c.limit)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("FailureGroups(%v, %d) =\n%+v\nwant\n%+v", c.since, c.limit, got, c.want)
			}
		}
		for _, limit := range []int{0, -1, 10_001} {
			if _, err := r.FailureGroups(ctx, time.Time{}, limit); err == nil {
				t.Errorf("FailureGroups with limit %d succeeded", limit)
			}
		}
	})
}
