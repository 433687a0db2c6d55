package usage

import (
	"slices"
	"time"
)

// DefaultRefreshInterval is how often a [Guard] reads the fleet's counts
// unless [WithRefreshInterval] says otherwise.
const DefaultRefreshInterval = time.Second

// DefaultThresholds are the shares of a quota at which a [Guard] fires its
// alert unless [WithAlert] names others: 80 % and 100 %.
var DefaultThresholds = []float64{0.8, 1}

// A GuardOption configures a [Guard].
type GuardOption interface {
	applyGuard(*guardConfig)
}

type guardOptionFunc func(*guardConfig)

func (f guardOptionFunc) applyGuard(c *guardConfig) { f(c) }

// guardConfig holds a Guard's settings; newGuardConfig sets the defaults.
type guardConfig struct {
	refreshInterval time.Duration
	thresholds      []float64
	onAlert         func(Alert)
}

func newGuardConfig(opts []GuardOption) guardConfig {
	c := guardConfig{refreshInterval: DefaultRefreshInterval, thresholds: DefaultThresholds}
	for _, o := range opts {
		if o != nil {
			o.applyGuard(&c)
		}
	}
	return c
}

// WithRefreshInterval sets how often a [Guard] reads the fleet's counts from
// Redis, in one pipelined round trip. The default is
// [DefaultRefreshInterval], one second; a non-positive d keeps the default,
// and an interval under [MinFlushInterval] is raised to it.
func WithRefreshInterval(d time.Duration) GuardOption {
	return guardOptionFunc(func(c *guardConfig) {
		if d > 0 {
			c.refreshInterval = max(d, MinFlushInterval)
		}
	})
}

// WithAlert makes a [Guard] call fire when a provider's use crosses each of
// thresholds, shares of its quota in (0, 1] such as 0.8 for 80 %: once per
// threshold per period across every process sharing the Redis. With no
// thresholds it uses [DefaultThresholds]; a threshold outside (0, 1] makes
// [NewGuard] return an error. Without WithAlert a guard still records the
// alerts of DefaultThresholds in Redis, for [Reader.Alerts], and calls
// nothing; a nil fire keeps that.
func WithAlert(fire func(Alert), thresholds ...float64) GuardOption {
	return guardOptionFunc(func(c *guardConfig) {
		if fire == nil {
			return
		}
		c.onAlert = fire
		if len(thresholds) > 0 {
			c.thresholds = slices.Clone(thresholds)
		}
	})
}
