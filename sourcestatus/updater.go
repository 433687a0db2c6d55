package sourcestatus

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// An Updater records sources' outcomes in the status column, each in one SQL
// statement that merges inside PostgreSQL, so concurrent updates of different
// sources of one prospect never erase each other.
//
// An Updater is safe for concurrent use. The zero value is not usable; use
// [NewUpdater].
type Updater struct {
	t *table
	m *metrics // nil without WithMeterProvider
}

// NewUpdater returns an Updater of the status column, by default
// prospects.enrichment_source_status keyed by id. It checks the options'
// identifiers and does no I/O; the first calls read the column types from
// the catalog, once it succeeds, each waiting for that read no longer than its
// own context allows.
func NewUpdater(db DB, opts ...Option) (*Updater, error) {
	t, err := newTable(db, opts)
	if err != nil {
		return nil, err
	}
	u := &Updater{t: t}
	if mp := t.cfg.meterProvider; mp != nil {
		if u.m, err = newMetrics(mp); err != nil {
			return nil, fmt.Errorf("sourcestatus: metrics: %w", err)
		}
	}
	return u, nil
}

// Update sets source's entry of the prospect to p, keeping every other
// source's entry, in whichever shape it is; a column that is not a JSON
// object (SQL NULL, JSON null, a string, an array) is treated as {}. A zero
// p.At means now. With [IgnoreStale], an update older than the stored entry
// leaves it as it is. Update returns [ErrNotFound] when no prospect has the
// id, and an error before any I/O when the id or source is empty or the
// status is not valid ([ErrEmptyStatus], [ErrInvalidStatus]). The error
// message is stored through the net the package doc describes: without URL
// user info, queries or fragments, with credentials and key-shaped words
// redacted, at most [WithMaxErrorLen] bytes long, and with NUL characters,
// which PostgreSQL's jsonb cannot hold, as U+FFFD.
func (u *Updater) Update(ctx context.Context, prospectID, source string, p Payload) error {
	payload, err := u.payload(prospectID, source, &p)
	if err != nil {
		u.m.invalid(ctx)
		return err
	}
	s, err := u.statements(ctx)
	if err != nil {
		return err
	}
	sql, args := s.update, []any{prospectID, source, string(payload)}
	if u.t.cfg.ignoreStale {
		at, _ := FormatTime(p.At) // MarshalJSON checked it
		sql, args = s.updateIgnoreStale, append(args, at)
	}
	return u.exec(ctx, p.Status, 1, "update "+source+" of "+prospectID, prospectID, sql, args...)
}

// payload checks an update's input and returns p's JSON as stored: at now
// when p has no time, the error message made safe.
func (u *Updater) payload(prospectID, source string, p *Payload) ([]byte, error) {
	if err := checkKey("prospect id", prospectID); err != nil {
		return nil, err
	}
	if err := checkKey("source", source); err != nil {
		return nil, err
	}
	if err := checkStatus(p.Status); err != nil {
		return nil, err
	}
	if p.At.IsZero() {
		p.At = u.t.cfg.clock()
	}
	p.Error = safeError(p.Error, u.t.cfg.maxErrorLen)
	return p.MarshalJSON()
}

// statements is the table's statements, the failure to read them counted.
func (u *Updater) statements(ctx context.Context) (*statements, error) {
	s, err := u.t.statements(ctx)
	if err != nil {
		u.m.done(ctx, "", 0, time.Time{}, err)
	}
	return s, err
}

// Init marks the listed sources of the prospect pending, now, in one
// statement: the "in progress" step before the sources run. Other sources'
// entries are kept. It returns [ErrNotFound] when no prospect has the id.
func (u *Updater) Init(ctx context.Context, prospectID string, sources ...string) error {
	obj, err := u.initObject(prospectID, sources)
	if err != nil {
		u.m.invalid(ctx)
		return err
	}
	st, err := u.statements(ctx)
	if err != nil {
		return err
	}
	return u.exec(ctx, Pending, len(sources), "init "+prospectID, prospectID, st.init, prospectID, string(obj))
}

// initObject checks an Init's input and returns the JSON object it merges.
func (u *Updater) initObject(prospectID string, sources []string) ([]byte, error) {
	if err := checkKey("prospect id", prospectID); err != nil {
		return nil, err
	}
	if len(sources) == 0 {
		return nil, errors.New("sourcestatus: init: no sources")
	}
	entry, err := Payload{Status: Pending, At: u.t.cfg.clock()}.MarshalJSON()
	if err != nil {
		return nil, err
	}
	obj := []byte{'{'}
	for i, s := range sources {
		if err := checkKey("source", s); err != nil {
			return nil, err
		}
		if i > 0 {
			obj = append(obj, ',')
		}
		obj = appendJSString(obj, s)
		obj = append(obj, ':')
		obj = append(obj, entry...)
	}
	return append(obj, '}'), nil
}

// exec runs an update of n entries with status and counts it in the
// metrics.
func (u *Updater) exec(ctx context.Context, status Status, n int, what, prospectID, sql string, args ...any) error {
	var start time.Time
	if u.m != nil {
		start = time.Now()
	}
	tag, err := u.t.db.Exec(ctx, sql, args...)
	switch {
	case err != nil:
		err = idErr(ctx, what, prospectID, err)
	case tag.RowsAffected() == 0:
		err = notFound(prospectID)
	}
	u.m.done(ctx, status, n, start, err)
	return err
}
