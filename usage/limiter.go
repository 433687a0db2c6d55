package usage

// How a Limiter paces a fleet
//
// The processes' Limiters share one schedule per provider in Redis: GCRA,
// the generic cell rate algorithm, whose state is one time, the theoretical
// arrival time (TAT), kept in Redis's own clock (TIME) so that the
// processes' clocks never matter. A process does not ask Redis before each
// call. It leases slots, a run of k emission times,
//
//	slot j at max(floor, base + j·T)    T = 1/Rate, base = TAT - (Burst-1)·T, floor = max(now, pause end)
//
// from one script call that moves the TAT past them, and hands them out
// itself: Allow takes a slot whose time has come, Wait sleeps until the next
// one. A slot is used at its time or at most V = T/2 (10 ms to 500 ms) later,
// never earlier; a slot nobody took by then is lost. Slot times are mapped to
// the local clock from the moment the script's reply arrived, which is after
// Redis read its TIME, so a process is late by at most that round trip d,
// never early. GCRA puts at most Rate·W + Burst slots in any window of W
// seconds, so the fleet sends at most
//
//	Rate·(W + V + d) + Burst    calls in any window of W seconds
//
// (for SEC EDGAR's 10 a second, burst 1: at most 11 in any second while d
// stays under 50 ms), however many processes share the schedule. A lease
// takes the slots the process is likely to use: its size doubles while
// leases run out and shrinks to what was used when slots go unused, up to
// the slots of WithLeaseSpan. A process that stops loses the slots it had
// leased and returns nothing: what it holds, the rest of its lease and the
// next one it took ahead, is never more than one lease's span, and the
// others' leases come after it, so they wait no longer than that.
//
// A pause (Pause, which the providers package calls on a 429 or a
// Retry-After) moves the provider's TAT past its end, records the end in the
// hash {prefix}:pauses and publishes it on that channel, so every process
// holds its slots until then: at once where the client can subscribe, at its
// next lease otherwise.
//
// While Redis cannot be reached, a lease comes from the local share instead,
// Rate / WithFleetSize (the whole rate by default) with the same slots, the
// error handler hears of it, and Redis is tried again a second later: a Wait
// never blocks on Redis for longer than the lease's timeout, a second.

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// A Limit is a provider's rate across the fleet.
type Limit struct {
	Rate  float64 // calls per second the whole fleet may start; must be positive
	Burst int     // calls that may start at once after a quiet spell; 0 means 1
}

// DefaultLimits returns a new map of the limits that providers publish and
// enforce on their own: SEC EDGAR's fair-access rule, "no more than 10
// requests per second, regardless of the number of machines used", whose
// breach blocks the caller's IP for 10 minutes
// (https://www.sec.gov/os/accessing-edgar-data), as 10 a second with a
// burst of 1. The other providers publish per-key limits that depend on the
// plan, so they have no default.
func DefaultLimits() map[Provider]Limit {
	return map[Provider]Limit{EDGAR: {Rate: 10, Burst: 1}}
}

func (l Limit) validate() error {
	switch {
	case !(l.Rate > 0) || math.IsInf(l.Rate, 0) || l.Rate > 1e6:
		return fmt.Errorf("usage: limit rate %v is not in (0, 1e6] calls a second", l.Rate)
	case l.Burst < 0 || l.Burst > 1e6:
		return fmt.Errorf("usage: limit burst %d is not in 0..1e6", l.Burst)
	}
	return nil
}

// A WaitError is what [Limiter.Wait] returns when the provider's next slot
// comes after its context's deadline: the call would have waited in vain.
type WaitError struct {
	Provider Provider
	Next     time.Time // when the next slot comes
	Paused   bool      // the provider is paused until Next
}

// RefusalReason says, briefly, why the call was not made, for a record of
// its outcome: "edgar paused until 2026-12-05T07:35:18Z".
// sourcestatus.FromHTTP stores a call refused by e as skipped with it.
func (e *WaitError) RefusalReason() string {
	why := " next slot at "
	if e.Paused {
		why = " paused until "
	}
	return string(e.Provider) + why + e.Next.UTC().Format(time.RFC3339)
}

