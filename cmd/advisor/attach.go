package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/muesli/termenv"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/pgadvisor/advisor/internal/config"
	"github.com/pgadvisor/advisor/internal/probe"
	"github.com/pgadvisor/advisor/internal/probe/source"
	"github.com/pgadvisor/advisor/internal/report"
	"github.com/pgadvisor/advisor/internal/rules"
	"github.com/pgadvisor/advisor/internal/ui"
)

type attachFlags struct {
	sources        sourceFlags
	interval       time.Duration
	span           time.Duration
	profileSeconds int
	rulesFile      string
	timeout        time.Duration
	maxDumpStop    time.Duration
	exportDir      string
	headless       bool
	duration       time.Duration
	holdReadings   int
	sampleEvery    time.Duration
}

func (f *attachFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.DurationVar(&f.interval, "interval", ui.DefaultInterval, "time between two readings of the sources")
	fl.DurationVar(&f.span, "analysis-window", ui.DefaultAnalysisSpan, "how far back the window the rules and panes analyse reaches")
	fl.IntVar(&f.holdReadings, "hold-readings", ui.DefaultHoldReadings, "consecutive readings that must agree before a finding appears or leaves the screen (1: show each reading as it is)")
	fl.DurationVar(&f.sampleEvery, "sample-every", ui.DefaultSampleEvery, "time between two readings over attach's first 20 s, so that the first findings come within seconds, and after that between the goroutine dumps taken between readings while a finding that counts goroutine samples is shown (0: --interval from the start, no dumps between)")
	fl.IntVar(&f.profileSeconds, "profile-seconds", ui.DefaultProfileSeconds, "length of the CPU profile p takes")
	fl.StringVar(&f.rulesFile, "rules", "", "rules file merged over the built-in rules.yaml")
	fl.DurationVar(&f.timeout, "probe-timeout", 5*time.Second, "time limit of each source's probe")
	fl.DurationVar(&f.maxDumpStop, "max-dump-stop", probe.DefaultMaxDumpStop, maxDumpStopUsage)
	fl.StringVar(&f.exportDir, "export-dir", ".", "directory e writes the report to (markdown and JSON) and w the last CPU and goroutine profiles; with --headless, where the last analysis is written when attach stops")
	fl.BoolVar(&f.headless, "headless", false, "run the same polling and analysis without a UI, logging one line per analysis to stderr (for CI and benchmarks)")
	fl.DurationVar(&f.duration, "duration", 0, "with --headless: stop after this long (default: until interrupted)")
}

func (f *attachFlags) check() error {
	if f.interval < 200*time.Millisecond {
		return usageError{fmt.Errorf("--interval %s is too short (at least 200ms)", f.interval)}
	}
	if f.span < f.interval {
		return usageError{fmt.Errorf("--analysis-window %s is shorter than --interval %s", f.span, f.interval)}
	}
	if f.holdReadings < 1 {
		return usageError{errors.New("--hold-readings must be at least 1")}
	}
	if err := checkMaxDumpStop(f.maxDumpStop); err != nil {
		return err
	}
	if f.sampleEvery != 0 && f.sampleEvery < 200*time.Millisecond {
		return usageError{fmt.Errorf("--sample-every %s is too short (at least 200ms, or 0)", f.sampleEvery)}
	}
	if f.profileSeconds < 1 {
		return usageError{errors.New("--profile-seconds must be at least 1")}
	}
	if st, err := os.Stat(f.exportDir); err != nil || !st.IsDir() {
		return usageError{fmt.Errorf("--export-dir %s is not a directory", f.exportDir)}
	}
	return nil
}

func newAttachCmd() *cobra.Command {
	var f attachFlags
	cmd := &cobra.Command{
		Use:   "attach [sources]",
		Short: "Watch a service, its PostgreSQL and its Redis live in the terminal",
		Long: `attach reads every source each --interval and shows the service in a
terminal UI: health and sparklines, the findings with their evidence and fix,
the queries of pg_stat_statements with their plans, tables and indexes, pools
and connections, Redis, and the Go runtime. space pauses the readings (the
panes keep what they show; space again resumes), p takes a CPU profile, w
saves it with the goroutine profile for go tool pprof, e exports the report
(markdown and JSON), y copies the fix of a finding, ? shows every key, q
quits.

A source that goes away shows as LOST and is read again at each interval;
the UI keeps running. NO_COLOR turns colours off. The sources and --rules
may come from a config file, as for advisor report (--config, .advisor.yaml).

--headless runs the same polling and analysis without a UI (for CI, a
daemon or a benchmark): it logs a line per analysis to standard error, and a
line whenever a source's state changes with what is wrong and how to fix it.
With --export-dir it writes the report of the last analysis there on stop.

Exit codes: 0 after q (or --duration); 1 the last report could not be
written; 2 usage or configuration error, or standard output is
not a terminal (use advisor report there); 3 no source could be probed at
all at start.`,
		Example: `  advisor attach --target http://127.0.0.1:8080 --pg "$DATABASE_URL" --redis 127.0.0.1:6379
  advisor attach --pg "$DATABASE_URL" --interval 5s
  advisor attach --headless --duration 10m --export-dir out --target http://127.0.0.1:8080 --pg "$DATABASE_URL"`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := f.check(); err != nil {
				return err
			}
			if !f.headless && !isTerminalWriter(cmd.OutOrStdout()) {
				fmt.Fprintf(cmd.OutOrStdout(), "advisor attach needs a terminal. For a one-shot report of the same sources, run:\n\n  %s\n",
					reportCommand(cmd.Flags()))
				return exitError{code: exitUsage, err: errors.New("standard output is not a terminal")}
			}
			file, err := f.sources.config.load(cmd)
			if err != nil {
				return err
			}
			if !cmd.Flags().Changed("rules") && file.Rules != "" {
				f.rulesFile = file.Rules
			}
			src, err := f.sources.resolve(cmd, file)
			if err != nil {
				return err
			}
			return runAttach(cmd.Context(), cmd, &f, src)
		},
	}
	f.sources.register(cmd)
	f.register(cmd)
	return cmd
}

