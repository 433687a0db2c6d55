package sourcestatus

import (
	"context"
	"errors"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// The Updater's metrics, with [WithMeterProvider]:
//
//	enrichmeter.sourcestatus.updates          counter    {update}  entries written, by enrichmeter.status
//	enrichmeter.sourcestatus.update.errors    counter    {error}   failed updates, by error.type
//	enrichmeter.sourcestatus.update.duration  histogram  s         how long each statement took
//
// enrichmeter.status is pending, complete, failed, circuit_open, skipped or
// other; error.type is invalid_input (refused before any I/O), not_found,
// canceled (the caller's context ended) or database. An Init of n sources
// counts n pending updates.
const meterName = "github.com/enrichmeter/enrichmeter/sourcestatus"

// metricStatuses are the statuses with an attribute value of their own.
var metricStatuses = []Status{Pending, Complete, Failed, CircuitOpen, Skipped}

// Kinds of update errors.
const (
	errInvalidInput = iota
	errNotFound
	errCanceled
	errDatabase
	numErrKinds
)

var errKindNames = [numErrKinds]string{"invalid_input", "not_found", "canceled", "database"}

// metrics is an Updater's instruments; a nil *metrics records nothing.
type metrics struct {
	updates, errs metric.Int64Counter
	duration      metric.Float64Histogram
	statusAttrs   map[Status]metric.MeasurementOption // other statuses use otherAttr
	otherAttr     metric.MeasurementOption
	errAttrs      [numErrKinds]metric.MeasurementOption
}

// newMetrics makes the instruments of mp's meter for this package.
func newMetrics(mp metric.MeterProvider) (*metrics, error) {
	meter := mp.Meter(meterName)
	m := &metrics{statusAttrs: make(map[Status]metric.MeasurementOption, len(metricStatuses))}
	var errs [3]error
	m.updates, errs[0] = meter.Int64Counter("enrichmeter.sourcestatus.updates", metric.WithUnit("{update}"),
		metric.WithDescription("Source status entries written, by status."))
	m.errs, errs[1] = meter.Int64Counter("enrichmeter.sourcestatus.update.errors", metric.WithUnit("{error}"),
		metric.WithDescription("Updates that failed, by kind."))
	m.duration, errs[2] = meter.Float64Histogram("enrichmeter.sourcestatus.update.duration", metric.WithUnit("s"),
		metric.WithDescription("How long each update statement took."))
	if err := errors.Join(errs[:]...); err != nil {
		return nil, err
	}
	for _, s := range metricStatuses {
		m.statusAttrs[s] = metric.WithAttributes(attribute.String("enrichmeter.status", string(s)))
	}
	m.otherAttr = metric.WithAttributes(attribute.String("enrichmeter.status", "other"))
	for i, name := range errKindNames {
		m.errAttrs[i] = metric.WithAttributes(attribute.String("error.type", name))
	}
	return m, nil
}

// invalid counts an update refused before any I/O.
func (m *metrics) invalid(ctx context.Context) {
	if m != nil {
		m.errs.Add(context.WithoutCancel(ctx), 1, m.errAttrs[errInvalidInput])
	}
}

// done counts an update of n entries with status that reached the database
// at start (zero if it never did) and ended with err.
func (m *metrics) done(ctx context.Context, status Status, n int, start time.Time, err error) {
	if m == nil {
		return
	}
	ctx = context.WithoutCancel(ctx)
	if !start.IsZero() {
		m.duration.Record(ctx, time.Since(start).Seconds())
	}
	if err == nil {
		attr, ok := m.statusAttrs[status]
		if !ok {
			attr = m.otherAttr
		}
		m.updates.Add(ctx, int64(n), attr)
		return
	}
	kind := errDatabase
	switch {
	case errors.Is(err, ErrNotFound):
		kind = errNotFound
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		kind = errCanceled
	}
	m.errs.Add(ctx, 1, m.errAttrs[kind])
}
