package sourcestatus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// A Reader reads the status column for the dashboard: one prospect's
// statuses, the error feed across all prospects, and per-source summaries.
//
// A Reader is safe for concurrent use. The zero value is not usable; use
// [NewReader].
type Reader struct {
	t *table
}

// NewReader returns a Reader of the status column, by default
// prospects.enrichment_source_status keyed by id. It checks the options'
// identifiers and does no I/O; the first calls read the catalog as
// [NewUpdater] says, and find out whether the [Schema] kit's indexes are in
// place: a Reader reads through them if they were when it first read. If
// the kit's functions are dropped, it goes back to reading without them by
// itself; if only its indexes are, its reads still work but read the whole
// table, more slowly than a new Reader would.
func NewReader(db DB, opts ...Option) (*Reader, error) {
	t, err := newTable(db, opts)
	if err != nil {
		return nil, err
	}
	return &Reader{t: t}, nil
}

// Get returns the prospect's statuses, legacy entries included; a column that
// is not a JSON object reads as no statuses. It returns [ErrNotFound] when no
// prospect has the id. When some entries are malformed, it returns the others
// with a [*MalformedError] that names them.
func (r *Reader) Get(ctx context.Context, prospectID string) (Statuses, error) {
	if err := checkKey("prospect id", prospectID); err != nil {
		return nil, err
	}
	st, err := r.t.statements(ctx)
	if err != nil {
		return nil, err
	}
	rows, err := r.t.db.Query(ctx, st.get, prospectID)
	if err != nil {
		return nil, idErr(ctx, "get "+prospectID, prospectID, err)
	}
	entries, found := map[string]json.RawMessage{}, false
	var source, value *string
	_, err = pgx.ForEachRow(rows, []any{&source, &value}, func() error {
		found = true
		if source != nil && value != nil {
			entries[*source] = json.RawMessage(*value)
		}
		return nil
	})
	if err != nil {
		return nil, idErr(ctx, "get "+prospectID, prospectID, err)
	}
	if !found {
		return nil, notFound(prospectID)
	}
	s, err := decodeEntries(entries)
	var malformed *MalformedError
	if errors.As(err, &malformed) {
		malformed.ProspectID = prospectID
	}
	return s, err
}

// A Failure is one failed source of one prospect, for the error feed.
type Failure struct {
	ProspectID string
	Source     string
	Error      string    // empty for entries written without one
	At         time.Time // zero for legacy entries, which have no time
}

// maxFailures bounds the limit of one [Reader.Failures] call.
const maxFailures = 10_000

// Failures returns the failed sources of all prospects whose failure is at or
// after since, newest first (then by prospect id and source), at most limit
// of them (1 to 10,000). A zero since returns every failure, legacy "failed"
// entries (which have no time) last. Rows whose column is not an object are
// skipped. An entry's time is its "at" as text (->>), compared byte by byte,
// which orders toISOString times by time; an entry whose "at" is not such a
// string (a number, an object) is still listed, in that order.
//
// With the [Schema] kit in place, Failures reads as many rows as it returns,
// whatever the table's size. Without it, it reads every row that holds a
// failure when the column has a GIN index, and every row when it has none.
func (r *Reader) Failures(ctx context.Context, since time.Time, limit int) ([]Failure, error) {
	if limit < 1 || limit > maxFailures {
		return nil, fmt.Errorf("sourcestatus: failures: limit %d is not in 1..%d", limit, maxFailures)
	}
	var (
		out []Failure
		f   Failure
		at  *string
	)
	err := r.query(ctx, "failures", func(s *statements) string { return s.failures }, since, []any{&f.ProspectID, &f.Source, &f.Error, &at}, func() error {
		f.At = readTime(at)
		out = append(out, f)
		return nil
	}, strconv.Itoa(limit))
	if err != nil {
		return nil, err
	}
	return out, nil
}

// A FailureGroup is the failures of one source with one message, for an
// error feed that counts alike failures once.
type FailureGroup struct {
	Source string
	Error  string    // empty for entries written without one
	Count  int64     // the group's failures: one per prospect
	Latest time.Time // the newest failure's time; zero when none has one
	Newest []Failure // the group's 5 newest, in [Reader.Failures]' order
}