// isTerminalWriter reports whether w is this process' standard output and a
// terminal.
func isTerminalWriter(w io.Writer) bool {
	return isStdout(w) && report.IsTerminal(os.Stdout)
}

// runAttach opens the probes, checks that a source answers and runs the UI
// until q (or ctx ends).
func runAttach(ctx context.Context, cmd *cobra.Command, f *attachFlags, src config.Sources) error {
	set, err := rules.Default(f.rulesFile)
	if err != nil {
		return usageError{err}
	}
	probes, err := probe.Open(ctx, probe.Config{Sources: src, Timeout: f.timeout, FleetRange: f.span, MaxDumpStop: maxDumpStop(f.maxDumpStop)})
	if err != nil {
		return usageError{err}
	}
	defer probes.Close()

	stderr := cmd.ErrOrStderr()
	progress := progressLine(stderr) != nil
	if progress {
		fmt.Fprint(stderr, "advisor: reading the sources…")
	}
	first := probes.Snapshot(ctx)
	if progress {
		fmt.Fprint(stderr, "\r\033[K")
	}
	if !anyOK(first) {
		return exitError{code: exitNoSource, err: noSourceAtStart(first)}
	}

	if os.Getenv("NO_COLOR") != "" {
		lipgloss.SetColorProfile(termenv.Ascii)
	}
	uictx, cancel := context.WithCancel(ctx)
	defer cancel()
	var log *headlessLog
	if f.headless {
		log = &headlessLog{w: stderr, last: map[string]source.Status{}}
	}
	model := ui.New(ui.Options{
		Context:        uictx,
		Prober:         probes,
		Initial:        first,
		Interval:       f.interval,
		AnalysisSpan:   f.span,
		HoldReadings:   f.holdReadings,
		SampleEvery:    f.sampleEvery,
		ProfileSeconds: f.profileSeconds,
		Rules:          set,
		Registry:       rules.Builtin(),
		ExportDir:      f.exportDir,
		Clipboard:      ui.SystemClipboard(os.Stdout, true),
		Sources:        source.Redact(src.Target),
		OnAnalysis:     log.analysis,
		Headless:       f.headless,
	})
	opts := []tea.ProgramOption{tea.WithAltScreen(), tea.WithContext(ctx), tea.WithOutput(os.Stdout), tea.WithInput(os.Stdin)}
	if f.headless {
		// The same model, polling and analysing, with nothing drawn and
		// no keys read (bubbletea's tui-daemon-combo).
		opts = []tea.ProgramOption{tea.WithContext(uictx), tea.WithoutRenderer(), tea.WithInput(nil), tea.WithoutSignalHandler()}
		if f.duration > 0 {
			stop := time.AfterFunc(f.duration, cancel)
			defer stop.Stop()
		}
	}
	p := tea.NewProgram(model, opts...)
	_, err = p.Run()
	cancel()
	if err != nil && !errors.Is(err, tea.ErrProgramKilled) && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("terminal UI: %w", err)
	}
	if f.headless && cmd.Flags().Changed("export-dir") {
		return log.export(f.exportDir)
	}
	return nil
}

func anyOK(s *probe.Snapshot) bool {
	for _, st := range s.Status {
		if st.Ok() {
			return true
		}
	}
	return false
}

// noSourceAtStart says what was tried and why each source failed.
func noSourceAtStart(s *probe.Snapshot) error {
	var b strings.Builder
	b.WriteString("no source could be probed:")
	for _, name := range probe.SourceNames {
		st := s.Status[name]
		fmt.Fprintf(&b, "\n  %-9s %s: %s", name, st.State, source.Redact(st.Detail))
	}
	return errors.New(b.String())
}

