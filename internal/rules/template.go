package rules

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"text/template"
	"unicode/utf8"
)

// templateFuncs are the functions title and fix templates may call, besides
// text/template's own (printf, len, index, ...):
//
//	num x        a number with at most 3 significant digits below 1000, an integer above
//	count x a b  num x, then a when x is 1, else b: count 1 "deadlock" "deadlocks" -> "1 deadlock"
//	pct x        a fraction as a percentage: 0.4234 -> "42.3%", 0.051 -> "5.1%"
//	ms x         milliseconds: 12.34 -> "12.3 ms", 1500 -> "1.5 s"
//	bytes x      a size in bytes, in 1024 units like pg_size_pretty: "10 MB"
//	join list s  the elements of a list joined by s
//	trunc n s    s cut to n characters, with "…" when cut
var templateFuncs = template.FuncMap{
	"num":   fmtNum,
	"count": fmtCount,
	"pct":   fmtPct,
	"ms":    fmtMs,
	"bytes": fmtBytes,
	"join":  joinList,
	"trunc": truncate,
}

func parseTemplate(name, src string) (*template.Template, error) {
	return template.New(name).Funcs(templateFuncs).Option("missingkey=error").Parse(src)
}

func render(t *template.Template, r *Rule, f *Finding) (string, error) {
	if t == nil {
		return "", fmt.Errorf("rule %s has no template", r.ID)
	}
	var b strings.Builder
	if err := t.Execute(&b, templateData(r, f)); err != nil {
		return "", err
	}
	return reflow(b.String()), nil
}

// reflow joins the lines of each paragraph of rendered text into one line
// (templates are written wrapped in YAML, and values of any length are put
// into them), keeping blank lines between paragraphs and indented lines
// (code) as they are. Printers wrap the result to their width.
func reflow(s string) string {
	var out []string
	var para []string
	flush := func() {
		if len(para) > 0 {
			out = append(out, strings.Join(para, " "))
			para = nil
		}
	}
	blank := false
	for _, line := range strings.Split(strings.TrimSpace(s), "\n") {
		switch {
		case strings.TrimSpace(line) == "":
			flush()
			blank = true
			continue
		case strings.HasPrefix(line, "    ") || strings.HasPrefix(line, "\t"):
			flush()
			if blank && len(out) > 0 {
				out = append(out, "")
			}
			out = append(out, strings.TrimRight(line, " \t"))
		default:
			if blank && len(out) > 0 && len(para) == 0 {
				out = append(out, "")
			}
			para = append(para, strings.Join(strings.Fields(line), " "))
		}
		blank = false
	}
	flush()
	return strings.Join(out, "\n")
}

// toFloat converts the numeric types a detector or a YAML sample may put in
// evidence.
func toFloat(v any) (float64, error) {
	switch x := v.(type) {
	case float64:
		return x, nil
	case float32:
		return float64(x), nil
	case int:
		return float64(x), nil
	case int8:
		return float64(x), nil
	case int16:
		return float64(x), nil
	case int32:
		return float64(x), nil
	case int64:
		return float64(x), nil
	case uint:
		return float64(x), nil
	case uint8:
		return float64(x), nil
	case uint16:
		return float64(x), nil
	case uint32:
		return float64(x), nil
	case uint64:
		return float64(x), nil
	}
	return 0, fmt.Errorf("%v (%T) is not a number", v, v)
}

// sig3 formats v with at most three significant digits and no exponent.
func sig3(v float64) string {
	if v == 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	if math.Abs(v) >= 1000 {
		return strconv.FormatFloat(math.Round(v), 'f', -1, 64)
	}
	r, _ := strconv.ParseFloat(strconv.FormatFloat(v, 'g', 3, 64), 64)
	return strconv.FormatFloat(r, 'f', -1, 64)
}

func fmtNum(v any) (string, error) {
	f, err := toFloat(v)
	if err != nil {
		return "", err
	}
	return sig3(f), nil
}

func fmtCount(v any, one, many string) (string, error) {
	f, err := toFloat(v)
	if err != nil {
		return "", err
	}
	n := sig3(f)
	if n == "1" {
		return n + " " + one, nil
	}
	return n + " " + many, nil
}

func fmtPct(v any) (string, error) {
	f, err := toFloat(v)
	if err != nil {
		return "", err
	}
	return sig3(f*100) + "%", nil
}

func fmtMs(v any) (string, error) {
	f, err := toFloat(v)
	if err != nil {
		return "", err
	}
	if math.Abs(f) >= 1000 {
		return sig3(f/1000) + " s", nil
	}
	return sig3(f) + " ms", nil
}

func fmtBytes(v any) (string, error) {
	f, err := toFloat(v)
	if err != nil {
		return "", err
	}
	units := []string{"bytes", "kB", "MB", "GB", "TB", "PB"}
	i := 0
	for math.Abs(f) >= 1024 && i < len(units)-1 {
		f /= 1024
		i++
	}
	return sig3(f) + " " + units[i], nil
}

func joinList(v any, sep string) (string, error) {
	switch x := v.(type) {
	case []string:
		return strings.Join(x, sep), nil
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = fmt.Sprint(e)
		}
		return strings.Join(parts, sep), nil
	case string:
		return x, nil
	}
	return "", fmt.Errorf("join: %T is not a list", v)
}

func truncate(n int, s string) string {
	if n <= 0 || utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	if n == 1 {
		return "…"
	}
	return string(r[:n-1]) + "…"
}
