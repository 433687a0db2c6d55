package usage

// How a count moves
//
// Every (provider, UTC day) has one slot, which owns one Redis key. Units
// move through the slot's fields from left to right, and each unit is in
// exactly one of them at any moment (Stats adds them up):
//
//	            Track/Add           take               cut                 reply 1 or 0
//	caller ──▶ cell (n) ────────▶ unsent ──────────▶ inflight (seq) ───────────────▶ flushed
//	           atomic add,        under mu           under mu            under mu
//	           no lock                                   │
//	                          no reply, or an error reply┘  proves nothing of an earlier send of it
//	                                                        (go-redis may have sent it before): stays
//	                                                        inflight, sent again under the same seq
//
//   - cell: slot.n counts every unit added since the slot began; Track only
//     adds to it, with one atomic add and no lock. The flusher keeps in
//     slot.taken how much of it has moved on, so take moves n - taken.
//   - retire: a slot of a past day, every slot once the tracker is closed,
//     and an idle slot the key cap reclaims, is retired: retiredBit is set
//     in n by one atomic Or, which returns the final count. A caller that
//     still holds the slot sees a negative sum, knows its units were not
//     counted there, and counts them on the slow path, under mu: in the
//     day's next slot, or straight into unsent when the day's slot is
//     retired but not yet drained. A retired slot leaves the map once
//     nothing is unsent or inflight.
//   - cut: a slot with nothing inflight sends all its unsent units under the
//     round's new sequence number. A slot with units inflight sends them
//     again under their old number and keeps its unsent units back, since a
//     newer number applied first would make Redis skip the older one for
//     good. Sequence numbers only grow, so per key they grow too.
//   - the script (incrScript) applies a key's item only if the key's marker
//     holds a smaller number, and records the number in the same step. A
//     reply that never came may hide an applied write, and an error reply
//     proves only that this call applied nothing (see incrScript), not an
//     earlier send of the same item: the client's own retries may have sent
//     it before. So the item stays inflight under its number until a reply
//     says whether it was applied (1 or 0), and the key's newer units wait
//     behind it. Applied once, whatever happens.
//
// A round also writes the quotas providers reported (reported.go), each
// replacing its hash in one step; a failed one is kept for the next round
// unless a newer report came.
//
// Rounds and locks: a round is take, cut, send and apply. Whoever holds
// t.sem (capacity 1) runs the only round: the flusher's tick takes it
// without waiting, Flush and Close wait for it with their context. The round
// sends from a goroutine of its own, which releases t.sem when Redis answers
// or the client gives up, so a caller whose context ends stops waiting while
// the write finishes in the background; the next round starts only after it.
// A Guard's refresh holds t.sem too, so no round lands while it reads. t.mu
// protects the slot map and every slot field except n, and t.repMu the
// reports waiting; neither is held during I/O, and t.sem is always taken
// before t.mu.

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// markerTTL is how long Redis remembers the last of a tracker's writes
// applied to a key. An unconfirmed write is sent again every flush interval
// while Redis is reachable, far sooner than this; a write whose reply was
// lost and that stays unconfirmed for longer (Redis unreachable, or
// refusing the key, for a day) could be applied twice.
const markerTTL = 24 * time.Hour

// incrScript adds ARGV[1] to the counter KEYS[1] and sets its TTL, unless the
// marker KEYS[2] says write ARGV[2] (or a later one) of this tracker was
// already applied; then it records the write in the marker. It returns 1
// when it applied the increment and 0 when it was a repeat.
//
// An error reply means this call changed nothing. Redis checks the declared
// keys (slot, ACL) before the script runs; the user's right to run each of
// the script's writes is checked before the first of them (with
// redis.acl_check_cmd, Redis 7 and later: on Redis 6 an ACL that allows
// INCRBY but denies PEXPIRE or SET would let an increment land with an
// error reply); GET and INCRBY, which can fail on what a key holds, come
// before the first write or are it; and once INCRBY has written, PEXPIRE of
// the same key and SET, which replaces a key of any type, cannot fail: Redis
// does not refuse a script's writes for memory once it has written.
var incrScript = redis.NewScript(`
local last = tonumber(redis.call('GET', KEYS[2]) or '0')
if last >= tonumber(ARGV[2]) then
	return 0
end
if redis.acl_check_cmd and not (redis.acl_check_cmd('INCRBY', KEYS[1], ARGV[1]) and
	redis.acl_check_cmd('PEXPIRE', KEYS[1], ARGV[3]) and redis.acl_check_cmd('SET', KEYS[2], ARGV[2], 'PX', ARGV[4])) then
	return redis.error_reply('NOPERM the user may not run INCRBY, PEXPIRE and SET on the counter and its marker')
end
redis.call('INCRBY', KEYS[1], ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[4])
return 1
`)

