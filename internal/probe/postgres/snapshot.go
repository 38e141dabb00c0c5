package postgres

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
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
}

// Server is the server's version, identity and the settings that matter.
type Server struct {
	Status source.Status
	// VersionNum is server_version_num, e.g. 150004.
	VersionNum int
	// Version is server_version, e.g. "15.4 (Debian 15.4-1)".
	Version      string
	Database     string
	User         string
	Superuser    bool
	ReadAllStats bool // member of pg_read_all_stats (or superuser)
	InRecovery   bool
	PostmasterAt time.Time
	// CPUs is the server's CPU count from Options.ServerCPUs, or advisor's
	// host's when the server is local (CPUsLocal); 0 = unknown.
	CPUs      int
	CPUsLocal bool
	Settings  Settings

	timeNow time.Time // the server's now() at the snapshot
}

// Setting is one row of pg_settings.
type Setting struct {
	Value string
	Unit  string
}

// Settings holds the settings a snapshot reads, by name.
type Settings map[string]Setting

// Int returns a numeric setting in its own unit, and whether it is set.
func (s Settings) Int(name string) (int64, bool) {
	v, ok := s[name]
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(v.Value, 10, 64)
	return n, err == nil
}

// Bytes returns a memory setting in bytes (shared_buffers, work_mem, ...).
func (s Settings) Bytes(name string) (int64, bool) {
	n, ok := s.Int(name)
	if !ok {
		return 0, false
	}
	mult, ok := unitBytes[s[name].Unit]
	if !ok {
		return 0, false
	}
	return n * mult, true
}

var unitBytes = map[string]int64{
	"B": 1, "kB": 1 << 10, "8kB": 8 << 10, "16kB": 16 << 10, "32kB": 32 << 10, "64kB": 64 << 10,
	"MB": 1 << 20, "16MB": 16 << 20, "GB": 1 << 30, "TB": 1 << 40,
}

// Bool returns an on/off setting.
func (s Settings) Bool(name string) bool { return s[name].Value == "on" }

