package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/enrichmeter/enrichmeter/usage"
)

// commas writes n with thousands separators: 2279 as "2,279".
func commas(n int64) string {
	s := strconv.FormatInt(n, 10)
	sign := ""
	if n < 0 {
		sign, s = "-", s[1:]
	}
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return sign + b.String()
}

// count writes an amount for a person: exactly with separators below
// 100,000, and in three significant figures with k or M above, as token
// counts are (13.5 M). The exact figure goes in a title beside it.
func count(n int64) string {
	switch a := max(n, -n); {
	case a < 100_000:
		return commas(n)
	case a < 1_000_000:
		return strconv.FormatInt((n+500)/1000, 10) + " k"
	default:
		return strconv.FormatFloat(float64(n)/1e6, 'g', 3, 64) + " M"
	}
}

// axisLabel writes a chart's tick value in a few characters: 250, 1.5k, 2M.
func axisLabel(n int64) string {
	switch {
	case n < 1000:
		return strconv.FormatInt(n, 10)
	case n < 1_000_000:
		return strconv.FormatFloat(float64(n)/1e3, 'f', -1, 64) + "k"
	default:
		return strconv.FormatFloat(float64(n)/1e6, 'f', -1, 64) + "M"
	}
}

// ordinal writes a day of the month: "1st", "2nd", "15th", "23rd".
func ordinal(n int) string {
	suffix := "th"
	switch {
	case n%100 >= 11 && n%100 <= 13:
	case n%10 == 1:
		suffix = "st"
	case n%10 == 2:
		suffix = "nd"
	case n%10 == 3:
		suffix = "rd"
	}
	return strconv.Itoa(n) + suffix
}

// day writes a UTC date as "Nov 26".
func day(t time.Time) string { return t.UTC().Format("Jan 2") }

// exact writes a time to the second, for a hover: "2026-11-26 03:15:03 UTC".
func exact(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") }

// when writes a time after now for a person: "today 21:40 UTC", or its
// date on a later day: "Dec 3".
func when(t, now time.Time) string {
	if t.UTC().Truncate(24 * time.Hour).Equal(now.UTC().Truncate(24 * time.Hour)) {
		return t.UTC().Format("today 15:04 UTC")
	}
	return day(t)
}

// ago writes how long before now t was: "just now", "3 min ago", "2 h ago",
// "4 days ago".
func ago(t, now time.Time) string {
	d := now.Sub(t)
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return fmt.Sprintf("%d min ago", int(d/time.Minute))
	case d < 48*time.Hour:
		return fmt.Sprintf("%d h ago", int(d/time.Hour))
	default:
		return fmt.Sprintf("%d days ago", int(d/(24*time.Hour)))
	}
}

// dollars writes an amount of money for a person, to the cent, halves
// rounded up: "$3.70", "$1,234.57"; "< $0.01" for a positive amount that
// rounds to none. The exact amount (usage.Micros.String) goes in a title
// beside it.
func dollars(m usage.Micros) string {
	sign := ""
	if m < 0 {
		sign, m = "-", -m
	}
	cents := (int64(m) + 5_000) / 10_000
	if cents == 0 && m > 0 {
		return "< $0.01"
	}
	return fmt.Sprintf("%s$%s.%02d", sign, commas(cents/100), cents%100)
}

// price writes a price exactly, with no zeros past the cents: "$3",
// "$0.30", "$0.0125", "$1,000".
func price(m usage.Micros) string {
	whole, frac, _ := strings.Cut(decimal(m), ".")
	n, _ := strconv.ParseInt(whole, 10, 64)
	if frac != "" && len(frac) < 2 {
		frac += "0"
	}
	if frac != "" {
		frac = "." + frac
	}
	return "$" + commas(n) + frac
}

// decimal writes a positive amount exactly in dollars, as the flags take
// it: "1000", "0.3", "0.0125".
func decimal(m usage.Micros) string {
	s := strconv.FormatInt(int64(m/usage.Dollar), 10)
	if frac := strings.TrimRight(fmt.Sprintf("%06d", int64(m%usage.Dollar)), "0"); frac != "" {
		s += "." + frac
	}
	return s
}

// moneyAxis writes a chart's tick of money, in micro-dollars, in a few
// characters: $0, $2.5, $1.5k.
func moneyAxis(m int64) string {
	d := float64(m) / float64(usage.Dollar)
	if d < 1000 {
		return "$" + strconv.FormatFloat(d, 'f', -1, 64)
	}
	return "$" + strconv.FormatFloat(d/1000, 'f', -1, 64) + "k"
}

// atSecond writes a time after now to the second: "14:03:12 UTC" today, "Nov
// 27 00:01:00 UTC" on a later day.
func atSecond(t, now time.Time) string {
	if t.UTC().Truncate(24 * time.Hour).Equal(now.UTC().Truncate(24 * time.Hour)) {
		return t.UTC().Format("15:04:05 UTC")
	}
	return t.UTC().Format("Jan 2 15:04:05 UTC")
}

// until writes how long after now t is, to the second under an hour: "in
// 40 s", "in 1 min 40 s", "in 2 min", "in 1 h 5 min".
func until(t, now time.Time) string {
	d := t.Sub(now).Round(time.Second)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("in %d s", max(int(d/time.Second), 0))
	case d < time.Hour:
		s := fmt.Sprintf("in %d min", int(d/time.Minute))
		if sec := int(d % time.Minute / time.Second); sec > 0 {
			s += fmt.Sprintf(" %d s", sec)
		}
		return s
	}
	s := fmt.Sprintf("in %d h", int(d/time.Hour))
	if m := int(d % time.Hour / time.Minute); m > 0 {
		s += fmt.Sprintf(" %d min", m)
	}
	return s
}
