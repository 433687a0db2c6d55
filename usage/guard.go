package usage

// How a Guard knows what is used
//
// A quota is spent by the whole fleet, but Allow may do no I/O. So Allow adds
// two things: what Redis held at the guard's last refresh, and what this
// tracker counted since, which it reads from its own cells without locking.
//
// A refresh holds the tracker's write semaphore (t.sem), so no round of this
// tracker changes Redis while it reads; under t.mu it sums the units of the
// period that this tracker has not had confirmed (P) and reads the count of
// the provider's newest cell (c0); then it reads the period's counters (V)
// in one pipeline. Units this tracker had confirmed are in V; units pending are
// in P; units counted since are in the cell's growth. So
//
//	used(now) = V + P - c0 + cell(now)      (base = V + P - c0)
//
// A write whose reply was lost may be in V and in P: the estimate errs high,
// never low. Between refreshes, calls of other processes are not seen: the
// fleet can overshoot a quota by what the others count in a flush interval
// plus a refresh interval (see NewGuard). While Redis is down the guard
// keeps its last view and goes on adding this tracker's own calls.

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// DefaultRefreshInterval is how often a [Guard] reads the fleet's counts
// unless [WithRefreshInterval] says otherwise.
const DefaultRefreshInterval = time.Second

// DefaultThresholds are the shares of a quota at which a [Guard] fires its
// alert unless [WithAlert] names others: 80 % and 100 %.
var DefaultThresholds = []float64{0.8, 1}

// A QuotaError is what [Guard.Allow] returns for a provider whose quota is
// spent. Find it with [errors.As]; for a request that a decorator of
// package providers refused with it, providers.Refusal returns it.
type QuotaError struct {
	Provider Provider
	Quota    Quota
	Used     int64     // the guard's estimate of the fleet's use this period
	Resets   time.Time // when the period ends and the quota is whole again
}

func (e *QuotaError) Error() string {
	return fmt.Sprintf("usage: %s quota spent: %d of %d this %s, resets %s",
		e.Provider, e.Used, e.Quota.Limit, e.Quota.Period, e.Resets.Format(time.RFC3339))
}

// RefusalReason says, briefly, why the call was not made, for a record of
// its outcome: "claude quota spent until 2026-12-06T00:00:00Z".
// sourcestatus.FromHTTP stores a call refused by e as skipped with it.
func (e *QuotaError) RefusalReason() string {
	return string(e.Provider) + " quota spent until " + e.Resets.Format(time.RFC3339)
}

// An Alert says that a provider's use crossed a threshold of its quota. A
// [Guard] fires each threshold once per period across every process that
// shares the Redis: the first to see it crossed claims it there.
type Alert struct {
	Provider  Provider
	Quota     Quota
	Threshold float64    // the share crossed, such as 0.8
	Used      int64      // the guard's estimate when it fired
	Resets    time.Time  // when the period ends
	Burn      BurnReport // the provider's burn, as [Reader.Burn] reports it
	BurnErr   error      // why Burn is empty, if reading it failed
}

// A Guard refuses calls to providers whose quota the fleet has spent, and
// fires alerts when thresholds of a quota are crossed. [Guard.Allow] does no
// I/O and allocates nothing when it allows: it adds what Redis held at the
// last refresh to what the tracker counted since. A background goroutine
// refreshes every [WithRefreshInterval], in one pipelined round trip.
//
// A Guard is safe for concurrent use. The zero value is not usable; use
// [NewGuard], and [Guard.Close] it to stop its goroutine.
type Guard struct {
	t          *Tracker
	budgets    map[Provider]*budget
	every      time.Duration
	thresholds []float64
	onAlert    func(Alert)
	reader     *Reader
	cancel     context.CancelFunc
	done       chan struct{}
	refreshMu  sync.Mutex // one refresh at a time; protects every budget's fired
	claimID    string     // the value of this guard's alert claims: its tracker's id and its own
}

// A budget is one provider's quota and the guard's view of its use.
type budget struct {
	p     Provider
	q     Quota
	e     *entry // pinned in the tracker's index
	state atomic.Pointer[budgetState]
	fired map[string]bool // claims seen, by claim key; protected by Guard.refreshMu
}

// budgetState is what the last refresh learned, for one period.
type budgetState struct {
	start, end day       // the period, [start, end)
	resets     time.Time // end as a time
	base       int64     // V + P - c0; see the top of this file
	cur        *slot     // the live cell read as c0, or nil
}

