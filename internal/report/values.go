package report

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/charmbracelet/x/ansi"
)

// evidenceKV is one evidence entry formatted for people.
type evidenceKV struct {
	Key, Value string
}

// evidenceList returns the evidence sorted by key, values formatted for
// people, both sanitized.
func evidenceList(ev map[string]any) []evidenceKV {
	keys := make([]string, 0, len(ev))
	for k := range ev {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := make([]evidenceKV, 0, len(keys))
	for _, k := range keys {
		out = append(out, evidenceKV{Key: sanitize(k), Value: sanitize(formatValue(ev[k]))})
	}
	return out
}

// configList returns a fix's configuration sorted by key, sanitized.
func configList(cfg map[string]string) []evidenceKV {
	keys := make([]string, 0, len(cfg))
	for k := range cfg {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := make([]evidenceKV, 0, len(keys))
	for _, k := range keys {
		out = append(out, evidenceKV{Key: sanitize(k), Value: sanitize(cfg[k])})
	}
	return out
}

// formatValue formats an evidence value: whole numbers without decimals,
// others in their shortest form when it is short, else to six significant
// digits, lists joined with commas, anything else
// as JSON.
func formatValue(v any) string {
	switch v := v.(type) {
	case nil:
		return "-"
	case string:
		return v
	case bool:
		return strconv.FormatBool(v)
	case int:
		return strconv.Itoa(v)
	case int64:
		return strconv.FormatInt(v, 10)
	case uint64:
		return strconv.FormatUint(v, 10)
	case float32:
		return formatFloat(float64(v))
	case float64:
		return formatFloat(v)
	case json.Number:
		return v.String()
	case []string:
		return strings.Join(v, ", ")
	case []any:
		parts := make([]string, len(v))
		for i, e := range v {
			parts[i] = formatValue(e)
		}
		return strings.Join(parts, ", ")
	}
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(data)
}

func formatFloat(f float64) string {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return strconv.FormatFloat(f, 'g', -1, 64)
	}
	if f == math.Trunc(f) && math.Abs(f) < 1e15 {
		return strconv.FormatFloat(f, 'f', 0, 64)
	}
	if s := strconv.FormatFloat(f, 'f', -1, 64); len(s) <= 12 {
		return s
	}
	return strconv.FormatFloat(f, 'g', 6, 64)
}

// sanitize replaces the control characters of text that comes from the
// probed systems (table names, queries, error messages) with U+FFFD, so that
// it cannot move the cursor or change a terminal's state; invalid UTF-8
// becomes U+FFFD too. Line breaks and tabs are kept.
func sanitize(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	clean := true
	for _, r := range s {
		if isControl(r) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	return strings.Map(func(r rune) rune {
		if isControl(r) {
			return '\uFFFD'
		}
		return r
	}, s)
}

func isControl(r rune) bool {
	if r == '\n' || r == '\t' {
		return false
	}
	return r < 0x20 || (r >= 0x7f && r <= 0x9f)
}

// Wrap breaks text into lines of at most width cells (at least 10), at
// spaces; a word longer than the width is broken. Line breaks in text are
// kept; runs of spaces collapse. The terminal UI wraps with it too.
func Wrap(text string, width int) []string {
	if width < 10 {
		width = 10
	}
	var lines []string
	for _, para := range strings.Split(text, "\n") {
		words := strings.Fields(para)
		if len(words) == 0 {
			lines = append(lines, "")
			continue
		}
		line := ""
		for _, w := range words {
			for ansi.StringWidth(w) > width {
				if line != "" {
					lines = append(lines, line)
					line = ""
				}
				head := ansi.Truncate(w, width, "")
				lines = append(lines, head)
				w = w[len(head):]
			}
			switch {
			case line == "":
				line = w
			case ansi.StringWidth(line)+1+ansi.StringWidth(w) <= width:
				line += " " + w
			default:
				lines = append(lines, line)
				line = w
			}
		}
		if line != "" {
			lines = append(lines, line)
		}
	}
	return lines
}

// keyWidth returns the width of the widest key.
func keyWidth(kvs []evidenceKV) int {
	n := 0
	for _, kv := range kvs {
		n = max(n, ansi.StringWidth(kv.Key))
	}
	return n
}
