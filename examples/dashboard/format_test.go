package main

import (
	"testing"
	"time"

	"github.com/enrichmeter/enrichmeter/usage"
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

func TestDollars(t *testing.T) {
	cases := []struct {
		m              usage.Micros
		dollars, price string
	}{
		{3_703_701, "$3.70", "$3.703701"},
		{3_705_000, "$3.71", "$3.705"}, // halves up
		{8_088_886, "$8.09", "$8.088886"},
		{1_234_567_890, "$1,234.57", "$1,234.56789"},
		{12_500, "$0.01", "$0.0125"},
		{4_999, "< $0.01", "$0.004999"},
		{0, "$0.00", "$0"},
		{300_000, "$0.30", "$0.30"},
		{3 * usage.Dollar, "$3.00", "$3"},
		{-1_500_000, "-$1.50", ""},
	}
	for _, c := range cases {
		if got := dollars(c.m); got != c.dollars {
			t.Errorf("dollars(%d) = %q, want %q", c.m, got, c.dollars)
		}
		if got := price(c.m); c.price != "" && got != c.price {
			t.Errorf("price(%d) = %q, want %q", c.m, got, c.price)
		}
	}
	for m, want := range map[usage.Micros]string{12_500: "0.0125", 500 * usage.Dollar: "500", 499_990_000: "499.99", 1_000_000_001: "1000.000001"} {
		got := decimal(m)
		if back, err := parseDollars(got); got != want || err != nil || back != m {
			t.Errorf("decimal(%d) = %q, read back as %d, %v; want %q", m, got, back, err, want)
		}
	}
	for m, want := range map[int64]string{0: "$0", 2_500_000: "$2.5", 10_000_000: "$10", 1_500_000_000: "$1.5k"} {
		if got := moneyAxis(m); got != want {
			t.Errorf("moneyAxis(%d) = %q, want %q", m, got, want)
		}
	}
}

func TestUntil(t *testing.T) {
	cases := []struct {
		d             time.Duration
		until, second string
	}{
		{100 * time.Second, "in 1 min 40 s", "12:01:40 UTC"},
		{2 * time.Minute, "in 2 min", "12:02:00 UTC"},
		{40*time.Second + 400*time.Millisecond, "in 40 s", "12:00:40 UTC"},
		{65 * time.Minute, "in 1 h 5 min", "13:05:00 UTC"},
		{12*time.Hour + time.Second, "in 12 h", "Nov 27 00:00:01 UTC"},
		{-time.Second, "in 0 s", "11:59:59 UTC"},
	}
	for _, c := range cases {
		if got := until(now.Add(c.d), now); got != c.until {
			t.Errorf("until(now + %v) = %q, want %q", c.d, got, c.until)
		}
		if got := atSecond(now.Add(c.d), now); got != c.second {
			t.Errorf("atSecond(now + %v) = %q, want %q", c.d, got, c.second)
		}
	}
}
