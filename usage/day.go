package usage

import "time"

// A day is a UTC calendar day, counted in days since the Unix epoch.
type day int64

const secondsPerDay = 24 * 60 * 60

// dayOf returns the UTC day of t without allocating.
func dayOf(t time.Time) day {
	s := t.Unix()
	d := s / secondsPerDay
	if s%secondsPerDay < 0 {
		d-- // floor for instants before 1970
	}
	return day(d)
}

// time returns the UTC midnight that starts d.
func (d day) time() time.Time {
	return time.Unix(int64(d)*secondsPerDay, 0).UTC()
}
