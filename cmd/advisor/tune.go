package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/pgadvisor/advisor/internal/config"
	"github.com/pgadvisor/advisor/internal/load"
	"github.com/pgadvisor/advisor/internal/probe"
	"github.com/pgadvisor/advisor/internal/report"
	"github.com/pgadvisor/advisor/internal/rules"
	"github.com/pgadvisor/advisor/internal/stack"
	"github.com/pgadvisor/advisor/internal/tune"
	"github.com/pgadvisor/advisor/sampleapp"
)

// Defaults of advisor tune that the reproducing command line leaves out.
const (
	defaultTuneWarmup   = 2 * time.Second
	defaultTuneSeverity = "info"
	defaultTuneProfileS = 3
)

type tuneFlags struct {
	auto           bool
	duration       time.Duration
	warmup         time.Duration
	connections    int
	out            string
	maxSteps       int
	minSeverity    string
	profile        string
	size           string
	profileSeconds int
	rulesFile      string
	// started on the private stack
	stackDir string
	pgPort   int
	redis    int
	database string
	fresh    bool
	// attached
	target   string
	admin    string
	pg       string
	redisURL string
	// attached to a fleet: its metrics through Prometheus
	prometheus     string
	selector       string
	pprofInstances int
}

func newTuneCmd() *cobra.Command {
	var f tuneFlags
	cmd := &cobra.Command{
		Use:   "tune",
		Short: "Tune the bundled sample service step by step, measuring each fix",
		Long: `tune starts sampleapp (the bundled reference service) on the private stack,
in its own seeded database, in the naive profile (or --profile), or attaches to
a running sampleapp with --target, --admin, --pg and --redis. Then it loops:

  1. a load step: --duration of the same request mix on --connections, with a
     report window inside it (after --warmup) analysed by the rules;
  2. the findings at or above --min-severity, ranked by estimated impact; the
     top one with a fix tune can apply is shown with its evidence and fix;
  3. the fix is applied (interactive: on y; --auto: at once) by setting the
     sampleapp knob the finding's rule maps to (a missing index on events:
     the index knob, which runs CREATE INDEX CONCURRENTLY: the only DDL
     advisor ever runs, and only on sampleapp);
  4. another load step measures the effect. A fix that made things worse
     (errors up more than one point, RPS down more than 10% with no gain in
     p95, or p95 up more than 25% with no gain in RPS), in that step and in
     a second measurement of the same state, is reverted; it is tried again
     once another fix has been kept, at most twice in all.

until no finding at or above the threshold remains, none left has a fix tune
can apply, or --max-steps fixes were tried. A finding whose rule maps to no
knob is shown and skipped, never applied blindly.

It prints a step table (RPS, p50, p95, p99, errors, DB queries and internal
hops per request), the fixes in the order chosen and why, a before/after table
and a chart of RPS and p95 per step; --out writes the same as Markdown, with
the chart as an SVG file next to it.`,
		Example: `  advisor tune --auto --out tune.md
  advisor tune --auto --size full --fresh --duration 20s --connections 64
  advisor tune --target http://127.0.0.1:8080 --admin http://127.0.0.1:8081 \
      --pg "$DATABASE_URL" --redis 127.0.0.1:26379`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runTune(cmd.Context(), cmd, &f)
		},
	}
	fl := cmd.Flags()
	fl.BoolVar(&f.auto, "auto", false, "apply every proposed fix at once, without asking (headless, for CI and benchmarks)")
	fl.DurationVar(&f.duration, "duration", 15*time.Second, "length of each load step")
	fl.DurationVar(&f.warmup, "warmup", defaultTuneWarmup, "load before the report window opens in each step")
	fl.IntVar(&f.connections, "connections", 64, "load generator connections (closed loop)")
	fl.StringVar(&f.out, "out", "", "write the run as Markdown to this file, and the chart as an SVG next to it")
	fl.IntVar(&f.maxSteps, "max-steps", tune.DefaultMaxSteps, "at most this many fixes are tried (a reverted fix counts)")
	fl.StringVar(&f.minSeverity, "min-severity", defaultTuneSeverity, "act on findings at or above: critical, warning, info (db.overfetch and db.cache-candidate are info)")
	fl.StringVar(&f.profile, "profile", sampleapp.ProfileNaive, "profile sampleapp starts in: naive or tuned")
	fl.StringVar(&f.size, "size", sizeSmall, sizeUsage)
	fl.IntVar(&f.profileSeconds, "profile-seconds", defaultTuneProfileS, "CPU profile taken inside each report window")
	fl.StringVar(&f.rulesFile, "rules", "", "rules file merged over the built-in rules.yaml")
	fl.StringVar(&f.stackDir, "stack-dir", stack.DefaultDir, "directory of the private stack")
	fl.IntVar(&f.pgPort, "pg-port", stack.DefaultPGPort, "PostgreSQL port of the private stack")
	fl.IntVar(&f.redis, "redis-port", stack.DefaultRedisPort, "Redis port of the private stack")
	fl.StringVar(&f.database, "database", "advisor_tune", "sampleapp's database on the private stack (created and seeded when missing)")
	fl.BoolVar(&f.fresh, "fresh", false, "drop and recreate that database first: a clean start")
	fl.StringVar(&f.target, "target", "", "attach: sampleapp's base URL (API, /metrics, /debug/pprof)")
	fl.StringVar(&f.admin, "admin", "", "attach: sampleapp's admin endpoint URL, through which knobs are set")
	fl.StringVar(&f.pg, "pg", "", "attach: sampleapp's PostgreSQL DSN")
	fl.StringVar(&f.redisURL, "redis", "", "attach: sampleapp's Redis host:port or URL")
	fl.StringVar(&f.prometheus, "prometheus", "", "attach: a Prometheus scraping every sampleapp instance, to read their metrics through")
	fl.StringVar(&f.selector, "selector", "", `attach, with --prometheus: label matchers of sampleapp's series, e.g. 'job="sampleapp"'`)
	fl.IntVar(&f.pprofInstances, "pprof-instances", 0, "attach, with --prometheus: how many instances to profile (default 1)")
	return cmd
}

