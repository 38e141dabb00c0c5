package tune

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgadvisor/advisor/internal/config"
	"github.com/pgadvisor/advisor/internal/load"
	"github.com/pgadvisor/advisor/internal/scenario"
	"github.com/pgadvisor/advisor/internal/stack"
	"github.com/pgadvisor/advisor/sampleapp"
	"github.com/pgadvisor/advisor/sampleapp/sampleproc"
)

// LocalOptions say how to start sampleapp on the private stack.
type LocalOptions struct {
	// Stack is the private stack's configuration; it is brought up (or
	// reused when running).
	Stack stack.Config
	// Database is the service's own database on the stack, created (with
	// pg_stat_statements and hypopg) when missing.
	Database string
	// Fresh drops the database first: a clean start.
	Fresh bool
	// Size of the data set seeded into it (zero: sampleapp.TestSize).
	Size    sampleapp.Size
	Profile string
	Knobs   map[string]string
	// Command serves sampleapp, before the service's flags: advisor's own
	// executable with "sampleapp serve", or a sampleapp binary with
	// "serve". The service runs as a process of its own, so that its
	// GOMAXPROCS, CPU and profile are its own, not shared with the load
	// generator and the probes.
	Command []string
	// Log receives progress lines; nil discards them.
	Log func(format string, args ...any)
}

// Local is sampleapp started by tune on the private stack, as a process of
// its own.
type Local struct {
	Process   *sampleproc.Process
	DSN       string
	RedisAddr string
	size      sampleapp.Size
	started   time.Time
}

// StartLocal brings the private stack up, creates the service's database
// (dropping it first when opts.Fresh), seeds it and starts sampleapp.
func StartLocal(ctx context.Context, opts LocalOptions) (*Local, error) {
	logf := opts.Log
	if logf == nil {
		logf = func(string, ...any) {}
	}
	if len(opts.Command) == 0 {
		return nil, errors.New("tune: no command to start sampleapp with")
	}
	if opts.Database == "" {
		opts.Database = "advisor_tune"
	}
	st, err := stack.New(opts.Stack)
	if err != nil {
		return nil, err
	}
	logf("starting the private stack in %s", st.Config().Dir)
	info, err := st.Up(ctx)
	if err != nil {
		return nil, fmt.Errorf("private stack: %w", err)
	}
	dsn, err := withDatabase(info.DSN, opts.Database)
	if err != nil {
		return nil, err
	}
	if err := prepareDatabase(ctx, info.DSN, opts.Database, opts.Fresh); err != nil {
		return nil, err
	}
	if err := stack.CreateExtensions(ctx, dsn); err != nil {
		return nil, err
	}
	size := opts.Size
	if size == (sampleapp.Size{}) {
		size = sampleapp.TestSize
	}
	logf("seeding database %s with %v (skipped when already seeded), then starting sampleapp (%s profile)", opts.Database, size, opts.Profile)
	started := time.Now()
	if err := scenario.Seed(ctx, dsn, size); err != nil {
		return nil, err
	}
	flags := []string{"--profile", opts.Profile, "--cache-namespace", "tune-" + opts.Database}
	for _, name := range slices.Sorted(maps.Keys(opts.Knobs)) {
		flags = append(flags, "--knob", name+"="+opts.Knobs[name])
	}
	proc, err := sampleproc.Start(ctx, opts.Command, dsn, info.RedisAddr, flags...)
	if err != nil {
		return nil, err
	}
	logf("sampleapp serves at %s (process %d)", proc.Base, proc.PID)
	return &Local{Process: proc, DSN: dsn, RedisAddr: info.RedisAddr, size: size, started: started}, nil
}

// Sources are the probe sources that read the service, its database and its
// Redis.
func (l *Local) Sources() config.Sources {
	return config.Sources{Target: l.Process.Base, PG: l.DSN, Redis: l.RedisAddr}
}

// LoadConfig is the load generator's configuration for the sample mix.
func (l *Local) LoadConfig(connections int, d time.Duration) load.Config {
	return scenario.MixLoad(l.Process.Base, l.size, connections, d)
}

// prepareDatabase creates the database name on the server admin connects
// to, dropping it first when fresh.
func prepareDatabase(ctx context.Context, adminDSN, name string, fresh bool) error {
	conn, err := pgx.Connect(ctx, adminDSN)
	if err != nil {
		return fmt.Errorf("connect to the private stack: %w", err)
	}
	defer conn.Close(context.Background())
	ident := pgx.Identifier{name}.Sanitize()
	if fresh {
		// The statistics of the dropped database's statements would stay
		// in pg_stat_statements, crowding out the new ones.
		if _, err := conn.Exec(ctx, `SELECT pg_stat_statements_reset(0, oid, 0) FROM pg_database WHERE datname = $1`, name); err != nil {
			return fmt.Errorf("reset the statements of %s: %w", name, err)
		}
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+ident+" WITH (FORCE)"); err != nil {
			return fmt.Errorf("drop database %s: %w", name, err)
		}
	}
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&exists); err != nil {
		return fmt.Errorf("look up database %s: %w", name, err)
	}
	if !exists {
		if _, err := conn.Exec(ctx, "CREATE DATABASE "+ident); err != nil {
			return fmt.Errorf("create database %s: %w", name, err)
		}
	}
	return nil
}

// Knobs sets the knobs of the service through its admin endpoint.
func (l *Local) Knobs() Knobs { return AdminKnobs{URL: l.Process.Admin} }

// Close stops the service and deletes the follow-up jobs (e-mail, invoice,
// webhook) of the orders placed during the run that are still queued:
// thousands of them would keep the next run's workers busy for long.
func (l *Local) Close() error {
	err := l.Process.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, cerr := pgx.Connect(ctx, l.DSN)
	if cerr != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, _ = discardJobs(ctx, conn, l.started)
	return err
}

// discardJobs deletes the jobs created since and not started yet (queued,
// scheduled or waiting for a retry), and returns how many it deleted.
func discardJobs(ctx context.Context, conn *pgx.Conn, since time.Time) (int64, error) {
	tag, err := conn.Exec(ctx, `DELETE FROM river_job WHERE created_at >= $1
		AND state IN ('available', 'retryable', 'scheduled', 'pending')`, since)
	if err != nil {
		return 0, fmt.Errorf("discard queued jobs: %w", err)
	}
	return tag.RowsAffected(), nil
}

// drainJobs leaves the job workers of the sampleapp on database dsn idle:
// it deletes the jobs created since and not started (the order follow-up
// work a load step queued), then waits until no job is running. It returns
// how many jobs it deleted. A measurement taken after it pays for no
// earlier step's background work.
func drainJobs(ctx context.Context, dsn string, since time.Time) (int64, error) {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return 0, fmt.Errorf("drain jobs: %w", err)
	}
	defer conn.Close(context.Background())
	n, err := discardJobs(ctx, conn, since)
	if err != nil {
		return 0, err
	}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		var running int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE state = 'running'`).Scan(&running); err != nil {
			return n, fmt.Errorf("drain jobs: count running jobs: %w", err)
		}
		if running == 0 {
			return n, nil
		}
		select {
		case <-ctx.Done():
			return n, fmt.Errorf("drain jobs: %d still running: %w", running, ctx.Err())
		case <-tick.C:
		}
	}
}

// withDatabase returns dsn (a URL) with its database replaced by name.
func withDatabase(dsn, name string) (string, error) {
	u, err := url.Parse(dsn)
	if err != nil {
		return "", fmt.Errorf("the stack's DSN: %w", err)
	}
	u.Path = "/" + name
	return u.String(), nil
}
