package usage

import "sync/atomic"

var defaultTracker atomic.Pointer[Tracker]

// SetDefault makes t the tracker that the package-level [Track] counts with;
// nil turns package-level counting off again. It is safe to call concurrently
// with Track. Closing t is still its owner's job.
func SetDefault(t *Tracker) {
	defaultTracker.Store(t)
}

// Track is shorthand for calling [Tracker.Track] on the tracker passed to
// [SetDefault]. It does nothing until SetDefault is called.
func Track(p Provider) {
	defaultTracker.Load().Track(p)
}
