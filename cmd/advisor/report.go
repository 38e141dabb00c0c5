package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/pgadvisor/advisor/internal/probe"
	"github.com/pgadvisor/advisor/internal/report"
	"github.com/pgadvisor/advisor/internal/rules"
)

// Exit codes of advisor report (docs/design.md).
const (
	exitFindings = 1
	exitNoSource = 3
	// A regression fails the run like a finding does (issue 20: exit codes
	// keep their meaning); stderr names each regression.
	exitRegression  = 1
	defaultFailOn   = "warning"
	defaultWindow   = 10 * time.Second
	defaultProfileS = 5
)

type reportFlags struct {
	sources        sourceFlags
	formats        []string
	outs           []string
	failOn         string
	minConfidence  string
	baseline       string
	writeBaseline  string
	window         time.Duration
	profileSeconds int
	rulesFile      string
	timeout        time.Duration
	maxDumpStop    time.Duration
	compare        string
	// failOnRegression and thresholds are --fail-on-regression and
	// --threshold; fileThresholds are the config file's, applied first.
	failOnRegression bool
	thresholds       []string
	fileThresholds   []string
}

func newReportCmd() *cobra.Command {
	var f reportFlags
	cmd := &cobra.Command{
		Use:   "report [sources]",
		Short: "Analyse a service, its PostgreSQL and its Redis once, and print the findings",
		Long: `report takes two snapshots of every source --window apart (with a CPU profile
of --profile-seconds inside the window), runs the rules and prints the findings.
With --window 0 it takes one snapshot and analyses the statistics accumulated
since their last reset, without waiting: run the test or load suite first, then
ask what it did. The rules that sample request goroutines while the load runs
(app.blocking-io, app.inline-work, app.lock-contention, http.saturation) need
a window during the load, and so do service.queueing and runtime.workers to
tell a saturated host apart; --window 0 gives the same findings as such a
window for every rule that reads counters.

Formats: text, markdown, json (schema advisor.report/v1), sarif (2.1.0),
junit, github-actions (annotations as workflow commands) and gitlab (Code
Quality JSON; code-climate is the same). --format FORMAT[:PATH] may repeat,
each format with its file; without a path, or with -, it prints to standard
output, which one format at most may use. --out FILE alone takes the format
from the extension (.sarif, .json, .md, .xml for junit, .txt); beside one
--format it is that format's file. Any other mix of --format and --out is a
usage error that says the --format flags to write instead.

--compare FILE holds this run against an earlier JSON report: every format
gets a before/after/change section for the service and each route (rate,
p50/p95/p99, error share, PostgreSQL queries and time, Redis and outbound
calls and CPU per request) and the findings that appeared and disappeared.
A figure regresses when it moves the wrong way by more than its relative
threshold and its absolute floor, on a route with at least min_requests on
both sides; --fail-on-regression fails the run on any. --threshold
NAME=VALUE (repeatable) sets a figure's threshold: REL%, ABS, REL%,ABS or
off (error_share's ABS in percentage points), or min_requests=N. Defaults:
p95_ms=20%,5 db_queries_per_request=50%,1 error_share=1 rps=20%
min_requests=100.

Sources and options may also come from a config file: --config FILE, else
the first .advisor.yaml or advisor.yaml found from the working directory up
(named on standard error); --no-config reads none. Its report section holds
formats (FORMAT[:PATH] each), fail_on, min_confidence, baseline, window,
profile_seconds, fail_on_regression and thresholds (NAME: VALUE; a
--threshold flag overrides the file's threshold of the same figure).
A flag overrides the environment (DATABASE_URL, PG*, REDIS_URL), which
overrides the file, which overrides the defaults.

Every finding carries a confidence (low, medium, high, with a score from 0 to
1) from the amount of evidence it rests on: calls, samples, seconds, or a
measurement that verified it. --min-confidence medium leaves out the low ones,
from the outputs and from the exit code.

Exit codes: 0 no finding at or above --fail-on (and no regression with
--fail-on-regression); 1 findings at or above it (not counting those in
--baseline), or a regression against --compare with --fail-on-regression; 2
usage or configuration error; 3 no source could be probed at all.`,
		Example: `  advisor report --target http://127.0.0.1:8080 --pg "$DATABASE_URL" --redis 127.0.0.1:6379
  advisor report --window 0 --format sarif:advisor.sarif --fail-on warning
  advisor report --format json:report.json --format markdown:report.md --format text
  advisor report --window 0 --format github-actions --format sarif:advisor.sarif
  advisor report --window 0 --format gitlab:gl-code-quality-report.json
  advisor report --out report.json
  advisor report --window 0 --format json:after.json --format markdown:compare.md \
      --compare before.json --fail-on-regression --threshold p95_ms=30%,10`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runReport(cmd.Context(), cmd, &f)
		},
	}
	f.sources.register(cmd)
	fl := cmd.Flags()
	fl.StringArrayVar(&f.formats, "format", nil, "output FORMAT[:PATH], FORMAT one of "+report.FormatNames()+
		" (repeatable; no PATH or - is standard output; default text)")
	fl.StringArrayVar(&f.outs, "out", nil, "file of the one --format, or alone a file whose extension names its format: .sarif, .json, .md, .xml, .txt (repeatable alone)")
	_ = cmd.RegisterFlagCompletionFunc("format", completeFormat)
	fl.StringVar(&f.failOn, "fail-on", defaultFailOn, "exit 1 on findings at or above: critical, warning, info, never")
	fl.StringVar(&f.minConfidence, "min-confidence", "low", "leave out findings less sure than: low, medium, high, or a score from 0 to 1")
	fl.StringVar(&f.baseline, "baseline", "", "baseline file: findings in it are shown as known and do not fail the run")
	fl.StringVar(&f.writeBaseline, "write-baseline", "", "write the findings of this run as a baseline file")
	fl.DurationVar(&f.window, "window", defaultWindow, "observation window; 0 analyses the cumulative statistics since their last reset")
	fl.IntVar(&f.profileSeconds, "profile-seconds", defaultProfileS, "length of the CPU profile taken inside the window")
	fl.StringVar(&f.rulesFile, "rules", "", "rules file merged over the built-in rules.yaml")
	fl.DurationVar(&f.timeout, "probe-timeout", 5*time.Second, "time limit of each source's probe")
	fl.DurationVar(&f.maxDumpStop, "max-dump-stop", probe.DefaultMaxDumpStop, maxDumpStopUsage)
	fl.StringVar(&f.compare, "compare", "", "an earlier JSON report to compare this run's figures and findings with")
	fl.BoolVar(&f.failOnRegression, "fail-on-regression", false, "exit 1 when a figure regressed against --compare beyond its threshold")
	fl.StringArrayVar(&f.thresholds, "threshold", nil, "regression threshold NAME=VALUE (repeatable): NAME one of "+
		strings.Join(report.MetricNames(), ", ")+" with REL%, ABS, REL%,ABS or off; or "+report.ThresholdMinRequests+"=N")
	return cmd
}

