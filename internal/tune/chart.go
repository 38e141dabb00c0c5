package tune

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"math"
	"strings"
)

// series is one charted figure per step.
type series struct {
	title  string
	unit   string
	values []float64
	format func(float64) string
}

func chartSeries(steps []Step) []series {
	rps := series{title: "RPS per step", unit: "requests/s", format: func(v float64) string { return fmt.Sprintf("%.0f", v) }}
	p95 := series{title: "p95 per step", unit: "ms", format: func(v float64) string {
		if v >= 100 {
			return fmt.Sprintf("%.0f", v)
		}
		return fmt.Sprintf("%.1f", v)
	}}
	for _, s := range steps {
		rps.values = append(rps.values, s.Metrics.RPS)
		p95.values = append(p95.values, float64(s.Metrics.P95)/1e6)
	}
	return []series{rps, p95}
}

// Chart draws RPS and p95 per step as bar charts for a terminal, height
// rows each, in about width columns. A reverted step's bar is drawn with a
// lighter shade.
func Chart(steps []Step, width, height int) string {
	if len(steps) == 0 {
		return ""
	}
	height = max(height, 2)
	col := max(3, min(8, width/len(steps)))
	var b strings.Builder
	for _, s := range chartSeries(steps) {
		top := 0.0
		for _, v := range s.values {
			top = math.Max(top, v)
		}
		labelW := len(s.format(top))
		fmt.Fprintf(&b, "%s (%s)\n", s.title, s.unit)
		for row := height; row >= 1; row-- {
			label := strings.Repeat(" ", labelW)
			if row == height {
				label = fmt.Sprintf("%*s", labelW, s.format(top))
			}
			b.WriteString(label + " │")
			for i, v := range s.values {
				cells := 0.0
				if top > 0 {
					cells = v / top * float64(height)
				}
				ch := " "
				switch {
				case cells >= float64(row):
					ch = "█"
				case cells > float64(row-1):
					ch = "▄"
				case row == 1 && v > 0:
					ch = "▁"
				}
				if ch != " " && steps[i].Outcome == Reverted {
					ch = "░"
				}
				b.WriteString(" " + strings.Repeat(ch, col-1))
			}
			b.WriteString("\n")
		}
		b.WriteString(strings.Repeat(" ", labelW) + " └" + strings.Repeat("─", col*len(s.values)) + "\n")
		b.WriteString(strings.Repeat(" ", labelW) + "  ")
		for _, st := range steps {
			fmt.Fprintf(&b, "%-*s", col, fmt.Sprint(" ", st.N))
		}
		b.WriteString("  step\n")
	}
	return b.String()
}

// WriteSVG draws RPS and p95 per step as two line charts in an SVG image.
// Reverted steps are hollow points.
func WriteSVG(w io.Writer, steps []Step) error {
	const (
		panelW, panelH = 420, 260
		padL, padR     = 60, 20
		padT, padB     = 40, 45
		width, height  = 2 * panelW, panelH
	)
	var b bytes.Buffer
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n",
		width, height, width, height)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", width, height)
	colors := []string{"#1f77b4", "#d62728"}
	for p, s := range chartSeries(steps) {
		x0 := float64(p*panelW + padL)
		plotW := float64(panelW - padL - padR)
		plotH := float64(panelH - padT - padB)
		top := 0.0
		for _, v := range s.values {
			top = math.Max(top, v)
		}
		if top <= 0 {
			top = 1
		}
		top = niceCeil(top)
		x := func(i int) float64 {
			if len(s.values) == 1 {
				return x0 + plotW/2
			}
			return x0 + plotW*float64(i)/float64(len(s.values)-1)
		}
		y := func(v float64) float64 { return float64(padT) + plotH*(1-v/top) }
		fmt.Fprintf(&b, `<text x="%.0f" y="20" font-size="14" font-weight="bold">%s (%s)</text>`+"\n", x0, esc(s.title), esc(s.unit))
		fmt.Fprintf(&b, `<text x="%.0f" y="20" text-anchor="end" fill="#555">○ reverted fix</text>`+"\n", x0+plotW)
		for t := 0; t <= 4; t++ {
			v := top * float64(t) / 4
			fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#ddd"/>`+"\n", x0, y(v), x0+plotW, y(v))
			fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="end" fill="#555">%s</text>`+"\n", x0-6, y(v)+4, esc(s.format(v)))
		}
		for i, st := range steps {
			fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle" fill="#555">%d</text>`+"\n", x(i), float64(panelH-padB)+16, st.N)
		}
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle" fill="#555">step</text>`+"\n", x0+plotW/2, panelH-8)
		var pts []string
		for i, v := range s.values {
			if steps[i].Outcome == Reverted {
				continue
			}
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(i), y(v)))
		}
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>`+"\n", colors[p], strings.Join(pts, " "))
		for i, v := range s.values {
			fill := colors[p]
			if steps[i].Outcome == Reverted {
				fill = "white"
			}
			fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="4" fill="%s" stroke="%s" stroke-width="2"><title>step %d: %s, %s %s</title></circle>`+"\n",
				x(i), y(v), fill, colors[p], steps[i].N, esc(steps[i].FixLabel()), esc(s.format(v)), esc(s.unit))
		}
	}
	b.WriteString("</svg>\n")
	_, err := w.Write(b.Bytes())
	return err
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten.
func niceCeil(v float64) float64 {
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}

func esc(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}
