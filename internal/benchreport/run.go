package benchreport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Config says where and how bench-report runs its jobs.
type Config struct {
	// Root is the repository's root, where every command runs.
	Root string
	// LogDir keeps each job's output (a file per job); empty: not kept.
	LogDir string
	// Progress receives a line as each job starts and ends.
	Progress io.Writer
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// JobError is a job that failed: its rows keep their old figures.
type JobError struct {
	Job  Job
	Rows []string
	Err  error
}

func (e *JobError) Error() string {
	return fmt.Sprintf("job `%s` (rows %s): %v", e.Job.Command, strings.Join(e.Rows, ", "), e.Err)
}

func (e *JobError) Unwrap() error { return e.Err }

// Select is the rows of all whose ids are in ids, in all's order; every id
// must name a row.
func Select(all []Row, ids []string) ([]Row, error) {
	want := map[string]bool{}
	for _, id := range ids {
		want[id] = true
	}
	var out []Row
	for _, r := range all {
		if want[r.ID] {
			out = append(out, r)
			delete(want, r.ID)
		}
	}
	for id := range want {
		return nil, fmt.Errorf("no row %q (bench-report --list lists them)", id)
	}
	return out, nil
}

// Run runs the jobs of rows, one after the other (each job once, however
// many of the rows read it) and returns the figures of the rows measured.
// A job that fails, or whose output lacks a row's figure, leaves its rows
// out of the result and adds a *JobError to the joined error; the others go
// on.
func Run(ctx context.Context, cfg Config, rows []Row) (map[string]Measured, error) {
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	progress := cfg.Progress
	if progress == nil {
		progress = io.Discard
	}
	var jobs []Job
	rowsOf := map[Job][]Row{}
	for _, r := range rows {
		if _, ok := rowsOf[r.Job]; !ok {
			jobs = append(jobs, r.Job)
		}
		rowsOf[r.Job] = append(rowsOf[r.Job], r)
	}
	measured := map[string]Measured{}
	var errs []error
	for i, job := range jobs {
		ids := make([]string, len(rowsOf[job]))
		for k, r := range rowsOf[job] {
			ids[k] = r.ID
		}
		fmt.Fprintf(progress, "bench-report: job %d/%d `%s` (rows %s)\n", i+1, len(jobs), job.Command, strings.Join(ids, ", "))
		load := loadAverage()
		start := now()
		out, err := runJob(ctx, cfg, job)
		end := now()
		took := end.Sub(start)
		if err != nil {
			fmt.Fprintf(progress, "bench-report: job `%s` FAILED after %s: %v\n", job.Command, FormatTook(took), err)
			errs = append(errs, &JobError{Job: job, Rows: ids, Err: err})
			continue
		}
		var failed []string
		var ferrs []error
		for _, r := range rowsOf[job] {
			fig, err := r.Figure(out)
			if err != nil {
				failed = append(failed, r.ID)
				ferrs = append(ferrs, fmt.Errorf("row %s: %w", r.ID, err))
				continue
			}
			measured[r.ID] = Measured{Figure: fig, At: end, Took: took, Load: load}
			fmt.Fprintf(progress, "bench-report: %s: %s (took %s)\n", r.ID, fig, FormatTook(took))
		}
		if len(failed) > 0 {
			errs = append(errs, &JobError{Job: job, Rows: failed, Err: errors.Join(ferrs...)})
		}
		if ctx.Err() != nil {
			break
		}
	}
	return measured, errors.Join(errs...)
}

// runJob runs job's command under sh in the root and gathers its output.
func runJob(ctx context.Context, cfg Config, job Job) (*Output, error) {
	if job.File != "" {
		file := filepath.Join(cfg.Root, job.File)
		if err := os.Remove(file); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
		if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
			return nil, err
		}
	}
	cmd := exec.CommandContext(ctx, "sh", "-c", job.Command)
	cmd.Dir = cfg.Root
	var log strings.Builder
	cmd.Stdout, cmd.Stderr = &log, &log
	runErr := cmd.Run()
	out := &Output{Log: []byte(log.String())}
	if cfg.LogDir != "" {
		if err := os.MkdirAll(cfg.LogDir, 0o755); err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(cfg.LogDir, logName(job)), out.Log, 0o644); err != nil {
			return nil, err
		}
	}
	if runErr != nil {
		return nil, fmt.Errorf("%w; its output ends:\n%s", runErr, tail(out.Log, 15))
	}
	var err error
	if out.Benchmarks, err = ParseBench(out.Log); err != nil {
		return nil, err
	}
	if job.File != "" {
		if out.File, err = os.ReadFile(filepath.Join(cfg.Root, job.File)); err != nil {
			return nil, fmt.Errorf("its figures file: %w", err)
		}
	}
	return out, nil
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// logName is a file name for the log of job.
func logName(job Job) string {
	name := strings.Trim(unsafeName.ReplaceAllString(job.Command, "_"), "_")
	if len(name) > 100 {
		name = name[:100]
	}
	return name + ".log"
}

// tail is the last n lines of out.
func tail(out []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// loadAverage is the one-minute load average (Linux), or 0.
func loadAverage() float64 {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	fields := strings.Fields(string(data))
	if len(fields) == 0 {
		return 0
	}
	v, err := strconv.ParseFloat(fields[0], 64)
	if err != nil {
		return 0
	}
	return v
}
