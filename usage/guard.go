package usage

// How a Guard knows what is used
//
// A quota is spent by the whole fleet, but Allow may do no I/O. So Allow adds
// two things: what Redis held at the guard's last refresh, and what this
// tracker counted since, which it reads from its own cells without locking.
//
// A refresh holds the tracker's round lock, so no round of this tracker
// changes Redis while it reads; at one instant it takes the units of the
// period that this tracker has not had confirmed (P) and the count of the
// provider's newest cell (c0), through the tracker's seam
// (writer.withRoundsHeld); then it reads the period's counters (V) in one
// pipeline. Units this tracker had confirmed are in V; units pending are
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

// A Guard refuses calls to providers whose quota the fleet has spent, and
// fires alerts when thresholds of a quota are crossed. [Guard.Allow] does no
// I/O and allocates nothing when it allows: it adds what Redis held at the
// last refresh to what the tracker counted since. A background goroutine
// refreshes every [WithRefreshInterval], in one pipelined round trip.
//
// A Guard is safe for concurrent use. The zero value is not usable; use
// [NewGuard], and [Guard.Close] it to stop its goroutine.
type Guard struct {
	t         *Tracker
	budgets   map[Provider]*budget
	list      []*budget // the budgets, by provider
	cfg       guardConfig
	reader    *Reader
	cancel    context.CancelFunc
	done      chan struct{}
	refreshMu sync.Mutex // one refresh at a time; protects every budget's fired, and published
	claimID   string     // the value of this guard's alert claims: its tracker's id and its own
	published time.Time  // when publish last wrote the quotas; zero before
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
	cur        *cell     // the live cell read as c0, or nil
}

// stateAt returns the state of q's period that contains now, with nothing
// learned yet.
func (q Quota) stateAt(now time.Time) budgetState {
	start, end := q.period(now)
	return budgetState{start: dayOf(start), end: dayOf(end), resets: end}
}

// NewGuard returns a Guard of t's providers with the given quotas, which may
// name any counter, calls or amounts such as [ClaudeOutputTokens]. It starts
// a refresh at once, in the background; until it completes the guard knows
// only this tracker's counts. The tracker's prefix, clock and Redis client
// are its own. A nil tracker, an invalid provider or quota, or an alert
// threshold outside (0, 1] is an error.
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
func NewGuard(t *Tracker, quotas map[Provider]Quota, opts ...GuardOption) (*Guard, error) {
	if t == nil {
		return nil, errors.New("usage: guard: nil Tracker")
	}
	cfg := newGuardConfig(opts)
	for _, th := range cfg.thresholds {
		if !(th > 0 && th <= 1) {
			return nil, fmt.Errorf("usage: guard: alert threshold %v is not in (0, 1]", th)
		}
	}
	g := &Guard{
		t:       t,
		budgets: make(map[Provider]*budget, len(quotas)),
		cfg:     cfg,
		reader:  &Reader{rdb: t.w.rdb, rdbErr: t.core.noClient, cfg: t.cfg},
		done:    make(chan struct{}),
		claimID: t.w.id + ":" + newTrackerID(),
	}
	now := t.cfg.clock()
	for _, p := range slices.Sorted(maps.Keys(quotas)) {
		q := quotas[p]
		if err := p.Validate(); err != nil {
			return nil, fmt.Errorf("usage: guard: %w", err)
		}
		if err := q.validate(); err != nil {
			return nil, fmt.Errorf("usage: guard %s: %w", p, err)
		}
		if p == Money {
			return nil, errors.New("usage: guard: money is read from the other counters, never counted, so a guard cannot hold it; Reader.Burn reports its quota")
		}
		b := &budget{p: p, q: q, e: t.Meter(p).e, fired: map[string]bool{}}
		st := q.stateAt(now)
		b.state.Store(&st)
		g.budgets[p] = b
		g.list = append(g.list, b)
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
	d := g.t.core.today()
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
	return g.budgets[p].used(g.t.core.today()), true
}

// used returns the estimate on day d; see the top of this file.
func (b *budget) used(d day) int64 {
	st := b.state.Load()
	c := b.e.cur.Load()
	if d < st.start || d >= st.end {
		// A new period began since the last refresh: only this tracker's
		// calls of today are known.
		if c != nil && c.k.d == d {
			return c.count()
		}
		return 0
	}
	n := st.base
	if st.cur != nil {
		n += st.cur.count()
	}
	if c != nil && c != st.cur && c.k.d >= st.start && c.k.d < st.end {
		n += c.count() // a cell begun since the refresh
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
	return errors.Join(err, g.publish(ctx))
}

// publishEvery is how often a Guard writes its quotas to Redis again.
const publishEvery = time.Hour

// publish writes the guard's quotas to Redis, so that readers see what it
// enforces (see [Reader.Quotas]): at its first refresh and then once an
// hour, with a TTL of a week that every write renews.
func (g *Guard) publish(ctx context.Context) error {
	now := g.t.cfg.clock()
	if !g.published.IsZero() && now.Sub(g.published) < publishEvery {
		return nil
	}
	args := make([]any, 0, 2*len(g.list))
	for _, b := range g.list {
		args = append(args, string(b.p), SharedQuota{Quota: b.q, At: now}.encode())
	}
	k := quotasKey(g.t.cfg.prefix)
	_, err := g.reader.rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		pipe.HSet(ctx, k, args...)
		pipe.PExpire(ctx, k, quotasTTL)
		return nil
	})
	if err != nil {
		return fmt.Errorf("usage: guard: publish %d quotas: %w", len(g.list), err)
	}
	g.published = now
	return nil
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
// tracker's round lock free between two. A flush round that found the lock
// taken goes first: the refresh waits for the next interval.
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
		if !g.t.w.roundWanted() {
			rctx, cancel := context.WithTimeout(ctx, max(g.cfg.refreshInterval, 5*time.Second))
			if err := g.Refresh(rctx); err != nil && ctx.Err() == nil {
				g.t.report(err)
			}
			cancel()
		}
		wait.Reset(g.cfg.refreshInterval)
	}
}

