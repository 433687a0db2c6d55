package usage

// What a Guard shares with readers: the quotas it enforces and the alerts it
// fired, each in a hash beside the counters, so that a dashboard shows the
// quotas the fleet enforces rather than ones of its own.

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"
)

// How long Redis keeps what guards share after their last write: the
// quotas a week (guards write them again every hour), the alerts 40 days,
// longer than any period and the day after it.
const (
	quotasTTL = 7 * 24 * time.Hour
	alertsTTL = 40 * 24 * time.Hour
)

// quotasKey names the hash of the quotas guards enforce, a field a
// provider: "{api_usage}:quotas". It is hash-tagged, so a SCAN of the
// counters' prefix never lists it.
func quotasKey(prefix string) string { return "{" + prefix + "}:quotas" }

// alertsKey names the hash of the alerts guards fired, a field each, named
// as the alert's claim: "{api_usage}:alerts".
func alertsKey(prefix string) string { return "{" + prefix + "}:alerts" }

// A SharedQuota is a quota as a [Guard] wrote it to Redis: what the fleet
// enforces for a provider, and when a guard last said so.
type SharedQuota struct {
	Quota
	At time.Time // when a guard last wrote it
}

// quotaJSON is a shared quota in Redis: {"limit":1000,"period":"month",
// "anchorDay":1,"at":"2026-11-26T03:15:03Z"}.
type quotaJSON struct {
	Limit     int64     `json:"limit"`
	Period    string    `json:"period"`
	AnchorDay int       `json:"anchorDay,omitempty"`
	At        time.Time `json:"at"`
}

func (s SharedQuota) encode() string {
	b, _ := json.Marshal(quotaJSON{s.Limit, s.Period.String(), s.AnchorDay, s.At.UTC()}) // cannot fail
	return string(b)
}

func (j quotaJSON) decode() (SharedQuota, error) {
	q := Quota{Limit: j.Limit, AnchorDay: j.AnchorDay}
	switch j.Period {
	case "day":
		q.Period = PerDay
	case "month":
		q.Period = PerMonth
	default:
		return SharedQuota{}, fmt.Errorf("period %q is neither day nor month", j.Period)
	}
	if err := q.validate(); err != nil {
		return SharedQuota{}, err
	}
	return SharedQuota{Quota: q, At: j.At}, nil
}

// A FiredAlert is an alert as the [Guard] that fired it recorded it in
// Redis.
type FiredAlert struct {
	Provider  Provider
	Quota     Quota
	Threshold float64   // the share crossed, such as 0.8
	Used      int64     // the guard's estimate when it fired
	Resets    time.Time // when the period ends
	At        time.Time // when it fired
}

// alertJSON is a fired alert in Redis.
type alertJSON struct {
	Provider  Provider  `json:"provider"`
	Quota     quotaJSON `json:"quota"`
	Threshold float64   `json:"threshold"`
	Used      int64     `json:"used"`
	Resets    time.Time `json:"resets"`
	At        time.Time `json:"at"`
}

func (a FiredAlert) encode() string {
	q := quotaJSON{a.Quota.Limit, a.Quota.Period.String(), a.Quota.AnchorDay, time.Time{}}
	b, _ := json.Marshal(alertJSON{a.Provider, q, a.Threshold, a.Used, a.Resets.UTC(), a.At.UTC()}) // cannot fail
	return string(b)
}

// Quotas returns the quotas that guards sharing this Redis enforce, by
// provider, as the last guard to write each wrote it (see [NewGuard]):
// empty when no guard has run in the last week. A malformed entry is left
// out and named in an [*EntryError]; the others are returned.
func (r *Reader) Quotas(ctx context.Context) (map[Provider]SharedQuota, error) {
	key := quotasKey(r.cfg.prefix)
	fields, err := r.hash(ctx, "quotas", key)
	if err != nil {
		return nil, err
	}
	out := make(map[Provider]SharedQuota, len(fields))
	var errs []error
	for _, p := range slices.Sorted(maps.Keys(fields)) {
		var j quotaJSON
		err := json.Unmarshal([]byte(fields[p]), &j)
		var q SharedQuota
		if err == nil {
			q, err = j.decode()
		}
		if err == nil {
			err = Provider(p).Validate()
		}
		if err != nil {
			errs = append(errs, &EntryError{key, p, err})
			continue
		}
		out[Provider(p)] = q
	}
	return out, errors.Join(errs...)
}

// Alerts returns the alerts guards fired whose period has not ended by the
// reader's now, oldest first (the lower threshold first at one time). A
// malformed entry is left out and named in an [*EntryError]; the others are
// returned.
func (r *Reader) Alerts(ctx context.Context) ([]FiredAlert, error) {
	key := alertsKey(r.cfg.prefix)
	fields, err := r.hash(ctx, "alerts", key)
	if err != nil {
		return nil, err
	}
	now := r.cfg.clock()
	var out []FiredAlert
	var errs []error
	for _, k := range slices.Sorted(maps.Keys(fields)) {
		var j alertJSON
		err := json.Unmarshal([]byte(fields[k]), &j)
		var q SharedQuota
		if err == nil {
			q, err = j.Quota.decode()
		}
		if err != nil {
			errs = append(errs, &EntryError{key, k, err})
			continue
		}
		if j.Resets.After(now) {
			out = append(out, FiredAlert{j.Provider, q.Quota, j.Threshold, j.Used, j.Resets, j.At})
		}
	}
	slices.SortFunc(out, func(a, b FiredAlert) int {
		if c := a.At.Compare(b.At); c != 0 {
			return c
		}
		return cmp.Compare(a.Threshold, b.Threshold)
	})
	return out, errors.Join(errs...)
}
