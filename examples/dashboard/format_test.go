package main

import (
	"testing"
	"time"
)

func TestCount(t *testing.T) {
	cases := []struct {
		n             int64
		commas, count string
	}{
		{0, "0", "0"},
		{999, "999", "999"},
		{2279, "2,279", "2,279"},
		{-2279, "-2,279", "-2,279"},
		{99_999, "99,999", "99,999"},
		{412_499, "412,499", "412 k"},
		{999_499, "999,499", "999 k"},
		{15_412_345, "15,412,345", "15.4 M"},
		{18_000_000, "18,000,000", "18 M"},
	}
	for _, c := range cases {
		if got := commas(c.n); got != c.commas {
			t.Errorf("commas(%d) = %q, want %q", c.n, got, c.commas)
		}
		if got := count(c.n); got != c.count {
			t.Errorf("count(%d) = %q, want %q", c.n, got, c.count)
		}
	}
}

func TestAxisLabel(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 800: "800", 1000: "1k", 1500: "1.5k", 500_000: "500k", 2_500_000: "2.5M"} {
		if got := axisLabel(n); got != want {
			t.Errorf("axisLabel(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestAgoAndWhen(t *testing.T) {
	cases := []struct {
		t         time.Time
		ago, when string
	}{
		{now.Add(10 * time.Second), "just now", "today 12:00 UTC"},
		{now.Add(-59 * time.Second), "just now", "today 11:59 UTC"},
		{now.Add(-3 * time.Minute), "3 min ago", "today 11:57 UTC"},
		{now.Add(-2 * time.Hour), "2 h ago", "today 10:00 UTC"},
		{now.Add(-47 * time.Hour), "47 h ago", "Nov 24"},
		{now.Add(-72 * time.Hour), "3 days ago", "Nov 23"},
		{now.Add(36 * time.Hour), "just now", "Nov 28"},
	}
	for _, c := range cases {
		if got := ago(c.t, now); got != c.ago {
			t.Errorf("ago(%v) = %q, want %q", c.t, got, c.ago)
		}
		if got := when(c.t, now); got != c.when {
			t.Errorf("when(%v) = %q, want %q", c.t, got, c.when)
		}
	}
}

func TestOrdinal(t *testing.T) {
	for n, want := range map[int]string{1: "1st", 2: "2nd", 3: "3rd", 4: "4th", 11: "11th", 12: "12th", 13: "13th", 21: "21st", 22: "22nd", 23: "23rd", 31: "31st"} {
		if got := ordinal(n); got != want {
			t.Errorf("ordinal(%d) = %q, want %q", n, got, want)
		}
	}
}