// An item is one slot's write in a round.
type item struct {
	s   *slot
	n   int64
	seq int64
}

// roundResult is what a round tells whoever waits for it.
type roundResult struct {
	items    int     // how many keys it wrote
	errs     []error // per-key errors (*KeyError), then a write error, if any
	heldBack bool    // some unsent units waited for an older write of their key
	released bool    // Redis confirmed a write that had units held back behind it
}

// writeLost reports whether the round's write itself failed (its last
// error is not a [*KeyError]), so that nothing says whether its keys were
// applied, and trying again may help: a closed client never will.
func (r roundResult) writeLost() bool {
	var ke *KeyError
	return len(r.errs) > 0 && !errors.As(r.errs[len(r.errs)-1], &ke) && !errors.Is(r.errs[len(r.errs)-1], redis.ErrClosed)
}

func (r roundResult) err() error {
	if len(r.errs) == 0 {
		return nil
	}
	return fmt.Errorf("usage: flush %d keys: %w", r.items, errors.Join(r.errs...))
}

// takeLocked moves the units counted in the cells into unsent, retiring the
// slots of days before today, and every slot once the tracker is closed. It
// requires t.mu held.
func (t *Tracker) takeLocked(today day) {
	for k, s := range t.slots {
		n := s.taken
		switch {
		case s.retired:
			// Its final count was taken when it retired; what callers add
			// since counts elsewhere.
		case t.closed || k.d < today:
			n = s.n.Or(retiredBit)
			s.retired = true
		default:
			n = s.count()
		}
		if n > s.taken && s.since.IsZero() {
			s.since = t.lastTake // the new units came after the last take
		}
		s.unsent += n - s.taken
		s.taken = n
		t.dropDrainedLocked(k, s)
	}
	t.lastTake = t.cfg.clock()
}

// dropDrainedLocked removes s from the map if it is retired and has nothing
// left to send. It requires t.mu held.
func (t *Tracker) dropDrainedLocked(k slotKey, s *slot) {
	if s.retired && s.unsent == 0 && s.inflight == 0 {
		delete(t.slots, k)
		t.stale = true
	}
}

// cutLocked takes what the cells counted and returns the items of a round,
// as the diagram above says. It requires t.mu held, and t.sem.
func (t *Tracker) cutLocked() (items []item, heldBack bool) {
	t.takeLocked(t.today())
	seq := t.seq + 1
	for _, s := range t.slots {
		switch {
		case s.inflight > 0:
			items = append(items, item{s, s.inflight, s.seq})
			heldBack = heldBack || s.unsent > 0
		case s.unsent > 0:
			s.inflight, s.seq, s.unsent = s.unsent, seq, 0
			items = append(items, item{s, s.inflight, seq})
			t.seq = seq
		default:
			continue
		}
		if s.key == "" {
			s.key = key(t.cfg.prefix, s.k.p, s.k.d)
			s.marker = markerKey(s.key, t.id)
		}
	}
	return items, heldBack
}

// startRound cuts a round and, if it has anything to write, sends it from a
// new goroutine that releases t.sem and then passes the result to done.
// With nothing to write it releases t.sem itself and reports false. The
// caller must hold t.sem.
func (t *Tracker) startRound(ctx context.Context, done func(roundResult)) bool {
	t.roundWanted.Store(false)
	t.mu.Lock()
	items, heldBack := t.cutLocked()
	t.mu.Unlock()
	reports := t.takeReports()
	if len(items) == 0 && len(reports) == 0 {
		<-t.sem
		return false
	}
	go func() {
		t.mu.Lock()
		t.writeStart = time.Now()
		t.mu.Unlock()
		var start time.Time
		if t.metrics != nil {
			start = time.Now()
		}
		errs, released := t.send(ctx, items, reports)
		if t.metrics != nil {
			t.metrics.duration.Record(context.Background(), time.Since(start).Seconds())
		}
		<-t.sem // before done: a slow listener never holds up the next round
		done(roundResult{len(items) + len(reports), errs, heldBack, released})
	}()
	return true
}

// A scriptCall is one call of a script in a round's pipeline.
type scriptCall struct {
	script *redis.Script
	keys   []string
	args   []any
	cmd    *redis.Cmd
}

