package usage

import "fmt"

// Stats is a snapshot of a tracker's counts, in units: a call to
// [Tracker.Track] is one unit, Add(p, n) is n. Calls and tokens are kept
// apart: the top-level fields count the call counters, and Tokens the token
// counters, those whose name ends in "_tokens" ([ClaudeInputTokens] and the
// three others). In each, every unit passed to Track or Add is in exactly
// one of Flushed, Pending and Dropped, and Tracked is their sum, so it
// equals the units passed so far.
type Stats struct {
	Tracked int64 // calls passed to Track and Add
	Flushed int64 // calls Redis confirmed
	Pending int64 // calls in memory or sent but not confirmed
	Dropped int64 // calls not counted: invalid provider or amount, after Close, beyond the key cap, no usable client
	Tokens  Units // the same for tokens
}

// Units counts the units of one kind that a tracker was given, as [Stats]
// does for calls.
type Units struct {
	Tracked, Flushed, Pending, Dropped int64
}

// statsOf returns the Stats of a snapshot.
func statsOf(s snapshot) Stats {
	units := func(c unitClass) Units {
		u := Units{Flushed: s.flushed[c], Pending: s.pending[c]}
		for _, n := range s.dropped[c] {
			u.Dropped += n
		}
		u.Tracked = u.Flushed + u.Pending + u.Dropped
		return u
	}
	calls := units(classCalls)
	return Stats{Tracked: calls.Tracked, Flushed: calls.Flushed, Pending: calls.Pending, Dropped: calls.Dropped, Tokens: units(classTokens)}
}

// String formats the stats for logs: the calls, then the tokens if any
// were tracked.
func (s Stats) String() string {
	out := Units{s.Tracked, s.Flushed, s.Pending, s.Dropped}.String()
	if s.Tokens != (Units{}) {
		out += "; tokens: " + s.Tokens.String()
	}
	return out
}

// String formats the units for logs.
func (u Units) String() string {
	return fmt.Sprintf("tracked=%d flushed=%d pending=%d dropped=%d", u.Tracked, u.Flushed, u.Pending, u.Dropped)
}
