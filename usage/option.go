package usage

import (
	"log/slog"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/metric"
)

// Defaults for the options.
const (
	DefaultTTL           = 90 * 24 * time.Hour
	DefaultFlushInterval = time.Second
	DefaultMaxKeys       = 1024
	MinFlushInterval     = time.Millisecond
)

// An Option configures a [Tracker] or a [Reader]. A Reader ignores the
// options that only a Tracker uses. A [Guard] takes a [GuardOption].
type Option interface {
	apply(*config)
}

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

// config holds every setting; newConfig sets the defaults in one place.
type config struct {
	prefix        string
	ttl           time.Duration
	flushInterval time.Duration
	clock         func() time.Time
	customClock   bool // clock came from WithClock
	onError       func(error)
	maxKeys       int
	modelLimit    int
	subjectLimit  int
	prices        Prices

	meterProvider metric.MeterProvider
}

func newConfig(opts []Option) config {
	c := config{
		prefix:        DefaultPrefix,
		ttl:           DefaultTTL,
		flushInterval: DefaultFlushInterval,
		clock:         time.Now,
		maxKeys:       DefaultMaxKeys,
		modelLimit:    DefaultModelLimit,
		subjectLimit:  DefaultSubjectLimit,
		prices:        DefaultPrices(),
	}
	for _, o := range opts {
		if o != nil {
			o.apply(&c)
		}
	}
	if c.onError == nil {
		c.onError = rateLimited(time.Minute, c.clock, func(err error, suppressed int64) {
			slog.Default().Warn("enrichmeter usage tracker", "err", err, "suppressed", suppressed)
		})
	}
	return c
}

// WithTTL sets how long a day's counter lives after its last increment.
// The default is [DefaultTTL], 90 days, as the TypeScript app sets; a
// non-positive d keeps the default, and one above [MaxTTL] is MaxTTL. Redis
// keeps TTLs in whole milliseconds, so d is rounded up to one: a TTL never
// comes out as zero or negative, which would delete the counter.
func WithTTL(d time.Duration) Option {
	return optionFunc(func(c *config) {
		if d > 0 {
			d = min(d, MaxTTL)
			if c.ttl = d.Truncate(time.Millisecond); c.ttl < d {
				c.ttl += time.Millisecond
			}
		}
	})
}

// MaxTTL is the longest TTL [WithTTL] sets: 100 years.
const MaxTTL = 100 * 365 * 24 * time.Hour

// WithPrefix sets the first part of every key, "{prefix}:{provider}:{day}".
// The default is [DefaultPrefix], "api_usage"; an empty prefix keeps the
// default. A prefix may carry a Redis Cluster hash tag such as "{usage}".
func WithPrefix(prefix string) Option {
	return optionFunc(func(c *config) {
		if prefix != "" {
			c.prefix = prefix
		}
	})
}

// WithFlushInterval sets how often the tracker's background flusher sends
// pending counts to Redis. The default is [DefaultFlushInterval], one second;
// a non-positive d keeps the default, and an interval under
// [MinFlushInterval] is raised to it.
func WithFlushInterval(d time.Duration) Option {
	return optionFunc(func(c *config) {
		if d > 0 {
			c.flushInterval = max(d, MinFlushInterval)
		}
	})
}

// WithClock sets the source of the current time, which decides the UTC day a
// call is counted in and, for a [Reader], what "today" is. The default is
// [time.Now]; nil keeps it. The function must be safe for concurrent use. A
// Tracker calls it on every [Tracker.Track], so it should be cheap; with the
// default clock a Tracker reads the time only in the seconds around UTC
// midnight and otherwise takes the day from its flusher goroutine.
func WithClock(now func() time.Time) Option {
	return optionFunc(func(c *config) {
		if now != nil {
			c.clock = now
			c.customClock = true
		}
	})
}

// WithErrorHandler sets the function that receives a tracker's errors that
// have no caller to return to: failed background flushes (each key Redis
// refused as a [*KeyError]) and dropped calls. It is called from a goroutine
// of the tracker's own, one call at a time, never from Track, Add, Flush or
// Close, so a slow handler holds up nothing else; errors that arrive while
// 16 wait for it are left out. The default logs through [slog.Default] at
// warning level, at most once a minute; nil keeps the default.
func WithErrorHandler(h func(error)) Option {
	return optionFunc(func(c *config) {
		if h != nil {
			c.onError = h
		}
	})
}

// WithMaxKeys caps how many distinct (provider, day) keys a tracker holds
// with counts not yet confirmed by Redis. Calls that would need another key
// beyond the cap are dropped and counted in [Stats].Dropped, so memory stays
// bounded whatever providers callers pass and however long Redis is away;
// keys whose counts were all confirmed do not count against it. The default
// is [DefaultMaxKeys]; a non-positive n keeps it.
func WithMaxKeys(n int) Option {
	return optionFunc(func(c *config) {
		if n > 0 {
			c.maxKeys = n
		}
	})
}

// WithPrices sets the prices a [Reader] puts on calls and tokens, for
// [Reader.Spend], [Reader.TopSubjects] and the [Money] counter. The default
// is [DefaultPrices], Anthropic's list prices of [DefaultPricesAsOf] and no
// per-call prices.
func WithPrices(p Prices) Option {
	return optionFunc(func(c *config) { c.prices = p })
}

// WithModelLimit caps how many distinct models a tracker breaks its counts
// down by each UTC day ([Meter.Model]); counts of other models that day go
// to [OtherName]. The default is [DefaultModelLimit], 32; a non-positive n
// keeps it.
func WithModelLimit(n int) Option {
	return optionFunc(func(c *config) {
		if n > 0 {
			c.modelLimit = n
		}
	})
}

// WithSubjectLimit caps how many distinct subjects a tracker breaks its
// counts down by each UTC day ([Meter.For]); counts of other subjects that
// day go to [OtherName]. The default is [DefaultSubjectLimit], 1,000; a
// non-positive n keeps it.
func WithSubjectLimit(n int) Option {
	return optionFunc(func(c *config) {
		if n > 0 {
			c.subjectLimit = n
		}
	})
}

// WithMeterProvider makes a [Tracker] report its own health as
// OpenTelemetry metrics through mp: units tracked, flushed, pending and
// dropped, flushes and their errors by kind, how long flushes take, and the
// lag of the oldest unit not yet confirmed (the metric an alert should
// watch). They are observed when mp collects, from state the tracker keeps
// anyway, so Track costs the same; the names and units are listed in the
// package's metrics.go and in the README. The default is no metrics; nil
// keeps it.
func WithMeterProvider(mp metric.MeterProvider) Option {
	return optionFunc(func(c *config) {
		if mp != nil {
			c.meterProvider = mp
		}
	})
}

// rateLimited returns an error handler that passes at most one error per
// every to emit, with how many it left out since the last.
func rateLimited(every time.Duration, now func() time.Time, emit func(err error, suppressed int64)) func(error) {
	var last atomic.Int64 // unix nanoseconds of the last emitted error
	var skipped atomic.Int64
	return func(err error) {
		t := now().UnixNano()
		prev := last.Load()
		if prev != 0 && t-prev < int64(every) || !last.CompareAndSwap(prev, t) {
			skipped.Add(1)
			return
		}
		emit(err, skipped.Swap(0))
	}
}