// runScripts sends calls in one pipelined round trip, and again with the
// scripts' bodies those that a server answered NOSCRIPT (it has not loaded
// the script yet, and ran nothing); each call's reply is in its cmd.
func runScripts(ctx context.Context, rdb Redis, calls []scriptCall) {
	for _, eval := range []bool{false, true} {
		_, _ = rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
			for i := range calls {
				c := &calls[i]
				switch {
				case !eval:
					c.cmd = c.script.EvalSha(ctx, pipe, c.keys, c.args...)
				case redis.HasErrorPrefix(c.cmd.Err(), "NOSCRIPT"):
					c.cmd = c.script.Eval(ctx, pipe, c.keys, c.args...)
				}
			}
			return nil // a pipeline left empty sends nothing
		})
	}
}

// send writes items and reports in one pipeline and applies the replies, as
// the diagram above says.
func (t *Tracker) send(ctx context.Context, items []item, reports []reportWrite) (errs []error, released bool) {
	confirmed := false
	calls := make([]scriptCall, 0, len(items)+len(reports))
	ttl, mttl := t.cfg.ttl.Milliseconds(), markerTTL.Milliseconds()
	for _, it := range items {
		calls = append(calls, scriptCall{script: incrScript, keys: []string{it.s.key, it.s.marker}, args: []any{it.n, it.seq, ttl, mttl}})
	}
	for _, w := range reports {
		calls = append(calls, scriptCall{script: replaceHashScript, keys: []string{w.key}, args: w.args()})
	}
	runScripts(ctx, t.rdb, calls)

	var lost error
	for i, w := range reports {
		switch err := calls[len(items)+i].cmd.Err(); {
		case err == nil:
			continue
		case refusesKey(err):
			errs = append(errs, &KeyError{Key: w.key, Err: err})
		default:
			lost = err
		}
		t.putBackReport(w) // unless a newer report came meanwhile
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.writeStart = time.Time{}
	for i, it := range items {
		switch err := calls[i].cmd.Err(); {
		case err == nil:
			t.flushed += it.n
			it.s.inflight = 0
			confirmed = true
			released = released || it.s.unsent > 0
		case refusesKey(err):
			// Refused now, but an earlier send of it may have been applied:
			// it stays inflight under its number until a reply says.
			errs = append(errs, &KeyError{Key: it.s.key, Err: err})
			continue
		default: // no reply, or one about the server: sent again as it is
			lost = err
			continue
		}
		if it.s.unsent == 0 && it.s.inflight == 0 {
			it.s.since = time.Time{}
		}
		t.dropDrainedLocked(it.s.k, it.s)
	}
	if confirmed {
		t.confirmed++
	}
	if lost != nil {
		errs = append(errs, lost)
	}
	t.recordRoundLocked(errs)
	switch {
	case len(errs) == 0:
		t.lastErr = nil
	case !isContextErr(errs[len(errs)-1]):
		t.lastErr = errs[len(errs)-1] // a context error would say nothing of the cause
	}
	return errs, released
}

// run is the flusher. Every interval it starts a round, unless one is still
// running, keeps the day state and the provider index up to date, and
// reports what went wrong; it never waits for Redis, so it keeps the day
// right while Redis hangs. When Close cancels ctx it reports the last drops,
// stops the reporter it started and returns once the reporter has.
func (t *Tracker) run(ctx context.Context, nextDay time.Duration) {
	defer close(t.done)
	stopReporter, reporterDone := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(reporterDone)
		t.reporter(stopReporter)
	}()
	defer func() {
		t.roundWanted.Store(false) // no tick waits for a round any more
		t.reportDrops()
		close(stopReporter)
		<-reporterDone
	}()

	tick := time.NewTicker(t.cfg.flushInterval)
	defer tick.Stop()
	dayTimer := time.NewTimer(nextDay)
	defer dayTimer.Stop()
	indexDay := t.today()
	for {
		select {
		case <-ctx.Done():
			return
		case <-dayTimer.C:
			dayTimer.Reset(t.syncDay())
			continue
		case <-tick.C:
		}
		dayTimer.Reset(t.syncDay())
		t.mu.Lock()
		if today := t.today(); today != indexDay {
			indexDay, t.stale = today, true
		}
		if len(t.newEntries) > 0 || t.stale {
			t.rebuildIndexLocked()
		}
		t.mu.Unlock()
		select {
		case t.sem <- struct{}{}:
			t.startRound(ctx, func(r roundResult) {
				if ctx.Err() == nil {
					for _, err := range r.errs {
						t.report(err)
					}
				}
			})
		default: // a round or a guard's refresh is running; what is pending waits for the next tick
			t.roundWanted.Store(true) // and a guard lets it go first
		}
		t.reportDrops()
	}
}

