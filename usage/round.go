package usage

// The round writer: how a count goes from a cell to Redis
//
// The writer takes what the cells counted (drain, cells.go) and writes it to
// Redis in rounds, one pipelined round trip each. It keeps one pend per Redis
// key: the units of that key's counters (one for a plain key, a field each
// for a hash) on their way. Every unit is in exactly one place at any
// moment, left to right (Stats adds them up):
//
//	          drain              cut                 reply 1 or 0
//	cell ──────────▶ unsent ──────────▶ inflight (seq) ───────────────▶ flushed
//	     cells.go    under mu           under mu          │    under mu, then the cells are released
//	                                                      │
//	            no reply, or an error reply: stays inflight┘ and is sent again under the same seq
//
//   - cut: a pend with nothing inflight sends all its unsent units under the
//     round's new sequence number. A pend with units inflight sends them
//     again under their old number and keeps its unsent units back, since a
//     newer number applied first would make Redis skip the older one for
//     good. Sequence numbers only grow, so per key they grow too.
//   - the script (incrScript) applies a key's item only if the key's marker
//     records a smaller number for this tracker, and records the number in
//     the same step. A reply that never came may hide an applied write, and
//     an error reply proves only that this call applied nothing (see
//     incrScript), not an earlier send of the same item: the client's own
//     retries may have sent it before. So the item stays inflight under its
//     number until a reply says whether it was applied (1 or 0), and the
//     key's newer units wait behind it. The marker is a hash beside the key
//     with the key's TTL, renewed at every write, so a write is applied once
//     for as long as its count exists.
//   - round parts (reported.go) add writes of their own to each round's
//     pipeline, such as the quotas providers reported.
//
// Locks: the round lock (rounds) is held for a whole round, take to apply,
// and by a Guard's refresh so that no round lands while it reads Redis:
// the flusher's tick takes it without waiting, Flush and Close wait for it
// with their context. A round sends from a goroutine of its own, which
// releases the round lock when Redis answers or the client gives up, so a
// caller whose context ends stops waiting while the write finishes in the
// background; the next round starts only after it. mu protects the pends
// and the writer's counts; it is taken after the round lock and before the
// core's lock, and none is held during I/O.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// incrScript adds amounts to the counter KEYS[1], a plain key or fields of a
// hash, and sets its TTL, unless the marker hash KEYS[2] says write ARGV[2]
// (or a later one) of tracker ARGV[1] was already applied; then it records
// the write in the marker, with the counter's TTL. ARGV[3] is the TTL in
// milliseconds, and ARGV[4..] are field-amount pairs: one pair with an empty
// field for a plain key. It returns 1 when it applied the write and 0 when
// it was a repeat.
//
// An error reply means this call changed nothing. Redis checks the declared
// keys (slot, ACL) before the script runs; the user's right to run each of
// the script's writes is checked before the first of them (with
// redis.acl_check_cmd, Redis 7 and later: on Redis 6 an ACL that allows the
// increment but denies PEXPIRE or HSET would let an increment land with an
// error reply); every read that can fail on what a key holds (the marker's
// type; each hash field's value, which must be an integer as HINCRBY reads
// one, without leading zeros or "-0", and far from overflowing) comes
// before the first write, and a plain key's INCRBY is the
// first write. Once a write has landed, the rest cannot fail: the keys'
// types are known, and Redis does not refuse a script's writes for memory
// once it has written.
var incrScript = redis.NewScript(`
local last = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0')
if last >= tonumber(ARGV[2]) then
	return 0
end
local plain = ARGV[4] == ''
if redis.acl_check_cmd then
	local ok = redis.acl_check_cmd('PEXPIRE', KEYS[1], ARGV[3]) and redis.acl_check_cmd('HSET', KEYS[2], ARGV[1], ARGV[2]) and
		redis.acl_check_cmd('PEXPIRE', KEYS[2], ARGV[3])
	if plain then
		ok = ok and redis.acl_check_cmd('INCRBY', KEYS[1], ARGV[5])
	else
		ok = ok and redis.acl_check_cmd('HINCRBY', KEYS[1], ARGV[4], ARGV[5])
	end
	if not ok then
		return redis.error_reply('NOPERM the user may not run the counter\'s increment, PEXPIRE and HSET on the counter and its marker')
	end
end
if plain then
	redis.call('INCRBY', KEYS[1], ARGV[5])
else
	for i = 4, #ARGV, 2 do
		local v = redis.call('HGET', KEYS[1], ARGV[i])
		if v and not ((v == '0' or string.match(v, '^-?[1-9]%d*$')) and math.abs(tonumber(v)) < 9e18) then
			return redis.error_reply('ERR hash field ' .. ARGV[i] .. ' holds ' .. v .. ', not an integer that can grow')
		end
	end
	for i = 4, #ARGV, 2 do
		redis.call('HINCRBY', KEYS[1], ARGV[i], ARGV[i + 1])
	end
end
redis.call('PEXPIRE', KEYS[1], ARGV[3])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('PEXPIRE', KEYS[2], ARGV[3])
return 1
`)

