package postgres

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pgadvisor/advisor/internal/probe/source"
)

// Snapshot is what one probe round read. Each part has its own status: a
// part that failed leaves the others intact.
type Snapshot struct {
	// Status of the source as a whole: ok when the server could be read
	// (Detail then lists the parts that could not), otherwise why not.
	Status source.Status
	// Time is the server's clock when the snapshot was taken (the local
	// clock if the server could not be reached).
	Time        time.Time
	Server      Server
	Statements  Statements
	Tables      Tables
	Indexes     Indexes
	Activity    Activity
	Blocked     Blocked
	Database    Database
	ColumnStats ColumnStats
	Health      Health
	Maintenance Maintenance
	// Jobs is river's job queue, when the database has one.
	Jobs Jobs
}

// Snapshot reads every part. It never fails: a part that cannot be read has
// a status saying why, and a server that cannot be reached gives a snapshot
// whose every status says so.
func (p *Probe) Snapshot(ctx context.Context) *Snapshot {
	start := time.Now()
	s := &Snapshot{Time: start}
	s.Server = p.collectServer(ctx)
	if !s.Server.Status.Ok() {
		s.Status = s.Server.Status
		for _, st := range []*source.Status{&s.Statements.Status, &s.Tables.Status, &s.Indexes.Status,
			&s.Activity.Status, &s.Blocked.Status, &s.Database.Status, &s.ColumnStats.Status, &s.Health.Status, &s.Jobs.Status} {
			*st = source.Status{State: s.Server.Status.State, Detail: "not read: server unavailable"}
		}
		s.Maintenance.Status = source.Status{State: s.Server.Status.State, Detail: "not read: server unavailable"}
		s.Status.Took = time.Since(start)
		return s
	}
	s.Time = s.Server.timeNow
	v := s.Server.VersionNum
	s.Statements = p.collectStatements(ctx, s.Server)
	s.Tables = p.collectTables(ctx)
	s.Indexes = p.collectIndexes(ctx, s.Tables)
	s.Activity = p.collectActivity(ctx)
	s.Blocked = p.collectBlocked(ctx, v)
	s.Database = p.collectDatabase(ctx, v)
	s.ColumnStats = p.collectColumnStats(ctx, s.Statements, s.Tables)
	s.Health = p.collectHealth(ctx, s.Server)
	s.Maintenance = p.collectMaintenance(ctx)
	s.Jobs = p.collectJobs(ctx)

	s.Status = source.Status{State: source.OK, Version: s.Server.Version}
	// The parts that could not be read, or were read with a caveat.
	var problems []string
	for _, st := range []source.Status{s.Statements.Status, s.Tables.Status, s.Indexes.Status,
		s.Activity.Status, s.Blocked.Status, s.Database.Status, s.ColumnStats.Status, s.Health.Status, s.Jobs.Status} {
		if st.Detail != "" {
			problems = append(problems, st.Detail)
		}
	}
	if d := s.Maintenance.Status.Detail; d != "" {
		problems = append(problems, d)
	}
	s.Status.Detail = strings.Join(problems, "; ")
	s.Status.Took = time.Since(start)
	return s
}

// collect runs fn on a pooled connection within the collector timeout and
// returns the part's status.
func (p *Probe) collect(ctx context.Context, what string, fn func(ctx context.Context, c *pgxpool.Conn) error) source.Status {
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, p.opts.CollectorTimeout)
	defer cancel()
	c, err := p.pool.Acquire(ctx)
	if err != nil {
		st := p.status(what, err)
		st.Took = time.Since(start)
		return st
	}
	defer c.Release()
	err = fn(ctx, c)
	var st source.Status
	var ps *partStatus
	switch {
	case err == nil:
		st = source.Status{State: source.OK}
	case errors.As(err, &ps):
		st = ps.st
	default:
		st = p.status(what, err)
	}
	st.Took = time.Since(start)
	return st
}

// partStatus lets a collector end with a status of its own making (a
// missing extension) rather than an error.
type partStatus struct{ st source.Status }

func (e *partStatus) Error() string { return e.st.Detail }

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

func latest(a, b *time.Time) time.Time {
	x, y := deref(a), deref(b)
	if y.After(x) {
		return y
	}
	return x
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
