package usage

// The seam
//
// Stats, the metrics and a Guard read a tracker only through the functions
// of this file, so none of them touches its locks or maps: snapshot, the
// counts of every class at one instant; withRoundsHeld, the round lock with
// a view of some counters taken under it; and roundWanted.

import (
	"context"
	"time"
)

// A snapshot is a tracker's counts at one instant, by class.
type snapshot struct {
	flushed, pending [numClasses]int64
	dropped          [numClasses][numDropReasons]int64
	rounds           int64
	roundErrs        [numErrKinds]int64
	oldest           time.Time // no unit now pending was counted before this; zero when none is
}

// snapshot returns the tracker's counts at one instant.
func (w *writer) snapshot() snapshot {
	w.mu.Lock()
	defer w.mu.Unlock()
	s := snapshot{flushed: w.flushed, rounds: w.done, roundErrs: w.roundErrs}
	for _, p := range w.pends {
		for _, x := range p.parts {
			s.pending[x.class] += x.unsent + x.inflight
		}
		if !p.since.IsZero() && (s.oldest.IsZero() || p.since.Before(s.oldest)) {
			s.oldest = p.since
		}
	}
	cs := w.core.state()
	for i, n := range cs.undrained {
		s.pending[i] += n
	}
	s.dropped = cs.dropped
	if !cs.since.IsZero() && (s.oldest.IsZero() || cs.since.Before(s.oldest)) {
		s.oldest = cs.since
	}
	return s
}

// withRoundsHeld takes the round lock, waiting within ctx for a round that
// runs, takes the view of every counter asked at one instant, and calls
// read with them while it holds the lock, so no round of this tracker lands
// while read reads Redis.
func (w *writer) withRoundsHeld(ctx context.Context, asks []viewAsk, read func([]view) error) error {
	if err := w.rounds.lock(ctx); err != nil {
		return err
	}
	defer w.rounds.unlock()
	views := make([]view, len(asks))
	w.mu.Lock()
	for i, a := range asks {
		for _, p := range w.pends {
			for _, x := range p.parts {
				if x.k.s == (series{p: a.p}) && x.k.d >= a.from && x.k.d < a.to {
					views[i].pending += x.unsent + x.inflight
				}
			}
		}
	}
	w.core.views(asks, views)
	w.mu.Unlock()
	return read(views)
}

// roundWanted reports whether the flusher found the round lock taken at its
// last tick and no round ran since: a reader that can wait should let it go
// first.
func (w *writer) roundWanted() bool { return w.rounds.wanted.Load() }
