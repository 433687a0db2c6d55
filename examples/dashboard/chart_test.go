package main

import (
	"fmt"
	"testing"
)

func TestNiceScale(t *testing.T) {
	cases := []struct {
		most int64
		want scale
	}{
		{0, scale{4, 1}},
		{3, scale{3, 1}},
		{10, scale{10, 5}},
		{799, scale{800, 200}},
		{812, scale{1000, 250}},
		{1_912_000, scale{2_000_000, 500_000}},
	}
	for _, c := range cases {
		if got := niceScale(c.most); got != c.want {
			t.Errorf("niceScale(%d) = %+v, want %+v", c.most, got, c.want)
		}
	}
}

// TestChartsShareAScale draws two series on their shared scale: the taller
// one's highest bar fills the plot, and the other's bars are as tall as
// their counts on the same scale, with the same lines and labels.
func TestChartsShareAScale(t *testing.T) {
	var big, small []dayCount
	for i := range 30 {
		d := fmt.Sprintf("2026-11-%02d", i+1)
		big = append(big, dayCount{d, int64(i * 30)}) // up to 870
		small = append(small, dayCount{d, 100})
	}
	sc := sharedScale(big, small)
	if sc != (scale{1000, 250}) {
		t.Fatalf("sharedScale = %+v, want 0 to 1000 by 250", sc)
	}
	a, b := newChart("big", counted("calls"), big, sc), newChart("small", counted("calls"), small, sc)
	if h := a.Bars[29].H; h != round1(870.0/1000*plotHeight) {
		t.Errorf("870 of 1000 is %v high, want %v", h, round1(870.0/1000*plotHeight))
	}
	if h := b.Bars[0].H; h != round1(0.1*plotHeight) {
		t.Errorf("100 of 1000 is %v high, want %v", h, round1(0.1*plotHeight))
	}
	if fmt.Sprint(a.YTicks) != fmt.Sprint(b.YTicks) || len(a.YTicks) != 5 || a.YTicks[4].Label != "1k" || a.YTicks[4].Y != plotTop {
		t.Errorf("y ticks %+v and %+v, want the same five up to 1k at the top", a.YTicks, b.YTicks)
	}
	// A date under every 7th bar, counting back from today's.
	var dates []string
	for _, x := range a.XTicks {
		dates = append(dates, x.Label)
	}
	if fmt.Sprint(dates) != "[Nov 2 Nov 9 Nov 16 Nov 23 Nov 30]" {
		t.Errorf("dates %v, want Nov 2 to Nov 30 by 7 days", dates)
	}
	last := a.Bars[29]
	if !last.Today || last.Title != "Nov 30 (today, so far): 870 calls" || a.Bars[0].Title != "Nov 1: 0 calls" {
		t.Errorf("bar titles %q, %q", a.Bars[0].Title, last.Title)
	}
	if right := last.X + last.W; right > plotRight || a.XTicks[4].X > plotRight {
		t.Errorf("the last bar ends at %v and its date is at %v, past the plot's edge %v", right, a.XTicks[4].X, plotRight)
	}
}
