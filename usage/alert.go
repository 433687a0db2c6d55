package usage

import (
	"fmt"
	"time"
)

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
