package main

import (
	"bufio"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"time"
)

// Sample is the emulator's counters at one moment of a run.
type Sample struct {
	// At is the time since the run started.
	At time.Duration
	// Accounts counts the accounts whose tags were removed so far.
	Accounts int64
	// Calls counts the calls the emulator received so far (rate-limited and
	// failed ones included).
	Calls int64
}

// Plot is what [WriteSVG] draws: accounts removed over time against the
// quota line, and calls per second against the call quota.
type Plot struct {
	// Title and Subtitle are drawn above the plot.
	Title, Subtitle string
	// Samples are the counters over time, in order of At.
	Samples []Sample
	// Quota is the most accounts per second the API allows (the quota line).
	Quota float64
	// CallQuota is the most calls per second the API allows.
	CallQuota float64
	// Window is the span over which calls per second are counted (one
	// second, as the quota is); default one second.
	Window time.Duration
}

// Layout of the drawing, in SVG user units.
const (
	svgWidth     = 860
	svgHeight    = 600
	marginLeft   = 80
	marginRight  = 30
	topPanelY    = 60  // top of the accounts panel
	topPanelH    = 300 // height of the accounts panel
	bottomPanelY = 420 // top of the calls panel
	bottomPanelH = 120
)

// CallRates returns the calls per second at each sample: the calls of the
// window before it (or since the start, for samples earlier than the window),
// divided by that span.
func CallRates(samples []Sample, window time.Duration) []float64 {
	rates := make([]float64, len(samples))
	j := 0
	for i, s := range samples {
		for j < i && samples[j+1].At <= s.At-window {
			j++
		}
		from := Sample{}
		if s.At >= window {
			from = samples[j]
		}
		if span := (s.At - from.At).Seconds(); span > 0 {
			rates[i] = float64(s.Calls-from.Calls) / span
		}
	}
	return rates
}

// niceCeil returns the axis top for values up to v and its tick step: the
// step is the smallest of {1, 2, 2.5, 5}·10^k that divides v into at most 8
// parts, the top the first multiple of the step at least v.
func niceCeil(v float64) (top, step float64) {
	if v <= 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return 1, 0.2
	}
	p := math.Pow(10, math.Floor(math.Log10(v/8)))
	step = 10 * p
	for _, m := range []float64{1, 2, 2.5, 5} {
		if m*p*8 >= v*(1-1e-9) {
			step = m * p
			break
		}
	}
	return math.Ceil(v/step*(1-1e-9)) * step, step
}

