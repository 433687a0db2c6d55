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

// dayWindow is how long before and after each UTC midnight a tracker with the
// default clock reads the clock on every call.
const dayWindow = 2 * time.Second

// dayState tells Track which UTC day a call made now falls in. Reading the
// clock costs more than the rest of Track on some machines, so with the
// default clock Track reads the day from here and reads the clock only near
// midnight, where the flusher goroutine switches it to precise; a tracker
// with a clock from WithClock is always precise, so tests can pin any time.
type dayState struct {
	d       day
	precise bool // read the clock on every call
}

// today returns the UTC day of a call made now.
func (c *counts) today() day {
	s := c.day.Load()
	if s.precise {
		return dayOf(c.clock())
	}
	return s.d
}

// syncDay sets the day state from the clock and returns how long it stays
// right. The flusher goroutine calls it on a timer and on every tick, so a
// stepped wall clock is noticed within one flush interval.
func (c *counts) syncDay() time.Duration {
	now := c.clock()
	d := dayOf(now)
	start := d.time()
	end := start.Add(24 * time.Hour)
	s := dayState{d: d, precise: true}
	var next time.Duration
	switch {
	case c.custom:
		next = time.Hour // precise anyway; nothing to switch
	case now.Sub(start) < dayWindow:
		next = start.Add(dayWindow).Sub(now)
	case end.Sub(now) <= dayWindow:
		next = end.Add(dayWindow).Sub(now)
	default:
		s.precise = false
		next = end.Add(-dayWindow).Sub(now)
	}
	if cur := c.day.Load(); cur == nil || *cur != s {
		c.day.Store(&s)
	}
	return next
}
