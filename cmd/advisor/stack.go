package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/pgadvisor/advisor/internal/stack"
	"github.com/pgadvisor/advisor/internal/stack/stacktest"
)

type stackFlags struct {
	dir       string
	pgPort    int
	redisPort int
	test      bool
	quiet     bool
}

func (f *stackFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.dir, "stack-dir", stack.DefaultDir, "directory for the servers' data, logs and pid files")
	// The old name, as demo and stack had it.
	cmd.Flags().StringVar(&f.dir, "dir", stack.DefaultDir, "")
	_ = cmd.Flags().MarkDeprecated("dir", "use --stack-dir")
	cmd.Flags().IntVar(&f.pgPort, "pg-port", stack.DefaultPGPort, "PostgreSQL port on 127.0.0.1")
	cmd.Flags().IntVar(&f.redisPort, "redis-port", stack.DefaultRedisPort, "Redis port on 127.0.0.1")
	cmd.Flags().BoolVar(&f.test, "test", false, "act on the test suite's stack ("+stacktest.Dir+") instead")
	cmd.Flags().BoolVarP(&f.quiet, "quiet", "q", false, "print only errors")
}

func (f *stackFlags) open(cmd *cobra.Command) (*stack.Stack, error) {
	cfg := stack.Config{Dir: f.dir, PGPort: f.pgPort, RedisPort: f.redisPort}
	if f.test {
		tc, err := stacktest.Config()
		if err != nil {
			return nil, usageError{err}
		}
		cfg = tc
	}
	if !f.quiet {
		cfg.Log = func(format string, args ...any) {
			fmt.Fprintf(cmd.ErrOrStderr(), format+"\n", args...)
		}
	}
	return stack.New(cfg)
}

func newStackCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "stack",
		Short: "Run a private PostgreSQL and Redis for the demo and the tests",
		Long: `stack runs a private PostgreSQL (with pg_stat_statements and hypopg) and a
private Redis from the system's binaries, in a project-local directory, on
loopback ports that are not the defaults. It never touches a system cluster.`,
	}
	cmd.AddCommand(newStackUpCmd(), newStackDownCmd(), newStackStatusCmd())
	return cmd
}

func newStackUpCmd() *cobra.Command {
	var f stackFlags
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Start the stack, or reuse the servers already running",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := f.open(cmd)
			if err != nil {
				return err
			}
			info, err := s.Up(cmd.Context())
			if err != nil {
				return err
			}
			if !f.quiet {
				fmt.Fprintf(cmd.OutOrStdout(), "postgresql  %s (PostgreSQL %s)\nredis       %s\n", info.DSN, info.PGVersion, info.RedisAddr)
			}
			return nil
		},
	}
	f.register(cmd)
	return cmd
}

func newStackDownCmd() *cobra.Command {
	var f stackFlags
	cmd := &cobra.Command{
		Use:   "down",
		Short: "Stop the stack's servers (data is kept)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := f.open(cmd)
			if err != nil {
				return err
			}
			return s.Down(cmd.Context())
		},
	}
	f.register(cmd)
	return cmd
}

func newStackStatusCmd() *cobra.Command {
	var f stackFlags
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Print each server's state and the address to use",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f.quiet = true
			s, err := f.open(cmd)
			if err != nil {
				return err
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "PART\tSTATE\tPID\tADDRESS\tDETAIL")
			for _, p := range s.Status(cmd.Context()) {
				pid := "-"
				if p.PID != 0 {
					pid = fmt.Sprint(p.PID)
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", p.Name, p.State, pid, p.Address, p.Detail)
			}
			return w.Flush()
		},
	}
	f.register(cmd)
	return cmd
}
