package usage

import "time"

// Defaults for a [Limiter]'s options.
const (
	DefaultLeaseSpan = 250 * time.Millisecond
	DefaultMaxPause  = 10 * time.Minute
)

// A LimiterOption configures a [Limiter].
type LimiterOption interface {
	applyLimiter(*limiterConfig)
}

type limiterOptionFunc func(*limiterConfig)

func (f limiterOptionFunc) applyLimiter(c *limiterConfig) { f(c) }

// limiterConfig holds a Limiter's settings; newLimiterConfig sets the
// defaults.
type limiterConfig struct {
	fleetSize int
	leaseSpan time.Duration
	maxPause  time.Duration
}

func newLimiterConfig(opts []LimiterOption) limiterConfig {
	c := limiterConfig{fleetSize: 1, leaseSpan: DefaultLeaseSpan, maxPause: DefaultMaxPause}
	for _, o := range opts {
		if o != nil {
			o.applyLimiter(&c)
		}
	}
	return c
}

// WithFleetSize sets how many processes a [Limiter] shares each rate with
// while Redis cannot be reached: each then paces its provider at Rate/n on
// its own. The default is 1, the whole rate, which a fleet of several
// processes passes while Redis is away; a non-positive n keeps it.
func WithFleetSize(n int) LimiterOption {
	return limiterOptionFunc(func(c *limiterConfig) {
		if n > 0 {
			c.fleetSize = n
		}
	})
}

// WithLeaseSpan sets how much of a provider's rate one lease may take, as a
// time: at 10 calls a second a span of 2 s is at most 20 slots. Leases of a
// busy fleet queue behind each other, so a longer span takes fewer leases
// from Redis (a round trip each) and makes a call wait longer for its
// process's turn; a shorter one loses less when a process stops. With 8
// processes calling SEC EDGAR as fast as they may (10 a second), a minute
// of calls on a 2-core VM took 1.9 calls a Redis command with the slowest
// 1 % waiting 1.7 s at 250 ms, 6.0 and 5.7 s at 1 s, 9.2 and 14 s at 2 s
// (BenchmarkFleet); at 1,000 calls a second, 160 to 290 calls a command,
// the slowest 1 % waiting 3 ms. The default is [DefaultLeaseSpan], a
// quarter of a second; a non-positive d keeps it.
func WithLeaseSpan(d time.Duration) LimiterOption {
	return limiterOptionFunc(func(c *limiterConfig) {
		if d > 0 {
			c.leaseSpan = d
		}
	})
}

// WithMaxPause caps a pause ([Limiter.Pause]): a provider's Retry-After of
// days is an error, and holding its calls that long would hide it. The
// default is [DefaultMaxPause], ten minutes (as long as SEC EDGAR blocks an
// IP that passes its rate); a non-positive d keeps it.
func WithMaxPause(d time.Duration) LimiterOption {
	return limiterOptionFunc(func(c *limiterConfig) {
		if d > 0 {
			c.maxPause = d
		}
	})
}