func (e *WaitError) Error() string {
	why := "next slot"
	if e.Paused {
		why = "paused until"
	}
	return fmt.Sprintf("usage: %s %s %s, after the context's deadline", e.Provider, why, e.Next.UTC().Format(time.RFC3339Nano))
}

// A Limiter paces calls to providers across a fleet of processes that share
// one Redis, so that together they keep each provider's [Limit]. Calls to a
// provider without a limit are never held. [Limiter.Allow] and
// [Limiter.Wait] do no I/O while the process holds a lease of slots; a
// goroutine of the limiter's own takes leases from Redis ahead of need. How
// it paces, and the bound it keeps, is described at the top of limiter.go
// and in the README.
//
// A Limiter is safe for concurrent use. The zero value is not usable; use
// [NewLimiter], and [Limiter.Close] it to stop its goroutines.
type Limiter struct {
	t      *Tracker
	pacers map[Provider]*pacer
	cfg    limiterConfig
	asks   chan *pacer // pacers that want a lease
	closed atomic.Bool // Close was called: leases come from the local share
	cancel context.CancelFunc
	done   chan struct{}

	clock   atomic.Pointer[clockRef] // maps Redis times to local ones; nil before the first reply
	pauseMu sync.Mutex               // protects pausing
	pausing map[Provider]time.Duration
	wake    chan struct{}       // capacity 1: a pause waits to be written
	reg     metric.Registration // of the metrics; nil without them
}

// A clockRef is a moment of Redis's clock and a local moment no earlier:
// the arrival of the reply that read it.
type clockRef struct {
	redis int64 // µs since the epoch
	local time.Time
}

// redisAt maps a local time to Redis's clock, in µs.
func (c *clockRef) redisAt(t time.Time) int64 {
	return c.redis + t.Sub(c.local).Microseconds()
}

// at maps a Redis time in µs to the local clock.
func (c *clockRef) at(us int64) time.Time {
	if c == nil {
		return time.UnixMicro(us)
	}
	return c.local.Add(time.Duration(us-c.redis) * time.Microsecond)
}

// A pacer is one provider's slots in this process.
type pacer struct {
	p    Provider
	lim  Limit
	step time.Duration // T
	tau  time.Duration // (Burst-1)·T
	late time.Duration // V: how late a slot may be used
	max  int           // the most slots a lease asks for

	mu       sync.Mutex    // protects the fields below
	l        lease         // the slots being handed out
	more     lease         // the next lease, taken ahead; k is 0 when there is none
	next     int           // slots of l handed out or skipped
	lost     int           // slots that went unused since the last lease was asked for
	pause    time.Time     // no slot before this
	want     int           // slots the next lease asks for
	asked    chan struct{} // closed when the lease asked for lands; nil when none is asked
	localTAT time.Time     // the local share's TAT

	leases, slots [2]atomic.Int64 // leases taken and their slots, from Redis [0] and the local share [1]
	pauses        atomic.Int64
}

// A lease is a run of k slots: slot j at max(floor, base + j·step).
type lease struct {
	floor, base time.Time
	step        time.Duration
	k           int
}

func (l *lease) at(j int) time.Time {
	t := l.base.Add(time.Duration(j) * l.step)
	if t.Before(l.floor) {
		return l.floor
	}
	return t
}

