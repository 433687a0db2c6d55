package usage

import (
	"fmt"
	"time"
)

// Period is the span a [Quota]'s limit applies to.
type Period int

const (
	// PerDay limits calls per UTC day.
	PerDay Period = iota
	// PerMonth limits calls per billing month, which starts on the quota's
	// AnchorDay.
	PerMonth
)

// String returns "day" or "month".
func (p Period) String() string {
	switch p {
	case PerDay:
		return "day"
	case PerMonth:
		return "month"
	}
	return fmt.Sprintf("Period(%d)", int(p))
}

// A Quota is a provider's allowance of successful calls.
type Quota struct {
	Limit  int64  // calls allowed per period; must be positive
	Period Period // PerDay (the zero value) or PerMonth
	// AnchorDay is the day of the month, 1 to 31, on which a PerMonth period
	// starts at UTC midnight; in shorter months it falls on the last day.
	// Zero means 1. It is ignored for PerDay.
	AnchorDay int
}

func (q Quota) validate() error {
	switch {
	case q.Limit <= 0:
		return fmt.Errorf("usage: quota limit %d is not positive", q.Limit)
	case q.Period != PerDay && q.Period != PerMonth:
		return fmt.Errorf("usage: quota period %v is unknown", q.Period)
	case q.AnchorDay < 0 || q.AnchorDay > 31:
		return fmt.Errorf("usage: quota anchor day %d is not in 1..31", q.AnchorDay)
	}
	return nil
}

// period returns the UTC period of q that contains now: [start, end).
func (q Quota) period(now time.Time) (start, end time.Time) {
	today := dayOf(now).time()
	if q.Period == PerDay {
		return today, today.AddDate(0, 0, 1)
	}
	start = anchorIn(today.Year(), today.Month(), q.AnchorDay)
	if start.After(today) {
		start = anchorIn(today.Year(), today.Month()-1, q.AnchorDay)
	}
	return start, anchorIn(start.Year(), start.Month()+1, q.AnchorDay)
}

// anchorIn returns UTC midnight of the anchor day in the given month, clamped
// to the month's last day.
func anchorIn(year int, month time.Month, anchor int) time.Time {
	if anchor == 0 {
		anchor = 1
	}
	first := time.Date(year, month, 1, 0, 0, 0, 0, time.UTC)
	last := first.AddDate(0, 1, -1).Day()
	return first.AddDate(0, 0, min(anchor, last)-1)
}