// groupNewest is how many of its failures a FailureGroup lists.
const groupNewest = 5

// FailureGroups returns the failures that [Reader.Failures] would return
// for since, without a limit, grouped by source and message: the groups
// whose newest failure comes first in that order come first (legacy groups,
// without a time, last; then by source and message), at most limit of them
// (1 to 10,000). Each group counts all its failures and lists its newest.
//
// It reads the rows that hold a failure since since: with the [Schema] kit
// in place, through its failed-time index; without it, through a GIN index
// on the column, or every row when there is none.
func (r *Reader) FailureGroups(ctx context.Context, since time.Time, limit int) ([]FailureGroup, error) {
	if limit < 1 || limit > maxFailures {
		return nil, fmt.Errorf("sourcestatus: failure groups: limit %d is not in 1..%d", limit, maxFailures)
	}
	var (
		out    []FailureGroup
		g      FailureGroup
		latest *string
		ids    []string
		times  []*string
	)
	pick := func(s *statements) string { return s.failureGroups }
	err := r.query(ctx, "failure groups", pick, since, []any{&g.Source, &g.Error, &g.Count, &latest, &ids, &times}, func() error {
		g.Latest, g.Newest = readTime(latest), make([]Failure, len(ids))
		for i, id := range ids {
			g.Newest[i] = Failure{ProspectID: id, Source: g.Source, Error: g.Error}
			if i < len(times) {
				g.Newest[i].At = readTime(times[i])
			}
		}
		out = append(out, g)
		return nil
	}, strconv.Itoa(limit), strconv.Itoa(groupNewest))
	if err != nil {
		return nil, err
	}
	return out, nil
}

// readTime returns the time an entry's "at" holds, or zero when it has none
// or one that does not read: an unreadable time is left zero rather than
// hiding the failure.
func readTime(at *string) time.Time {
	if at == nil {
		return time.Time{}
	}
	t, _ := parseTime(*at)
	return t
}

// SourceSummary counts one source's entries by status.
type SourceSummary struct {
	Source string
	Counts map[Status]int64 // entries per status; unknown statuses are kept
	Total  int64
}

// Summary counts, for each source, the entries in each status whose time is
// at or after since, for the Enrichment Pipeline card; a zero since counts
// every entry, legacy ones included. Sources come in name order.
//
// With the [Schema] kit in place, a summary since a time reads only the rows
// with an entry since then; without it, and for a zero since, Summary reads
// every row of the table.
func (r *Reader) Summary(ctx context.Context, since time.Time) ([]SourceSummary, error) {
	var (
		out    []SourceSummary
		source string
		status string
		n      int64
	)
	pick := func(s *statements) string { return s.summary }
	if since.IsZero() {
		pick = func(s *statements) string { return s.summaryAll }
	}
	err := r.query(ctx, "summary", pick, since, []any{&source, &status, &n}, func() error {
		if len(out) == 0 || out[len(out)-1].Source != source {
			out = append(out, SourceSummary{Source: source, Counts: map[Status]int64{}})
		}
		s := &out[len(out)-1]
		s.Counts[Status(status)] += n
		s.Total += n
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// query runs the statement that pick chooses, with since, formatted (empty
// when zero, meaning no bound), as its first parameter, then more, and calls
// fn for each row scanned into scans. When the schema kit's functions have
// been dropped since the statements were built, which PostgreSQL says before
// any row, it reads the catalog again and runs the plain statement.
func (r *Reader) query(ctx context.Context, what string, pick func(*statements) string, since time.Time, scans []any, fn func() error, more ...any) error {
	from := ""
	if !since.IsZero() {
		var err error
		if from, err = FormatTime(since); err != nil {
			return err
		}
	}
	args := append([]any{from}, more...)
	for {
		st, err := r.t.statements(ctx)
		if err != nil {
			return err
		}
		rows, err := r.t.db.Query(ctx, pick(st), args...)
		if err == nil {
			_, err = pgx.ForEachRow(rows, scans, fn)
		}
		var pgErr *pgconn.PgError
		if st.kit && errors.As(err, &pgErr) && pgErr.Code == "42883" { // undefined_function
			r.t.forget(st)
			continue
		}
		if err != nil {
			return dbErr(ctx, what, err)
		}
		return nil
	}
}
