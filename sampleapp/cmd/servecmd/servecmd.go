// Package servecmd is sampleapp's serve command: the sampleapp binary runs
// it, and advisor runs it (hidden, as advisor sampleapp serve) when tune
// starts the service as a process of its own.
package servecmd

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/pgadvisor/advisor/sampleapp"
)

// New is the serve command: it runs sampleapp until its context ends (an
// interrupt), with the service's flags.
func New() *cobra.Command {
	var cfg sampleapp.Config
	var knobs []string
	var verbose bool
	var blockRate, mutexFraction int
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the service until interrupted",
		RunE: func(cmd *cobra.Command, _ []string) error {
			var err error
			if cfg.BlockProfileRate, err = profilingFlag("block-profile-rate", blockRate); err != nil {
				return err
			}
			if cfg.MutexProfileFraction, err = profilingFlag("mutex-profile-fraction", mutexFraction); err != nil {
				return err
			}
			if cfg.Knobs, err = sampleapp.ParseKnobArgs(knobs); err != nil {
				return err
			}
			level := slog.LevelInfo
			if verbose {
				level = slog.LevelDebug
			}
			cfg.Logger = sampleapp.DefaultLogger(os.Stderr, level)
			app, err := sampleapp.Start(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			<-cmd.Context().Done()
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			return app.Shutdown(ctx)
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.DSN, "pg", os.Getenv("DATABASE_URL"), "PostgreSQL DSN (default $DATABASE_URL)")
	f.StringVar(&cfg.RedisAddr, "redis", "127.0.0.1:6379", "Redis host:port")
	f.StringVar(&cfg.Addr, "addr", "127.0.0.1:8080", "API listen address (also serves /metrics and /debug/pprof)")
	f.StringVar(&cfg.AdminAddr, "admin-addr", "127.0.0.1:8081", "admin listen address (loopback only)")
	f.StringVar(&cfg.IdentityAddr, "identity-addr", "", "identity service listen address (default: a free loopback port)")
	f.StringVar(&cfg.UsersAddr, "users-addr", "", "users service listen address (default: a free loopback port)")
	f.StringVar(&cfg.SMTPAddr, "smtp-addr", "", "SMTP sink listen address (default: a free loopback port)")
	f.StringVar(&cfg.WebhookAddr, "webhook-addr", "", "webhook receiver listen address (default: a free loopback port)")
	f.StringVar(&cfg.Profile, "profile", sampleapp.ProfileTuned, "naive (every antipattern) or tuned (every fix)")
	f.StringArrayVar(&knobs, "knob", nil, "name=value, overrides the profile for one knob (repeatable); see sampleapp --help")
	f.StringVar(&cfg.CacheNamespace, "cache-namespace", "sampleapp", "prefix of the Redis keys (instances on different databases sharing a Redis need different ones)")
	f.DurationVar(&cfg.FeedTTL, "feed-ttl", sampleapp.DefaultFeedTTL, "how long a cached feed lives in Redis")
	f.IntVar(&cfg.Workers, "workers", 0, "river workers for queued follow-up work (0: default 8, -1: none, API only)")
	f.IntVar(&blockRate, "block-profile-rate", sampleapp.BlockProfileRateNanos,
		"runtime.SetBlockProfileRate: sample about one blocking event per this many nanoseconds blocked (0: block profiling off)")
	f.IntVar(&mutexFraction, "mutex-profile-fraction", sampleapp.MutexProfileFraction,
		"runtime.SetMutexProfileFraction: sample one mutex contention event in this many (0: mutex profiling off)")
	f.BoolVarP(&verbose, "verbose", "v", false, "log at debug level")
	return cmd
}

// profilingFlag maps a profiling flag, where 0 is off as in the runtime's
// API, onto sampleapp.Config, where 0 is the default and negative is off.
func profilingFlag(name string, v int) (int, error) {
	switch {
	case v < 0:
		return 0, fmt.Errorf("--%s %d: want 0 (off) or more", name, v)
	case v == 0:
		return -1, nil
	}
	return v, nil
}
