// Command advisor is a diagnostic profiler and config advisor for web services
// on PostgreSQL and Redis.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	goredis "github.com/redis/go-redis/v9"
	"github.com/spf13/cobra"
)

// Exit codes shared by every subcommand; report adds 1 and 3 (see docs/design.md).
const (
	exitOK    = 0
	exitUsage = 2
)

// usageError marks an error caused by the command line or configuration.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// exitError carries a specific exit code out of a subcommand.
type exitError struct {
	code int
	err  error
}

func (e exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit %d", e.code)
	}
	return e.err.Error()
}
func (e exitError) Unwrap() error { return e.err }

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "advisor",
		Short: "Find what keeps a web service on PostgreSQL and Redis slow, and how to fix it",
		Long: `advisor attaches to a running service (pprof and Prometheus /metrics), its
PostgreSQL and its Redis, measures, and flags the problems that keep such
services slow, each with evidence and a concrete fix.`,
		Version:       buildVersion().Version,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	// --version prints what advisor version does.
	root.SetVersionTemplate(buildVersion().String())
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return usageError{fmt.Errorf("%w (see '%s --help')", err, cmd.CommandPath())}
	})
	root.AddCommand(newStackCmd())
	// subcommands: one line each
	root.AddCommand(newAttachCmd())
	root.AddCommand(newDemoCmd())
	root.AddCommand(newTuneCmd())
	root.AddCommand(newRulesCmd())
	root.AddCommand(newReportCmd())
	root.AddCommand(newLoadCmd())
	root.AddCommand(newVersionCmd())
	root.AddCommand(newSampleappCmd())
	flagNotesToStderr(root)
	return root
}

// quietRedisLogger drops go-redis's own log lines ("failed to dial"): a Redis
// that is down is reported as the source's status, and stray lines would
// spoil the terminal UI.
type quietRedisLogger struct{}

func (quietRedisLogger) Printf(context.Context, string, ...any) {}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run executes the command line and returns the exit code; errors go to
// stderr prefixed with "advisor:".
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	goredis.SetLogger(quietRedisLogger{})
	root := newRootCmd()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	var ee exitError
	if errors.As(err, &ee) {
		if ee.err != nil {
			fmt.Fprintln(stderr, "advisor:", ee.err)
		}
		return ee.code
	}
	fmt.Fprintln(stderr, "advisor:", err)
	var ue usageError
	if errors.As(err, &ue) || isCobraUsageError(err) {
		return exitUsage
	}
	return 1
}

// isCobraUsageError recognises cobra's own argument errors, which it does not
// type.
func isCobraUsageError(err error) bool {
	msg := err.Error()
	for _, prefix := range []string{"unknown command", "unknown flag", "unknown shorthand flag", "accepts ", "requires ", "invalid argument"} {
		if len(msg) >= len(prefix) && msg[:len(prefix)] == prefix {
			return true
		}
	}
	return false
}