// flush runs rounds until everything counted before it was called is
// confirmed, a round fails, or ctx is done. Units held back behind an older
// write of their key go in the next round, whatever other keys' errors.
// With retry, a round whose write was lost (Redis unreachable or not ready,
// a connection cut) does not end it: the next round starts after a backoff,
// from 50 ms doubling to 1 s, for as long as ctx allows. Keys refused one by
// one end it either way, as retrying them cannot help before they are
// repaired.
func (t *Tracker) flush(ctx context.Context, retry bool) error {
	if t.rdbErr != nil {
		return t.rdbErr
	}
	backoff := 50 * time.Millisecond
	for {
		select {
		case t.sem <- struct{}{}:
		case <-ctx.Done():
			return t.waitErr(ctx)
		}
		res := make(chan roundResult, 1)
		if !t.startRound(ctx, func(r roundResult) { res <- r }) {
			return nil
		}
		var r roundResult
		select {
		case r = <-res:
		case <-ctx.Done():
			return t.waitErr(ctx)
		}
		err := r.err()
		switch {
		case err != nil && r.writeLost():
			if !retry {
				return err
			}
		case r.heldBack && r.released: // units that waited for an older write of their key go next
			continue
		default: // each round sends every key left, so its errors are the ones that stand
			return err
		}
		wait := time.NewTimer(backoff)
		select {
		case <-wait.C:
		case <-ctx.Done():
			wait.Stop()
			return t.waitErr(ctx)
		}
		backoff = min(2*backoff, time.Second)
	}
}

func isContextErr(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// waitErr returns the error of a Flush or Close that stopped waiting because
// ctx is done: ctx.Err() itself, or, when a write failed before or is still
// running, an error that matches it and says so.
func (t *Tracker) waitErr(ctx context.Context) error {
	t.mu.Lock()
	e := &waitError{ctx: ctx.Err(), last: t.lastErr}
	if !t.writeStart.IsZero() {
		e.running = time.Since(t.writeStart)
	}
	t.mu.Unlock()
	if e.last == nil && e.running == 0 {
		return e.ctx
	}
	return e
}

// Flush sends everything counted so far to Redis and waits for the result
// until ctx is done. It returns nil when all of it is confirmed; otherwise
// the keys Redis refused (each a [*KeyError]), the write error, or, when ctx
// ends first, an error that matches ctx.Err() with [errors.Is] and also
// names the last write error. Counts not confirmed stay pending and are sent
// again later, never applied twice. It returns [ErrClosed] after
// [Tracker.Close]. Flush is safe to call concurrently with every other
// method; rounds never overlap.
func (t *Tracker) Flush(ctx context.Context) error {
	t.mu.Lock()
	closed := t.closed
	t.mu.Unlock()
	if closed {
		return ErrClosed
	}
	return t.flush(ctx, false)
}

// Close closes the tracker at once, whatever ctx: later calls to
// [Tracker.Track] and [Tracker.Add] are dropped and [Tracker.Flush] returns
// [ErrClosed]. Then it sends everything pending and returns when it is
// confirmed, or when ctx is done, even if the Redis client or the error
// handler hangs. While Redis cannot be reached or is not ready (LOADING,
// BUSY, CLUSTERDOWN and the like) it tries again, backing off from 50 ms to
// 1 s, until ctx is done, so a Redis that restarts within the deadline gets
// the counts; keys Redis refuses end it at once. It returns nil when nothing
// is left pending, and otherwise the error, as Flush does; the units left
// are in Stats().Pending, and calling Close again, with a fresh deadline,
// retries them. A write still
// running when ctx is done finishes in the background. Close waits, within
// ctx, for the tracker's goroutines to return; one inside the error handler
// returns when the handler does. Close is safe to call more than once and
// concurrently with every other method.
func (t *Tracker) Close(ctx context.Context) error {
	t.mu.Lock()
	if !t.closed {
		t.closed = true
		t.takeLocked(t.today())
	}
	t.mu.Unlock()
	t.cancel()
	err := t.flush(ctx, true)
	select {
	case <-t.done:
	case <-ctx.Done():
	}
	return err
}
