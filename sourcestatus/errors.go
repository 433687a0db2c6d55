package sourcestatus

import (
	"context"
	"errors"
	"fmt"
)

// ErrNotFound is returned when no prospect has the given id.
var ErrNotFound = errors.New("sourcestatus: prospect not found")

// ErrEmptyStatus is returned when a payload's status is empty.
var ErrEmptyStatus = errors.New("sourcestatus: empty status")

// dbErr wraps a database error, returning ctx.Err() unchanged when the
// context ended.
func (t *table) dbErr(ctx context.Context, what string, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return ctxErr
	}
	return fmt.Errorf("sourcestatus: %s: %w", what, err)
}
