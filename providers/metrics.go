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
//
// enrichmeter.outcome is the response's class (1xx, 2xx, 3xx, 4xx, 429 apart
// from 4xx, 5xx), error (no response), canceled (the request's context
// ended) or refused (the guard refused it before sending).
//
// Nothing on a request's path locks or calls the meter provider. Requests
// are counted in memory, with one atomic add, and observed when the meter
// provider collects. Reading the clock costs more than the rest of a
// decorator on some machines (about 75 ns on a VM with kvm-clock), so the
// duration is measured for one request in [DefaultLatencySampling], chosen
// at random ([WithLatencySampling] changes that), and kept in a small ring
// (the latest 256 per provider) that the collection drains into the
// histogram.
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
	byProvider map[usage.Provider]*providerMetrics
	sample     uint32 // time a request when rand.Uint32()%sample == 0
	reg        metric.Registration
}

// providerMetrics is one provider's counts in one decorator.
type providerMetrics struct {
	counts   [numOutcomes]atomic.Int64
	samples  latencyRing
	observe  [numOutcomes]metric.ObserveOption
	record   [numOutcomes][]metric.RecordOption
	provider usage.Provider
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
	dm := &decoratorMetrics{byProvider: map[usage.Provider]*providerMetrics{}, sample: uint32(cfg.latencySampling)}
	for _, p := range providers {
		pm := &providerMetrics{provider: p}
		for i, name := range outcomeNames {
			set := attribute.NewSet(attribute.String("enrichmeter.provider", string(p)), attribute.String("enrichmeter.outcome", name))
			pm.observe[i] = metric.WithAttributeSet(set)
			pm.record[i] = []metric.RecordOption{metric.WithAttributeSet(set)}
		}
		dm.byProvider[p] = pm
	}
	reg, err3 := m.RegisterCallback(func(ctx context.Context, o metric.Observer) error {
		for _, pm := range dm.byProvider {
			for i := range pm.counts {
				if n := pm.counts[i].Load(); n > 0 {
					o.ObserveInt64(requests, n, pm.observe[i])
				}
			}
			// The samples go to the histogram now, at collection, so that
			// no request waits on the meter provider's locks.
			pm.samples.drain(func(oc int, d time.Duration) {
				duration.Record(ctx, d.Seconds(), pm.record[oc]...)
			})
		}
		return nil
	}, requests)
	if err := errors.Join(err1, err2, err3); err != nil {
		panic("providers: " + fn + ": metrics: " + err.Error())
	}
	dm.reg = reg
	return dm
}

// start returns the time a request to p starts when it is to be timed, and
// the zero time otherwise.
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
	pm := dm.byProvider[p]
	if pm == nil {
		return
	}
	o := outcomeOf(req, resp, err)
	pm.counts[o].Add(1)
	if !start.IsZero() {
		pm.samples.push(o, time.Since(start))
	}
}

// refused counts a request to p that the guard refused.
func (dm *decoratorMetrics) refused(p usage.Provider) {
	if dm == nil {
		return
	}
	if pm := dm.byProvider[p]; pm != nil {
		pm.counts[outcomeRefused].Add(1)
	}
}
