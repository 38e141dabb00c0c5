// pg_stat_activity and pg_locks: the client backends by state and wait,
// the long-running sessions, and the lock waits.

package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pgadvisor/advisor/internal/probe/source"
)

// Activity is pg_stat_activity of the client backends (all databases),
// without advisor's own sessions.
type Activity struct {
	Status   source.Status
	Total    int
	Groups   []ActivityGroup
	Sessions []Session
}

// ActivityGroup counts backends by database, user, application, client
// address, state and wait event. Ages are in seconds.
type ActivityGroup struct {
	Database, User, Application string
	// ClientAddr is the client's IP address (host(client_addr)); "" for a
	// Unix socket.
	ClientAddr string
	// State is pg_stat_activity.state (the State* constants); "" when the
	// probe's role may not see it (another role's session without
	// pg_read_all_stats).
	State string
	// WaitEventType and WaitEvent are what the backend waits for (Lock,
	// LWLock, IO, Client, IPC, Timeout, ...); "" when it does not wait.
	WaitEventType, WaitEvent string
	Count                    int
	OldestXactAge            float64
	OldestQueryAge           float64 // active queries only
	OldestStateAge           float64
	YoungestBackendAge       float64 // small values mean churn
	MeanBackendAge           float64
}

// Session is one long-running query or transaction left idle. Ages are in
// seconds.
type Session struct {
	PID                           int32
	Database, User, Application   string
	ClientAddr, State             string
	WaitEventType, WaitEvent      string
	BackendAge, XactAge, QueryAge float64
	StateAge                      float64
	Query                         string // truncated to Options.QueryTextLimit
}

// Blocked lists the lock waits.
type Blocked struct {
	Status source.Status
	Rows   []BlockedQuery
}

// BlockedQuery is one session waiting for a lock, with one session that
// blocks it (a session blocked by two gives two rows).
type BlockedQuery struct {
	PID                 int32
	User, Application   string
	WaitSeconds         float64
	LockType, Mode      string
	Relation            string
	Query               string
	BlockingPID         int32
	BlockingUser        string
	BlockingApplication string
	BlockingState       string
	BlockingXactAge     float64
	BlockingQuery       string
}

func (p *Probe) collectActivity(ctx context.Context) Activity {
	var out Activity
	out.Status = p.collect(ctx, "activity", func(ctx context.Context, c *pgxpool.Conn) error {
		var err error
		out.Groups, err = readActivityGroups(ctx, c)
		if err != nil {
			return err
		}
		for _, g := range out.Groups {
			out.Total += g.Count
		}
		minAge := fmt.Sprintf("%d milliseconds", p.opts.SessionMinAge.Milliseconds())
		rows, err := c.Query(ctx, probeTag+sessionsSQL, ApplicationName, minAge, p.opts.QueryTextLimit, p.opts.MaxSessions)
		if err != nil {
			return err
		}
		var s Session
		var query *string
		_, err = pgx.ForEachRow(rows, []any{&s.PID, &s.Database, &s.User, &s.Application, &s.ClientAddr, &s.State,
			&s.WaitEventType, &s.WaitEvent, &s.BackendAge, &s.XactAge, &s.QueryAge, &s.StateAge, &query,
		}, func() error {
			row := s
			row.Query = deref(query)
			out.Sessions = append(out.Sessions, row)
			return nil
		})
		return err
	})
	return out
}

func (p *Probe) collectBlocked(ctx context.Context, v int) Blocked {
	var out Blocked
	out.Status = p.collect(ctx, "locks", func(ctx context.Context, c *pgxpool.Conn) error {
		rows, err := c.Query(ctx, probeTag+blockedSQL(v), ApplicationName, p.opts.QueryTextLimit)
		if err != nil {
			return err
		}
		var b BlockedQuery
		var q, bq *string
		_, err = pgx.ForEachRow(rows, []any{&b.PID, &b.User, &b.Application, &b.WaitSeconds, &b.LockType, &b.Mode, &b.Relation,
			&q, &b.BlockingPID, &b.BlockingUser, &b.BlockingApplication, &b.BlockingState, &b.BlockingXactAge, &bq,
		}, func() error {
			row := b
			row.Query, row.BlockingQuery = deref(q), deref(bq)
			out.Rows = append(out.Rows, row)
			return nil
		})
		return err
	})
	return out
}

// readActivityGroups reads the groups of pg_stat_activity on c.
func readActivityGroups(ctx context.Context, c *pgxpool.Conn) ([]ActivityGroup, error) {
	rows, err := c.Query(ctx, probeTag+activityGroupsSQL, ApplicationName)
	if err != nil {
		return nil, err
	}
	var groups []ActivityGroup
	var g ActivityGroup
	_, err = pgx.ForEachRow(rows, []any{&g.Database, &g.User, &g.Application, &g.ClientAddr, &g.State, &g.WaitEventType, &g.WaitEvent,
		&g.Count, &g.OldestXactAge, &g.OldestQueryAge, &g.OldestStateAge, &g.YoungestBackendAge, &g.MeanBackendAge,
	}, func() error {
		groups = append(groups, g)
		return nil
	})
	return groups, err
}

// ReadActivity takes a light reading of pg_stat_activity: its groups only
// (no individual sessions, no lock waits), in one statement on one of the
// probe's sessions (read-only, bounded by the statement timeout, tagged as
// the probe's), within the collector timeout. The sample's time is the
// local clock's when the reading started, as Snapshot times are in package
// probe. The error says what went wrong, without the password.
func (p *Probe) ReadActivity(ctx context.Context) (ActivitySample, error) {
	sample := ActivitySample{Time: time.Now()}
	ctx, cancel := context.WithTimeout(ctx, p.opts.CollectorTimeout)
	defer cancel()
	c, err := p.pool.Acquire(ctx)
	if err != nil {
		return ActivitySample{}, p.wrap("activity", err)
	}
	defer c.Release()
	sample.Groups, err = readActivityGroups(ctx, c)
	if err != nil {
		return ActivitySample{}, p.wrap("activity", err)
	}
	return sample, nil
}