func runReport(ctx context.Context, cmd *cobra.Command, f *reportFlags) error {
	file, err := f.sources.config.load(cmd)
	if err != nil {
		return err
	}
	f.fromFile(cmd.Flags(), file)
	outs, err := parseOutputs(f.formats, f.outs)
	if err != nil {
		return err
	}
	threshold, err := rules.ParseThreshold(f.failOn)
	if err != nil {
		return usageError{fmt.Errorf("--fail-on: %w", err)}
	}
	minConf, err := rules.ParseConfidence(f.minConfidence)
	if err != nil {
		return usageError{fmt.Errorf("--min-confidence: %w", err)}
	}
	if err := checkMaxDumpStop(f.maxDumpStop); err != nil {
		return err
	}
	if f.window < 0 {
		return usageError{errors.New("--window must not be negative")}
	}
	if f.profileSeconds < 0 {
		return usageError{errors.New("--profile-seconds must not be negative")}
	}
	set, err := rules.Default(f.rulesFile)
	if err != nil {
		return usageError{err}
	}
	thresholds, err := f.regressionThresholds()
	if err != nil {
		return err
	}
	var before *report.Report
	if f.compare != "" {
		if before, err = readReport(f.compare); err != nil {
			return usageError{err}
		}
	} else if f.failOnRegression && cmd.Flags().Changed("fail-on-regression") {
		fmt.Fprintln(cmd.ErrOrStderr(), "advisor: --fail-on-regression without --compare: no earlier report to compare with")
	}
	var base report.Baseline
	if f.baseline != "" {
		base, err = readBaseline(f.baseline)
		if err != nil {
			return usageError{err}
		}
	}
	src, err := f.sources.resolve(cmd, file)
	if err != nil {
		return err
	}
	// A fleet's per-instance figures cover the window (a minute for the
	// cumulative --window 0).
	fleetRange := f.window
	if fleetRange <= 0 {
		fleetRange = time.Minute
	}
	probes, err := probe.Open(ctx, probe.Config{Sources: src, Timeout: f.timeout, FleetRange: fleetRange, MaxDumpStop: maxDumpStop(f.maxDumpStop)})
	if err != nil {
		return usageError{err}
	}
	defer probes.Close()

	stderr := cmd.ErrOrStderr()
	progress := progressLine(stderr)
	w, err := probes.Observe(ctx, probe.ObserveOptions{Window: f.window, ProfileSeconds: f.profileSeconds, Progress: progress})
	if progress != nil {
		fmt.Fprint(stderr, "\r\033[K")
	}
	if err != nil {
		return err
	}

	if short := shortWindowNote(f.window, w); short != "" {
		fmt.Fprintln(stderr, "advisor:", short)
	}
	// One input for the rules and the time split, so that both read the
	// same views of the window.
	a := rules.Analyse(ctx, &rules.Input{Window: w, Explainer: probes.Explainer()}, set, rules.Builtin())
	// Findings less sure than --min-confidence are left out of every
	// output, the baseline written and the exit code alike.
	findings := rules.Confident(a.Findings, minConf)
	for _, e := range a.Errors {
		fmt.Fprintln(stderr, "advisor: warning:", e)
	}
	// window_seconds is the observed window, 0 for cumulative statistics (as
	// --window 0 asks).
	var window time.Duration
	if !w.Cumulative {
		window = time.Duration(w.Seconds * float64(time.Second)).Round(100 * time.Millisecond)
	}
	rep := report.New(time.Now(), window, report.SourcesOf(w), findings, base).WithSplit(a.Split).WithStatements(w.Postgres)
	if before != nil {
		rep.Compare(before, thresholds)
	}

	wd, _ := os.Getwd()
	opts := report.Options{
		Rules:       ruleInfos(set),
		FailOn:      threshold,
		ToolVersion: buildVersion().Version,
		WorkDir:     wd,
		ModulePath:  modulePath(wd),
		Anchor:      report.FindAnchor(wd),

		FailOnRegression: f.failOnRegression,
	}
	for _, o := range outs {
		if err := writeOutput(cmd, o, rep, opts); err != nil {
			return err
		}
	}
	if f.writeBaseline != "" {
		if err := writeFileAtomic(f.writeBaseline, func(w io.Writer) error { return report.WriteBaseline(w, findings) }); err != nil {
			return fmt.Errorf("write baseline: %w", err)
		}
	}
	if rep.AllUnavailable() {
		return exitError{code: exitNoSource, err: noSourceError(rep)}
	}
	if threshold != rules.Never && len(rep.Failing(threshold)) > 0 {
		return exitError{code: exitFindings}
	}
	if f.failOnRegression && rep.Regressed() {
		return exitError{code: exitRegression, err: regressionError(rep.Comparison, f.compare)}
	}
	return nil
}