// reportCommand is the advisor report command line with the source flags
// given to this command (values quoted for a POSIX shell; passwords and
// header values replaced by xxxxx).
func reportCommand(flags *pflag.FlagSet) string {
	parts := []string{"advisor", "report"}
	known := &cobra.Command{}
	known.Flags().SortFlags = false
	(&sourceFlags{}).register(known)
	known.Flags().VisitAll(func(k *pflag.Flag) {
		fl := flags.Lookup(k.Name)
		if fl == nil || !fl.Changed {
			return
		}
		if sv, ok := fl.Value.(pflag.SliceValue); ok {
			for _, v := range sv.GetSlice() {
				if fl.Name == "header" {
					// A header may be a credential: keep its name only.
					name, _, _ := strings.Cut(v, ":")
					v = name + ": xxxxx"
				}
				parts = append(parts, "--"+fl.Name, shellQuote(source.Redact(v)))
			}
			return
		}
		if fl.Value.Type() == "bool" {
			// A bool flag takes its value after "=", or none for true.
			if v := fl.Value.String(); v != "true" {
				parts = append(parts, "--"+fl.Name+"="+v)
			} else {
				parts = append(parts, "--"+fl.Name)
			}
			return
		}
		parts = append(parts, "--"+fl.Name, shellQuote(source.Redact(fl.Value.String())))
	})
	return strings.Join(parts, " ")
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:@=,+", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// headlessLog is what attach --headless writes: a line per analysis with
// each source's state and the findings by severity, a line whenever a
// source's state or detail changes (what is wrong and how to fix it), and,
// with --export-dir, the report of the last analysis when attach stops.
type headlessLog struct {
	w    io.Writer
	last map[string]source.Status
	// shown are the findings on screen after the last analysis, by
	// fingerprint: a line says when one appears or leaves.
	shown map[string]rules.Finding
	// final is the last analysis.
	final *ui.AnalysisMsg
}

// analysis logs msg; nil (not headless) logs nothing.
func (h *headlessLog) analysis(msg ui.AnalysisMsg) {
	if h == nil {
		return
	}
	at := msg.At.Format("15:04:05")
	var states []string
	for _, name := range probe.SourceNames {
		st := msg.Window.Status(name)
		states = append(states, name+"="+string(st.State))
		if prev, seen := h.last[name]; !seen || prev.State != st.State || prev.Detail != st.Detail {
			h.last[name] = st
			line := fmt.Sprintf("%s source %s %s", at, name, st.State)
			if st.Detail != "" {
				line += ": " + source.Redact(st.Detail)
			}
			fmt.Fprintln(h.w, line)
		}
	}
	count := map[rules.Severity]int{}
	for _, f := range msg.Findings {
		count[f.Severity]++
	}
	fmt.Fprintf(h.w, "%s %s window=%.0fs findings critical=%d warning=%d info=%d\n", at,
		strings.Join(states, " "), msg.Window.Seconds, count[rules.Critical], count[rules.Warning], count[rules.Info])
	h.changes(at, msg.Findings)
	h.final = &msg
}

// changes logs the findings that appeared since the last analysis, with
// their confidence, and those that left: "+ rule subject (confidence)" and
// "- rule subject".
func (h *headlessLog) changes(at string, fs []rules.Finding) {
	now := map[string]rules.Finding{}
	for _, f := range fs {
		key := f.Fingerprint()
		now[key] = f
		if _, seen := h.shown[key]; !seen {
			line := fmt.Sprintf("%s finding + %s %s", at, f.Rule, f.Subject)
			if f.Confidence != nil {
				line += " confidence " + f.Confidence.String()
			}
			fmt.Fprintln(h.w, line)
		}
	}
	var gone []string
	for key, f := range h.shown {
		if _, still := now[key]; !still {
			gone = append(gone, fmt.Sprintf("%s finding - %s %s", at, f.Rule, f.Subject))
		}
	}
	slices.Sort(gone)
	for _, l := range gone {
		fmt.Fprintln(h.w, l)
	}
	h.shown = now
}

// export writes the report of the last analysis into dir.
func (h *headlessLog) export(dir string) error {
	if h.final == nil {
		return errors.New("attach stopped before its first analysis: no report exported")
	}
	paths, err := ui.Export(dir, &ui.Data{Window: h.final.Window, Findings: h.final.Findings, Split: h.final.Split}, h.final.At)
	if err != nil {
		return err
	}
	fmt.Fprintf(h.w, "report of the last analysis written to %s\n", strings.Join(paths, " and "))
	return nil
}

// maxDumpStopUsage is the --max-dump-stop flag's help, for attach (and
// demo) and report.
const maxDumpStopUsage = "the longest a goroutine dump may stop the Go service, estimated from its size (the runtime stops the service while it writes one: milliseconds for 1,000 goroutines, hundreds of them for 10,000): past it no dump is taken; the dumps between readings, and attach's first readings, are also spaced so that by that estimate they stop it 2% of the time at most (0: no limit)"

// checkMaxDumpStop refuses a negative --max-dump-stop.
func checkMaxDumpStop(d time.Duration) error {
	if d < 0 {
		return usageError{fmt.Errorf("--max-dump-stop %s is negative (0: no limit)", d)}
	}
	return nil
}

// maxDumpStop is probe.Config.MaxDumpStop of the --max-dump-stop flag,
// whose 0 means no limit.
func maxDumpStop(flag time.Duration) time.Duration {
	if flag == 0 {
		return -1
	}
	return flag
}
