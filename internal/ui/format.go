package ui

import (
	"fmt"
	"math"
	"strings"

	"github.com/charmbracelet/x/ansi"
	"github.com/pgadvisor/advisor/internal/report"
)

// num formats a non-negative quantity with about three significant digits
// and a k/M suffix: 0, 0.12, 1.23, 12.3, 123, 1.23k, 12.3M.
func num(f float64) string {
	switch {
	case math.IsNaN(f) || math.IsInf(f, 0):
		return "-"
	case f < 0:
		return "-" + num(-f)
	case f == 0:
		return "0"
	case f >= 1e9:
		return trimNum(f/1e9) + "G"
	case f >= 1e6:
		return trimNum(f/1e6) + "M"
	case f >= 1e4:
		return trimNum(f/1e3) + "k"
	case f == math.Trunc(f):
		return fmt.Sprintf("%.0f", f)
	}
	return trimNum(f)
}

func trimNum(f float64) string {
	switch {
	case f >= 100:
		return fmt.Sprintf("%.0f", f)
	case f >= 10:
		return fmt.Sprintf("%.1f", f)
	case f >= 0.01:
		return fmt.Sprintf("%.2f", f)
	}
	return fmt.Sprintf("%.3f", f)
}

// pct formats a share in [0, 1] as a percentage.
func pct(share float64) string {
	if math.IsNaN(share) {
		return "-"
	}
	return fmt.Sprintf("%.1f%%", share*100)
}

// bytesText formats a size in bytes with a binary unit.
func bytesText(b float64) string {
	const unit = 1024
	if b < unit {
		return fmt.Sprintf("%.0f B", b)
	}
	div, exp := float64(unit), 0
	for n := b / unit; n >= unit && exp < 4; n /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%s %ciB", trimNum(b/div), "KMGTP"[exp])
}

// fit truncates s (which may hold ANSI styles) to width cells.
func fit(s string, width int) string {
	if width <= 0 {
		return ""
	}
	if ansi.StringWidth(s) <= width {
		return s
	}
	return ansi.Truncate(s, width, "…")
}

// pad truncates or pads s with spaces to exactly width cells.
func pad(s string, width int) string {
	s = fit(s, width)
	if w := ansi.StringWidth(s); w < width {
		s += strings.Repeat(" ", width-w)
	}
	return s
}

// padLeft right-aligns s in width cells.
func padLeft(s string, width int) string {
	s = fit(s, width)
	if w := ansi.StringWidth(s); w < width {
		s = strings.Repeat(" ", width-w) + s
	}
	return s
}

// oneLine collapses whitespace (newlines of SQL text) to single spaces.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// block makes text exactly height lines of at most width cells: long lines
// are cut, missing lines are blank.
func block(text string, width, height int) string {
	if height <= 0 {
		return ""
	}
	lines := strings.Split(strings.TrimRight(text, "\n"), "\n")
	if len(lines) > height {
		lines = lines[:height]
	}
	for i, l := range lines {
		lines[i] = fit(l, width)
	}
	for len(lines) < height {
		lines = append(lines, "")
	}
	return strings.Join(lines, "\n")
}

// wrapText wraps plain text to width. Lines of a paragraph are joined
// (documentation is written with hard line breaks); blank lines, and lines
// that start a list item or are indented, start a new line.
func wrapText(text string, width int) []string {
	if width < 10 {
		width = 10
	}
	var paras []string
	for _, l := range strings.Split(text, "\n") {
		t := strings.TrimSpace(l)
		n := len(paras)
		switch {
		case n == 0 || t == "" || paras[n-1] == "" || strings.HasPrefix(l, " ") || strings.HasPrefix(l, "\t") ||
			strings.HasPrefix(t, "- ") || strings.HasPrefix(t, "* "):
			paras = append(paras, t)
		default:
			paras[n-1] += " " + t
		}
	}
	return report.Wrap(strings.Join(paras, "\n"), width)
}
