package benchreport

import (
	"bytes"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"time"
)

// The markers around the table in the document; what lies between them is
// bench-report's.
const (
	BeginMarker = "<!-- bench-report:begin -->"
	EndMarker   = "<!-- bench-report:end -->"
)

// ErrNoMarkers says the document has no table bench-report may write.
var ErrNoMarkers = errors.New("no " + BeginMarker + " ... " + EndMarker + " in the document")

// Measured is a row's fresh figure.
type Measured struct {
	Figure string
	// At is when its job ended; Took how long the job ran.
	At   time.Time
	Took time.Duration
	// Load is the machine's load average over the minute before the job
	// started (0: unknown): on a shared machine, a figure's context.
	Load float64
}

const tableHeader = "| what | figure | command | measured | row |\n| --- | --- | --- | --- | --- |\n"

// notMeasured is the figure of a row bench-report has not run yet.
const notMeasured = "not measured yet"

// RenderRow is the table line of row with figure m.
func RenderRow(row Row, m Measured) string {
	when := "—"
	if !m.At.IsZero() {
		when = fmt.Sprintf("%s, took %s", m.At.UTC().Format("2006-01-02"), FormatTook(m.Took))
		if m.Load > 0 {
			when += fmt.Sprintf(", load %.1f on %d cores", m.Load, runtime.NumCPU())
		}
	}
	return fmt.Sprintf("| %s | %s | `%s` | %s | `%s` |", cell(row.What), cell(m.Figure), row.Job.Command, when, row.ID)
}

// cell escapes the pipes a table cell cannot hold.
func cell(s string) string { return strings.ReplaceAll(s, "|", `\|`) }

// FormatTook rounds a job's duration for the table: seconds under two
// minutes, minutes above.
func FormatTook(d time.Duration) string {
	if d < 2*time.Minute {
		return fmt.Sprintf("%d s", int(d.Round(time.Second)/time.Second))
	}
	return fmt.Sprintf("%d min", int(d.Round(time.Minute)/time.Minute))
}

// Table renders the table of rows: fresh figures where measured holds one
// (by row id), the line of old (by row id) for the others, and "not
// measured yet" for a row neither has.
func Table(rows []Row, measured map[string]Measured, old map[string]string) string {
	var b strings.Builder
	b.WriteString(tableHeader)
	for _, r := range rows {
		switch m, ok := measured[r.ID]; {
		case ok:
			b.WriteString(RenderRow(r, m))
		case old[r.ID] != "":
			b.WriteString(old[r.ID])
		default:
			b.WriteString(RenderRow(r, Measured{Figure: notMeasured}))
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// between is the text between the markers of doc, and where it starts and
// ends.
func between(doc []byte) (string, int, int, error) {
	begin := bytes.Index(doc, []byte(BeginMarker))
	end := bytes.Index(doc, []byte(EndMarker))
	switch {
	case begin < 0 || end < 0:
		return "", 0, 0, ErrNoMarkers
	case end < begin:
		return "", 0, 0, fmt.Errorf("%s comes before %s", EndMarker, BeginMarker)
	case bytes.Count(doc, []byte(BeginMarker)) > 1 || bytes.Count(doc, []byte(EndMarker)) > 1:
		return "", 0, 0, fmt.Errorf("more than one %s or %s", BeginMarker, EndMarker)
	}
	start := begin + len(BeginMarker)
	return string(doc[start:end]), start, end, nil
}

// DocRows reads the table lines between the markers of doc, by row id (the
// last cell, in backquotes).
func DocRows(doc []byte) (map[string]string, error) {
	text, _, _, err := between(doc)
	if err != nil {
		return nil, err
	}
	rows := map[string]string{}
	for line := range strings.SplitSeq(text, "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "|") || !strings.HasSuffix(line, "|") {
			continue
		}
		cells := strings.Split(strings.TrimSuffix(line, "|"), "|")
		id := strings.TrimSpace(cells[len(cells)-1])
		if len(id) > 2 && strings.HasPrefix(id, "`") && strings.HasSuffix(id, "`") {
			rows[strings.Trim(id, "`")] = line
		}
	}
	return rows, nil
}

// Splice puts table between the markers of doc, in place of what was
// there.
func Splice(doc []byte, table string) ([]byte, error) {
	_, start, end, err := between(doc)
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	out.Write(doc[:start])
	out.WriteString("\n")
	out.WriteString(table)
	out.Write(doc[end:])
	return out.Bytes(), nil
}

// Update is doc with its table rewritten: the rows measured now with their
// fresh figures, the others as doc had them.
func Update(doc []byte, rows []Row, measured map[string]Measured) ([]byte, error) {
	old, err := DocRows(doc)
	if err != nil {
		return nil, err
	}
	return Splice(doc, Table(rows, measured, old))
}
