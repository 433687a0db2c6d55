package main

import (
	"math"
	"time"
)

// A chart is a bar chart of daily counts, laid out for the page's SVG
// template in a viewBox of chartW × chartH units; the page scales it to the
// width of its column.
type chart struct {
	Label               string // what it shows
	W, H                int    // the viewBox
	Left, Right, Bottom int    // the plot's edges
	Bars                []chartBar
	YTicks              []chartTick // the scale's lines, bottom first
	XTicks              []chartTick // dates under some bars
}

type chartBar struct {
	X, Y, W, H float64
	Title      string // "Nov 26: 612 calls"
	Today      bool   // the day is not over yet
}

type chartTick struct {
	X, Y   float64
	Label  string
	Anchor string // SVG text-anchor
}

// The chart's box, in viewBox units, and its plot area inside it.
const (
	chartW, chartH        = 360, 150
	plotLeft, plotRight   = 40, chartW - 24 // room for the last date, centred
	plotTop, plotBottom   = 8, chartH - 22
	plotWidth, plotHeight = plotRight - plotLeft, plotBottom - plotTop
	barGap                = 2 // between bars
	dateEvery             = 7 // a date under every 7th bar, ending today
)

// A scale runs from 0 to Top in steps of Step: round numbers, so that a
// person reads a bar against the lines.
type scale struct{ Top, Step int64 }

// niceScale returns the smallest scale with at most 4 steps of 1, 2, 2.5 or
// 5 times a power of ten (whole numbers) that holds most.
func niceScale(most int64) scale {
	if most <= 0 {
		return scale{Top: 4, Step: 1}
	}
	raw := float64(most) / 4
	pow := math.Pow(10, math.Floor(math.Log10(raw)))
	step := int64(1)
	for _, f := range []float64{1, 2, 2.5, 5, 10} {
		if s := f * pow; s >= raw && s >= 1 && s == math.Trunc(s) { // 2.5 steps only from 25 up
			step = int64(s)
			break
		}
	}
	return scale{Top: (most + step - 1) / step * step, Step: step}
}

// sharedScale returns the scale that holds every count of every series, so
// that their charts compare at a glance.
func sharedScale(series ...[]dayCount) scale {
	var most int64
	for _, days := range series {
		for _, d := range days {
			most = max(most, d.Count)
		}
	}
	return niceScale(most)
}

// newChart lays out days (oldest first, the last one today) on sc; m
// writes the amounts, in the bars' titles and on the scale.
func newChart(label string, m measure, days []dayCount, sc scale) chart {
	c := chart{Label: label, W: chartW, H: chartH, Left: plotLeft, Right: plotRight, Bottom: plotBottom}
	slot := float64(plotWidth) / float64(max(len(days), 1))
	for i, d := range days {
		h := round1(float64(d.Count) / float64(sc.Top) * plotHeight)
		x := plotLeft + float64(i)*slot
		date, _ := time.Parse(time.DateOnly, d.Day)
		bar := chartBar{
			X: round1(x + barGap/2), Y: round1(plotBottom - h), W: round1(slot - barGap), H: h,
			Title: day(date) + ": " + m.exact(d.Count) + " " + m.unit,
			Today: i == len(days)-1,
		}
		if bar.Today {
			bar.Title = day(date) + " (today, so far): " + m.exact(d.Count) + " " + m.unit
		}
		c.Bars = append(c.Bars, bar)
		if (len(days)-1-i)%dateEvery == 0 {
			c.XTicks = append(c.XTicks, chartTick{X: round1(x + slot/2), Y: chartH - 6, Label: day(date), Anchor: "middle"})
		}
	}
	for v := int64(0); v <= sc.Top; v += sc.Step {
		y := round1(plotBottom - float64(v)/float64(sc.Top)*plotHeight)
		c.YTicks = append(c.YTicks, chartTick{X: plotLeft - 5, Y: y, Label: m.axis(v), Anchor: "end"})
	}
	return c
}

func round1(x float64) float64 { return math.Round(x*10) / 10 }