// WriteSVG draws p as a standalone SVG document.
func WriteSVG(w io.Writer, p Plot) error {
	if len(p.Samples) == 0 {
		return errors.New("plot: no samples")
	}
	if p.Quota <= 0 || p.CallQuota <= 0 {
		return fmt.Errorf("plot: quotas must be positive (accounts %g/s, calls %g/s)", p.Quota, p.CallQuota)
	}
	if p.Window <= 0 {
		p.Window = time.Second
	}
	last := p.Samples[len(p.Samples)-1]
	tMax, tStep := niceCeil(max(last.At.Seconds(), float64(last.Accounts)/p.Quota, 0.1))
	aMax, aStep := niceCeil(max(float64(last.Accounts), 1))
	rates := CallRates(p.Samples, p.Window)
	rMax, rStep := niceCeil(max(slicesMax(rates), p.CallQuota) * 1.2)

	plotW := float64(svgWidth - marginLeft - marginRight)
	x := func(t float64) float64 { return marginLeft + t/tMax*plotW }
	yTop := func(a float64) float64 { return topPanelY + topPanelH - a/aMax*topPanelH }
	yBottom := func(r float64) float64 { return bottomPanelY + bottomPanelH - r/rMax*bottomPanelH }

	b := bufio.NewWriter(w)
	pf := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	pf(`<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n",
		svgWidth, svgHeight, svgWidth, svgHeight)
	pf(`<rect width="100%%" height="100%%" fill="white"/>` + "\n")
	pf(`<text x="%d" y="26" font-size="16" font-weight="bold">%s</text>`+"\n", marginLeft, escape(p.Title))
	pf(`<text x="%d" y="46">%s</text>`+"\n", marginLeft, escape(p.Subtitle))

	// Accounts panel: grid, axes, quota line, the run.
	axes(b, x, yTop, tMax, tStep, aMax, aStep, topPanelY, topPanelH, "accounts removed")
	pf(`<polyline fill="none" stroke="#1f77b4" stroke-width="3" points="%.1f,%.1f`, x(0), yTop(0))
	for _, s := range p.Samples {
		pf(" %.1f,%.1f", x(s.At.Seconds()), yTop(float64(s.Accounts)))
	}
	pf(`"/>` + "\n")
	// The quota line goes over the run, which at full speed follows it.
	tq := min(tMax, aMax/p.Quota)
	pf(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#d62728" stroke-width="1.5" stroke-dasharray="6 4"/>`+"\n",
		x(0), yTop(0), x(tq), yTop(p.Quota*tq))
	legend(b, marginLeft+10, topPanelY+14, "#1f77b4", "", "accounts removed (the emulator's store)")
	legend(b, marginLeft+10, topPanelY+32, "#d62728", "6 4", fmt.Sprintf("quota: %s accounts/s", thousands(p.Quota)))

	// Calls panel.
	axes(b, x, yBottom, tMax, tStep, rMax, rStep, bottomPanelY, bottomPanelH, "calls per second")
	pf(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#d62728" stroke-width="1.5" stroke-dasharray="6 4"/>`+"\n",
		x(0), yBottom(p.CallQuota), x(tMax), yBottom(p.CallQuota))
	pf(`<polyline fill="none" stroke="#2ca02c" stroke-width="2" points="`)
	for i, s := range p.Samples {
		if i > 0 {
			pf(" ")
		}
		pf("%.1f,%.1f", x(s.At.Seconds()), yBottom(rates[i]))
	}
	pf(`"/>` + "\n")
	legend(b, marginLeft+10, bottomPanelY+14, "#2ca02c", "", fmt.Sprintf("calls in the last %s, per second", p.Window))
	legend(b, marginLeft+10, bottomPanelY+32, "#d62728", "6 4", fmt.Sprintf("quota: %s calls/s", thousands(p.CallQuota)))
	pf(`<text x="%.1f" y="%d" text-anchor="middle">seconds since the start</text>`+"\n", x(tMax/2), svgHeight-12)
	pf("</svg>\n")
	return b.Flush()
}

// axes draws a panel's grid, tick labels and y-axis label.
func axes(b *bufio.Writer, x, y func(float64) float64, tMax, tStep, vMax, vStep float64, top, height int, label string) {
	pf := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	for t := 0.0; t <= tMax*(1+1e-9); t += tStep {
		pf(`<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#ddd"/>`+"\n", x(t), top, x(t), top+height)
		pf(`<text x="%.1f" y="%d" text-anchor="middle">%s</text>`+"\n", x(t), top+height+16, trimFloat(t))
	}
	for v := 0.0; v <= vMax*(1+1e-9); v += vStep {
		pf(`<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#ddd"/>`+"\n", marginLeft, y(v), svgWidth-marginRight, y(v))
		pf(`<text x="%d" y="%.1f" text-anchor="end">%s</text>`+"\n", marginLeft-6, y(v)+4, thousands(v))
	}
	pf(`<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#333"/>`+"\n",
		marginLeft, top, svgWidth-marginLeft-marginRight, height)
	pf(`<text transform="translate(16 %d) rotate(-90)" text-anchor="middle">%s</text>`+"\n", top+height/2, escape(label))
}

// legend draws a line sample and its label.
func legend(b *bufio.Writer, x, y int, color, dash, label string) {
	d := ""
	if dash != "" {
		d = fmt.Sprintf(` stroke-dasharray="%s"`, dash)
	}
	fmt.Fprintf(b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="2"%s/>`+"\n", x, y-4, x+24, y-4, color, d)
	fmt.Fprintf(b, `<text x="%d" y="%d">%s</text>`+"\n", x+30, y, escape(label))
}

// escape makes s safe as SVG text.
func escape(s string) string {
	var sb strings.Builder
	_ = xml.EscapeText(&sb, []byte(s)) // a strings.Builder does not fail
	return sb.String()
}

// thousands writes v rounded, with commas between thousands (fractions of
// numbers below 10 are kept to one place).
func thousands(v float64) string {
	if v < 10 && v != math.Trunc(v) {
		return fmt.Sprintf("%.1f", v)
	}
	s := fmt.Sprintf("%.0f", v)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	if neg {
		s = "-" + s
	}
	return s
}

// trimFloat writes a tick value without trailing zeros.
func trimFloat(v float64) string {
	return strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%.2f", v), "0"), ".")
}

func slicesMax(v []float64) float64 {
	m := 0.0
	for _, f := range v {
		m = max(m, f)
	}
	return m
}
