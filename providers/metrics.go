package providers

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/enrichmeter/enrichmeter/usage"
)

// The decorators' metrics, with [WithMeterProvider]:
//
//	enrichmeter.provider.requests          counter    {request}  requests by enrichmeter.provider and enrichmeter.outcome
//	enrichmeter.provider.request.duration  histogram  s          time to response headers, of a sample of requests
//	enrichmeter.provider.waited            counter    s          time requests waited for the limiter, by enrichmeter.provider
//
// enrichmeter.outcome is the response's class (1xx, 2xx, 3xx, 4xx, 429 apart
// from 4xx, 5xx), error (no response), canceled (the request's context
// ended) or refused (the guard or the limiter refused it before sending).
//
// Nothing on a request's path locks or calls the meter provider. Requests
// are counted in memory, with one atomic add on a counter of the processor
// the request runs on, and observed when the meter provider collects.
// Reading the clock costs more than the rest of a decorator on some
// machines (about 75 ns on a VM with kvm-clock), so the duration is measured
// for one request in [DefaultLatencySampling], chosen at random
// ([WithLatencySampling] changes that), and kept in a small ring (the latest
// 256 per provider) that the collection drains into the histogram.
const meterName = "github.com/enrichmeter/enrichmeter/providers"

// DefaultLatencySampling is how many requests there are for each one whose
// duration is recorded, unless [WithLatencySampling] says otherwise.
const DefaultLatencySampling = 16

// outcome classes, the values of enrichmeter.outcome.
const (
	outcome1xx = iota
	outcome2xx
	outcome3xx
	outcome4xx
	outcome429
	outcome5xx
	outcomeError
	outcomeCanceled
	outcomeRefused
	numOutcomes
)

var outcomeNames = [numOutcomes]string{"1xx", "2xx", "3xx", "4xx", "429", "5xx", "error", "canceled", "refused"}

// outcomeOf classifies a finished round trip.
func outcomeOf(req *http.Request, resp *http.Response, err error) int {
	switch {
	case err != nil && (req.Context().Err() != nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)):
		return outcomeCanceled
	case err != nil || resp == nil:
		return outcomeError
	case resp.StatusCode == http.StatusTooManyRequests:
		return outcome429
	case resp.StatusCode < 200:
		return outcome1xx
	case resp.StatusCode < 300:
		return outcome2xx
	case resp.StatusCode < 400:
		return outcome3xx
	case resp.StatusCode < 500:
		return outcome4xx
	default:
		return outcome5xx
	}
}

// decoratorMetrics is a decorator's instruments and in-memory counts; a nil
// *decoratorMetrics records nothing.
type decoratorMetrics struct {
	providers []*providerMetrics // each provider the decorator counts, once
	sample    uint32             // time a request when rand.Uint32()%sample == 0
	reg       metric.Registration
}

// providerMetrics is one provider's counts in one decorator, spread over
// shards that a sync.Pool hands out per processor, so that requests on
// several cores rarely add to the same cache line; a collection sums them.
// The pool holds only pointers into shards: when a garbage collection
// empties it, its New hands out the shards again, so no count is lost and
// memory stays fixed.
type providerMetrics struct {
	shards   [counterShards]outcomeCounts
	nextNew  atomic.Uint32 // the shard the pool's New hands out next
	local    sync.Pool     // of *outcomeCounts
	samples  latencyRing
	waited   atomic.Int64 // nanoseconds requests waited for the limiter
	waitAttr metric.ObserveOption
	observe  [numOutcomes]metric.ObserveOption
	record   [numOutcomes][]metric.RecordOption
	provider usage.Provider
}

// counterShards is how many copies of its counts a provider keeps.
const counterShards = 8

// outcomeCounts counts requests by outcome, alone on its cache lines.
type outcomeCounts struct {
	n [numOutcomes]atomic.Int64
	_ [(128 - numOutcomes*8%128) % 128]byte
}

// count returns how many requests had outcome o, over all shards.
func (pm *providerMetrics) count(o int) int64 {
	var n int64
	for i := range pm.shards {
		n += pm.shards[i].n[o].Load()
	}
	return n
}

// add counts a request with outcome o in the shard of the processor it runs
// on.
func (pm *providerMetrics) add(o int) {
	c := pm.local.Get().(*outcomeCounts)
	c.n[o].Add(1)
	pm.local.Put(c)
}

// A latencyRing keeps the latest sampled durations until a collection takes
// them; when more come between two collections, the oldest are lost, as a
// sample may lose some.
type latencyRing struct {
	next atomic.Uint64           // how many were pushed
	vals [ringSize]atomic.Uint64 // outcome<<56 | nanoseconds+1; 0 when empty or taken
	mu   sync.Mutex              // protects read: collections may overlap
	read uint64                  // pushes before this were taken
}

const ringSize = 256