// shortWindowNote says why the window observed is shorter than the one
// asked, by more than a tenth: the sources answered the first reading
// slowly, and the last was asked for early (probe.Observe); "" otherwise.
func shortWindowNote(asked time.Duration, w *probe.Window) string {
	if asked <= 0 || w.Cumulative {
		return ""
	}
	got := time.Duration(w.Seconds * float64(time.Second))
	if got >= asked*9/10 {
		return ""
	}
	return fmt.Sprintf("the window covers %s of the %s asked: the sources answered the first reading slowly "+
		"(a service busy with queued requests answers /metrics after them), and the last was asked for early "+
		"so that the report ends with the window", got.Round(100*time.Millisecond), asked)
}

// regressionThresholds are the defaults, then the config file's
// thresholds, then the --threshold flags: each figure's last setting wins.
func (f *reportFlags) regressionThresholds() (report.Thresholds, error) {
	th := report.DefaultThresholds()
	for _, spec := range f.fileThresholds {
		if err := th.Set(spec); err != nil {
			return th, usageError{fmt.Errorf("config report.thresholds: %w", err)}
		}
	}
	for _, spec := range f.thresholds {
		if err := th.Set(spec); err != nil {
			return th, usageError{fmt.Errorf("--threshold: %w", err)}
		}
	}
	return th, nil
}

