package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/spf13/cobra"

	"github.com/pgadvisor/advisor/internal/config"
	"github.com/pgadvisor/advisor/internal/load"
	"github.com/pgadvisor/advisor/internal/probe"
	"github.com/pgadvisor/advisor/internal/report"
	"github.com/pgadvisor/advisor/internal/rules"
	"github.com/pgadvisor/advisor/internal/scenario"
	"github.com/pgadvisor/advisor/internal/stack"
	"github.com/pgadvisor/advisor/sampleapp"
	"github.com/pgadvisor/advisor/sampleapp/sampleproc"
)

type demoFlags struct {
	stack       stackFlags
	attach      attachFlags
	size        string
	database    string
	rate        float64
	connections int
	window      time.Duration
}

func newDemoCmd() *cobra.Command {
	var f demoFlags
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Start the private stack and the sample service under load, then attach",
		Long: `demo brings up the private PostgreSQL and Redis (as advisor stack up does),
seeds the sample service's data into the stack's database (a small set by
default; --size full for the benchmark set of 20k users and 1M events, about
30 s to load), starts sampleapp with every antipattern switched on (the naive
profile), sends it a light background load of --rate requests per second,
and attaches the live UI to it. Quitting stops the load and the service, and
stops the stack unless it was already running before.

When standard output is not a terminal, demo does the same but, instead of
the UI, observes one --window like advisor report, prints that report, and
prints the advisor report command for the demo's sources; then it stops
everything it started and exits 0.`,
		Example: `  advisor demo
  advisor demo --size full --rate 50
  advisor demo | less        # one report instead of the UI`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDemo(cmd.Context(), cmd, &f)
		},
	}
	f.stack.register(cmd)
	f.attach.register(cmd)
	fl := cmd.Flags()
	fl.StringVar(&f.size, "size", sizeSmall, sizeUsage)
	fl.StringVar(&f.database, "database", "advisor_demo", "sampleapp's database on the private stack (created when missing)")
	fl.Float64Var(&f.rate, "rate", 20, "background load in requests per second (the sample mix)")
	fl.IntVar(&f.connections, "connections", 8, "connections of the background load")
	fl.DurationVar(&f.window, "window", 10*time.Second, "without a terminal: the window observed for the report")
	return cmd
}

func runDemo(ctx context.Context, cmd *cobra.Command, f *demoFlags) error {
	size, err := parseSize(cmd, &f.size)
	if err != nil {
		return err
	}
	if f.rate <= 0 || f.connections <= 0 {
		return usageError{errors.New("--rate and --connections must be positive")}
	}
	if f.window < time.Second {
		return usageError{errors.New("--window must be at least 1s")}
	}
	if err := f.attach.check(); err != nil {
		return err
	}
	set, err := rules.Default(f.attach.rulesFile)
	if err != nil {
		return usageError{err}
	}
	terminal := isTerminalWriter(cmd.OutOrStdout())
	stderr := cmd.ErrOrStderr()
	say := func(format string, args ...any) { fmt.Fprintf(stderr, "advisor demo: "+format+"\n", args...) }

	// The stack: started here, or already running (then left running).
	f.stack.quiet = true
	s, err := f.stack.open(cmd)
	if err != nil {
		return err
	}
	wasRunning := false
	for _, part := range s.Status(ctx) {
		if part.State == stack.Running {
			wasRunning = true
		}
	}
	say("starting the private PostgreSQL and Redis in %s…", s.Config().Dir)
	info, err := s.Up(ctx)
	if err != nil {
		return fmt.Errorf("stack: %w", err)
	}
	if !wasRunning {
		defer func() {
			say("stopping the private stack (it was not running before the demo)…")
			dctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			if err := s.Down(dctx); err != nil {
				say("stack down: %v", err)
			}
		}()
	}

	dsn, err := demoDatabase(ctx, info.DSN, f.database)
	if err != nil {
		return err
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find advisor's executable to start sampleapp with: %w", err)
	}
	say("seeding sampleapp's data (%s, --size %s) and starting it with the naive profile…", size, f.size)
	if err := scenario.Seed(ctx, dsn, size); err != nil {
		return fmt.Errorf("sample service: %w", err)
	}
	// A process of its own, as a service is: its naive GOMAXPROCS=1, its
	// CPU and its profile are not the UI's, the load's or the probes'.
	svc, err := sampleproc.Start(ctx, append([]string{exe}, sampleappServe...), dsn, info.RedisAddr,
		"--profile", sampleapp.ProfileNaive, "--cache-namespace", "demo")
	if err != nil {
		return fmt.Errorf("sample service: %w", err)
	}
	defer func() {
		say("stopping sampleapp…")
		if err := svc.Stop(); err != nil {
			say("sampleapp: %v", err)
		}
	}()

	loadCtx, stopLoad := context.WithCancel(ctx)
	loadDone := make(chan error, 1)
	go func() {
		cfg := scenario.MixLoad(svc.Base, size, f.connections, 0)
		cfg.Rate = f.rate
		_, err := load.Run(loadCtx, cfg)
		loadDone <- err
	}()
	defer func() {
		stopLoad()
		if err := <-loadDone; err != nil && !errors.Is(err, context.Canceled) {
			say("load: %v", err)
		}
	}()

	src := config.Sources{Target: svc.Base, PG: dsn, Redis: info.RedisAddr}
	command := fmt.Sprintf("advisor report --target %s --pg %s --redis %s", src.Target, shellQuote(src.PG), src.Redis)
	say("sampleapp serves %s under %.0f req/s", src.Target, f.rate)
	if !terminal {
		return demoReport(ctx, cmd.OutOrStdout(), stderr, f, set, src, command)
	}
	return runAttach(ctx, cmd, &f.attach, src)
}

