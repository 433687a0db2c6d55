package main

// Where the API Quota Burn card's quotas come from. None is made up: a
// provider's quota is the one -quota sets, else the one the fleet's guards
// share in Redis (usage.Reader.Quotas), read at every load of the page or of
// /api/quota, with the alerts they fired; a provider with neither has no
// quota, and its row says so.

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/enrichmeter/enrichmeter/usage"
)

// quotaFlag is the repeatable -quota flag: provider=limit/day or
// provider=limit/month[@day the month starts], such as apollo=10000/month@15;
// money's limit is in dollars, to the micro-dollar (money=500/month), and
// held in usage.Micros, as usage.Reader.Burn of usage.Money counts it.
type quotaFlag map[usage.Provider]usage.Quota

// quotaSyntax says what -quota takes, for its errors and its usage line.
const quotaSyntax = "provider=limit/day or provider=limit/month[@day it starts, 1 to 31], such as apollo=10000/month@15; money's limit in dollars: money=500/month"

// String returns the quotas as the flag takes them, in provider order.
func (f quotaFlag) String() string {
	parts := make([]string, 0, len(f))
	for _, p := range slices.Sorted(maps.Keys(f)) {
		q := f[p]
		limit := strconv.FormatInt(q.Limit, 10)
		if p == usage.Money {
			limit = decimal(usage.Micros(q.Limit))
		}
		part := fmt.Sprintf("%s=%s/%s", p, limit, q.Period)
		if q.Period == usage.PerMonth {
			part += "@" + strconv.Itoa(max(q.AnchorDay, 1))
		}
		parts = append(parts, part)
	}
	return strings.Join(parts, " ")
}

// Set adds one quota; a provider given twice is an error.
func (f quotaFlag) Set(v string) error {
	p, q, err := parseQuota(v)
	if err != nil {
		return err
	}
	if _, ok := f[p]; ok {
		return fmt.Errorf("%s is given twice", p)
	}
	f[p] = q
	return nil
}

// parseQuota reads one -quota value.
func parseQuota(v string) (usage.Provider, usage.Quota, error) {
	bad := func(format string, args ...any) (usage.Provider, usage.Quota, error) {
		return "", usage.Quota{}, fmt.Errorf("%s: want %s", fmt.Sprintf(format, args...), quotaSyntax)
	}
	name, spec, ok := strings.Cut(v, "=")
	if !ok {
		return bad("no =")
	}
	p := usage.Provider(name)
	if err := p.Validate(); err != nil {
		return bad("%v", err)
	}
	limit, period, ok := strings.Cut(spec, "/")
	if !ok {
		return bad("no /period")
	}
	q := usage.Quota{}
	var err error
	if p == usage.Money {
		m, err := parseDollars(limit)
		if err != nil {
			return bad("money's limit: %v", err)
		}
		q.Limit = int64(m)
	} else if q.Limit, err = strconv.ParseInt(limit, 10, 64); err != nil || q.Limit <= 0 {
		return bad("limit %q is not a positive integer", limit)
	}
	period, anchor, hasAnchor := strings.Cut(period, "@")
	switch period {
	case "day":
		if hasAnchor {
			return bad("a day's quota has no @day")
		}
		q.Period = usage.PerDay
	case "month":
		q.Period, q.AnchorDay = usage.PerMonth, 1
		if hasAnchor {
			if q.AnchorDay, err = strconv.Atoi(anchor); err != nil || q.AnchorDay < 1 || q.AnchorDay > 31 {
				return bad("@%s is not a day of the month, 1 to 31", anchor)
			}
		}
	default:
		return bad("period %q is neither day nor month", period)
	}
	return p, q, nil
}

// Where a quota came from, as /api/quota says it.
const (
	fromGuard = "guard" // the fleet's guards share it in Redis
	fromFlag  = "flag"  // -quota set it
)

// staleAfter is how old a guard's quota is before the page doubts that a
// guard still enforces it: guards write theirs again every hour.
const staleAfter = 2 * time.Hour

// fleet is what the fleet's guards and limiters share in Redis, read once
// per load.
type fleet struct {
	quotas   map[usage.Provider]usage.SharedQuota
	alerts   map[usage.Provider][]usage.FiredAlert // oldest first
	pauses   map[usage.Provider]time.Time          // the limiters' pauses not ended: when each ends
	problems []string                              // shared entries that could not be read, each named
}