func (f *tuneFlags) attached() bool {
	return f.target != "" || f.admin != "" || f.pg != "" || f.redisURL != "" || f.prometheus != ""
}

// target is what tune measures and tunes.
type tuneTarget struct {
	load    load.Config
	sources config.Sources
	knobs   tune.Knobs
	desc    string
	close   func() error
}

func runTune(ctx context.Context, cmd *cobra.Command, f *tuneFlags) error {
	size, err := parseSize(cmd, &f.size)
	if err != nil {
		return err
	}
	minSev, err := rules.ParseSeverity(f.minSeverity)
	if err != nil {
		return usageError{fmt.Errorf("--min-severity: %w", err)}
	}
	if f.connections <= 0 {
		return usageError{errors.New("--connections must be positive")}
	}
	if _, err := sampleapp.ProfileSettings(f.profile); err != nil {
		return usageError{fmt.Errorf("--profile: %w", err)}
	}
	set, err := rules.Default(f.rulesFile)
	if err != nil {
		return usageError{err}
	}
	live := &tune.Live{Duration: f.duration, Warmup: f.warmup, ProfileSeconds: f.profileSeconds,
		Rules: set, Registry: rules.Builtin()}
	if err := live.Validate(); err != nil {
		return usageError{fmt.Errorf("--duration/--warmup: %w", err)}
	}

	var in *os.File
	if !f.auto {
		file, ok := cmd.InOrStdin().(*os.File)
		if !ok || !report.IsTerminal(file) {
			return usageError{errors.New("interactive tune needs a terminal: pass --auto to run without one")}
		}
		in = file
	}
	stderr := cmd.ErrOrStderr()
	errFile, _ := stderr.(*os.File)
	tty := errFile != nil && report.IsTerminal(errFile)
	logf := func(format string, args ...any) {
		if tty {
			fmt.Fprintf(stderr, format+"\n", args...)
		}
	}

	var tgt *tuneTarget
	if f.attached() {
		tgt, err = attachTarget(f, size)
	} else {
		tgt, err = startTarget(ctx, f, size, logf)
	}
	if err != nil {
		return err
	}
	defer func() {
		if cerr := tgt.close(); cerr != nil {
			fmt.Fprintln(stderr, "advisor: warning: stopping sampleapp:", cerr)
		}
	}()
	live.Load = tgt.load
	live.Load.Connections = f.connections
	live.Probe = probe.Config{Sources: tgt.sources}

	info := tune.RunInfo{Command: tuneCommandLine(f), Target: tgt.desc, Duration: f.duration, Connections: f.connections, Started: time.Now()}
	cfg := tune.Config{Measurer: live, Knobs: tgt.knobs, MaxSteps: f.maxSteps, MinSeverity: minSev}

	var res *tune.Result
	if f.auto {
		if tty {
			live.Progress = func(elapsed, total time.Duration) {
				fmt.Fprintf(stderr, "\r\033[K  report window: %s of %s", elapsed.Round(time.Second), total)
			}
			cfg.Events = func(e tune.Event) { autoProgress(stderr, e) }
		}
		res, err = tune.Run(ctx, cfg)
	} else {
		ui := tune.NewUI(in, stderr)
		cfg.Decider = ui
		cfg.Events = ui.Event
		live.Progress = ui.Progress
		res, err = ui.Run(ctx, func(ctx context.Context) (*tune.Result, error) { return tune.Run(ctx, cfg) })
	}
	if res != nil {
		bw := bufio.NewWriter(cmd.OutOrStdout())
		fmt.Fprintf(bw, "advisor tune: %s; each step %s on %d connections\n\n", tgt.desc, f.duration, f.connections)
		if werr := tune.WriteText(bw, res); werr != nil {
			return werr
		}
		if ferr := bw.Flush(); ferr != nil {
			return ferr
		}
		if f.out != "" {
			if werr := writeTuneMarkdown(f.out, info, res); werr != nil {
				return fmt.Errorf("--out: %w", werr)
			}
		}
	}
	return err
}