// regressionError says which figures regressed against which report.
func regressionError(c *report.Comparison, path string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%d regression(s) against %s:", len(c.Regressions), path)
	for _, line := range report.RegressionLines(c) {
		b.WriteString("\n  " + line)
	}
	return errors.New(b.String())
}

// readReport reads an earlier JSON report for --compare.
func readReport(path string) (*report.Report, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--compare: %w", err)
	}
	var r report.Report
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("--compare %s: %w: %w", path, report.ErrNotAReport, err)
	}
	if err := report.CheckComparable(&r); err != nil {
		return nil, fmt.Errorf("--compare %s: %w", path, err)
	}
	return &r, nil
}

// noSourceError says what was tried and why each source failed.
func noSourceError(rep *report.Report) error {
	var b strings.Builder
	b.WriteString("no source could be probed:")
	for _, name := range probe.SourceNames {
		s := rep.Sources[name]
		fmt.Fprintf(&b, "\n  %-9s %s: %s", name, s.Status, s.Detail)
	}
	return errors.New(b.String())
}

func writeOutput(cmd *cobra.Command, o output, rep *report.Report, opts report.Options) error {
	if o.path == "" {
		opts.Color = o.format == report.FormatText && isStdout(cmd.OutOrStdout()) && report.ColorEnabled(os.Stdout)
		bw := bufio.NewWriter(cmd.OutOrStdout())
		if err := report.Print(bw, o.format, rep, opts); err != nil {
			return err
		}
		return bw.Flush()
	}
	return writeFileAtomic(o.path, func(w io.Writer) error { return report.Print(w, o.format, rep, opts) })
}

func isStdout(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && f == os.Stdout
}

// writeFileAtomic writes path through a temporary file in the same directory.
func writeFileAtomic(path string, write func(io.Writer) error) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, ".advisor-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	bw := bufio.NewWriter(tmp)
	if err := write(bw); err != nil {
		tmp.Close()
		return err
	}
	if err := bw.Flush(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

func readBaseline(path string) (report.Baseline, error) {
	fh, err := os.Open(path)
	if err != nil {
		return report.Baseline{}, fmt.Errorf("baseline: %w", err)
	}
	defer fh.Close()
	b, err := report.ReadBaseline(fh)
	if err != nil {
		return report.Baseline{}, fmt.Errorf("baseline %s: %w", path, err)
	}
	return b, nil
}

// ruleInfos documents every rule of the set for SARIF and JUnit.
func ruleInfos(set *rules.Set) []report.RuleInfo {
	var out []report.RuleInfo
	for _, r := range set.Rules {
		if !r.Enabled {
			continue
		}
		out = append(out, report.RuleInfo{ID: r.ID, Severity: r.Severity, Title: r.Docs.Summary,
			Why: r.Docs.Why, Detection: r.Docs.Detection, Fix: r.Docs.Fix, Links: r.Docs.Links})
	}
	return out
}

// modulePath reads the module line of dir/go.mod, if there is one.
func modulePath(dir string) string {
	data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "module "); ok {
			return strings.Trim(strings.TrimSpace(rest), `"`)
		}
	}
	return ""
}

// progressLine returns a progress callback writing one updating line to w,
// or nil when w is not a terminal (no control characters in CI logs).
func progressLine(w io.Writer) func(elapsed, total time.Duration) {
	f, ok := w.(*os.File)
	if !ok || !report.IsTerminal(f) {
		return nil
	}
	return func(elapsed, total time.Duration) {
		fmt.Fprintf(f, "\r\033[Kobserving: %s of %s", elapsed.Round(time.Second), total)
	}
}
