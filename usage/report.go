package usage

// The error handler ([WithErrorHandler]) runs on a goroutine of its own, the
// reporter, so a slow handler holds up neither writes nor the flusher, which
// keeps the day state right near midnight. Errors reach it through a queue
// of 16; an error that finds the queue full is left out.

// A reporter passes errors to an error handler, one at a time, from its own
// goroutine (run).
type reporter struct {
	errs   chan error
	handle func(error)
}

func newReporter(handle func(error)) *reporter {
	return &reporter{errs: make(chan error, 16), handle: handle}
}

// report queues err for the handler without waiting.
func (r *reporter) report(err error) {
	select {
	case r.errs <- err:
	default:
	}
}

// run calls the handler with each queued error, one at a time, until stop
// is closed; then it passes on what is still queued and returns.
func (r *reporter) run(stop <-chan struct{}) {
	for {
		select {
		case err := <-r.errs:
			r.handle(err)
		case <-stop:
			for {
				select {
				case err := <-r.errs:
					r.handle(err)
				default:
					return
				}
			}
		}
	}
}