// A part is one counter's units in a pend.
type part struct {
	k        cellKey
	class    unitClass
	pend     *pend
	unsent   int64 // units waiting for a round
	inflight int64 // units sent under pend.seq whose outcome is unknown
}

// A pend is one Redis key's units on their way to Redis.
type pend struct {
	key, marker string
	parts       []*part   // one for a plain key, one a field for a hash
	seq         int64     // of the inflight units
	since       time.Time // no unit of it pending before this
}

func (p *pend) has(f func(*part) int64) bool {
	for _, x := range p.parts {
		if f(x) > 0 {
			return true
		}
	}
	return false
}

func unsentOf(x *part) int64   { return x.unsent }
func inflightOf(x *part) int64 { return x.inflight }

// An item is one pend's write in a round.
type item struct {
	p    *pend
	args []any
}

// A scriptCall is one call of a script in a round's pipeline.
type scriptCall struct {
	script *redis.Script
	keys   []string
	args   []any
	cmd    *redis.Cmd
}

// A roundPart adds writes of its own to every round's pipeline, such as the
// quotas providers reported (reported.go). calls returns this round's, or
// none; replies gets them back answered and says which keys Redis refused
// ([*KeyError]s) and the error of a write that may not have landed.
type roundPart interface {
	calls() []scriptCall
	replies(calls []scriptCall) (refused []error, lost error)
}

// roundLock is held for a whole round, and by readers that must see no
// round land (a Guard's refresh). wanted says the flusher found it taken at
// its last tick, so such readers let the next round go first.
type roundLock struct {
	sem    chan struct{} // capacity 1
	wanted atomic.Bool
}

