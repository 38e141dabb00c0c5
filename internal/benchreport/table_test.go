package benchreport

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

func testRows() []Row {
	fig := func(o *Output) (string, error) { return "x", nil }
	return []Row{
		{ID: "a", What: "first | piped", Job: Job{Command: "echo a"}, Figure: fig},
		{ID: "b", What: "second", Job: Job{Command: "echo b"}, Figure: fig},
		{ID: "c", What: "third", Job: Job{Command: "echo c"}, Figure: fig},
	}
}

const testDoc = "# T\n\nintro\n\n" + BeginMarker + "\n" + tableHeader +
	"| first \\| piped | 1.5 | `echo a` | 2026-01-01, took 3 s | `a` |\n" +
	"| second | 2.5 | `echo b` | 2026-01-01, took 4 s | `b` |\n" +
	EndMarker + "\n\n## after\n\ntext\n"

func TestUpdateKeepsRowsNotMeasured(t *testing.T) {
	at := time.Date(2026, 12, 4, 6, 0, 0, 0, time.UTC)
	got, err := Update([]byte(testDoc), testRows(), map[string]Measured{"b": {Figure: "9.75", At: at, Took: 150 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	s := string(got)
	for _, want := range []string{
		"# T\n\nintro\n\n" + BeginMarker + "\n| what |",
		// a: not measured now, kept as it was
		"| first \\| piped | 1.5 | `echo a` | 2026-01-01, took 3 s | `a` |\n",
		// b: the fresh figure, its date and length
		"| second | 9.75 | `echo b` | 2026-12-04, took 3 min | `b` |\n",
		// c: new, never measured
		"| third | not measured yet | `echo c` | — | `c` |\n" + EndMarker + "\n\n## after\n\ntext\n",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("no %q in:\n%s", want, s)
		}
	}
	withLoad := RenderRow(testRows()[0], Measured{Figure: "1", At: at, Took: time.Second, Load: 18.97})
	if want := fmt.Sprintf("| 2026-12-04, took 1 s, load 19.0 on %d cores |", runtime.NumCPU()); !strings.Contains(withLoad, want) {
		t.Errorf("%s\nwant %s", withLoad, want)
	}
	if strings.Contains(s, "2.5") {
		t.Errorf("b's old figure is still there:\n%s", s)
	}
	// Nothing measured: the document is unchanged.
	same, err := Update([]byte(testDoc), testRows()[:2], nil)
	if err != nil || string(same) != testDoc {
		t.Errorf("changed without a measurement (%v):\n%s", err, same)
	}
}

func TestSpliceNeedsMarkers(t *testing.T) {
	for name, doc := range map[string]string{
		"none":     "# T\n| a | b |\n",
		"no end":   BeginMarker + "\n",
		"reversed": EndMarker + "\n" + BeginMarker + "\n",
		"twice":    BeginMarker + EndMarker + BeginMarker + EndMarker,
	} {
		if _, err := Update([]byte(doc), testRows(), nil); err == nil {
			t.Errorf("%s: no error", name)
		} else if name == "none" && (!errors.Is(err, ErrNoMarkers) || !strings.Contains(err.Error(), BeginMarker)) {
			t.Errorf("%s: error %v does not name the markers", name, err)
		}
	}
}

func TestFormatTook(t *testing.T) {
	for d, want := range map[time.Duration]string{
		1400 * time.Millisecond: "1 s", 119 * time.Second: "119 s", 150 * time.Second: "3 min", 70 * time.Minute: "70 min",
	} {
		if got := FormatTook(d); got != want {
			t.Errorf("FormatTook(%s) = %q, want %q", d, got, want)
		}
	}
}

// docs/benchmarks.md has a line for every row, showing the command
// bench-report runs for it: a figure in the document is one that command
// produced.
func TestDocListsEveryRowWithItsCommand(t *testing.T) {
	doc, err := os.ReadFile("../../docs/benchmarks.md")
	if err != nil {
		t.Fatal(err)
	}
	lines, err := DocRows(doc)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range All {
		line, ok := lines[r.ID]
		if !ok {
			t.Errorf("docs/benchmarks.md has no row %s", r.ID)
			continue
		}
		if !strings.Contains(line, "| `"+r.Job.Command+"` |") {
			t.Errorf("row %s shows another command than `%s`:\n%s", r.ID, r.Job.Command, line)
		}
	}
	if len(lines) != len(All) {
		t.Errorf("%d rows in the document, %d in All", len(lines), len(All))
	}
}