// NewLimiter returns a Limiter that paces calls to the providers of limits
// across every process whose tracker shares t's Redis and prefix; the
// tracker's Redis client, prefix and error handler are its own. It starts a
// goroutine that takes leases, and one that listens for pauses when the
// client can subscribe (a *redis.Client or *redis.ClusterClient can). A nil
// tracker, or an invalid provider or limit, is an error.
//
// Limiters of one provider must agree on its limit: each lease is taken at
// the asking process's rate.
func NewLimiter(t *Tracker, limits map[Provider]Limit, opts ...LimiterOption) (*Limiter, error) {
	if t == nil {
		return nil, errors.New("usage: limiter: nil Tracker")
	}
	cfg := newLimiterConfig(opts)
	l := &Limiter{
		t:       t,
		pacers:  make(map[Provider]*pacer, len(limits)),
		cfg:     cfg,
		asks:    make(chan *pacer, len(limits)),
		done:    make(chan struct{}),
		pausing: make(map[Provider]time.Duration),
		wake:    make(chan struct{}, 1),
	}
	for _, p := range slices.Sorted(maps.Keys(limits)) {
		lim := limits[p]
		if err := p.Validate(); err != nil {
			return nil, fmt.Errorf("usage: limiter: %w", err)
		}
		if err := lim.validate(); err != nil {
			return nil, fmt.Errorf("usage: limiter %s: %w", p, err)
		}
		lim.Burst = max(lim.Burst, 1)
		step := time.Duration(float64(time.Second) / lim.Rate)
		l.pacers[p] = &pacer{
			p: p, lim: lim, step: step,
			tau:  time.Duration(lim.Burst-1) * step,
			late: min(max(step/2, 10*time.Millisecond), 500*time.Millisecond),
			max:  max(1, int(lim.Rate*cfg.leaseSpan.Seconds()), lim.Burst),
			want: 1,
		}
	}
	if mp := t.cfg.meterProvider; mp != nil {
		var err error
		if l.reg, err = l.observe(mp); err != nil {
			t.report(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	l.cancel = cancel
	var wg sync.WaitGroup
	wg.Go(func() { l.run(ctx) })
	if sub, ok := t.w.rdb.(subscriber); ok && t.core.noClient == nil {
		wg.Go(func() { l.listen(ctx, sub) })
	}
	go func() {
		wg.Wait()
		close(l.done)
	}()
	return l, nil
}

// subscriber is the part of a go-redis client that pub/sub needs.
type subscriber interface {
	Subscribe(ctx context.Context, channels ...string) *redis.PubSub
}

// Allow reports whether a call to p may start now, and if so takes its
// slot. It never blocks and does no I/O: when this process holds no slot of
// p whose time has come, it reports false, and asks for a lease if its
// slots run low, so the first call after a quiet spell is usually refused.
// A provider without a limit is always allowed. Allow on a nil *Limiter
// allows everything.
func (l *Limiter) Allow(p Provider) bool {
	if l == nil {
		return true
	}
	pc := l.pacers[p]
	if pc == nil {
		return true
	}
	now := time.Now()
	pc.mu.Lock()
	e, ok := pc.claimLocked(now, false)
	if pc.lowLocked() {
		l.askLocked(pc)
	}
	pc.mu.Unlock()
	return ok && !e.After(now)
}

// Wait blocks until a call to p may start, or ctx is done, and returns nil,
// or ctx's error, or a [*WaitError] at once when the next slot comes after
// ctx's deadline. It waits for the slot this process holds, or for a lease
// from Redis (one round trip, taken ahead of need while calls keep coming),
// or, while Redis cannot be reached, for a slot of the local share. A
// provider without a limit never waits. Wait on a nil *Limiter returns nil
// at once.
func (l *Limiter) Wait(ctx context.Context, p Provider) error {
	if l == nil {
		return nil
	}
	pc := l.pacers[p]
	if pc == nil {
		return nil
	}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		pc.mu.Lock()
		e, ok := pc.claimLocked(time.Now(), true)
		var landed chan struct{}
		if !ok || pc.lowLocked() {
			landed = l.askLocked(pc)
		}
		paused := time.Now().Before(pc.pause)
		pc.mu.Unlock()
		if !ok {
			select {
			case <-landed:
			case <-l.done: // closed as it asked: the local share serves it
				pc.mu.Lock()
				if pc.asked == landed {
					pc.installLocked(l.localLeaseLocked(pc, time.Now()), true)
				}
				pc.mu.Unlock()
			case <-ctx.Done():
				return ctx.Err()
			}
			continue
		}
		if dl, has := ctx.Deadline(); has && dl.Before(e) {
			pc.mu.Lock()
			pc.unclaimLocked(e)
			pc.mu.Unlock()
			return &WaitError{Provider: p, Next: e, Paused: paused}
		}
		if d := time.Until(e); d > 0 {
			timer := time.NewTimer(d)
			select {
			case <-timer.C:
			case <-ctx.Done():
				timer.Stop()
				return ctx.Err()
			}
		}
		// A pause that came while it slept holds the slot back, and a slot
		// come too late is lost: either way, take another.
		pc.mu.Lock()
		held := e.Before(pc.pause)
		pc.mu.Unlock()
		if !held && time.Since(e) <= pc.late {
			return nil
		}
	}
}

// claimLocked takes the next slot that is neither past use at now nor
// before the pause; with future, one whose time is yet to come too. It
// moves on to the lease taken ahead when the current one is spent, and
// reports false when neither has such a slot. It requires pc.mu held.
func (pc *pacer) claimLocked(now time.Time, future bool) (time.Time, bool) {
	for {
		l := &pc.l
		j := pc.next
		if l.step > 0 {
			// Slots before now - late are past use, and slots before the
			// pause are held back: skip them without looking at each.
			if from := now.Add(-pc.late); l.at(j).Before(from) {
				skip := ceilDiv(from.Sub(l.base), l.step)
				pc.lost += min(skip, l.k) - j
				j = max(j, skip)
			}
			if l.floor.Before(pc.pause) {
				j = max(j, ceilDiv(pc.pause.Sub(l.base), l.step))
			}
		}
		if j < l.k {
			e := l.at(j)
			if !future && e.After(now) {
				pc.next = j
				return e, false
			}
			pc.next = j + 1
			return e, true
		}
		if pc.more.k == 0 {
			pc.next = l.k
			return time.Time{}, false
		}
		pc.l, pc.more, pc.next = pc.more, lease{}, 0
	}
}

// unclaimLocked gives back slot e, claimed last and not to be used, so that
// a call that would not wait for it costs no slot; a slot claimed after it
// keeps it lost. It requires pc.mu held.
func (pc *pacer) unclaimLocked(e time.Time) {
	if pc.next > 0 && pc.next <= pc.l.k && pc.l.at(pc.next-1).Equal(e) {
		pc.next--
	}
}

// ceilDiv returns ⌈a/b⌉ for b > 0, as an int, 0 for a ≤ 0.
func ceilDiv(a, b time.Duration) int {
	if a <= 0 {
		return 0
	}
	return int((a + b - 1) / b)
}

// lowLocked reports whether the slots run low: no lease taken ahead, and a
// quarter or less of the current one left. It requires pc.mu held.
func (pc *pacer) lowLocked() bool {
	return pc.more.k == 0 && pc.l.k-pc.next <= pc.l.k/4
}

// askLocked asks the limiter's goroutine for a lease of pc, unless one is
// asked already, and returns a channel closed when it lands. Once the
// limiter is closed, the lease comes from the local share at once. It
// requires pc.mu held.
func (l *Limiter) askLocked(pc *pacer) chan struct{} {
	if l.closed.Load() {
		// An ask made before Close may never be served: the limiter's
		// goroutine may have ended, or the ask waits for a timer to send
		// it. installLocked ends it too.
		pc.installLocked(l.localLeaseLocked(pc, time.Now()), true)
		return closedChan
	}
	if pc.asked != nil {
		return pc.asked
	}
	pc.asked = make(chan struct{})
	l.asks <- pc // never blocks: one ask a pacer at a time, and room for all
	return pc.asked
}

// closedChan is a closed channel.
var closedChan = func() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()

// sizeLocked returns how many slots the next lease asks for: twice the last
// while no slot went unused since, half of it otherwise, within 1..max, and
// no more than max with the slots still in hand, so a process never holds
// more than one lease's span. It requires pc.mu held.
func (pc *pacer) sizeLocked() int {
	switch {
	case pc.l.k == 0:
	case pc.lost == 0:
		pc.want = min(2*pc.want, pc.max)
	default:
		pc.want = max(pc.want/2, 1)
	}
	pc.lost = 0
	return max(1, min(pc.want, pc.max-(pc.l.k-pc.next)))
}

// install makes l the pacer's lease, and wakes whoever waits for it.
func (pc *pacer) install(l lease, local bool) {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	pc.installLocked(l, local)
}

// installLocked is install with pc.mu held. A lease that comes while the
// current one has slots left waits behind it.
func (pc *pacer) installLocked(l lease, local bool) {
	if pc.next < pc.l.k {
		pc.more = l
	} else {
		pc.l, pc.next = l, 0
	}
	src := 0
	if local {
		src = 1
	}
	pc.leases[src].Add(1)
	pc.slots[src].Add(int64(l.k))
	if pc.asked != nil {
		close(pc.asked)
		pc.asked = nil
	}
}

// Pause holds calls to p across the fleet for d, as a provider's 429 or
// Retry-After asks: at once in this process, and in the others as soon as
// the limiter's goroutine has written it to Redis. A d above
// [WithMaxPause] is cut to it, and a negative one held for no time, both
// reported to the error handler; a zero d, or a provider without a limit,
// is ignored. It never blocks and does no I/O. Pause on a nil *Limiter
// does nothing.
func (l *Limiter) Pause(p Provider, d time.Duration) {
	if l == nil || d == 0 || l.pacers[p] == nil {
		return
	}
	if d < 0 {
		l.t.report(fmt.Errorf("usage: limiter: %s asked for a pause of %v, which ended before it came; held none", p, d))
		return
	}
	if d > l.cfg.maxPause {
		l.t.report(fmt.Errorf("usage: limiter: %s asked for a pause of %v; held for %v (WithMaxPause)", p, d, l.cfg.maxPause))
		d = l.cfg.maxPause
	}
	pc := l.pacers[p]
	pc.pauses.Add(1)
	pc.holdUntil(time.Now().Add(d))
	l.pauseMu.Lock()
	l.pausing[p] = max(l.pausing[p], d)
	l.pauseMu.Unlock()
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// holdUntil holds pc's slots until end, unless a later pause holds them.
func (pc *pacer) holdUntil(end time.Time) {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if end.After(pc.pause) {
		pc.pause = end
	}
}

// PausedUntil returns when the pause of p that this process knows of ends,
// and the zero time when p is not paused.
func (l *Limiter) PausedUntil(p Provider) time.Time {
	if l == nil || l.pacers[p] == nil {
		return time.Time{}
	}
	pc := l.pacers[p]
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if time.Now().Before(pc.pause) {
		return pc.pause
	}
	return time.Time{}
}

// Close stops the limiter's goroutines and waits for them until ctx is
// done. Calls to Wait and Allow go on with the slots in hand and, once they
// run out, from the local share.
func (l *Limiter) Close(ctx context.Context) error {
	if !l.closed.Swap(true) && l.reg != nil {
		_ = l.reg.Unregister()
	}
	l.cancel()
	select {
	case <-l.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// leaseTimeout bounds a lease's round trip, and retryRedis is how long
// leases come from the local share after Redis could not be reached.
const (
	leaseTimeout = time.Second
	retryRedis   = time.Second
)

// run takes leases for the pacers that ask, several in one round trip, and
// writes pauses, until ctx is done. After a round that could not reach
// Redis, leases come from the local share for retryRedis.
func (l *Limiter) run(ctx context.Context) {
	var down time.Time // when Redis last could not be reached
	for {
		var batch []*pacer
		select {
		case <-ctx.Done():
			l.writePauses(ctx) // pauses asked for before Close are still shared
			l.drain()
			return
		case pc := <-l.asks:
			batch = append(batch, pc)
		more:
			for {
				select {
				case pc := <-l.asks:
					batch = append(batch, pc)
				default:
					break more
				}
			}
		case <-l.wake:
		}
		l.writePauses(ctx)
		if len(batch) == 0 {
			continue
		}
		if l.t.core.noClient != nil || !down.IsZero() && time.Since(down) < retryRedis {
			l.leaseLocally(batch)
			continue
		}
		if err := l.lease(ctx, batch); err != nil { // the pacers it could not serve have the local share
			down = time.Now()
			if ctx.Err() == nil {
				l.t.report(fmt.Errorf("usage: limiter: lease %d providers from Redis: %w; pacing on this process's share (%s) until it answers", len(batch), err, l.shareText()))
			}
			continue
		}
		down = time.Time{}
	}
}

// drain serves the pacers still asking from the local share, so no Wait
// blocks on a closed limiter.
func (l *Limiter) drain() {
	for {
		select {
		case pc := <-l.asks:
			l.leaseLocally([]*pacer{pc})
		default:
			return
		}
	}
}

// shareText says what the local share is.
func (l *Limiter) shareText() string {
	if l.cfg.fleetSize == 1 {
		return "the whole rate"
	}
	return "1/" + strconv.Itoa(l.cfg.fleetSize) + " of the rate"
}

// leaseLocally gives each pacer a lease from the local share.
func (l *Limiter) leaseLocally(batch []*pacer) {
	now := time.Now()
	for _, pc := range batch {
		pc.mu.Lock()
		pc.installLocked(l.localLeaseLocked(pc, now), true)
		pc.mu.Unlock()
	}
}

// localLeaseLocked returns a lease of the local share, pc's rate divided by
// the fleet size, on a GCRA of its own. It requires pc.mu held.
func (l *Limiter) localLeaseLocked(pc *pacer, now time.Time) lease {
	k := pc.sizeLocked()
	step := pc.step * time.Duration(l.cfg.fleetSize)
	floor := now
	if pc.pause.After(floor) {
		floor = pc.pause
	}
	tat := pc.localTAT
	if tat.Before(floor) {
		tat = floor
	}
	pc.localTAT = tat.Add(time.Duration(k) * step)
	return lease{floor: floor, base: tat.Add(-time.Duration(pc.lim.Burst-1) * step), step: step, k: k}
}

// leaseScript reserves up to ARGV[3] slots of the schedule KEYS[1] (the TAT
// in µs of Redis's clock), never before the pause that the hash KEYS[2]
// holds for ARGV[1], nor before ARGV[6] (the end of the slots the process
// holds), nor more than ARGV[5] µs ahead, at one slot every ARGV[2] µs with
// ARGV[4] µs of burst, and returns {now, floor, base, k, pause end}: slot j
// at max(floor, base + j·T), all in µs.
var leaseScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local step, tau, want, horizon = tonumber(ARGV[2]), tonumber(ARGV[4]), tonumber(ARGV[3]), tonumber(ARGV[5])
local pause = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0')
local floor = math.max(now, pause, tonumber(ARGV[6]))
local tat = math.max(tonumber(redis.call('GET', KEYS[1]) or '0'), floor)
local k = math.min(want, math.floor((now + horizon - tat + tau) / step) + 1)
if k < 0 then
	k = 0
end
if k > 0 then
	local ttl = math.ceil((tat + k * step - now) / 1000) + 60000
	redis.call('SET', KEYS[1], string.format('%.0f', tat + k * step), 'PX', ttl)
end
return {string.format('%.0f', now), string.format('%.0f', floor), string.format('%.0f', tat - tau), k, string.format('%.0f', pause)}
`)

// pauseScript pauses ARGV[1] for ARGV[2] µs from Redis's now: it records
// the end in the hash KEYS[2], unless a later one is there, moves the
// schedule KEYS[1] past it, and publishes "provider end" on ARGV[3]. It
// returns the end in µs.
var pauseScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0') -- read first: an error here writes nothing
local stop = math.max(now + tonumber(ARGV[2]), tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0'))
local s = string.format('%.0f', stop)
redis.call('HSET', KEYS[2], ARGV[1], s)
redis.call('PEXPIRE', KEYS[2], math.max(redis.call('PTTL', KEYS[2]), math.ceil((stop - now) / 1000) + 60000))
if (tat or 0) < stop then
	redis.call('SET', KEYS[1], s, 'PX', math.ceil((stop - now) / 1000) + 60000)
end
redis.call('PUBLISH', ARGV[3], ARGV[1] .. ' ' .. s)
return s
`)

// The limiter's keys, hash-tagged by the prefix so one script reaches both
// on a cluster and a SCAN of the counters' prefix lists neither:
// "{api_usage}:pace:edgar" holds a provider's TAT, "{api_usage}:pauses"
// the pauses' ends, a field a provider, and its channel carries them.
func paceKey(prefix string, p Provider) string { return "{" + prefix + "}:pace:" + string(p) }
func pausesKey(prefix string) string           { return "{" + prefix + "}:pauses" }

// leaseHorizon is how far ahead of now a lease may reserve.
const leaseHorizon = time.Minute

// lease takes a lease from Redis for each pacer of batch in one round trip.
// A pacer whose script Redis refused, or whose reply did not come, gets the
// local share, so every pacer is served once; the error of a reply that did
// not come is returned.
func (l *Limiter) lease(ctx context.Context, batch []*pacer) error {
	prefix := l.t.cfg.prefix
	calls := make([]scriptCall, len(batch))
	ref := l.clock.Load()
	for i, pc := range batch {
		pc.mu.Lock()
		k := pc.sizeLocked()
		var after int64 // the end of the slots in hand, so the lease does not overlap them
		if ref != nil && pc.next < pc.l.k {
			after = ref.redisAt(pc.l.at(pc.l.k - 1).Add(pc.step))
		}
		pc.mu.Unlock()
		calls[i] = scriptCall{script: leaseScript, keys: []string{paceKey(prefix, pc.p), pausesKey(prefix)},
			args: []any{string(pc.p), pc.step.Microseconds(), k, pc.tau.Microseconds(), leaseHorizon.Microseconds(), after}}
	}
	ctx, cancel := context.WithTimeout(ctx, leaseTimeout)
	defer cancel()
	runScripts(ctx, l.t.w.rdb, calls)
	arrived := time.Now()
	var errs []error
	var local []*pacer
	var lost error // of a write that did not land: the pacers left get the local share
	for i, pc := range batch {
		v, err := calls[i].cmd.Slice()
		var us [5]int64
		if err == nil && len(v) == len(us) {
			for j := range us {
				if us[j], err = toInt64(v[j]); err != nil {
					break
				}
			}
		} else if err == nil {
			err = fmt.Errorf("reply %v", v)
		}
		switch {
		case err == nil:
		case refusesKey(err):
			errs = append(errs, &KeyError{Key: calls[i].keys[0], Err: err})
			local = append(local, pc)
			continue
		default:
			lost = err
			local = append(local, pc)
			continue
		}
		ref := &clockRef{redis: us[0], local: arrived}
		l.clock.Store(ref)
		if us[4] > 0 {
			pc.holdUntil(ref.at(us[4]))
		}
		if us[3] == 0 {
			// The fleet has reserved the whole horizon: ask again when its
			// first slot comes within it; whoever waits goes on waiting.
			again := time.Until(ref.at(max(us[1], us[2]) - leaseHorizon.Microseconds()))
			pc.mu.Lock()
			asked := pc.asked
			pc.mu.Unlock()
			time.AfterFunc(max(again, pc.step), func() {
				pc.mu.Lock()
				same := pc.asked == asked // the ask is still open, and out of the channel
				pc.mu.Unlock()
				if same {
					select {
					case l.asks <- pc:
					default:
					}
				}
			})
			continue
		}
		pc.install(lease{floor: ref.at(us[1]), base: ref.at(us[2]), step: pc.step, k: int(us[3])}, false)
	}
	if len(local) > 0 {
		l.leaseLocally(local)
	}
	if len(errs) > 0 {
		l.t.report(fmt.Errorf("usage: limiter: %w", errors.Join(errs...)))
	}
	return lost
}

// toInt64 reads an integer reply, or a string of one.
func toInt64(v any) (int64, error) {
	switch x := v.(type) {
	case int64:
		return x, nil
	case string:
		return strconv.ParseInt(x, 10, 64)
	}
	return 0, fmt.Errorf("reply %v is not an integer", v)
}

// writePauses writes the pauses waiting, one script each in one round
// trip. A pause that cannot be written is reported; this process holds it
// anyway.
func (l *Limiter) writePauses(ctx context.Context) {
	l.pauseMu.Lock()
	waiting := l.pausing
	l.pausing = make(map[Provider]time.Duration)
	l.pauseMu.Unlock()
	if len(waiting) == 0 || l.t.core.noClient != nil {
		return
	}
	prefix := l.t.cfg.prefix
	var calls []scriptCall
	for _, p := range slices.Sorted(maps.Keys(waiting)) {
		calls = append(calls, scriptCall{script: pauseScript, keys: []string{paceKey(prefix, p), pausesKey(prefix)},
			args: []any{string(p), waiting[p].Microseconds(), pausesKey(prefix)}})
	}
	// Close must not cut a pause's write short: the other processes need it.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), leaseTimeout)
	defer cancel()
	runScripts(ctx, l.t.w.rdb, calls)
	for _, c := range calls {
		if err := c.cmd.Err(); err != nil && ctx.Err() == nil {
			l.t.report(fmt.Errorf("usage: limiter: share the pause of %s: %w", c.args[0], err))
		}
	}
}

// listen holds the slots of every pause another process publishes, until
// ctx is done. go-redis subscribes again after a lost connection; a pause
// published meanwhile arrives with the next lease.
func (l *Limiter) listen(ctx context.Context, sub subscriber) {
	ps := sub.Subscribe(ctx, pausesKey(l.t.cfg.prefix))
	defer ps.Close()
	ch := ps.Channel()
	for {
		select {
		case <-ctx.Done():
			return
		case m, ok := <-ch:
			if !ok {
				return
			}
			name, end, _ := strings.Cut(m.Payload, " ")
			us, err := strconv.ParseInt(end, 10, 64)
			if pc := l.pacers[Provider(name)]; pc != nil && err == nil {
				pc.holdUntil(l.clock.Load().at(us))
			}
		}
	}
}

// Pauses returns the pauses of providers that a [Limiter] recorded and
// that have not ended by the reader's now: when each ends. The ends are
// in Redis's clock, which [WithClock] does not move. A malformed entry is
// left out and named in an [*EntryError].
func (r *Reader) Pauses(ctx context.Context) (map[Provider]time.Time, error) {
	key := pausesKey(r.cfg.prefix)
	fields, err := r.hash(ctx, "pauses", key)
	if err != nil {
		return nil, err
	}
	now := r.cfg.clock()
	out := make(map[Provider]time.Time)
	var errs []error
	for name, v := range fields {
		us, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			errs = append(errs, &EntryError{key, name, err})
			continue
		}
		if end := time.UnixMicro(us); end.After(now) {
			out[Provider(name)] = end.UTC()
		}
	}
	return out, errors.Join(errs...)
}

// observe registers the limiter's metrics with mp, observed at collection
// from counts the pacers keep:
//
//	enrichmeter.limiter.leases  counter  {lease}  leases taken, by enrichmeter.provider and enrichmeter.lease.source
//	enrichmeter.limiter.slots   counter  {slot}   slots those leases held, by the same
//	enrichmeter.limiter.pauses  counter  {pause}  pauses this process asked for, by enrichmeter.provider
//
// enrichmeter.lease.source is redis, or local for the local share while
// Redis could not be reached: slots divided by leases from redis is how
// many calls one Redis command paced.
func (l *Limiter) observe(mp metric.MeterProvider) (metric.Registration, error) {
	m := mp.Meter(meterName)
	leases, err1 := m.Int64ObservableCounter("enrichmeter.limiter.leases", metric.WithUnit("{lease}"),
		metric.WithDescription("Leases of slots taken, from Redis or from the local share while Redis could not be reached."))
	slots, err2 := m.Int64ObservableCounter("enrichmeter.limiter.slots", metric.WithUnit("{slot}"),
		metric.WithDescription("Slots the leases held: calls that could start."))
	pauses, err3 := m.Int64ObservableCounter("enrichmeter.limiter.pauses", metric.WithUnit("{pause}"),
		metric.WithDescription("Pauses this process asked for, on a provider's 429 or Retry-After."))
	type attrs struct {
		src [2]metric.ObserveOption
		p   metric.ObserveOption
	}
	byPacer := make(map[*pacer]attrs, len(l.pacers))
	for p, pc := range l.pacers {
		name := attribute.String("enrichmeter.provider", string(p))
		byPacer[pc] = attrs{
			src: [2]metric.ObserveOption{
				metric.WithAttributes(name, attribute.String("enrichmeter.lease.source", "redis")),
				metric.WithAttributes(name, attribute.String("enrichmeter.lease.source", "local")),
			},
			p: metric.WithAttributes(name),
		}
	}
	reg, err4 := m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		for pc, a := range byPacer {
			for src := range a.src {
				o.ObserveInt64(leases, pc.leases[src].Load(), a.src[src])
				o.ObserveInt64(slots, pc.slots[src].Load(), a.src[src])
			}
			o.ObserveInt64(pauses, pc.pauses.Load(), a.p)
		}
		return nil
	}, leases, slots, pauses)
	return reg, errors.Join(err1, err2, err3, err4)
}