// NewGuard returns a Guard of t's providers with the given quotas, which may
// name any counter, calls or amounts such as [ClaudeOutputTokens]. It starts
// a refresh at once, in the background; until it completes the guard knows
// only this tracker's counts. It honours [WithRefreshInterval] and
// [WithAlert]; the tracker's prefix, clock and Redis client are its own.
//
// Across a fleet of trackers sharing one Redis, each refusing on its own
// view, the total can pass a quota by at most what the other trackers count
// in F + R + d, where F is their flush interval, R the refresh interval and
// d the time a refresh and a flush take on the wire, plus the calls each
// tracker had allowed but not yet counted. While Redis is unreachable the
// guard keeps its last view of the others and adds this tracker's own
// calls, and a provider whose counter Redis answers with an error (a key
// holding a hash) keeps its last view while the others are read. One gap:
// when a UTC day ends between two refreshes that could not read, this
// tracker's calls of the day that ended drop out of the estimate until a
// refresh reads again. A refresh waits for a flush round that could not
// start, so a short refresh interval never keeps this tracker's counts from
// the fleet.
func NewGuard(t *Tracker, quotas map[Provider]Quota, opts ...Option) (*Guard, error) {
	if t == nil {
		return nil, errors.New("usage: guard: nil Tracker")
	}
	cfg := newConfig(opts)
	g := &Guard{
		t:          t,
		budgets:    make(map[Provider]*budget, len(quotas)),
		every:      cfg.refreshInterval,
		thresholds: cfg.thresholds,
		onAlert:    cfg.onAlert,
		reader:     &Reader{rdb: t.rdb, rdbErr: t.rdbErr, cfg: t.cfg},
		done:       make(chan struct{}),
		claimID:    t.id + ":" + newTrackerID(),
	}
	for _, p := range slices.Sorted(maps.Keys(quotas)) {
		q := quotas[p]
		if err := p.Validate(); err != nil {
			return nil, fmt.Errorf("usage: guard: %w", err)
		}
		if err := q.validate(); err != nil {
			return nil, fmt.Errorf("usage: guard %s: %w", p, err)
		}
		b := &budget{p: p, q: q, e: t.Meter(p).e, fired: map[string]bool{}}
		start, end := q.period(t.cfg.clock())
		b.state.Store(&budgetState{start: dayOf(start), end: dayOf(end), resets: end})
		g.budgets[p] = b
	}
	ctx, cancel := context.WithCancel(context.Background())
	g.cancel = cancel
	go g.run(ctx)
	return g, nil
}

// Allow reports whether a call to p may go ahead: nil, or a [*QuotaError]
// when p's quota is spent. Providers without a quota are always allowed. It
// never blocks and does no I/O, and it allocates only the error it returns.
// Allow on a nil *Guard allows everything.
func (g *Guard) Allow(p Provider) error {
	if g == nil {
		return nil
	}
	b := g.budgets[p]
	if b == nil {
		return nil
	}
	d := g.t.today()
	used := b.used(d)
	if used < b.q.Limit {
		return nil
	}
	resets := b.state.Load().resets
	if d >= dayOf(resets) {
		_, resets = b.q.period(d.time())
	}
	return &QuotaError{Provider: p, Quota: b.q, Used: used, Resets: resets}
}

// Used returns the guard's estimate of p's use in the current period, and
// false if p has no quota.
func (g *Guard) Used(p Provider) (int64, bool) {
	if g == nil || g.budgets[p] == nil {
		return 0, false
	}
	return g.budgets[p].used(g.t.today()), true
}

// used returns the estimate on day d; see the top of this file.
func (b *budget) used(d day) int64 {
	st := b.state.Load()
	c := b.e.cur.Load()
	if d < st.start || d >= st.end {
		// A new period began since the last refresh: only this tracker's
		// calls of today are known.
		if c != nil && c.k.d == d {
			return c.n.Load() &^ retiredBit
		}
		return 0
	}
	n := st.base
	if st.cur != nil {
		n += st.cur.n.Load() &^ retiredBit
	}
	if c != nil && c != st.cur && c.k.d >= st.start && c.k.d < st.end {
		n += c.n.Load() &^ retiredBit // a cell begun since the refresh
	}
	return n
}

// Refresh reads the fleet's counts now and fires the alerts they call for,
// waiting until it is done or ctx is. The background goroutine does the
// same every refresh interval; call Refresh where the view must be fresh,
// such as at start-up. Alerts are called from the goroutine that refreshes,
// one at a time.
func (g *Guard) Refresh(ctx context.Context) error {
	g.refreshMu.Lock()
	defer g.refreshMu.Unlock()
	err := g.refresh(ctx)
	g.alert(ctx) // on what is known, the last view where a refresh failed
	return err
}

// Close stops the guard's goroutine and waits for it until ctx is done.
// Allow keeps answering from the last view.
func (g *Guard) Close(ctx context.Context) error {
	g.cancel()
	select {
	case <-g.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// run refreshes every interval, counted from the end of the last refresh,
// so a refresh that takes longer than the interval still leaves the
// tracker's write semaphore free between two. A flush round that found the
// semaphore taken goes first: the refresh waits for the next interval.
func (g *Guard) run(ctx context.Context) {
	defer close(g.done)
	wait := time.NewTimer(0)
	defer wait.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-wait.C:
		}
		if !g.t.roundWanted.Load() {
			rctx, cancel := context.WithTimeout(ctx, max(g.every, 5*time.Second))
			if err := g.Refresh(rctx); err != nil && ctx.Err() == nil {
				g.t.report(err)
			}
			cancel()
		}
		wait.Reset(g.every)
	}
}

