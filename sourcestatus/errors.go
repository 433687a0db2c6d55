package sourcestatus

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
)

// ErrNotFound is returned when no prospect has the given id, including an id
// that is not valid input for the id column's type ("x" for a uuid column).
var ErrNotFound = errors.New("sourcestatus: prospect not found")

// ErrEmptyStatus is returned when a payload's status is empty.
var ErrEmptyStatus = errors.New("sourcestatus: empty status")

// ErrInvalidStatus is returned by [Updater.Update] for a status that is not
// made of lower-case letters a-z and '_' only ("FAILED", "circuit-open"),
// which the dashboard would not recognise. Unknown statuses of that form are
// stored; statuses read are kept whatever they are.
var ErrInvalidStatus = errors.New("sourcestatus: invalid status")

// A MalformedError reports the entries of a column that could not be read as
// payloads, by source; the column's other entries were read. [Reader.Get] and
// [Statuses.UnmarshalJSON] return it beside those, so that a caller can show
// what is known:
//
//	s, err := r.Get(ctx, id)
//	var bad *sourcestatus.MalformedError
//	if errors.As(err, &bad) {
//		// s holds the well-formed entries; bad.Entries says why each other failed.
//	}
//
// Unwrap returns each entry's error, in source order, so [errors.Is] and
// [errors.As] reach them. Its zero value reports no entries; like any error
// value it may be read from many goroutines but not changed while it is.
type MalformedError struct {
	ProspectID string           // set by Reader.Get; empty from Statuses.UnmarshalJSON
	Entries    map[string]error // by source, why its entry could not be read
}

// Error names the prospect, when known, and each malformed source with its
// error, in source order.
func (e *MalformedError) Error() string {
	var b strings.Builder
	b.WriteString("sourcestatus: ")
	if e.ProspectID != "" {
		fmt.Fprintf(&b, "prospect %q: ", e.ProspectID)
	}
	fmt.Fprintf(&b, "%d malformed entries", len(e.Entries))
	for i, source := range slices.Sorted(maps.Keys(e.Entries)) {
		sep := ": "
		if i > 0 {
			sep = "; "
		}
		fmt.Fprintf(&b, "%s%q (%s)", sep, source, strings.TrimPrefix(e.Entries[source].Error(), "sourcestatus: "))
	}
	return b.String()
}

// Unwrap returns the entries' errors, in source order.
func (e *MalformedError) Unwrap() []error {
	var errs []error
	for _, source := range slices.Sorted(maps.Keys(e.Entries)) {
		errs = append(errs, e.Entries[source])
	}
	return errs
}

// wrapJSON wraps an error of encoding/json about the value named what; nil
// stays nil.
func wrapJSON(what string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("sourcestatus: %s: %w", what, err)
}

// notFound is ErrNotFound naming the prospect.
func notFound(prospectID string) error {
	return fmt.Errorf("%w: %q", ErrNotFound, prospectID)
}

// invalidInput holds the SQLSTATEs with which PostgreSQL refuses a text as a
// value of a type: such an id names no prospect.
var invalidInput = map[string]bool{
	"22P02": true, // invalid_text_representation
	"22003": true, // numeric_value_out_of_range
	"22007": true, // invalid_datetime_format
	"22008": true, // datetime_field_overflow
}

// idErr is dbErr for a statement whose only input PostgreSQL can refuse is
// the prospect's id: a refused id is [ErrNotFound].
func idErr(ctx context.Context, what, prospectID string, err error) error {
	var pgErr *pgconn.PgError
	if ctx.Err() == nil && errors.As(err, &pgErr) && invalidInput[pgErr.Code] {
		return notFound(prospectID)
	}
	return dbErr(ctx, what, err)
}

// dbErr wraps a database error, returning ctx.Err() unchanged when the
// context ended.
func dbErr(ctx context.Context, what string, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return ctxErr
	}
	return fmt.Errorf("sourcestatus: %s: %w", what, err)
}
