package usage

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// markerTTL is how long Redis remembers that a tracker's batch was applied to
// a key. A batch whose reply was lost is re-sent within one flush interval of
// Redis coming back, far sooner than this.
const markerTTL = 24 * time.Hour

// incrScript adds ARGV[1] to the counter KEYS[1] and sets its TTL, unless the
// marker KEYS[2] says batch ARGV[2] (or a later one) of this tracker was
// already applied; then it records the batch in the marker. It returns 1 when
// it applied the increment and 0 when it was a repeat.
var incrScript = redis.NewScript(`
local last = tonumber(redis.call('GET', KEYS[2]) or '0')
if last >= tonumber(ARGV[2]) then
	return 0
end
redis.call('INCRBY', KEYS[1], ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[4])
return 1
`)

// A batch is the counts cut from the cells at one flush, sent under one
// sequence number until Redis confirms every item.
type batch struct {
	seq   int64
	items []item
}

type item struct {
	key, marker string
	n           int64
	done        bool // confirmed by Redis
}

// pending returns the calls in b that Redis has not confirmed.
func (b *batch) pending() int64 {
	var n int64
	for _, it := range b.items {
		if !it.done {
			n += it.n
		}
	}
	return n
}

// cutLocked returns the batch to send: the unconfirmed one if there is one,
// otherwise a new one holding everything counted so far. It returns nil when
// there is nothing to send, and reports whether the batch is new. It requires
// t.mu held.
func (t *Tracker) cutLocked() (b *batch, fresh bool) {
	if t.batch != nil {
		return t.batch, false
	}
	t.takeLocked(t.today())
	if len(t.stash) == 0 {
		return nil, true
	}
	items := make([]item, 0, len(t.stash))
	for _, it := range t.stash {
		items = append(items, it)
	}
	clear(t.stash)
	t.seq++
	t.batch = &batch{seq: t.seq, items: items}
	return t.batch, true
}

// takeLocked moves the cells' counts into t.stash. Cells of days before
// today, and all cells once the tracker is closed, are retired: a Track that
// still holds one finds it retired and counts its call elsewhere, or drops it
// after Close. It requires t.mu held.
func (t *Tracker) takeLocked(today day) {
	pruned := false
	for k, c := range t.cells {
		var n int64
		if t.closed || k.d < today {
			n = c.n.Swap(retired)
			delete(t.cells, k)
			pruned = true
		} else {
			n = c.n.Swap(0)
		}
		if n > 0 {
			it := t.stash[c.key]
			it.key, it.marker = c.key, c.marker
			it.n += n
			t.stash[c.key] = it
		}
	}
	if pruned {
		t.pruneLocked()
	}
}

// flushOnce sends one batch, waiting for its result until ctx is done. It
// reports whether the batch it sent was freshly cut, so callers know whether
// older counts remain.
func (t *Tracker) flushOnce(ctx context.Context) (fresh bool, err error) {
	select {
	case t.sem <- struct{}{}:
	case <-ctx.Done():
		return false, ctx.Err()
	}
	res := make(chan error, 1)
	fresh, started := t.start(ctx, func(err error) { res <- err })
	if !started {
		return true, nil
	}
	select {
	case err := <-res:
		return fresh, err
	case <-ctx.Done():
		return fresh, ctx.Err()
	}
}

// start cuts a batch and sends it from a new goroutine that passes the result
// to done and then releases t.sem, which the caller must hold. Writes never
// overlap, and a caller need not wait for one: go-redis does not always honour
// context deadlines, so a write may outlive its caller's ctx. If there is
// nothing to send, start releases t.sem and reports started false.
func (t *Tracker) start(ctx context.Context, done func(error)) (fresh, started bool) {
	t.mu.Lock()
	b, fresh := t.cutLocked()
	t.mu.Unlock()
	if b == nil {
		<-t.sem
		return fresh, false
	}
	go func() {
		defer func() { <-t.sem }()
		done(t.send(ctx, b))
	}()
	return fresh, true
}

// flush sends everything counted before it was called.
func (t *Tracker) flush(ctx context.Context) error {
	for {
		fresh, err := t.flushOnce(ctx)
		if err != nil || fresh {
			return err
		}
	}
}