// autoProgress prints the loop's progress on a terminal's stderr.
func autoProgress(w io.Writer, e tune.Event) {
	switch e.Kind {
	case tune.Measuring:
		if e.Again {
			fmt.Fprintf(w, "\r\033[Kstep %d: looked worse than the last kept step, measuring again\n", e.Step)
			return
		}
		fmt.Fprintf(w, "\r\033[Kstep %d: measuring\n", e.Step)
	case tune.Measured:
		s := e.Result.Steps[len(e.Result.Steps)-1]
		fmt.Fprintf(w, "\r\033[Kstep %d: %.1f RPS, p95 %s, %d finding(s) at the threshold", s.N, s.Metrics.RPS, s.Metrics.P95.Round(100*time.Microsecond), len(s.Findings))
		if s.Outcome == tune.Reverted {
			fmt.Fprintf(w, "; made things worse (%s): reverted", s.Verdict)
		}
		fmt.Fprintln(w)
	case tune.Proposing:
		p := e.Proposal
		fmt.Fprintf(w, "\r\033[Kstep %d: applying %s for %s (%s, impact %.0f%%)\n", p.Step, p.Action, p.Finding.Rule, p.Finding.Subject, 100*p.Finding.Impact)
	case tune.SkippedFinding:
		s := e.Result.Skipped[len(e.Result.Skipped)-1]
		fmt.Fprintf(w, "\r\033[K  not applied: %s %s: %s\n", s.Finding.Rule, s.Finding.Subject, s.Reason)
	case tune.Stopped:
		fmt.Fprintf(w, "\r\033[Kstopped: %s\n", e.Result.Stop)
	}
}

