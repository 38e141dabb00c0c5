package load

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// Schema names the JSON form of a Result.
const Schema = "advisor.load/v1"

// WriteText prints a summary of res for a person: rate, latency
// percentiles, errors by kind, and a line per entry of the mix.
func WriteText(w io.Writer, res *Result) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	mode := "closed loop"
	if res.Rate > 0 {
		mode = fmt.Sprintf("fixed rate %g req/s", res.Rate)
	}
	fmt.Fprintf(tw, "Load\t%d connections, %s\n", res.Connections, mode)
	fmt.Fprintf(tw, "Requests\t%d in %s, %.1f req/s\n", res.Requests, FormatDuration(res.Elapsed), res.RPS)
	fmt.Fprintf(tw, "Errors\t%s\n", errorsLine(res.Requests, res.Errors, res.ErrorsByKind))
	fmt.Fprintf(tw, "Latency\t%s\n", latencyLine(res.Answered, res.Latency))
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(res.PerEntry) < 2 {
		return nil
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	// The table aligns right but for the names, padded here.
	width := len("entry")
	for name := range res.PerEntry {
		width = max(width, len(name))
	}
	pad := func(s string) string { return s + strings.Repeat(" ", width-len(s)) }
	fmt.Fprintf(tw, "%s\trequests\tshare\terrors\tp50\tp90\tp95\tp99\tmax\t\n", pad("entry"))
	noAnswer := "-"
	for _, name := range sortedKeys(res.PerEntry) {
		e := res.PerEntry[name]
		share := 0.0
		if res.Requests > 0 {
			share = 100 * float64(e.Requests) / float64(res.Requests)
		}
		l := e.Latency
		if e.Answered == 0 {
			fmt.Fprintf(tw, "%s\t%d\t%.1f%%\t%d\t%s\t%s\t%s\t%s\t%s\t\n", pad(name), e.Requests, share, e.Errors,
				noAnswer, noAnswer, noAnswer, noAnswer, noAnswer)
			continue
		}
		fmt.Fprintf(tw, "%s\t%d\t%.1f%%\t%d\t%s\t%s\t%s\t%s\t%s\t\n", pad(name), e.Requests, share, e.Errors,
			FormatDuration(l.P50), FormatDuration(l.P90), FormatDuration(l.P95), FormatDuration(l.P99), FormatDuration(l.Max))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, name := range sortedKeys(res.PerEntry) {
		if e := res.PerEntry[name]; e.Errors > 0 {
			fmt.Fprintf(w, "errors of %s: %s\n", name, errorsLine(e.Requests, e.Errors, e.ErrorsByKind))
		}
	}
	return nil
}

func errorsLine(requests, errors int64, byKind map[string]int64) string {
	if errors == 0 {
		return "none"
	}
	pct := 0.0
	if requests > 0 {
		pct = 100 * float64(errors) / float64(requests)
	}
	kinds := sortedKeys(byKind)
	slices.SortStableFunc(kinds, func(a, b string) int { return cmp.Compare(byKind[b], byKind[a]) })
	parts := make([]string, len(kinds))
	for i, k := range kinds {
		parts[i] = fmt.Sprintf("%s: %d", k, byKind[k])
	}
	return fmt.Sprintf("%d (%.2f%%): %s", errors, pct, strings.Join(parts, ", "))
}

func latencyLine(answered int64, l LatencySummary) string {
	if answered == 0 {
		return "none: no request was answered"
	}
	return fmt.Sprintf("p50 %s  p90 %s  p95 %s  p99 %s  max %s  mean %s",
		FormatDuration(l.P50), FormatDuration(l.P90), FormatDuration(l.P95),
		FormatDuration(l.P99), FormatDuration(l.Max), FormatDuration(l.Mean))
}

// FormatDuration prints a latency with three or four significant digits:
// 850µs, 12.35ms, 1.234s.
func FormatDuration(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return fmt.Sprintf("%dµs", d/time.Microsecond)
	case d < time.Second:
		return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
	default:
		return fmt.Sprintf("%.3fs", d.Seconds())
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// WriteJSON writes res as one indented JSON object (see Result.MarshalJSON).
func WriteJSON(w io.Writer, res *Result) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(res)
}

type latencyJSON struct {
	P50  float64 `json:"p50_ms"`
	P90  float64 `json:"p90_ms"`
	P95  float64 `json:"p95_ms"`
	P99  float64 `json:"p99_ms"`
	Max  float64 `json:"max_ms"`
	Mean float64 `json:"mean_ms"`
}

type entryJSON struct {
	Requests     int64            `json:"requests"`
	Errors       int64            `json:"errors"`
	Answered     int64            `json:"answered"`
	ErrorsByKind map[string]int64 `json:"errors_by_kind"`
	Latency      LatencySummary   `json:"latency"`
}

type resultJSON struct {
	Schema       string                `json:"schema"`
	Connections  int                   `json:"connections"`
	Rate         float64               `json:"rate,omitempty"`
	Requests     int64                 `json:"requests"`
	Errors       int64                 `json:"errors"`
	Answered     int64                 `json:"answered"`
	ErrorsByKind map[string]int64      `json:"errors_by_kind"`
	Elapsed      float64               `json:"elapsed_ms"`
	RPS          float64               `json:"rps"`
	Latency      LatencySummary        `json:"latency"`
	PerEntry     map[string]*entryJSON `json:"per_entry"`
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func fromMS(v float64) time.Duration { return time.Duration(math.Round(v * float64(time.Millisecond))) }

// MarshalJSON writes the summary in milliseconds: p50_ms, p90_ms, p95_ms,
// p99_ms, max_ms, mean_ms.
func (l LatencySummary) MarshalJSON() ([]byte, error) {
	return json.Marshal(latencyJSON{ms(l.P50), ms(l.P90), ms(l.P95), ms(l.P99), ms(l.Max), ms(l.Mean)})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (l *LatencySummary) UnmarshalJSON(b []byte) error {
	var j latencyJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*l = LatencySummary{fromMS(j.P50), fromMS(j.P90), fromMS(j.P95), fromMS(j.P99), fromMS(j.Max), fromMS(j.Mean)}
	return nil
}

// MarshalJSON writes the result as an object of schema advisor.load/v1:
// schema, connections, rate (when fixed), requests, errors, answered,
// errors_by_kind,
// elapsed_ms, rps, latency {p50_ms ... mean_ms}, and per_entry by name with
// requests, errors, answered, errors_by_kind and latency. The histograms are
// left out.
func (r *Result) MarshalJSON() ([]byte, error) {
	j := resultJSON{
		Schema:       Schema,
		Connections:  r.Connections,
		Rate:         r.Rate,
		Requests:     r.Requests,
		Errors:       r.Errors,
		Answered:     r.Answered,
		ErrorsByKind: nonNil(r.ErrorsByKind),
		Elapsed:      ms(r.Elapsed),
		RPS:          r.RPS,
		Latency:      r.Latency,
		PerEntry:     map[string]*entryJSON{},
	}
	for name, e := range r.PerEntry {
		j.PerEntry[name] = &entryJSON{
			Requests:     e.Requests,
			Errors:       e.Errors,
			Answered:     e.Answered,
			ErrorsByKind: nonNil(e.ErrorsByKind),
			Latency:      e.Latency,
		}
	}
	return json.Marshal(j)
}

// UnmarshalJSON reads what MarshalJSON writes, without the histograms.
func (r *Result) UnmarshalJSON(b []byte) error {
	var j resultJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	if j.Schema != Schema {
		return fmt.Errorf("load: result schema is %q, want %q", j.Schema, Schema)
	}
	*r = Result{
		Requests:     j.Requests,
		Errors:       j.Errors,
		Answered:     j.Answered,
		ErrorsByKind: nonNil(j.ErrorsByKind),
		Elapsed:      fromMS(j.Elapsed),
		RPS:          j.RPS,
		Latency:      j.Latency,
		PerEntry:     map[string]*EntryResult{},
		Connections:  j.Connections,
		Rate:         j.Rate,
	}
	for name, e := range j.PerEntry {
		r.PerEntry[name] = &EntryResult{
			Requests:     e.Requests,
			Errors:       e.Errors,
			Answered:     e.Answered,
			ErrorsByKind: nonNil(e.ErrorsByKind),
			Latency:      e.Latency,
		}
	}
	return nil
}

func nonNil(m map[string]int64) map[string]int64 {
	if m == nil {
		return map[string]int64{}
	}
	return m
}
