package usage

import (
	"errors"
	"testing"
	"time"
)

func TestDefaultErrorHandlerLogsAtMostOnceAMinute(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	type line struct {
		err        error
		suppressed int64
	}
	var lines []line
	h := rateLimited(time.Minute, func() time.Time { return now }, func(err error, n int64) { lines = append(lines, line{err, n}) })
	first, second, third := errors.New("first"), errors.New("second"), errors.New("third")
	h(first)
	now = now.Add(30 * time.Second)
	h(second) // within the minute: left out
	h(second)
	now = now.Add(31 * time.Second)
	h(third)
	if len(lines) != 2 || lines[0] != (line{first, 0}) || lines[1] != (line{third, 2}) {
		t.Errorf("logged %v, want first, then third with 2 left out", lines)
	}
}