// demoDatabase creates the database name on the stack (with
// pg_stat_statements and hypopg) when it is missing, and returns its DSN.
func demoDatabase(ctx context.Context, stackDSN, name string) (string, error) {
	u, err := url.Parse(stackDSN)
	if err != nil {
		return "", fmt.Errorf("the stack's DSN: %w", err)
	}
	u.Path = "/" + name
	dsn := u.String()
	conn, err := pgx.Connect(ctx, stackDSN)
	if err != nil {
		return "", fmt.Errorf("connect to the private stack: %w", err)
	}
	defer conn.Close(context.Background())
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&exists); err != nil {
		return "", fmt.Errorf("look up database %s: %w", name, err)
	}
	if !exists {
		if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
			return "", fmt.Errorf("create database %s: %w", name, err)
		}
	}
	if err := stack.CreateExtensions(ctx, dsn); err != nil {
		return "", err
	}
	return dsn, nil
}

// demoReport observes one window of the demo, prints its report and the
// command to get it again.
func demoReport(ctx context.Context, out, stderr io.Writer, f *demoFlags, set *rules.Set, src config.Sources, command string) error {
	probes, err := probe.Open(ctx, probe.Config{Sources: src, Timeout: f.attach.timeout, MaxDumpStop: maxDumpStop(f.attach.maxDumpStop)})
	if err != nil {
		return err
	}
	defer probes.Close()
	profile := min(f.attach.profileSeconds, int(f.window/time.Second))
	w, err := probes.Observe(ctx, probe.ObserveOptions{Window: f.window, ProfileSeconds: profile})
	if err != nil {
		return err
	}
	if short := shortWindowNote(f.window, w); short != "" {
		fmt.Fprintln(stderr, "advisor:", short)
	}
	a := rules.Analyse(ctx, &rules.Input{Window: w, Explainer: probes.Explainer()}, set, rules.Builtin())
	findings := a.Findings
	for _, e := range a.Errors {
		fmt.Fprintln(stderr, "advisor: warning:", e)
	}
	window := time.Duration(w.Seconds * float64(time.Second)).Round(100 * time.Millisecond)
	rep := report.New(time.Now(), window, report.SourcesOf(w), findings, report.Baseline{}).WithSplit(a.Split).WithStatements(w.Postgres)
	if err := report.Print(out, report.FormatText, rep, report.Options{}); err != nil {
		return err
	}
	fmt.Fprintf(out, "\n%s\nStandard output is not a terminal, so advisor demo printed one %s report\ninstead of the live UI (run advisor demo in a terminal for it). The same report\nof the demo's sources, while a demo runs:\n\n  %s\n",
		strings.Repeat("-", 78), f.window, command)
	return nil
}
