package ui

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/pgadvisor/advisor/internal/probe/pprof"
	"github.com/pgadvisor/advisor/internal/probe/source"
	"github.com/pgadvisor/advisor/internal/report"
)

// Export writes the report of the data's window, findings and time split
// as markdown and JSON (schema advisor.report/v1) into dir, in files named
// after the time (advisor-report-20060102-150405.000.md and .json), and
// returns their paths. It never overwrites a file: when another export
// already took the name, it adds -2, -3, ... before the extension.
func Export(dir string, d *Data, at time.Time) ([]string, error) {
	if d.Window == nil {
		return nil, fmt.Errorf("no window analysed yet")
	}
	var window time.Duration
	if !d.Window.Cumulative {
		window = time.Duration(d.Window.Seconds * float64(time.Second)).Round(100 * time.Millisecond)
	}
	rep := report.New(at, window, report.SourcesOf(d.Window), d.Findings, report.Baseline{}).WithSplit(d.Split).WithStatements(d.Window.Postgres)
	formats := []report.Format{report.FormatMarkdown, report.FormatJSON}
	files, err := createUnique(dir, at, "advisor-report-%s.md", "advisor-report-%s.json")
	if err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	return writeFiles(files, func(i int, w io.Writer) error {
		return report.Print(w, formats[i], rep, report.Options{})
	})
}

// fileStamp is the time in a file name: to the millisecond, so that two
// exports a second apart never meet; createUnique handles the rest.
const fileStamp = "20060102-150405.000"

// maxSuffix bounds the counter createUnique tries.
const maxSuffix = 1000

// createUnique creates one new file in dir per pattern, each pattern's %s
// replaced by the time at (fileStamp), and returns them open, in the order
// of the patterns. Files are created with O_EXCL: when any of the names
// exists (another export in the same millisecond, or a file left there),
// the set takes the stamp with -2, then -3, ... so that the files of one
// set keep a common stamp and nothing is overwritten.
func createUnique(dir string, at time.Time, patterns ...string) ([]*os.File, error) {
	stamp := at.Format(fileStamp)
	for n := 1; n <= maxSuffix; n++ {
		s := stamp
		if n > 1 {
			s += "-" + strconv.Itoa(n)
		}
		files, err := createAll(dir, s, patterns)
		if err == nil {
			return files, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return nil, err
		}
	}
	return nil, fmt.Errorf("%d files named %s already in %s", maxSuffix, fmt.Sprintf(patterns[0], stamp+"-N"), dir)
}

// createAll creates every pattern's file with stamp, or none of them.
func createAll(dir, stamp string, patterns []string) ([]*os.File, error) {
	var files []*os.File
	for _, p := range patterns {
		fh, err := os.OpenFile(filepath.Join(dir, fmt.Sprintf(p, stamp)), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err != nil {
			for _, f := range files {
				f.Close()
				os.Remove(f.Name())
			}
			return nil, err
		}
		files = append(files, fh)
	}
	return files, nil
}

// writeFiles writes each file with write(i, ...) and closes it. It returns
// the paths written; on the first error it removes that file, closes and
// removes the rest, and returns the paths written so far with the error.
func writeFiles(files []*os.File, write func(i int, w io.Writer) error) ([]string, error) {
	var paths []string
	for i, fh := range files {
		bw := bufio.NewWriter(fh)
		err := write(i, bw)
		if err == nil {
			err = bw.Flush()
		}
		if cerr := fh.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			os.Remove(fh.Name())
			for _, rest := range files[i+1:] {
				rest.Close()
				os.Remove(rest.Name())
			}
			return paths, fmt.Errorf("write %s: %w", fh.Name(), err)
		}
		paths = append(paths, fh.Name())
	}
	return paths, nil
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

// SavedProfiles is what SaveProfiles wrote.
type SavedProfiles struct {
	// Paths are the files written: the CPU profile first, then the
	// goroutine profile, each when the round has it.
	Paths []string
	// Missing says, per part not written, why (the part's status).
	Missing []string
}

// SaveProfiles writes the CPU profile and the goroutine profile of a
// profile round into dir, as files go tool pprof opens: each body as the
// target served it (gzipped protobuf from net/http/pprof), named
// advisor-cpu-STAMP.pb.gz and advisor-goroutine-STAMP.pb.gz after the time
// the round was taken (unique as Export's names are). A part without its
// body (a round built in memory) is written with profile.Write. It fails
// when the round has neither part.
func SaveProfiles(dir string, snap *pprof.Snapshot, at time.Time) (SavedProfiles, error) {
	var out SavedProfiles
	if snap == nil {
		return out, errors.New("nothing to save: no pprof target to profile: pass --target or --pprof")
	}
	type part struct {
		name string
		res  *pprof.ProfileResult
		body []byte
	}
	var parts []part
	for _, p := range []part{{name: "cpu", res: snap.CPU}, {name: "goroutine", res: snap.Goroutine}} {
		if p.res == nil || !p.res.Status.Ok() || (len(p.res.Raw) == 0 && p.res.Profile == nil) {
			detail := "not taken"
			if p.res != nil && p.res.Status.Detail != "" {
				detail = source.Redact(p.res.Status.Detail)
			}
			out.Missing = append(out.Missing, fmt.Sprintf("no %s profile: %s", p.name, detail))
			continue
		}
		p.body = p.res.Raw
		if len(p.body) == 0 {
			var buf bytes.Buffer
			if err := p.res.Profile.Write(&buf); err != nil {
				return out, fmt.Errorf("encode the %s profile: %w", p.name, err)
			}
			p.body = buf.Bytes()
		}
		parts = append(parts, p)
	}
	if len(parts) == 0 {
		return out, fmt.Errorf("nothing to save: %s", strings.Join(out.Missing, "; "))
	}
	patterns := make([]string, len(parts))
	for i, p := range parts {
		ext := ".pb"
		if gzipped(p.body) {
			ext = ".pb.gz"
		}
		patterns[i] = "advisor-" + p.name + "-%s" + ext
	}
	files, err := createUnique(dir, at, patterns...)
	if err != nil {
		return out, fmt.Errorf("save the profiles: %w", err)
	}
	out.Paths, err = writeFiles(files, func(i int, w io.Writer) error {
		_, err := w.Write(parts[i].body)
		return err
	})
	return out, err
}

func gzipped(b []byte) bool { return len(b) >= 2 && b[0] == 0x1f && b[1] == 0x8b }

// profilesSavedMsg is the result of the save key.
type profilesSavedMsg struct {
	// profile is the round saved.
	profile *pprof.Snapshot
	saved   SavedProfiles
	err     error
}

func saveProfilesCmd(dir string, p *ProfileMsg) tea.Cmd {
	return func() tea.Msg {
		saved, err := SaveProfiles(dir, p.Profile, p.At)
		return profilesSavedMsg{profile: p.Profile, saved: saved, err: err}
	}
}
