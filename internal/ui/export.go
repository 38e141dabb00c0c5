package ui

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/pgadvisor/advisor/internal/report"
)

// Export writes the report of the data's window, findings and time split
// as markdown and JSON (schema advisor.report/v1) into dir, in files named
// after the time, and returns their paths.
func Export(dir string, d *Data, at time.Time) ([]string, error) {
	if d.Window == nil {
		return nil, fmt.Errorf("no window analysed yet")
	}
	var window time.Duration
	if !d.Window.Cumulative {
		window = time.Duration(d.Window.Seconds * float64(time.Second)).Round(100 * time.Millisecond)
	}
	rep := report.New(at, window, report.SourcesOf(d.Window), d.Findings, report.Baseline{}).WithSplit(d.Split)
	base := filepath.Join(dir, "advisor-report-"+at.Format("20060102-150405"))
	var paths []string
	for _, f := range []struct {
		format report.Format
		ext    string
	}{{report.FormatMarkdown, ".md"}, {report.FormatJSON, ".json"}} {
		path := base + f.ext
		if err := writeFile(path, func(w *bufio.Writer) error { return report.Print(w, f.format, rep, report.Options{}) }); err != nil {
			return paths, fmt.Errorf("export %s: %w", path, err)
		}
		paths = append(paths, path)
	}
	return paths, nil
}

func writeFile(path string, write func(w *bufio.Writer) error) error {
	fh, err := os.Create(path)
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(fh)
	if err := write(bw); err != nil {
		fh.Close()
		return err
	}
	if err := bw.Flush(); err != nil {
		fh.Close()
		return err
	}
	return fh.Close()
}

func exportCmd(dir string, d *Data, at time.Time) tea.Cmd {
	return func() tea.Msg {
		paths, err := Export(dir, d, at)
		if err != nil {
			return StatusMsg(err.Error())
		}
		return StatusMsg(fmt.Sprintf("report written to %s and %s", paths[0], paths[1]))
	}
}