func (l *roundLock) lock(ctx context.Context) error {
	select {
	case l.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// tryLock takes the lock if it is free, and otherwise says a round is
// wanted.
func (l *roundLock) tryLock() bool {
	select {
	case l.sem <- struct{}{}:
		return true
	default:
		l.wanted.Store(true)
		return false
	}
}

func (l *roundLock) unlock() { <-l.sem }

// writer writes what the core counted to Redis, in rounds.
type writer struct {
	rdb     Redis
	core    *counts
	id      string // random; this tracker's field in the markers
	prefix  string
	ttl     int64 // of the counters and their markers, in milliseconds
	parts   []roundPart
	onWrite func(time.Duration) // each round's write time, for the metrics; may be nil
	rounds  roundLock

	mu         sync.Mutex // protects the fields below and every pend and part
	pends      map[string]*pend
	byCell     map[cellKey]*part
	seq        int64 // sequence number of the last round that cut new units
	flushed    [numClasses]int64
	lastErr    error     // of the last round, if it failed, for Flush's errors
	writeStart time.Time // when the running round's write began; zero when none runs
	done       int64     // rounds that wrote, for the metrics
	roundErrs  [numErrKinds]int64
}

// newTrackerID returns a random id, 16 hex digits.
func newTrackerID() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // never fails on supported platforms
	return hex.EncodeToString(b[:])
}

func newWriter(rdb Redis, core *counts, cfg *config) *writer {
	return &writer{
		rdb:    rdb,
		core:   core,
		id:     newTrackerID(),
		prefix: cfg.prefix,
		ttl:    cfg.ttl.Milliseconds(),
		rounds: roundLock{sem: make(chan struct{}, 1)},
		pends:  make(map[string]*pend),
		byCell: make(map[cellKey]*part),
	}
}

// redisKey returns the key that holds the series of k.
func (w *writer) redisKey(k cellKey) string {
	if k.s.field != "" {
		return hashKey(w.prefix, k.s.p, k.d)
	}
	return key(w.prefix, k.s.p, k.d)
}

// takeLocked moves what the cells counted into the pends. It requires
// w.mu held.
func (w *writer) takeLocked() {
	var got []drained
	since := w.core.lastDrainTime()
	w.core.drain(func(d drained) { got = append(got, d) })
	for _, d := range got {
		x := w.byCell[d.k]
		if x == nil {
			k := w.redisKey(d.k)
			p := w.pends[k]
			if p == nil {
				p = &pend{key: k, marker: markerKey(k)}
				w.pends[k] = p
			}
			x = &part{k: d.k, class: d.class, pend: p}
			p.parts = append(p.parts, x)
			w.byCell[d.k] = x
		}
		x.unsent += d.n
		if x.pend.since.IsZero() {
			x.pend.since = since // its units came after the drain before
		}
	}
}

// cutLocked takes what the cells counted and returns the items of a round,
// as the diagram above says. It requires w.mu held, and the round lock.
func (w *writer) cutLocked() (items []item, heldBack bool) {
	w.takeLocked()
	seq := w.seq + 1
	for _, p := range w.pends {
		switch {
		case p.has(inflightOf):
			heldBack = heldBack || p.has(unsentOf)
		case p.has(unsentOf):
			for _, x := range p.parts {
				x.inflight, x.unsent = x.unsent, 0
			}
			p.seq, w.seq = seq, seq
		default:
			continue
		}
		args := []any{w.id, p.seq, w.ttl}
		for _, x := range p.parts {
			if x.inflight > 0 {
				args = append(args, x.k.s.field, x.inflight)
			}
		}
		items = append(items, item{p, args})
	}
	return items, heldBack
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

// startRound cuts a round and, if it has anything to write, sends it from a
// new goroutine that releases the round lock and then passes the result to
// done. With nothing to write it releases the lock itself and reports
// false. The caller must hold the round lock.
func (w *writer) startRound(ctx context.Context, done func(roundResult)) bool {
	w.rounds.wanted.Store(false)
	w.mu.Lock()
	items, heldBack := w.cutLocked()
	w.mu.Unlock()
	calls := make([]scriptCall, 0, len(items))
	for _, it := range items {
		calls = append(calls, scriptCall{script: incrScript, keys: []string{it.p.key, it.p.marker}, args: it.args})
	}
	ends := make([]int, len(w.parts)) // where each part's calls end
	for i, part := range w.parts {
		calls = append(calls, part.calls()...)
		ends[i] = len(calls)
	}
	if len(calls) == 0 {
		w.rounds.unlock()
		return false
	}
	go func() {
		began := time.Now()
		w.mu.Lock()
		w.writeStart = began
		w.mu.Unlock()
		runScripts(ctx, w.rdb, calls)
		if w.onWrite != nil {
			w.onWrite(time.Since(began)) // outside w.mu: Stats never waits for the meter provider
		}
		var errs []error
		var lost error
		from := len(items)
		for i, part := range w.parts {
			refused, l := part.replies(calls[from:ends[i]])
			errs, lost, from = append(errs, refused...), firstErr(l, lost), ends[i]
		}
		errs, released := w.apply(items, calls[:len(items)], errs, lost)
		w.rounds.unlock() // before done: a slow listener never holds up the next round
		done(roundResult{len(calls), errs, heldBack, released})
	}()
	return true
}

// firstErr returns the first of errs that is not nil.
func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
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

// apply applies the replies to a round's items, as the diagram above says,
// and records the round with the errors of its parts.
func (w *writer) apply(items []item, calls []scriptCall, errs []error, lost error) (_ []error, released bool) {
	var freed []cellKey
	w.mu.Lock()
	defer w.mu.Unlock()
	w.writeStart = time.Time{}
	for i, it := range items {
		switch err := calls[i].cmd.Err(); {
		case err == nil:
		case refusesKey(err):
			// Refused now, but an earlier send of it may have been applied:
			// it stays inflight under its number until a reply says.
			errs = append(errs, &KeyError{Key: it.p.key, Err: err})
			continue
		default: // no reply, or one about the server: sent again as it is
			lost = err
			continue
		}
		for _, x := range it.p.parts {
			w.flushed[x.class] += x.inflight
			x.inflight = 0
		}
		if it.p.has(unsentOf) {
			released = true
			continue
		}
		delete(w.pends, it.p.key)
		for _, x := range it.p.parts {
			delete(w.byCell, x.k)
			freed = append(freed, x.k)
		}
	}
	w.core.release(freed)
	if lost != nil {
		errs = append(errs, lost)
	}
	w.done++
	for _, err := range errs {
		w.roundErrs[errKindOf(err)]++
	}
	switch {
	case len(errs) == 0:
		w.lastErr = nil
	case !isContextErr(errs[len(errs)-1]):
		w.lastErr = errs[len(errs)-1] // a context error would say nothing of the cause
	}
	return errs, released
}

// tick is the flusher's round: it starts one unless one is running, and
// passes what went wrong to report.
func (w *writer) tick(ctx context.Context, report func(error)) {
	if !w.rounds.tryLock() {
		return // a round or a guard's refresh is running; what is pending waits for the next tick
	}
	w.startRound(ctx, func(r roundResult) {
		if ctx.Err() == nil {
			for _, err := range r.errs {
				report(err)
			}
		}
	})
}

// flush runs rounds until everything counted before it was called is
// confirmed, a round fails, or ctx is done. Units held back behind an older
// write of their key go in the next round, whatever other keys' errors.
// With retry, a round whose write was lost (Redis unreachable or not ready,
// a connection cut) does not end it: the next round starts after a backoff,
// from 50 ms doubling to 1 s, for as long as ctx allows. Keys refused one by
// one end it either way, as retrying them cannot help before they are
// repaired.
func (w *writer) flush(ctx context.Context, retry bool) error {
	backoff := 50 * time.Millisecond
	for {
		if w.rounds.lock(ctx) != nil {
			return w.waitErr(ctx)
		}
		res := make(chan roundResult, 1)
		if !w.startRound(ctx, func(r roundResult) { res <- r }) {
			return nil
		}
		var r roundResult
		select {
		case r = <-res:
		case <-ctx.Done():
			return w.waitErr(ctx)
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
			return w.waitErr(ctx)
		}
		backoff = min(2*backoff, time.Second)
	}
}

// waitErr returns the error of a Flush or Close that stopped waiting because
// ctx is done: ctx.Err() itself, or, when a write failed before or is still
// running, an error that matches it and says so.
func (w *writer) waitErr(ctx context.Context) error {
	w.mu.Lock()
	e := &waitError{ctx: ctx.Err(), last: w.lastErr}
	if !w.writeStart.IsZero() {
		e.running = time.Since(w.writeStart)
	}
	w.mu.Unlock()
	if e.last == nil && e.running == 0 {
		return e.ctx
	}
	return e
}