// send writes b's unconfirmed items in one pipeline and records which Redis
// confirmed. Only one send runs at a time.
func (t *Tracker) send(ctx context.Context, b *batch) error {
	if t.rdb == nil {
		return errNilRedis
	}
	t.mu.Lock()
	todo := make([]int, 0, len(b.items))
	for i, it := range b.items {
		if !it.done {
			todo = append(todo, i)
		}
	}
	t.mu.Unlock()

	cmds := make([]*redis.Cmd, len(todo))
	ttl, mttl := t.cfg.ttl.Milliseconds(), markerTTL.Milliseconds()
	// pipeline sends, in one round trip, the items of todo that want picks,
	// with run; a pipeline left empty sends nothing.
	pipeline := func(want func(j int) bool, run func(context.Context, redis.Scripter, []string, ...any) *redis.Cmd) {
		_, _ = t.rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
			for j, i := range todo {
				if want(j) {
					it := b.items[i]
					cmds[j] = run(ctx, pipe, []string{it.key, it.marker}, it.n, b.seq, ttl, mttl)
				}
			}
			return nil
		})
	}
	pipeline(func(int) bool { return true }, incrScript.EvalSha)
	// A server that has not loaded the script yet answers NOSCRIPT without
	// running anything; send those items again with the script's body.
	pipeline(func(j int) bool { return redis.HasErrorPrefix(cmds[j].Err(), "NOSCRIPT") }, incrScript.Eval)

	t.mu.Lock()
	defer t.mu.Unlock()
	var failed int
	var firstErr error
	for j, i := range todo {
		if err := cmds[j].Err(); err != nil {
			failed++
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		b.items[i].done = true
		t.flushed += b.items[i].n
	}
	if failed > 0 {
		return fmt.Errorf("usage: flush %d of %d keys: %w", failed, len(todo), firstErr)
	}
	t.batch = nil
	return nil
}

// run is the background flusher. Every interval it starts a write of what is
// pending, unless one is still in flight, and passes errors to the error
// handler; it never waits for Redis, so it also keeps the day state right
// while Redis hangs. It returns when ctx is cancelled by Close.
func (t *Tracker) run(ctx context.Context, nextDay time.Duration) {
	defer close(t.done)
	tick := time.NewTicker(t.cfg.flushInterval)
	defer tick.Stop()
	dayTimer := time.NewTimer(nextDay)
	defer dayTimer.Stop()
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
		select {
		case t.sem <- struct{}{}:
			t.start(ctx, func(err error) {
				if err != nil && ctx.Err() == nil {
					t.report(err)
				}
			})
		default: // a write is in flight; what is pending waits for the next tick
		}
		t.reportDrops()
	}
}

// report passes err to the error handler, one call at a time.
func (t *Tracker) report(err error) {
	t.errMu.Lock()
	defer t.errMu.Unlock()
	t.cfg.onError(err)
}

// reportDrops passes the error of the first call dropped since the last
// report to the error handler.
func (t *Tracker) reportDrops() {
	if p := t.dropErr.Swap(nil); p != nil {
		t.report(fmt.Errorf("usage: dropped a call: %w", *p))
	}
}

// Flush sends everything counted so far to Redis and waits for the result
// until ctx is done. It returns the first error of the write, or ctx.Err();
// counts that were not confirmed stay pending and are sent again later, never
// twice. It returns [ErrClosed] after [Tracker.Close]. Flush is safe to call
// concurrently with every other method; writes never overlap.
func (t *Tracker) Flush(ctx context.Context) error {
	t.mu.Lock()
	closed := t.closed
	t.mu.Unlock()
	if closed {
		return ErrClosed
	}
	return t.flush(ctx)
}

// Close stops the background flusher, makes later calls to [Tracker.Track]
// drop, and sends everything pending, returning when it is confirmed or when
// ctx is done, whichever comes first, even if the Redis client hangs. It
// returns nil when nothing is left pending, and otherwise the write's error or
// ctx.Err(); the counts left are in Stats().Pending, and calling Close again
// retries them. A write still in flight when ctx is done finishes in the
// background when the Redis client returns. Close is safe to call more than
// once and concurrently with every other method.
func (t *Tracker) Close(ctx context.Context) error {
	t.cancel()
	select {
	case <-t.done:
	case <-ctx.Done():
		return ctx.Err()
	}
	t.mu.Lock()
	if !t.closed {
		t.closed = true
		t.takeLocked(t.today())
	}
	t.mu.Unlock()
	err := t.flush(ctx)
	t.reportDrops()
	return err
}
