// Command sampleapp runs the reference service advisor is pointed at: serve
// it, seed its database, or benchmark its naive profile against its tuned
// one. Run `sampleapp --help` for the knobs.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/pgadvisor/advisor/internal/stack"
	"github.com/pgadvisor/advisor/sampleapp"
	"github.com/pgadvisor/advisor/sampleapp/cmd/servecmd"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root := &cobra.Command{
		Use:   "sampleapp",
		Short: "The reference service: an API on PostgreSQL and Redis with every antipattern as a knob",
		Long: `sampleapp is an API on PostgreSQL and Redis (identity tokens, users with profiles and
preferences, an event feed, orders with items, invoices) in which every antipattern of
the articles advisor reproduces is a knob. --profile naive sets every knob to its
antipattern, --profile tuned to its fix; --knob name=value overrides one after the profile.
Knobs can also be changed at run time through the loopback admin endpoint
(GET /knobs, PUT /knobs/{name} with {"value": "..."}).

Knobs (naive value first, tuned value second):
` + knobHelp(),
		SilenceUsage: true,
	}
	root.AddCommand(servecmd.New(), seedCmd(), benchCmd(), bareCmd())
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "sampleapp:", err)
		os.Exit(1)
	}
}

func knobHelp() string {
	var b strings.Builder
	for _, k := range sampleapp.Knobs {
		fmt.Fprintf(&b, "  %-11s %s\n              values: %s (naive %s, tuned %s)\n", k.Name, k.Help,
			strings.Join(k.Values, ", "), k.Naive, k.Tuned)
	}
	return b.String()
}

func sizeFlags(cmd *cobra.Command, size *sampleapp.Size) {
	*size = sampleapp.DefaultSize
	f := cmd.Flags()
	f.Int64Var(&size.Users, "users", size.Users, "users (each with a profile, preferences and a token)")
	f.Int64Var(&size.Events, "events", size.Events, "feed events")
	f.Int64Var(&size.Products, "products", size.Products, "products")
	f.Int64Var(&size.Orders, "orders", size.Orders, "orders (1 to 4 items each)")
	f.IntVar(&size.PayloadBytes, "payload-bytes", size.PayloadBytes, "mean size of the wide events.payload column")
}

func seedCmd() *cobra.Command {
	var dsn string
	var size sampleapp.Size
	var reset bool
	cmd := &cobra.Command{
		Use:   "seed",
		Short: "Migrate and load a data set (idempotent for the same size)",
		Long: `seed migrates the database and loads a data set with COPY. Seeding again with the same
size does nothing; another size is refused unless --reset. Every user N gets the token
"` + sampleapp.UserToken(7)[:len(sampleapp.UserToken(7))-1] + `N"; the load-test token "` + sampleapp.LoadTestToken + `" is a staff token.`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			res, err := sampleapp.Seed(cmd.Context(), dsn, size, reset)
			if err != nil {
				return err
			}
			if res.Already {
				fmt.Fprintf(cmd.OutOrStdout(), "already seeded with %v\n", res.Size)
				return nil
			}
			fmt.Fprintf(cmd.OutOrStdout(), "seeded %v in %s\n", res.Size, res.Elapsed.Round(time.Millisecond))
			return nil
		},
	}
	cmd.Flags().StringVar(&dsn, "pg", os.Getenv("DATABASE_URL"), "PostgreSQL DSN (default $DATABASE_URL)")
	cmd.Flags().BoolVar(&reset, "reset", false, "reseed a database seeded with another size")
	sizeFlags(cmd, &size)
	return cmd
}