// List returns a comma-separated setting (shared_preload_libraries) as a
// list of trimmed names.
func (s Settings) List(name string) []string {
	var out []string
	for _, f := range strings.Split(s[name].Value, ",") {
		if f = strings.Trim(strings.TrimSpace(f), `"`); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// Statements is pg_stat_statements for the current database.
type Statements struct {
	Status source.Status
	// Schema and ExtVersion of the extension in this database.
	Schema     string
	ExtVersion string
	// Dealloc and StatsReset come from pg_stat_statements_info (14+):
	// entries evicted for lack of room, and when all were last reset
	// (zero when unknown).
	Dealloc    int64
	StatsReset time.Time
	// Hidden is how many rows of other roles had their query text and
	// queryid hidden (the role is not a member of pg_read_all_stats).
	Hidden int
	// TextsRead is how many query texts this snapshot read: those of the
	// statements the probe had not seen before.
	TextsRead int
	Rows      []Statement
}

// StatementKey identifies a statement across snapshots.
type StatementKey struct {
	UserID   uint32
	DBID     uint32
	QueryID  int64
	TopLevel bool
}

// Statement is one row of pg_stat_statements. Times are in milliseconds.
type Statement struct {
	UserID  uint32
	User    string
	DBID    uint32
	QueryID int64
	// TopLevel is false for statements run inside functions (14+ with
	// pg_stat_statements.track = all); always true before 14.
	TopLevel bool
	Query    string
	// Hidden rows stand for all the rows of one role whose text and queryid
	// this role may not see, summed; HiddenCount is how many.
	Hidden      bool
	HiddenCount int

	Calls             int64
	TotalExecTime     float64
	MeanExecTime      float64
	MinExecTime       float64
	MaxExecTime       float64
	StddevExecTime    float64
	TotalPlanTime     float64
	Plans             int64
	Rows              int64
	SharedBlksHit     int64
	SharedBlksRead    int64
	SharedBlksDirtied int64
	SharedBlksWritten int64
	LocalBlksHit      int64
	LocalBlksRead     int64
	TempBlksRead      int64
	TempBlksWritten   int64
	// BlkReadTime and BlkWriteTime are blk_read_time / blk_write_time
	// (shared_blk_read_time / shared_blk_write_time from 17).
	BlkReadTime  float64
	BlkWriteTime float64
	WALBytes     float64
	// StatsSince is when this entry started counting (17+), else zero.
	StatsSince time.Time
}

// Key of the statement.
func (s Statement) Key() StatementKey {
	return StatementKey{UserID: s.UserID, DBID: s.DBID, QueryID: s.QueryID, TopLevel: s.TopLevel}
}

// Tables are pg_stat_user_tables with pg_statio_user_tables and sizes.
type Tables struct {
	Status source.Status
	Rows   []Table
}

// Table is one user table.
type Table struct {
	RelID        uint32
	Schema, Name string
	SeqScan      int64
	SeqTupRead   int64
	IdxScan      int64
	IdxTupFetch  int64
	TupIns       int64
	TupUpd       int64
	TupDel       int64
	TupHotUpd    int64
	LiveTup      int64
	DeadTup      int64
	LastVacuum   time.Time // latest of manual and auto; zero if never
	LastAnalyze  time.Time // latest of manual and auto; zero if never
	HeapBlksRead int64
	HeapBlksHit  int64
	IdxBlksRead  int64
	IdxBlksHit   int64
	TableBytes   int64 // heap + TOAST + maps
	IndexesBytes int64
	TotalBytes   int64
	Ident        string // schema-qualified, quoted as SQL needs it
}

// Indexes are pg_stat_user_indexes with pg_index, of the tables read.
type Indexes struct {
	Status source.Status
	Rows   []Index
}

// Index is one index of a user table.
type Index struct {
	TableRelID  uint32
	RelID       uint32
	Schema      string
	Table       string
	Name        string
	Scan        int64
	TupRead     int64
	TupFetch    int64
	BlksRead    int64
	BlksHit     int64
	Unique      bool
	Primary     bool
	Valid       bool
	Partial     bool
	Method      string // btree, hash, gin, ...
	Definition  string // pg_get_indexdef
	Bytes       int64
	KeyColumns  []string // "" for an expression
	IncludeCols []string
	TableIdent  string
}

// Activity is pg_stat_activity of the client backends (all databases),
// without advisor's own sessions.
type Activity struct {
	Status   source.Status
	Total    int
	Groups   []ActivityGroup
	Sessions []Session
}

// ActivityGroup counts backends by database, user, application, state and
// wait event. Ages are in seconds.
type ActivityGroup struct {
	Database, User, Application, State string
	WaitEventType, WaitEvent           string
	Count                              int
	OldestXactAge                      float64
	OldestQueryAge                     float64 // active queries only
	OldestStateAge                     float64
	YoungestBackendAge                 float64 // small values mean churn
	MeanBackendAge                     float64
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

// Database is pg_stat_database for the current database.
type Database struct {
	Status source.Status
	Stats  DatabaseStats
}

// DatabaseStats is one row of pg_stat_database. Times are in milliseconds.
type DatabaseStats struct {
	Name              string
	NumBackends       int
	XactCommit        int64
	XactRollback      int64
	BlksRead          int64
	BlksHit           int64
	TupReturned       int64
	TupFetched        int64
	TupInserted       int64
	TupUpdated        int64
	TupDeleted        int64
	TempFiles         int64
	TempBytes         int64
	Deadlocks         int64
	BlkReadTime       float64
	BlkWriteTime      float64
	HasSessions       bool // the session counters exist (14+)
	Sessions          int64
	SessionTime       float64
	ActiveTime        float64
	IdleInXactTime    float64
	SessionsAbandoned int64
	SessionsFatal     int64
	SessionsKilled    int64
	StatsReset        time.Time // zero if never reset
}

// ColumnStats are pg_stats rows for the columns of the hot tables.
type ColumnStats struct {
	Status source.Status
	Rows   []ColumnStat
}

// ColumnStat is one column's statistics.
type ColumnStat struct {
	Schema, Table, Column string
	NullFrac              float64
	AvgWidth              int32
	// NDistinct > 0 is a count of distinct values, < 0 a fraction of rows
	// (-1: unique).
	NDistinct float64
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
			&s.Activity.Status, &s.Blocked.Status, &s.Database.Status, &s.ColumnStats.Status} {
			*st = source.Status{State: s.Server.Status.State, Detail: "not read: server unavailable"}
		}
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

	s.Status = source.Status{State: source.OK, Version: s.Server.Version}
	// The parts that could not be read, or were read with a caveat.
	var problems []string
	for _, st := range []source.Status{s.Statements.Status, s.Tables.Status, s.Indexes.Status,
		s.Activity.Status, s.Blocked.Status, s.Database.Status, s.ColumnStats.Status} {
		if st.Detail != "" {
			problems = append(problems, st.Detail)
		}
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

func (p *Probe) collectServer(ctx context.Context) Server {
	var srv Server
	srv.CPUs, srv.CPUsLocal = p.opts.ServerCPUs, p.opts.serverCPUsLocal
	srv.Status = p.collect(ctx, "server", func(ctx context.Context, c *pgxpool.Conn) error {
		var super *bool
		if err := c.QueryRow(ctx, probeTag+serverSQL).Scan(&srv.VersionNum, &srv.Version, &srv.Database, &srv.User,
			&srv.PostmasterAt, &srv.timeNow, &srv.InRecovery, &super, &srv.ReadAllStats); err != nil {
			return err
		}
		srv.Superuser = super != nil && *super
		if srv.Superuser {
			srv.ReadAllStats = true
		}
		rows, err := c.Query(ctx, probeTag+settingsSQL, settingNames)
		if err != nil {
			return err
		}
		srv.Settings = Settings{}
		var name string
		var set Setting
		_, err = pgx.ForEachRow(rows, []any{&name, &set.Value, &set.Unit}, func() error {
			srv.Settings[name] = set
			return nil
		})
		return err
	})
	if srv.Status.Ok() {
		srv.Status.Version = srv.Version
	}
	return srv
}

func (p *Probe) collectStatements(ctx context.Context, srv Server) Statements {
	var out Statements
	out.Status = p.collect(ctx, "pg_stat_statements", func(ctx context.Context, c *pgxpool.Conn) error {
		// shared_preload_libraries is hidden from roles without
		// pg_read_all_settings; then the query below tells.
		if _, visible := srv.Settings["shared_preload_libraries"]; visible &&
			!contains(srv.Settings.List("shared_preload_libraries"), "pg_stat_statements") {
			return notLoaded
		}
		err := c.QueryRow(ctx, probeTag+extensionSQL, "pg_stat_statements").Scan(&out.Schema, &out.ExtVersion)
		if errors.Is(err, pgx.ErrNoRows) {
			return &partStatus{source.Status{State: source.Unavailable,
				Detail: fmt.Sprintf("pg_stat_statements is not created in database %q: CREATE EXTENSION pg_stat_statements", srv.Database)}}
		}
		if err != nil {
			return err
		}
		if srv.VersionNum >= pg14 {
			var reset *time.Time
			if err := c.QueryRow(ctx, probeTag+statementsInfoSQL(out.Schema)).Scan(&out.Dealloc, &reset); err != nil {
				return statementsError(err)
			}
			out.StatsReset = deref(reset)
		}
		// A margin for the probe's own statements, left out below.
		rows, err := c.Query(ctx, probeTag+statementsSQL(srv.VersionNum, out.Schema), p.opts.MaxStatements+ownStatementsMargin)
		if err != nil {
			return statementsError(err)
		}
		hidden := map[StatementKey]int{}
		var st Statement
		var queryID *int64
		var statsSince *time.Time
		_, err = pgx.ForEachRow(rows, []any{
			&st.UserID, &st.User, &st.DBID, &queryID, &st.TopLevel,
			&st.Calls, &st.TotalExecTime, &st.MeanExecTime, &st.MinExecTime, &st.MaxExecTime, &st.StddevExecTime,
			&st.TotalPlanTime, &st.Plans, &st.Rows,
			&st.SharedBlksHit, &st.SharedBlksRead, &st.SharedBlksDirtied, &st.SharedBlksWritten,
			&st.LocalBlksHit, &st.LocalBlksRead, &st.TempBlksRead, &st.TempBlksWritten,
			&st.BlkReadTime, &st.BlkWriteTime, &st.WALBytes, &statsSince,
		}, func() error {
			row := st
			row.StatsSince = deref(statsSince)
			if queryID == nil {
				// Another role's statement, hidden from this role: sum
				// them per role so the counters still add up.
				out.Hidden++
				row.Hidden, row.HiddenCount, row.Query = true, 1, "<insufficient privilege>"
				if i, ok := hidden[row.Key()]; ok {
					addStatement(&out.Rows[i], row)
					return nil
				}
				hidden[row.Key()] = len(out.Rows)
			} else {
				row.QueryID = *queryID
			}
			out.Rows = append(out.Rows, row)
			return nil
		})
		if err != nil {
			return err
		}
		read, err := p.texts.fill(ctx, c, statementTextsSQL(srv.VersionNum, out.Schema), out.Rows)
		out.TextsRead = read
		if err != nil {
			return statementsError(err)
		}
		// Leave out the probe's own statements.
		kept := out.Rows[:0]
		for _, r := range out.Rows {
			if !strings.HasPrefix(r.Query, probeTag) {
				kept = append(kept, r)
			}
		}
		out.Rows = kept
		if len(out.Rows) > p.opts.MaxStatements {
			out.Rows = out.Rows[:p.opts.MaxStatements]
		}
		for i := range out.Rows {
			if r := &out.Rows[i]; r.Hidden && r.Calls > 0 {
				r.MeanExecTime = r.TotalExecTime / float64(r.Calls)
			}
		}
		if out.Hidden > 0 {
			return &partStatus{source.Status{State: source.OK, Detail: fmt.Sprintf(
				"query texts of %d statements of other roles are hidden: GRANT pg_read_all_stats TO %s", out.Hidden, srv.User)}}
		}
		return nil
	})
	return out
}

var notLoaded = &partStatus{source.Status{State: source.Unavailable,
	Detail: "pg_stat_statements is not loaded: add it to shared_preload_libraries and restart"}}

// statementsError recognises the error of a pg_stat_statements that was
// created but not preloaded.
func statementsError(err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "55000" && strings.Contains(pgErr.Message, "shared_preload_libraries") {
		return notLoaded
	}
	return err
}

// addStatement adds the counters of b to a (hidden rows of one role).
func addStatement(a *Statement, b Statement) {
	a.HiddenCount += b.HiddenCount
	a.Calls += b.Calls
	a.TotalExecTime += b.TotalExecTime
	a.TotalPlanTime += b.TotalPlanTime
	a.Plans += b.Plans
	a.Rows += b.Rows
	a.SharedBlksHit += b.SharedBlksHit
	a.SharedBlksRead += b.SharedBlksRead
	a.SharedBlksDirtied += b.SharedBlksDirtied
	a.SharedBlksWritten += b.SharedBlksWritten
	a.LocalBlksHit += b.LocalBlksHit
	a.LocalBlksRead += b.LocalBlksRead
	a.TempBlksRead += b.TempBlksRead
	a.TempBlksWritten += b.TempBlksWritten
	a.BlkReadTime += b.BlkReadTime
	a.BlkWriteTime += b.BlkWriteTime
	a.WALBytes += b.WALBytes
	a.MaxExecTime = max(a.MaxExecTime, b.MaxExecTime)
	if b.MinExecTime < a.MinExecTime {
		a.MinExecTime = b.MinExecTime
	}
}

func (p *Probe) collectTables(ctx context.Context) Tables {
	var out Tables
	out.Status = p.collect(ctx, "tables", func(ctx context.Context, c *pgxpool.Conn) error {
		rows, err := c.Query(ctx, probeTag+tablesSQL, p.opts.MaxTables)
		if err != nil {
			return err
		}
		var t Table
		var lv, lav, la, laa *time.Time
		_, err = pgx.ForEachRow(rows, []any{&t.RelID, &t.Schema, &t.Name,
			&t.SeqScan, &t.SeqTupRead, &t.IdxScan, &t.IdxTupFetch,
			&t.TupIns, &t.TupUpd, &t.TupDel, &t.TupHotUpd, &t.LiveTup, &t.DeadTup,
			&lv, &lav, &la, &laa,
			&t.HeapBlksRead, &t.HeapBlksHit, &t.IdxBlksRead, &t.IdxBlksHit,
			&t.TableBytes, &t.IndexesBytes, &t.TotalBytes,
		}, func() error {
			row := t
			row.LastVacuum = latest(lv, lav)
			row.LastAnalyze = latest(la, laa)
			row.Ident = pgx.Identifier{row.Schema, row.Name}.Sanitize()
			out.Rows = append(out.Rows, row)
			return nil
		})
		return err
	})
	return out
}

func (p *Probe) collectIndexes(ctx context.Context, tables Tables) Indexes {
	var out Indexes
	if !tables.Status.Ok() {
		out.Status = source.Status{State: tables.Status.State, Detail: "indexes: not read, the tables could not be"}
		return out
	}
	relids := make([]uint32, len(tables.Rows))
	for i, t := range tables.Rows {
		relids[i] = t.RelID
	}
	out.Status = p.collect(ctx, "indexes", func(ctx context.Context, c *pgxpool.Conn) error {
		rows, err := c.Query(ctx, probeTag+indexesSQL, relids)
		if err != nil {
			return err
		}
		var ix Index
		var nkey int16
		var cols []string
		_, err = pgx.ForEachRow(rows, []any{&ix.TableRelID, &ix.RelID, &ix.Schema, &ix.Table, &ix.Name,
			&ix.Scan, &ix.TupRead, &ix.TupFetch, &ix.BlksRead, &ix.BlksHit,
			&ix.Unique, &ix.Primary, &ix.Valid, &ix.Partial, &nkey,
			&ix.Method, &ix.Definition, &ix.Bytes, &cols,
		}, func() error {
			row := ix
			n := min(int(nkey), len(cols))
			row.KeyColumns = append([]string(nil), cols[:n]...)
			if n < len(cols) {
				row.IncludeCols = append([]string(nil), cols[n:]...)
			}
			row.TableIdent = pgx.Identifier{row.Schema, row.Table}.Sanitize()
			out.Rows = append(out.Rows, row)
			return nil
		})
		return err
	})
	return out
}

func (p *Probe) collectActivity(ctx context.Context) Activity {
	var out Activity
	out.Status = p.collect(ctx, "activity", func(ctx context.Context, c *pgxpool.Conn) error {
		rows, err := c.Query(ctx, probeTag+activityGroupsSQL, ApplicationName)
		if err != nil {
			return err
		}
		var g ActivityGroup
		_, err = pgx.ForEachRow(rows, []any{&g.Database, &g.User, &g.Application, &g.State, &g.WaitEventType, &g.WaitEvent,
			&g.Count, &g.OldestXactAge, &g.OldestQueryAge, &g.OldestStateAge, &g.YoungestBackendAge, &g.MeanBackendAge,
		}, func() error {
			out.Groups = append(out.Groups, g)
			out.Total += g.Count
			return nil
		})
		if err != nil {
			return err
		}
		minAge := fmt.Sprintf("%d milliseconds", p.opts.SessionMinAge.Milliseconds())
		rows, err = c.Query(ctx, probeTag+sessionsSQL, ApplicationName, minAge, p.opts.QueryTextLimit, p.opts.MaxSessions)
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

func (p *Probe) collectDatabase(ctx context.Context, v int) Database {
	var out Database
	out.Status = p.collect(ctx, "database", func(ctx context.Context, c *pgxpool.Conn) error {
		d := &out.Stats
		var reset *time.Time
		err := c.QueryRow(ctx, probeTag+databaseSQL(v)).Scan(&d.Name, &d.NumBackends, &d.XactCommit, &d.XactRollback,
			&d.BlksRead, &d.BlksHit, &d.TupReturned, &d.TupFetched, &d.TupInserted, &d.TupUpdated, &d.TupDeleted,
			&d.TempFiles, &d.TempBytes, &d.Deadlocks, &d.BlkReadTime, &d.BlkWriteTime,
			&d.HasSessions, &d.Sessions, &d.SessionTime, &d.ActiveTime, &d.IdleInXactTime,
			&d.SessionsAbandoned, &d.SessionsFatal, &d.SessionsKilled, &reset)
		d.StatsReset = deref(reset)
		return err
	})
	return out
}

// HotTables returns the tables whose column statistics a snapshot reads:
// those the statements with the highest total time mention, then the
// largest, n of each at most.
func HotTables(stmts []Statement, tables []Table, n int) []Table {
	seen := map[uint32]bool{}
	var out []Table
	byTime := append([]Statement(nil), stmts...)
	sort.Slice(byTime, func(i, j int) bool { return byTime[i].TotalExecTime > byTime[j].TotalExecTime })
	words := map[string][]int{}
	for i, t := range tables {
		words[strings.ToLower(t.Name)] = append(words[strings.ToLower(t.Name)], i)
	}
	hot := 0
	for _, s := range byTime {
		if s.Hidden || hot >= n {
			continue
		}
		for _, w := range identRe.FindAllString(strings.ToLower(s.Query), -1) {
			for _, i := range words[strings.Trim(w, `"`)] {
				if !seen[tables[i].RelID] && hot < n {
					seen[tables[i].RelID] = true
					out = append(out, tables[i])
					hot++
				}
			}
		}
	}
	// tables come largest first.
	for i := 0; i < len(tables) && i < n; i++ {
		if !seen[tables[i].RelID] {
			seen[tables[i].RelID] = true
			out = append(out, tables[i])
		}
	}
	return out
}

var identRe = regexp.MustCompile(`"[^"]+"|[a-z_][a-z0-9_$]*`)

func (p *Probe) collectColumnStats(ctx context.Context, stmts Statements, tables Tables) ColumnStats {
	var out ColumnStats
	if !tables.Status.Ok() {
		out.Status = source.Status{State: tables.Status.State, Detail: "pg_stats: not read, the tables could not be"}
		return out
	}
	hot := HotTables(stmts.Rows, tables.Rows, p.opts.ColumnStatsTables)
	if len(hot) == 0 {
		out.Status = source.Status{State: source.OK}
		return out
	}
	schemas := make([]string, len(hot))
	names := make([]string, len(hot))
	var key strings.Builder
	for i, t := range hot {
		schemas[i], names[i] = t.Schema, t.Name
		fmt.Fprintf(&key, "%d@%d ", t.RelID, t.LastAnalyze.UnixNano())
	}
	// pg_stats changes when a table is analysed: the last read serves as
	// long as the same tables were not analysed since (and for 5 minutes
	// at most, for columns whose privileges changed).
	p.colStats.mu.Lock()
	defer p.colStats.mu.Unlock()
	if c := &p.colStats; c.key == key.String() && time.Since(c.at) < 5*time.Minute {
		return c.out
	}
	defer func() {
		if out.Status.Ok() {
			p.colStats.key, p.colStats.at, p.colStats.out = key.String(), time.Now(), out
		}
	}()
	out.Status = p.collect(ctx, "pg_stats", func(ctx context.Context, c *pgxpool.Conn) error {
		rows, err := c.Query(ctx, probeTag+columnStatsSQL, schemas, names)
		if err != nil {
			return err
		}
		var cs ColumnStat
		_, err = pgx.ForEachRow(rows, []any{&cs.Schema, &cs.Table, &cs.Column, &cs.NullFrac, &cs.AvgWidth, &cs.NDistinct}, func() error {
			out.Rows = append(out.Rows, cs)
			return nil
		})
		if err == nil && len(out.Rows) == 0 {
			// pg_stats shows only the columns the role may SELECT (or
			// tables never analysed).
			return &partStatus{source.Status{State: source.OK, Detail: fmt.Sprintf(
				"pg_stats shows no column of the %d hot tables: they were never analysed, or the role may not SELECT them", len(hot))}}
		}
		return err
	})
	return out
}

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
