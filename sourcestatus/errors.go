package sourcestatus

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5/pgconn"
)

// ErrNotFound is returned when no prospect has the given id, including an id
// that is not valid input for the id column's type ("x" for a uuid column).
var ErrNotFound = errors.New("sourcestatus: prospect not found")

// ErrEmptyStatus is returned when a payload's status is empty.
var ErrEmptyStatus = errors.New("sourcestatus: empty status")

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