func startTarget(ctx context.Context, f *tuneFlags, size sampleapp.Size, logf func(string, ...any)) (*tuneTarget, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find advisor's executable to start sampleapp with: %w", err)
	}
	loc, err := tune.StartLocal(ctx, tune.LocalOptions{
		Stack:    stack.Config{Dir: f.stackDir, PGPort: f.pgPort, RedisPort: f.redis, Log: logf},
		Database: f.database, Fresh: f.fresh, Size: size, Profile: f.profile, Log: logf,
		Command: append([]string{exe}, sampleappServe...),
	})
	if err != nil {
		return nil, err
	}
	return &tuneTarget{
		load:    loc.LoadConfig(f.connections, f.duration),
		sources: loc.Sources(),
		knobs:   loc.Knobs(),
		desc: fmt.Sprintf("sampleapp started by tune as process %d in the %s profile on database %s of the private stack, data set %v",
			loc.Process.PID, f.profile, f.database, size),
		close: loc.Close,
	}, nil
}

func attachTarget(f *tuneFlags, size sampleapp.Size) (*tuneTarget, error) {
	if f.target == "" || f.admin == "" {
		return nil, usageError{errors.New("to attach, give at least --target and --admin (and --pg, --redis for the database and cache rules)")}
	}
	src := config.Sources{Target: f.target, PG: f.pg, Redis: f.redisURL, Prometheus: f.prometheus, Selector: f.selector,
		PprofInstances: f.pprofInstances}
	if err := src.Validate(); err != nil {
		return nil, usageError{err}
	}
	mix, vars, header := sampleapp.LoadMix(size)
	return &tuneTarget{
		load:    load.Config{BaseURL: f.target, Mix: mix, Vars: vars, Header: header, Timeout: 30 * time.Second},
		sources: src,
		knobs:   tune.AdminKnobs{URL: f.admin},
		desc:    fmt.Sprintf("sampleapp at %s (knobs through %s), load over data set %v", f.target, f.admin, size),
		close:   func() error { return nil },
	}, nil
}

// tuneCommandLine is the command that reproduces the run, without the
// attach flags' values (a DSN may carry a password).
func tuneCommandLine(f *tuneFlags) string {
	parts := []string{"advisor tune"}
	if f.auto {
		parts = append(parts, "--auto")
	}
	parts = append(parts, "--duration", f.duration.String(), "--connections", fmt.Sprint(f.connections), "--size", f.size)
	if f.profile != sampleapp.ProfileNaive {
		parts = append(parts, "--profile", f.profile)
	}
	if f.fresh {
		parts = append(parts, "--fresh")
	}
	if f.warmup != defaultTuneWarmup {
		parts = append(parts, "--warmup", f.warmup.String())
	}
	if f.minSeverity != defaultTuneSeverity {
		parts = append(parts, "--min-severity", f.minSeverity)
	}
	if f.profileSeconds != defaultTuneProfileS {
		parts = append(parts, "--profile-seconds", fmt.Sprint(f.profileSeconds))
	}
	if f.maxSteps != tune.DefaultMaxSteps {
		parts = append(parts, "--max-steps", fmt.Sprint(f.maxSteps))
	}
	if f.attached() {
		parts = append(parts, "--target URL --admin URL --pg DSN --redis ADDR")
	}
	if f.out != "" {
		parts = append(parts, "--out", filepath.Base(f.out))
	}
	return strings.Join(parts, " ")
}

// writeTuneMarkdown writes the Markdown report and its SVG chart next to it.
func writeTuneMarkdown(path string, info tune.RunInfo, res *tune.Result) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	svg := tune.SVGPath(path)
	if err := writeFileAtomic(svg, func(w io.Writer) error { return tune.WriteSVG(w, res.Steps) }); err != nil {
		return err
	}
	return writeFileAtomic(path, func(w io.Writer) error { return tune.WriteMarkdown(w, info, res, filepath.Base(svg)) })
}
