package usage

import (
	"context"
	"errors"
	"net"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// The tracker's metrics, with [WithMeterProvider]. All but the flush
// duration are observed when the meter provider collects, from state the
// tracker keeps anyway, so they cost Track nothing:
//
//	enrichmeter.usage.tracked         counter        {unit}   units passed to Track and Add
//	enrichmeter.usage.flushed         counter        {unit}   units Redis confirmed
//	enrichmeter.usage.pending         updowncounter  {unit}   units not yet confirmed
//	enrichmeter.usage.dropped         counter        {unit}   units dropped, by enrichmeter.drop.reason
//	enrichmeter.usage.flushes         counter        {flush}  rounds that wrote to Redis
//	enrichmeter.usage.flush.errors    counter        {error}  failed writes, by error.type: key, network or timeout
//	enrichmeter.usage.flush.duration  histogram      s        how long each round's write took
//	enrichmeter.usage.lag             gauge          s        age of the oldest unit not yet confirmed
//
// A unit is a call for call counters and a token for token counters.
// enrichmeter.drop.reason is invalid_provider, bad_amount, closed,
// too_many_keys or no_client.
const meterName = "github.com/enrichmeter/enrichmeter/usage"

// dropReasonNames are the values of enrichmeter.drop.reason, by dropReason.
var dropReasonNames = [numDropReasons]string{"invalid_provider", "bad_amount", "closed", "too_many_keys", "no_client"}

// Kinds of flush errors, the values of error.type.
const (
	errKey = iota
	errNetwork
	errTimeout
	numErrKinds
)

var errKindNames = [numErrKinds]string{"key", "network", "timeout"}

// metrics is a tracker's instruments, nil without WithMeterProvider.
type metrics struct {
	duration metric.Float64Histogram
	reg      metric.Registration
}

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

// newMetrics makes t's instruments and registers the callback that observes
// them. Errors go to the error handler: metrics never stop counting.
func newMetrics(t *Tracker, mp metric.MeterProvider) *metrics {
	m := mp.Meter(meterName)
	var errs []error
	counter := func(name, unit, desc string) metric.Int64ObservableCounter {
		c, err := m.Int64ObservableCounter(name, metric.WithUnit(unit), metric.WithDescription(desc))
		errs = append(errs, err)
		return c
	}
	tracked := counter("enrichmeter.usage.tracked", "{unit}", "Units passed to Track and Add: calls, or tokens for token counters.")
	flushed := counter("enrichmeter.usage.flushed", "{unit}", "Units Redis confirmed.")
	dropped := counter("enrichmeter.usage.dropped", "{unit}", "Units not counted, by reason.")
	flushes := counter("enrichmeter.usage.flushes", "{flush}", "Rounds that wrote to Redis.")
	flushErrs := counter("enrichmeter.usage.flush.errors", "{error}", "Failed writes, by kind: a key Redis refused, the network, or a timeout.")
	pending, err := m.Int64ObservableUpDownCounter("enrichmeter.usage.pending", metric.WithUnit("{unit}"),
		metric.WithDescription("Units counted but not yet confirmed by Redis."))
	errs = append(errs, err)
	lag, err := m.Float64ObservableGauge("enrichmeter.usage.lag", metric.WithUnit("s"),
		metric.WithDescription("Age of the oldest unit not yet confirmed by Redis; 0 when none is pending."))
	errs = append(errs, err)
	out := &metrics{}
	out.duration, err = m.Float64Histogram("enrichmeter.usage.flush.duration", metric.WithUnit("s"),
		metric.WithDescription("How long each round's write to Redis took."))
	errs = append(errs, err)

	dropAttrs := make([]metric.ObserveOption, numDropReasons)
	for i, name := range dropReasonNames {
		dropAttrs[i] = metric.WithAttributes(attribute.String("enrichmeter.drop.reason", name))
	}
	errAttrs := make([]metric.ObserveOption, numErrKinds)
	for i, name := range errKindNames {
		errAttrs[i] = metric.WithAttributes(attribute.String("error.type", name))
	}
	out.reg, err = m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		h := t.health()
		o.ObserveInt64(tracked, h.stats.Tracked)
		o.ObserveInt64(flushed, h.stats.Flushed)
		o.ObserveInt64(pending, h.stats.Pending)
		for i := range h.dropped {
			o.ObserveInt64(dropped, h.dropped[i], dropAttrs[i])
		}
		o.ObserveInt64(flushes, h.rounds)
		for i := range h.roundErrs {
			o.ObserveInt64(flushErrs, h.roundErrs[i], errAttrs[i])
		}
		o.ObserveFloat64(lag, h.lag.Seconds())
		return nil
	}, tracked, flushed, pending, dropped, flushes, flushErrs, lag)
	errs = append(errs, err)
	if err := errors.Join(errs...); err != nil {
		t.report(err)
	}
	return out
}

// health is what the metrics observe.
type health struct {
	stats     Stats
	dropped   [numDropReasons]int64
	rounds    int64
	roundErrs [numErrKinds]int64
	lag       time.Duration
}

// health returns a snapshot of the tracker's state for the metrics.
func (t *Tracker) health() health {
	var h health
	h.stats = t.Stats()
	for i := range h.dropped {
		h.dropped[i] = t.dropped[i].Load()
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	h.rounds, h.roundErrs = t.rounds, t.roundErrs
	now := t.cfg.clock()
	var oldest time.Time
	for _, s := range t.slots {
		since := s.since
		if since.IsZero() && !s.retired && s.count() > s.taken {
			since = t.lastTake // counted since the last take, not yet taken
		}
		if !since.IsZero() && (oldest.IsZero() || since.Before(oldest)) {
			oldest = since
		}
	}
	if !oldest.IsZero() {
		h.lag = max(now.Sub(oldest), 0)
	}
	return h
}

// recordRound records a round's outcome for the metrics. It requires t.mu
// held.
func (t *Tracker) recordRoundLocked(errs []error) {
	t.rounds++
	for _, err := range errs {
		t.roundErrs[errKindOf(err)]++
	}
}
