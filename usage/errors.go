package usage

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// ErrClosed is returned by [Tracker.Flush] after [Tracker.Close].
var ErrClosed = errors.New("usage: tracker closed")

// ErrTooManyKeys is passed to the error handler when calls are dropped because
// the tracker already holds the maximum number of keys with pending counts
// (see [WithMaxKeys]).
var ErrTooManyKeys = errors.New("usage: too many pending keys")

// A KeyError is Redis refusing the write of one counter key: the key holds
// something other than an integer, the increment would overflow, the client
// may not write it, and the like (not a reply about the whole server, such
// as LOADING or BUSY: those count as a failed write). The key's counts stay
// pending: the refused write is sent again at every flush under its
// sequence number (an earlier send of it, by the client's own retries, may
// have been applied, and the number makes sure it counts once), and what
// the key counted since waits behind it. They reach Redis once the key is
// repaired; other keys are not held back. Flush and Close return KeyErrors
// (find them with [errors.As]), and the background flusher passes each to
// the error handler.
type KeyError struct {
	Key string // the counter key, e.g. "api_usage:exa:2026-11-26"
	Err error  // Redis' reply
}

func (e *KeyError) Error() string { return fmt.Sprintf("usage: key %s: %v", e.Key, e.Err) }

// Unwrap returns Redis' reply.
func (e *KeyError) Unwrap() error { return e.Err }

// serverStates are the prefixes of the error replies Redis gives for the
// state of the whole server (loading its data, running a long script, a
// cluster or replica that is not ready, its memory full), not for one key:
// nothing was applied, and the same write can go through once the state
// passes.
var serverStates = []string{"LOADING ", "BUSY ", "MASTERDOWN ", "CLUSTERDOWN ", "TRYAGAIN ", "READONLY ", "NOREPLICAS ", "MISCONF ", "OOM "}

// refusesKey reports whether err is Redis refusing the write of a key (a
// *KeyError), rather than no reply or a reply about the whole server (see
// serverStates).
func refusesKey(err error) bool {
	var reply redis.Error
	if !errors.As(err, &reply) {
		return false
	}
	for _, p := range serverStates {
		if strings.HasPrefix(err.Error(), p) {
			return false
		}
	}
	return true
}

// waitError is the context's error when a Flush or Close gave up waiting,
// with what the tracker knows of why: the last round's error and how long
// the running write has gone without an answer.
type waitError struct {
	ctx     error
	last    error         // nil when the last round succeeded
	running time.Duration // zero when no write is running
}

func (e *waitError) Error() string {
	msg := "usage: " + e.ctx.Error()
	if e.running > 0 {
		msg += fmt.Sprintf("; a write sent %v ago has had no answer", e.running.Round(time.Millisecond))
	}
	if e.last != nil {
		msg += "; last write error: " + e.last.Error()
	}
	return msg
}

// Unwrap returns the context's error and the last write error, so errors.Is
// finds context.DeadlineExceeded and the cause alike.
func (e *waitError) Unwrap() []error { return []error{e.ctx, e.last} }

// A dropReason says why units were not counted.
type dropReason int

const (
	dropInvalidProvider dropReason = iota
	dropBadAmount
	dropClosed
	dropTooManyKeys
	dropNoClient
	numDropReasons
)

// Kinds of flush errors, the values of error.type.
const (
	errKey = iota
	errNetwork
	errTimeout
	numErrKinds
)

// errKindOf sorts an error of a round's write.
func errKindOf(err error) int {
	var ke *KeyError
	var ne net.Error
	switch {
	case errors.As(err, &ke):
		return errKey
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return errTimeout
	default:
		return errNetwork
	}
}

// isContextErr reports whether err is a context's cancellation or deadline.
func isContextErr(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}