// push keeps d, the duration of a request with outcome o.
func (r *latencyRing) push(o int, d time.Duration) {
	i := r.next.Add(1) - 1
	r.vals[i%ringSize].Store(uint64(o)<<56 | uint64(min(max(d, 0), 1<<56-2)) + 1)
}

// drain passes each kept duration to f and forgets it.
func (r *latencyRing) drain(f func(o int, d time.Duration)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	end := r.next.Load()
	for i := max(r.read, end-min(end, ringSize)); i < end; i++ {
		if v := r.vals[i%ringSize].Swap(0); v != 0 {
			f(int(v>>56), time.Duration(v&(1<<56-1)-1))
		}
	}
	r.read = end
}

// newDecoratorMetrics makes the instruments for the providers a decorator
// counts, or returns nil without a meter provider.
func newDecoratorMetrics(fn string, cfg config, providers []usage.Provider) *decoratorMetrics {
	if cfg.meterProvider == nil {
		return nil
	}
	m := cfg.meterProvider.Meter(meterName)
	requests, err1 := m.Int64ObservableCounter("enrichmeter.provider.requests", metric.WithUnit("{request}"),
		metric.WithDescription("Requests to paid API providers, by provider and outcome."))
	duration, err2 := m.Float64Histogram("enrichmeter.provider.request.duration", metric.WithUnit("s"),
		metric.WithDescription("Time to response headers of a sample of requests, by provider and outcome."))
	waited, err4 := m.Float64ObservableCounter("enrichmeter.provider.waited", metric.WithUnit("s"),
		metric.WithDescription("Time requests waited for the limiter before they were sent, by provider."))
	dm := &decoratorMetrics{sample: uint32(cfg.latencySampling)}
	for _, p := range providers {
		if dm.of(p) != nil {
			continue
		}
		pm := &providerMetrics{provider: p, waitAttr: metric.WithAttributes(attribute.String("enrichmeter.provider", string(p)))}
		pm.local.New = func() any { return &pm.shards[pm.nextNew.Add(1)%counterShards] }
		for i, name := range outcomeNames {
			set := attribute.NewSet(attribute.String("enrichmeter.provider", string(p)), attribute.String("enrichmeter.outcome", name))
			pm.observe[i] = metric.WithAttributeSet(set)
			pm.record[i] = []metric.RecordOption{metric.WithAttributeSet(set)}
		}
		dm.providers = append(dm.providers, pm)
	}
	reg, err3 := m.RegisterCallback(func(ctx context.Context, o metric.Observer) error {
		for _, pm := range dm.providers {
			for i := range numOutcomes {
				if n := pm.count(i); n > 0 {
					o.ObserveInt64(requests, n, pm.observe[i])
				}
			}
			if cfg.pacer != nil {
				o.ObserveFloat64(waited, time.Duration(pm.waited.Load()).Seconds(), pm.waitAttr)
			}
			// The samples go to the histogram now, at collection, so that
			// no request waits on the meter provider's locks.
			pm.samples.drain(func(oc int, d time.Duration) {
				duration.Record(ctx, d.Seconds(), pm.record[oc]...)
			})
		}
		return nil
	}, requests, waited)
	if err := errors.Join(err1, err2, err3, err4); err != nil {
		panic("providers: " + fn + ": metrics: " + err.Error())
	}
	dm.reg = reg
	return dm
}

// of returns p's metrics, or nil if the decorator does not count p. A
// decorator counts a few providers: a scan of them costs less than hashing
// the name.
func (dm *decoratorMetrics) of(p usage.Provider) *providerMetrics {
	for _, pm := range dm.providers {
		if pm.provider == p {
			return pm
		}
	}
	return nil
}

// start returns the time a request starts when it is one of those timed,
// chosen at random, and the zero time otherwise.
func (dm *decoratorMetrics) start() time.Time {
	if dm == nil || rand.Uint32()%dm.sample != 0 {
		return time.Time{}
	}
	return time.Now()
}

// done counts a round trip to p that started at start (zero: not timed).
func (dm *decoratorMetrics) done(p usage.Provider, req *http.Request, resp *http.Response, err error, start time.Time) {
	if dm == nil {
		return
	}
	pm := dm.of(p)
	if pm == nil {
		return
	}
	o := outcomeOf(req, resp, err)
	pm.add(o)
	if !start.IsZero() {
		pm.samples.push(o, time.Since(start))
	}
}

// waited adds d to the time requests to p waited for the limiter.
func (dm *decoratorMetrics) waited(p usage.Provider, d time.Duration) {
	if dm == nil {
		return
	}
	if pm := dm.of(p); pm != nil {
		pm.waited.Add(int64(d))
	}
}

// refused counts a request to p that the guard or the limiter refused.
func (dm *decoratorMetrics) refused(p usage.Provider) {
	if dm == nil {
		return
	}
	if pm := dm.of(p); pm != nil {
		pm.add(outcomeRefused)
	}
}