// readFleet reads what the fleet's guards and limiters share. An entry that
// cannot be read is left out and named in problems; a read that fails is an
// error.
func (s *server) readFleet(ctx context.Context) (fleet, error) {
	f := fleet{alerts: map[usage.Provider][]usage.FiredAlert{}}
	quotas, err := s.usage.Quotas(ctx)
	if err != nil && !entriesFailed(err) {
		return f, err
	}
	f.quotas, f.problems = quotas, appendProblems(f.problems, err)
	alerts, err := s.usage.Alerts(ctx)
	if err != nil && !entriesFailed(err) {
		return f, err
	}
	f.problems = appendProblems(f.problems, err)
	for _, a := range alerts {
		f.alerts[a.Provider] = append(f.alerts[a.Provider], a)
	}
	pauses, err := s.usage.Pauses(ctx)
	if err != nil && !entriesFailed(err) {
		return f, err
	}
	f.pauses, f.problems = pauses, appendProblems(f.problems, err)
	return f, nil
}

// entriesFailed reports whether err, from Reader.Quotas, Reader.Alerts or
// Reader.Pauses, names entries that could not be read (each a
// *usage.EntryError), the others being returned, rather than the read
// failing.
func entriesFailed(err error) bool {
	var e *usage.EntryError
	return errors.As(err, &e)
}

// appendProblems adds the errors err joins, or err, to problems.
func appendProblems(problems []string, err error) []string {
	if err == nil {
		return problems
	}
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	for _, e := range errs {
		problems = append(problems, e.Error())
	}
	return problems
}

// quotaInfo is a provider's quota in /api/quota and where it came from.
type quotaInfo struct {
	Limit     int64      `json:"limit"`
	Period    string     `json:"period"`              // "day" or "month"
	AnchorDay int        `json:"anchorDay,omitempty"` // the day a month starts, 1 to 31; months only
	Source    string     `json:"source"`              // fromGuard or fromFlag
	At        *time.Time `json:"at,omitempty"`        // a guard's: when one last wrote it
	Overrides *quotaInfo `json:"overrides,omitempty"` // a flag's: the guard's quota it replaces
	quota     usage.Quota
}

func newQuotaInfo(q usage.Quota, source string) *quotaInfo {
	info := &quotaInfo{Limit: q.Limit, Period: q.Period.String(), Source: source, quota: q}
	if q.Period == usage.PerMonth {
		info.AnchorDay = max(q.AnchorDay, 1)
	}
	return info
}

// same reports whether two quotas allow the same calls.
func (info *quotaInfo) same(other *quotaInfo) bool {
	return info.Limit == other.Limit && info.Period == other.Period && info.AnchorDay == other.AnchorDay
}

// quotaOf returns p's quota, or nil: -quota's, else the fleet's.
func (s *server) quotaOf(p usage.Provider, f fleet) *quotaInfo {
	var guard *quotaInfo
	if sq, ok := f.quotas[p]; ok {
		guard = newQuotaInfo(sq.Quota, fromGuard)
		at := sq.At.UTC()
		guard.At = &at
	}
	q, ok := s.flagQuotas[p]
	if !ok {
		return guard
	}
	info := newQuotaInfo(q, fromFlag)
	info.Overrides = guard
	return info
}

// firedAlert is an alert a guard fired, in /api/quota.
type firedAlert struct {
	Threshold float64   `json:"threshold"` // the share crossed: 0.8 for 80 %
	Used      int64     `json:"used"`      // the guard's estimate when it fired
	Limit     int64     `json:"limit"`     // of the quota it was about
	Period    string    `json:"period"`
	At        time.Time `json:"at"`     // when it fired
	Resets    time.Time `json:"resets"` // when the quota's period ends
}

func newFiredAlert(a usage.FiredAlert) firedAlert {
	return firedAlert{
		Threshold: a.Threshold, Used: a.Used, Limit: a.Quota.Limit, Period: a.Quota.Period.String(),
		At: a.At.UTC(), Resets: a.Resets.UTC(),
	}
}