// refresh sets every budget's state from Redis and this tracker's counts, as
// the top of this file says. A provider whose counters Redis answers with an
// error (a key holding a hash, the server loading) keeps its last view; the
// others go on.
func (g *Guard) refresh(ctx context.Context) error {
	if g.t.core.noClient != nil {
		return g.t.core.noClient
	}
	now := g.t.cfg.clock()
	states := make([]budgetState, len(g.list))
	asks := make([]viewAsk, len(g.list))
	spans := make([]span, len(g.list))
	for i, b := range g.list {
		states[i] = b.q.stateAt(now)
		asks[i] = viewAsk{b.p, b.e, states[i].start, states[i].end}
		spans[i] = span{b.p, states[i].start, min(states[i].end, dayOf(now)+1)}
	}
	var keyErrs []error
	err := g.t.w.withRoundsHeld(ctx, asks, func(views []view) error {
		counts, errs, err := g.reader.readDays(ctx, spans)
		for i, b := range g.list {
			if err == nil && errs[i] != nil {
				keyErrs = append(keyErrs, fmt.Errorf("usage: guard: %w", errs[i]))
			}
			if err != nil || errs[i] != nil {
				continue
			}
			states[i].base = views[i].pending - views[i].curCount
			for _, n := range counts[i] {
				states[i].base += n
			}
			states[i].cur = views[i].cur
			b.state.Store(&states[i])
		}
		return err
	})
	if err != nil && !isContextErr(err) {
		err = fmt.Errorf("usage: guard: read the counters: %w", err)
	}
	return errors.Join(append([]error{err}, keyErrs...)...)
}

// alert fires, once per threshold and period across the fleet, the alerts
// that the current estimates call for: it records each in Redis, for
// [Reader.Alerts], and passes it to the function of WithAlert, if any.
func (g *Guard) alert(ctx context.Context) {
	type claim struct {
		b      *budget
		th     float64
		key    string
		st     *budgetState
		holder *redis.StringCmd
	}
	var claims []claim
	today := g.t.core.today()
	for _, b := range g.list {
		st := b.state.Load()
		used := b.used(today)
		for _, th := range g.cfg.thresholds {
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
	_, err := g.reader.rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
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
		g.record(ctx, c.key, a)
		if g.cfg.onAlert != nil {
			g.cfg.onAlert(a)
		}
	}
}

// record keeps a fired alert in Redis, for [Reader.Alerts]; a failure goes
// to the error handler.
func (g *Guard) record(ctx context.Context, claim string, a Alert) {
	f := FiredAlert{Provider: a.Provider, Quota: a.Quota, Threshold: a.Threshold, Used: a.Used, Resets: a.Resets, At: g.t.cfg.clock().UTC()}
	k := alertsKey(g.t.cfg.prefix)
	_, err := g.reader.rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		pipe.HSet(ctx, k, claim, f.encode())
		pipe.PExpire(ctx, k, alertsTTL)
		return nil
	})
	if err != nil {
		g.t.report(fmt.Errorf("usage: guard: record the alert %s: %w", claim, err))
	}
}

// alertKey names the claim of one threshold of one provider's period. It is
// hash-tagged, so a SCAN of the counters' prefix never lists it.
func alertKey(prefix string, p Provider, start day, th float64) string {
	return "{" + prefix + "}:alert:" + string(p) + ":" + start.time().Format(dayLayout) + ":" +
		strconv.FormatFloat(th*100, 'f', -1, 64)
}