func benchCmd() *cobra.Command {
	var cfg sampleapp.BenchConfig
	var stackDir, jsonFile string
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure the naive profile against the tuned one, and the tuned feed against a bare handler",
		Long: `bench seeds the database if needed, then runs the naive and the tuned service (each in a
process of its own) under the same request mix on the same data, alternating --rounds
times, and prints RPS, latency percentiles, errors, DB queries and internal hops per
request and their ratios; then it measures the tuned feed endpoint against a bare
net/http handler in --pairs pairs, the two running side by side and taking turns
under the load, four turns each of an eighth of --duration. Without --pg and
--redis it brings up the private stack (advisor stack).`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if cfg.DSN == "" || cfg.RedisAddr == "" {
				st, err := stack.New(stack.Config{Dir: stackDir, Log: func(format string, args ...any) {
					fmt.Fprintf(cmd.ErrOrStderr(), format+"\n", args...)
				}})
				if err != nil {
					return err
				}
				info, err := st.Up(ctx)
				if err != nil {
					return err
				}
				if cfg.DSN == "" {
					cfg.DSN = info.DSN
				}
				if cfg.RedisAddr == "" {
					cfg.RedisAddr = info.RedisAddr
				}
			}
			exe, err := os.Executable()
			if err != nil {
				return err
			}
			cfg.Exe = exe
			cfg.Out = cmd.OutOrStdout()
			rep, err := sampleapp.Bench(ctx, cfg)
			if errors.Is(err, sampleapp.ErrSeededDifferently) {
				return fmt.Errorf("%w (pass --reset, or the size it holds)", err)
			}
			if err != nil {
				return err
			}
			if jsonFile != "" {
				return writeSummary(jsonFile, rep.Summary())
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.DSN, "pg", "", "PostgreSQL DSN (default: the private stack)")
	f.StringVar(&cfg.RedisAddr, "redis", "", "Redis host:port (default: the private stack)")
	f.StringVar(&stackDir, "stack-dir", stack.DefaultDir, "directory of the private stack")
	f.DurationVar(&cfg.Duration, "duration", 15*time.Second, "measured time of each run")
	f.DurationVar(&cfg.Warmup, "warmup", 3*time.Second, "unmeasured load before each run")
	f.IntVar(&cfg.Connections, "connections", 64, "concurrent connections (closed loop)")
	f.IntVar(&cfg.Rounds, "rounds", sampleapp.DefaultBenchRounds, "naive/tuned pairs to run, each pair adjacent, its order alternating")
	f.IntVar(&cfg.Pairs, "pairs", sampleapp.DefaultBenchPairs, "tuned feed/bare handler pairs to run, the two sides of each taking turns, which first alternating")
	f.Int64Var(&cfg.MinRequests, "min-requests", sampleapp.DefaultBenchMinRequests, "each measured run goes on past --duration until this many requests completed")
	f.DurationVar(&cfg.MaxDuration, "max-duration", sampleapp.DefaultBenchMaxDuration, "cap of a run that --min-requests keeps going (reported when hit)")
	f.BoolVar(&cfg.Reset, "reset", false, "reseed a database seeded with another size")
	f.StringVar(&jsonFile, "json", "", "also write the summary (medians with min and max over the rounds, the pairs' ratios) as JSON to this file")
	f.BoolVar(&cfg.KeepJobs, "keep-jobs", false, "keep the follow-up jobs of the benchmark's orders still queued at the end (default: delete them)")
	sizeFlags(cmd, &cfg.Size)
	return cmd
}

// writeSummary writes the benchmark's summary as indented JSON.
func writeSummary(path string, sum sampleapp.BenchSummary) error {
	data, err := json.MarshalIndent(sum, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("--json: %w", err)
	}
	return nil
}

func bareCmd() *cobra.Command {
	var addr string
	cmd := &cobra.Command{
		Use:    "bare",
		Short:  "Serve a bare net/http handler returning a small JSON body (the benchmark's ceiling)",
		Hidden: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			srv := &http.Server{Addr: addr, Handler: sampleapp.BareHandler(), ReadHeaderTimeout: 10 * time.Second}
			go func() {
				<-cmd.Context().Done()
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				_ = srv.Shutdown(ctx)
			}()
			if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&addr, "addr", "127.0.0.1:8090", "listen address")
	return cmd
}