// refresh sets every budget's state from Redis and this tracker's counts, as
// the top of this file says.
func (g *Guard) refresh(ctx context.Context) error {
	if g.t.rdbErr != nil {
		return g.t.rdbErr
	}
	select {
	case g.t.sem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-g.t.sem }()

	type plan struct {
		b        *budget
		st       budgetState
		pending  int64
		curCount int64
		cmds     []*redis.StringCmd
	}
	now := g.t.cfg.clock()
	plans := make([]plan, 0, len(g.budgets))
	byProvider := make(map[Provider]*plan, len(g.budgets))
	for _, b := range g.budgets {
		start, end := b.q.period(now)
		plans = append(plans, plan{b: b, st: budgetState{start: dayOf(start), end: dayOf(end), resets: end}})
	}
	for i := range plans {
		byProvider[plans[i].b.p] = &plans[i]
	}
	g.t.mu.Lock()
	for k, s := range g.t.slots {
		if pl := byProvider[k.p]; pl != nil && k.d >= pl.st.start && k.d < pl.st.end {
			pl.pending += s.pending()
		}
	}
	for i := range plans {
		pl := &plans[i]
		// A retired cell is read too: what it held is in P or V, and what
		// callers add to it after it retired is counted again elsewhere.
		if c := pl.b.e.cur.Load(); c != nil && c.k.d >= pl.st.start && c.k.d < pl.st.end {
			pl.st.cur, pl.curCount = c, c.n.Load()&^retiredBit
		}
	}
	g.t.mu.Unlock()

	_, err := g.t.rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		for i := range plans {
			pl := &plans[i]
			for d := pl.st.start; d < pl.st.end && d <= dayOf(now); d++ {
				pl.cmds = append(pl.cmds, pipe.Get(ctx, key(g.t.cfg.prefix, pl.b.p, d)))
			}
		}
		return nil
	})
	var reply redis.Error
	if err != nil && !errors.Is(err, redis.Nil) && !errors.As(err, &reply) {
		if isContextErr(err) && ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("usage: guard: read the counters: %w", err)
	}
	// A key Redis answers with an error (it holds a hash, the server is
	// loading) leaves its provider with the last view; the others go on.
	var errs []error
plans:
	for i := range plans {
		pl := &plans[i]
		var v int64
		for _, c := range pl.cmds {
			n, err := c.Int64()
			if err != nil && !errors.Is(err, redis.Nil) {
				errs = append(errs, fmt.Errorf("usage: guard: key %s: %w", c.Args()[1], err))
				continue plans
			}
			v += n
		}
		pl.st.base = v + pl.pending - pl.curCount
		pl.b.state.Store(&pl.st)
	}
	return errors.Join(errs...)
}

// alert fires, once per threshold and period across the fleet, the alerts
// that the current estimates call for.
func (g *Guard) alert(ctx context.Context) {
	if g.onAlert == nil {
		return
	}
	type claim struct {
		b      *budget
		th     float64
		key    string
		st     *budgetState
		holder *redis.StringCmd
	}
	var claims []claim
	today := g.t.today()
	for _, b := range g.budgets {
		st := b.state.Load()
		used := b.used(today)
		for _, th := range g.thresholds {
			k := alertKey(g.t.cfg.prefix, b.p, st.start, th)
			if !b.fired[k] && float64(used) >= th*float64(b.q.Limit) {
				claims = append(claims, claim{b: b, th: th, key: k, st: st})
			}
		}
	}
	if len(claims) == 0 {
		return
	}
	// Each claim is SET NX, then read back: the claim is this guard's when
	// it holds claimID, whether this SET NX won or one of an earlier refresh
	// whose reply was lost did.
	_, err := g.t.rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		for i := range claims {
			c := &claims[i]
			ttl := c.st.resets.Sub(g.t.cfg.clock()) + 24*time.Hour
			pipe.SetNX(ctx, c.key, g.claimID, max(ttl, time.Hour))
			c.holder = pipe.Get(ctx, c.key)
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		g.t.report(fmt.Errorf("usage: guard: claim %d alerts: %w", len(claims), err))
	}
	for _, c := range claims {
		holder, err := c.holder.Result()
		if err != nil {
			continue // not claimed: try again at the next refresh
		}
		c.b.fired[c.key] = true
		if holder != g.claimID {
			continue // another guard fired it
		}
		a := Alert{Provider: c.b.p, Quota: c.b.q, Threshold: c.th, Used: c.b.used(today), Resets: c.st.resets}
		a.Burn, a.BurnErr = g.reader.Burn(ctx, c.b.p, c.b.q)
		g.onAlert(a)
	}
}

// alertKey names the claim of one threshold of one provider's period. It is
// hash-tagged, so a SCAN of the counters' prefix never lists it.
func alertKey(prefix string, p Provider, start day, th float64) string {
	return "{" + prefix + "}:alert:" + string(p) + ":" + start.time().Format(dayLayout) + ":" +
		strconv.FormatFloat(th*100, 'f', -1, 64)
}
