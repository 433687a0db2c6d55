package usage

import (
	"context"
	"errors"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// The tracker's metrics, with [WithMeterProvider]. All but the flush
// duration are observed when the meter provider collects, from a snapshot
// of state the tracker keeps anyway, so they cost Track nothing:
//
//	enrichmeter.usage.tracked         counter        {unit}   units passed to Track and Add, by enrichmeter.unit
//	enrichmeter.usage.flushed         counter        {unit}   units Redis confirmed, by enrichmeter.unit
//	enrichmeter.usage.pending         updowncounter  {unit}   units not yet confirmed, by enrichmeter.unit
//	enrichmeter.usage.dropped         counter        {unit}   units dropped, by enrichmeter.unit and enrichmeter.drop.reason
//	enrichmeter.usage.flushes         counter        {flush}  rounds that wrote to Redis
//	enrichmeter.usage.flush.errors    counter        {error}  failed writes, by error.type: key, network or timeout
//	enrichmeter.usage.flush.duration  histogram      s        how long each round's write took
//	enrichmeter.usage.lag             gauge          s        age of the oldest unit not yet confirmed
//
// enrichmeter.unit is call for call counters and token for token counters
// (see [Stats]), so calls and tokens are never added together.
// enrichmeter.drop.reason is invalid_provider, bad_amount, closed,
// too_many_keys or no_client.
const meterName = "github.com/enrichmeter/enrichmeter/usage"

// dropReasonNames are the values of enrichmeter.drop.reason, by dropReason.
var dropReasonNames = [numDropReasons]string{"invalid_provider", "bad_amount", "closed", "too_many_keys", "no_client"}

// unitNames are the values of enrichmeter.unit for the classes Stats
// reports.
var unitNames = [...]string{classCalls: "call", classTokens: "token"}

// errKindNames are the values of error.type, by the kinds errKindOf sorts.
var errKindNames = [numErrKinds]string{"key", "network", "timeout"}

// newMetrics makes a tracker's instruments and registers the callback that
// observes them from snap, and returns the function that records each
// round's write time. Errors go to report: metrics never stop counting.
func newMetrics(mp metric.MeterProvider, snap func() snapshot, clock func() time.Time, report func(error)) func(time.Duration) {
	m := mp.Meter(meterName)
	var errs []error
	counter := func(name, unit, desc string) metric.Int64ObservableCounter {
		c, err := m.Int64ObservableCounter(name, metric.WithUnit(unit), metric.WithDescription(desc))
		errs = append(errs, err)
		return c
	}
	tracked := counter("enrichmeter.usage.tracked", "{unit}", "Units passed to Track and Add, by unit: calls or tokens.")
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
	duration, err := m.Float64Histogram("enrichmeter.usage.flush.duration", metric.WithUnit("s"),
		metric.WithDescription("How long each round's write to Redis took."))
	errs = append(errs, err)

	unitAttrs := make([]metric.ObserveOption, len(unitNames))
	var dropAttrs [len(unitNames)][numDropReasons]metric.ObserveOption
	for c, unit := range unitNames {
		u := attribute.String("enrichmeter.unit", unit)
		unitAttrs[c] = metric.WithAttributes(u)
		for i, name := range dropReasonNames {
			dropAttrs[c][i] = metric.WithAttributes(u, attribute.String("enrichmeter.drop.reason", name))
		}
	}
	errAttrs := make([]metric.ObserveOption, numErrKinds)
	for i, name := range errKindNames {
		errAttrs[i] = metric.WithAttributes(attribute.String("error.type", name))
	}
	_, err = m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		s := snap()
		st := statsOf(s)
		units := [len(unitNames)]Units{
			classCalls:  {Tracked: st.Tracked, Flushed: st.Flushed, Pending: st.Pending},
			classTokens: st.Tokens,
		}
		for c, u := range units {
			o.ObserveInt64(tracked, u.Tracked, unitAttrs[c])
			o.ObserveInt64(flushed, u.Flushed, unitAttrs[c])
			o.ObserveInt64(pending, u.Pending, unitAttrs[c])
			for i, n := range s.dropped[c] {
				o.ObserveInt64(dropped, n, dropAttrs[c][i])
			}
		}
		o.ObserveInt64(flushes, s.rounds)
		for i, n := range s.roundErrs {
			o.ObserveInt64(flushErrs, n, errAttrs[i])
		}
		var age time.Duration
		if !s.oldest.IsZero() {
			age = max(clock().Sub(s.oldest), 0)
		}
		o.ObserveFloat64(lag, age.Seconds())
		return nil
	}, tracked, flushed, pending, dropped, flushes, flushErrs, lag)
	errs = append(errs, err)
	if err := errors.Join(errs...); err != nil {
		report(err)
	}
	return func(d time.Duration) { duration.Record(context.Background(), d.Seconds()) }
}
