// The server's health: what wears out or fills up over days rather than
// what slows a request now. Sequences near the end of their range,
// transaction ID age, invalid indexes, what holds the xmin horizon back,
// connection slots, replication slots and replicas. Every statement reads
// the catalog or the statistics views only: none scans a table.

package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pgadvisor/advisor/internal/probe/source"
)

// Health is the server's maintenance state, read in one round trip.
type Health struct {
	Status source.Status
	// FreezeMaxAge is autovacuum_freeze_max_age, MultixactFreezeMaxAge
	// autovacuum_multixact_freeze_max_age and FailsafeAge
	// vacuum_failsafe_age (14+; 0 before).
	FreezeMaxAge          int64
	MultixactFreezeMaxAge int64
	FailsafeAge           int64
	// MaxSlotWALKeepBytes is max_slot_wal_keep_size in bytes, -1 for no
	// limit.
	MaxSlotWALKeepBytes int64
	// Sequences are the sequences of the current database nearest the end
	// of their range (healthRows at most), one row per column
	// that takes its values (a sequence no column names has one row with
	// no column).
	Sequences []Sequence
	// SequencesUnreadable counts the sequences whose value the role may not
	// read (no SELECT or USAGE on them).
	SequencesUnreadable int
	// Databases are every database's transaction ID ages, oldest first.
	Databases []DatabaseAge
	// FreezeTables are the tables of the current database with the oldest
	// relfrozenxid (their TOAST table's included), oldest first.
	FreezeTables []FreezeTable
	// InvalidIndexes are the indexes of the current database that are not
	// valid, except those of a table with an index build in progress and
	// those of a partitioned table.
	InvalidIndexes []InvalidIndex
	// Holders are what holds the xmin horizon back: backends with a
	// snapshot or a transaction ID, prepared transactions and replication
	// slots, oldest first within each kind.
	Holders     []HorizonHolder
	Connections Connections
	Slots       []ReplicationSlot
	Replicas    []Replica
	// Standby is the replay state when the server is a standby.
	Standby *StandbyState
}

// Sequence is one sequence and a column it feeds.
type Sequence struct {
	Schema, Name string
	// Type is the sequence's own type (smallint, integer, bigint).
	Type      string
	Increment int64
	Min, Max  int64
	Cycle     bool
	Last      int64
	// TableSchema, Table and Column name the column that takes the
	// sequence's values (owned by, identity, or a default of nextval),
	// ColumnType its type; empty when none does.
	TableSchema, Table, Column, ColumnType string
	// Limit is the last value that fits both the sequence and the column:
	// the column's type may be narrower than the sequence's.
	Limit int64
	// LimitedByColumn is set when the column's type, not the sequence,
	// sets Limit.
	LimitedByColumn bool
	// UsedShare is how much of the range from the start to Limit is used
	// (0..1), and Remaining the values left.
	UsedShare float64
	Remaining int64
}

// DatabaseAge is one database's transaction ID and multixact ID age.
type DatabaseAge struct {
	Name string
	// XIDAge is age(datfrozenxid), MXIDAge mxid_age(datminmxid).
	XIDAge, MXIDAge int64
	AllowConn       bool
}

// FreezeTable is one table of the current database and the age of its
// oldest unfrozen transaction ID.
type FreezeTable struct {
	Schema, Name string
	XIDAge       int64
	MXIDAge      int64
	// FreezeMaxAge is the table's own autovacuum_freeze_max_age storage
	// parameter, 0 when it has none.
	FreezeMaxAge int64
}

// InvalidIndex is an index that is not valid: the planner never uses it,
// and while it is ready every write still maintains it.
type InvalidIndex struct {
	Schema, Name       string
	TableSchema, Table string
	Unique, Ready      bool
	SizeBytes          int64
	Definition         string
}

// Kinds of HorizonHolder.
const (
	HolderBackend  = "backend"
	HolderPrepared = "prepared transaction"
	HolderSlot     = "replication slot"
)

// HorizonHolder is one thing that keeps vacuum from removing the rows
// deleted after its oldest transaction ID.
type HorizonHolder struct {
	Kind string
	// Name is the pid of a backend, the gid of a prepared transaction, the
	// slot's name.
	Name string
	// Database, User and Application (backends), State and BackendType
	// (backends: "client backend", "walsender" for a standby's feedback,
	// ...) say whose it is.
	Database, User, Application string
	State, BackendType          string
	// XIDAge is the age of the oldest transaction ID it holds: backend_xmin
	// or backend_xid, the prepared transaction's, the slot's xmin or
	// catalog_xmin (CatalogOnly: a logical slot holds the catalogs only).
	XIDAge      int64
	CatalogOnly bool
	// Seconds is how long it has held it, when the server says: the
	// transaction's age, the time since PREPARE TRANSACTION, the time a slot
	// has been inactive (17+); -1 when unknown.
	Seconds float64
	Query   string // a backend's last query, truncated
}

// Connections counts the client backends, every database, advisor's own
// sessions included: they all take a slot of max_connections.
type Connections struct {
	Total, Active, Idle, IdleInTransaction int
	// Superuser are those of superusers, which may use the reserved slots.
	Superuser int
}

// ReplicationSlot is one row of pg_replication_slots.
type ReplicationSlot struct {
	Name, Type, Database string
	Active, Temporary    bool
	// RetainedBytes is the WAL kept for it: from its restart_lsn to the
	// current WAL position.
	RetainedBytes int64
	// WALStatus is reserved, extended, unreserved or lost (13+), and
	// SafeWALBytes the WAL that can still be written before the slot is
	// lost (-1 when max_slot_wal_keep_size does not limit it).
	WALStatus    string
	SafeWALBytes int64
	XIDAge       int64 // age(xmin), 0 without
	CatalogAge   int64 // age(catalog_xmin), 0 without
	// InactiveSeconds is the time since it became inactive (17+), -1
	// when unknown.
	InactiveSeconds float64
	Conflicting     bool // invalidated by a recovery conflict (16+)
}

// Replica is one row of pg_stat_replication: a standby (or a base backup)
// streaming from this server.
type Replica struct {
	Application, ClientAddr string
	State, SyncState        string
	// LagBytes is the WAL the standby has not replayed yet.
	LagBytes int64
	// ReplayLagSeconds is pg_stat_replication.replay_lag, -1 when the
	// server does not know it.
	ReplayLagSeconds float64
	XminAge          int64 // age(backend_xmin): hot_standby_feedback
}

// StandbyState is a standby's replay of what it received.
type StandbyState struct {
	// LagBytes is the WAL received but not replayed yet; LagSeconds the
	// time since the last replayed transaction committed on the primary,
	// 0 when everything received is replayed.
	LagBytes   int64
	LagSeconds float64
	Paused     bool
}

// healthRows bounds the rows of each list of Health: the sequences, tables
// and holders nearest their limit are the ones a finding names.
const healthRows = 20

func (p *Probe) collectHealth(ctx context.Context, srv Server) Health {
	var out Health
	v := srv.VersionNum
	out.Status = p.collect(ctx, "health", func(ctx context.Context, c *pgxpool.Conn) error {
		b := &pgx.Batch{}
		b.Queue(probeTag + healthSettingsSQL(v))
		b.Queue(probeTag+healthSequencesSQL, healthRows)
		b.Queue(probeTag + healthDatabasesSQL)
		b.Queue(probeTag+healthFreezeTablesSQL, healthRows)
		b.Queue(probeTag+healthInvalidIndexesSQL, healthRows)
		b.Queue(probeTag+healthBackendsSQL, p.opts.QueryTextLimit, ApplicationName, healthRows)
		b.Queue(probeTag+healthPreparedSQL, healthRows)
		b.Queue(probeTag + healthConnectionsSQL)
		b.Queue(probeTag + healthSlotsSQL(v))
		b.Queue(probeTag + healthReplicasSQL)
		br := c.SendBatch(ctx, b)
		defer br.Close()
		return readHealth(br, &out)
	})
	return out
}

func readHealth(br pgx.BatchResults, out *Health) error {
	var recovery, paused *bool
	var standbyBytes *int64
	var standbySeconds *float64
	if err := br.QueryRow().Scan(&out.FreezeMaxAge, &out.MultixactFreezeMaxAge, &out.FailsafeAge,
		&out.MaxSlotWALKeepBytes, &out.SequencesUnreadable, &recovery, &standbyBytes, &standbySeconds, &paused); err != nil {
		return err
	}
	if deref(recovery) {
		out.Standby = &StandbyState{LagBytes: deref(standbyBytes), LagSeconds: deref(standbySeconds), Paused: deref(paused)}
	}
	var s Sequence
	if err := forEach(br, []any{&s.Schema, &s.Name, &s.Type, &s.Increment, &s.Min, &s.Max, &s.Cycle, &s.Last,
		&s.TableSchema, &s.Table, &s.Column, &s.ColumnType, &s.Limit, &s.LimitedByColumn, &s.UsedShare, &s.Remaining},
		func() { out.Sequences = append(out.Sequences, s) }); err != nil {
		return err
	}
	var d DatabaseAge
	if err := forEach(br, []any{&d.Name, &d.XIDAge, &d.MXIDAge, &d.AllowConn},
		func() { out.Databases = append(out.Databases, d) }); err != nil {
		return err
	}
	var ft FreezeTable
	if err := forEach(br, []any{&ft.Schema, &ft.Name, &ft.XIDAge, &ft.MXIDAge, &ft.FreezeMaxAge},
		func() { out.FreezeTables = append(out.FreezeTables, ft) }); err != nil {
		return err
	}
	var ii InvalidIndex
	if err := forEach(br, []any{&ii.Schema, &ii.Name, &ii.TableSchema, &ii.Table, &ii.Unique, &ii.Ready, &ii.SizeBytes, &ii.Definition},
		func() { out.InvalidIndexes = append(out.InvalidIndexes, ii) }); err != nil {
		return err
	}
	h := HorizonHolder{Kind: HolderBackend}
	if err := forEach(br, []any{&h.Name, &h.Database, &h.User, &h.Application, &h.State, &h.BackendType,
		&h.XIDAge, &h.Seconds, &h.Query},
		func() { out.Holders = append(out.Holders, h) }); err != nil {
		return err
	}
	h = HorizonHolder{Kind: HolderPrepared}
	if err := forEach(br, []any{&h.Name, &h.Database, &h.User, &h.XIDAge, &h.Seconds},
		func() { out.Holders = append(out.Holders, h) }); err != nil {
		return err
	}
	cn := &out.Connections
	if err := br.QueryRow().Scan(&cn.Total, &cn.Active, &cn.Idle, &cn.IdleInTransaction, &cn.Superuser); err != nil {
		return err
	}
	var sl ReplicationSlot
	if err := forEach(br, []any{&sl.Name, &sl.Type, &sl.Database, &sl.Active, &sl.Temporary, &sl.RetainedBytes,
		&sl.WALStatus, &sl.SafeWALBytes, &sl.XIDAge, &sl.CatalogAge, &sl.InactiveSeconds, &sl.Conflicting},
		func() { out.Slots = append(out.Slots, sl) }); err != nil {
		return err
	}
	for _, sl := range out.Slots {
		if sl.XIDAge == 0 && sl.CatalogAge == 0 {
			continue
		}
		out.Holders = append(out.Holders, HorizonHolder{Kind: HolderSlot, Name: sl.Name, Database: sl.Database,
			XIDAge: max(sl.XIDAge, sl.CatalogAge), CatalogOnly: sl.XIDAge == 0, Seconds: sl.InactiveSeconds})
	}
	var r Replica
	return forEach(br, []any{&r.Application, &r.ClientAddr, &r.State, &r.SyncState, &r.LagBytes,
		&r.ReplayLagSeconds, &r.XminAge},
		func() { out.Replicas = append(out.Replicas, r) })
}

// forEach reads the next result of a batch into dest, calling fn after
// each row.
func forEach(br pgx.BatchResults, dest []any, fn func()) error {
	rows, err := br.Query()
	if err != nil {
		return err
	}
	_, err = pgx.ForEachRow(rows, dest, func() error { fn(); return nil })
	return err
}

// healthSettingsSQL reads the settings the health rules weigh against,
// how many sequences the role cannot read, and a standby's replay state.
// vacuum_failsafe_age exists from 14, max_slot_wal_keep_size from 13.
func healthSettingsSQL(v int) string {
	failsafe := "0::int8"
	if v >= pg14 {
		failsafe = "current_setting('vacuum_failsafe_age')::int8"
	}
	keep := "-1::int8"
	if v >= pg13 {
		// current_setting gives the value with its unit ("10GB") or -1;
		// pg_settings would build every setting's row for this one.
		keep = `CASE WHEN current_setting('max_slot_wal_keep_size') = '-1' THEN -1
         ELSE pg_size_bytes(current_setting('max_slot_wal_keep_size')) END`
	}
	return `SELECT current_setting('autovacuum_freeze_max_age')::int8,
       current_setting('autovacuum_multixact_freeze_max_age')::int8,
       ` + failsafe + `,
       ` + keep + `,
       (SELECT count(*)::int FROM pg_sequence WHERE NOT has_sequence_privilege(seqrelid, 'SELECT,USAGE')),
       pg_is_in_recovery(),
       CASE WHEN pg_is_in_recovery() THEN pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn())::int8 END,
       CASE WHEN pg_is_in_recovery() THEN
         CASE WHEN pg_last_wal_receive_lsn() > pg_last_wal_replay_lsn()
              THEN extract(epoch FROM now() - pg_last_xact_replay_timestamp())::float8 ELSE 0 END END,
       CASE WHEN pg_is_in_recovery() THEN pg_is_wal_replay_paused() END`
}

// healthSequencesSQL reads the sequences of the current database with the
// columns that take their values: owned by (serial, identity) or named in
// a default's nextval. A column's integer type may be narrower than its
// sequence's (a serial column altered, a bigint sequence on an integer
// column): the limit is the narrower of the two. Ordered by the share of
// the range used, at most $1 rows; pg_sequence_last_value reads one block
// per sequence.
const healthSequencesSQL = `WITH seq AS (
  SELECT c.oid, n.nspname::text AS schema, c.relname::text AS name, format_type(s.seqtypid, NULL) AS type,
         s.seqincrement AS inc, s.seqmin AS min, s.seqmax AS max, s.seqcycle AS cycle,
         CASE WHEN has_sequence_privilege(c.oid, 'SELECT,USAGE') THEN pg_sequence_last_value(c.oid) END AS last
  FROM pg_sequence s
  JOIN pg_class c ON c.oid = s.seqrelid
  JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE NOT pg_is_other_temp_schema(n.oid)
), col AS (
  SELECT d.objid AS seq, d.refobjid AS rel, d.refobjsubid AS attnum
  FROM pg_depend d
  WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass
    AND d.deptype IN ('a', 'i') AND d.refobjsubid > 0
  UNION
  SELECT d.refobjid, ad.adrelid, ad.adnum
  FROM pg_depend d JOIN pg_attrdef ad ON ad.oid = d.objid
  WHERE d.classid = 'pg_attrdef'::regclass AND d.refclassid = 'pg_class'::regclass
), used AS (
  SELECT seq.*,
         coalesce(tn.nspname::text, '') AS tblschema, coalesce(t.relname::text, '') AS tbl,
         coalesce(a.attname::text, '') AS colname,
         coalesce(format_type(a.atttypid, a.atttypmod), '') AS coltype,
         CASE a.atttypid WHEN 'int2'::regtype THEN 32767 WHEN 'int4'::regtype THEN 2147483647
              ELSE 9223372036854775807 END::numeric AS colmax,
         CASE a.atttypid WHEN 'int2'::regtype THEN -32768 WHEN 'int4'::regtype THEN -2147483648
              ELSE -9223372036854775808 END::numeric AS colmin
  FROM seq
  LEFT JOIN col ON col.seq = seq.oid
  LEFT JOIN pg_class t ON t.oid = col.rel
  LEFT JOIN pg_namespace tn ON tn.oid = t.relnamespace
  LEFT JOIN pg_attribute a ON a.attrelid = col.rel AND a.attnum = col.attnum
  WHERE seq.last IS NOT NULL
), lim AS (
  SELECT used.*,
         CASE WHEN inc > 0 THEN least(max::numeric, colmax) ELSE greatest(min::numeric, colmin) END AS lim,
         CASE WHEN inc > 0 THEN colmax < max ELSE colmin > min END AS bycol
  FROM used
)
SELECT schema, name, type, inc, min, max, cycle, last, tblschema, tbl, colname, coltype, lim::int8, bycol,
       CASE WHEN inc > 0 THEN (last - min)::numeric / nullif(lim - min, 0)
            ELSE (max - last)::numeric / nullif(max - lim, 0) END::float8 AS share,
       greatest(floor((lim - last) / inc), 0)::int8
FROM lim
ORDER BY share DESC NULLS LAST, schema, name
LIMIT $1`

// healthDatabasesSQL reads every database's transaction ID ages.
const healthDatabasesSQL = `SELECT datname::text, age(datfrozenxid)::int8, mxid_age(datminmxid)::int8, datallowconn
FROM pg_database
ORDER BY 2 DESC, 1`

// healthFreezeTablesSQL reads the $1 tables of the current database with
// the oldest relfrozenxid, their TOAST table's counted, with their own
// autovacuum_freeze_max_age. No size: pg_total_relation_size opens every
// index of a table, the larger part of the statement's cost. Temporary tables are left out: only
// their session can vacuum them.
const healthFreezeTablesSQL = `SELECT n.nspname::text, c.relname::text, f.xid_age, f.mxid_age,
       coalesce((SELECT option_value::int8 FROM pg_options_to_table(c.reloptions)
                 WHERE option_name = 'autovacuum_freeze_max_age'), 0)
FROM (
  SELECT c.oid,
         greatest(age(c.relfrozenxid), coalesce(age(t.relfrozenxid), 0))::int8 AS xid_age,
         greatest(mxid_age(c.relminmxid), coalesce(mxid_age(t.relminmxid), 0))::int8 AS mxid_age
  FROM pg_class c
  LEFT JOIN pg_class t ON t.oid = c.reltoastrelid
  WHERE c.relkind IN ('r', 'm') AND c.relpersistence <> 't'
  ORDER BY 2 DESC, 3 DESC, c.oid
  LIMIT $1
) f
JOIN pg_class c ON c.oid = f.oid
JOIN pg_namespace n ON n.oid = c.relnamespace
ORDER BY f.xid_age DESC, 1, 2`

// healthInvalidIndexesSQL lists the invalid indexes of the current
// database. A table with an index build in progress is left out (CREATE
// INDEX CONCURRENTLY's index is invalid until it ends), and so is an
// index of a partitioned table (invalid until every partition's index is
// attached: a step of a migration, not a failure).
const healthInvalidIndexesSQL = `SELECT n.nspname::text, c.relname::text, tn.nspname::text, t.relname::text,
       i.indisunique, i.indisready, coalesce(pg_relation_size(i.indexrelid), 0), pg_get_indexdef(i.indexrelid)
FROM pg_index i
JOIN pg_class c ON c.oid = i.indexrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_class t ON t.oid = i.indrelid
JOIN pg_namespace tn ON tn.oid = t.relnamespace
WHERE NOT i.indisvalid AND c.relkind = 'i'
  AND NOT EXISTS (SELECT 1 FROM pg_stat_progress_create_index p WHERE p.relid = i.indrelid)
ORDER BY 1, 2
LIMIT $1`

// healthBackendsSQL lists the backends that hold a snapshot or a
// transaction ID, oldest first: client sessions, and walsenders holding a
// standby's hot_standby_feedback. Advisor's own sessions are left out.
const healthBackendsSQL = `SELECT pid::text, coalesce(datname::text, ''), coalesce(usename::text, ''),
       coalesce(application_name, ''), coalesce(state, ''), coalesce(backend_type, ''),
       greatest(age(backend_xmin), age(backend_xid))::int8,
       coalesce(extract(epoch FROM now() - xact_start), -1)::float8,
       coalesce(left(query, $1), '')
FROM pg_stat_activity
WHERE (backend_xmin IS NOT NULL OR backend_xid IS NOT NULL)
  AND pid <> pg_backend_pid() AND coalesce(application_name, '') <> $2
ORDER BY 7 DESC, 8 DESC
LIMIT $3`

// healthPreparedSQL lists the prepared transactions, oldest first.
const healthPreparedSQL = `SELECT gid, coalesce(database::text, ''), coalesce(owner::text, ''),
       age(transaction)::int8, extract(epoch FROM now() - prepared)::float8
FROM pg_prepared_xacts
ORDER BY 4 DESC
LIMIT $1`

// healthConnectionsSQL counts the client backends by state.
const healthConnectionsSQL = `SELECT count(*)::int,
       (count(*) FILTER (WHERE a.state = 'active'))::int,
       (count(*) FILTER (WHERE a.state = 'idle'))::int,
       (count(*) FILTER (WHERE a.state LIKE 'idle in transaction%'))::int,
       (count(*) FILTER (WHERE r.rolsuper))::int
FROM pg_stat_activity a LEFT JOIN pg_roles r ON r.oid = a.usesysid
WHERE a.backend_type = 'client backend'`

// healthSlotsSQL reads the replication slots. wal_status and
// safe_wal_size exist from 13, conflicting from 16, inactive_since from
// 17. A standby measures the WAL a slot retains from what it received.
func healthSlotsSQL(v int) string {
	walStatus, safe := "''", "-1::int8"
	if v >= pg13 {
		walStatus, safe = "coalesce(wal_status, '')", "coalesce(safe_wal_size, -1)::int8"
	}
	inactive := "-1::float8"
	if v >= pg17 {
		inactive = "coalesce(extract(epoch FROM now() - inactive_since), -1)::float8"
	}
	conflicting := "false"
	if v >= pg16 {
		conflicting = "coalesce(conflicting, false)"
	}
	return `SELECT slot_name::text, slot_type, coalesce(database::text, ''), active, temporary,
       coalesce(pg_wal_lsn_diff(CASE WHEN pg_is_in_recovery() THEN pg_last_wal_receive_lsn()
                                     ELSE pg_current_wal_lsn() END, restart_lsn), 0)::int8,
       ` + walStatus + `, ` + safe + `,
       coalesce(age(xmin), 0)::int8, coalesce(age(catalog_xmin), 0)::int8,
       ` + inactive + `, ` + conflicting + `
FROM pg_replication_slots
ORDER BY 6 DESC, 1`
}

// healthReplicasSQL reads pg_stat_replication: each standby's replay lag
// in bytes and time, and the xmin its feedback holds.
const healthReplicasSQL = `SELECT coalesce(application_name, ''), coalesce(host(client_addr), ''),
       coalesce(state, ''), coalesce(sync_state, ''),
       coalesce(pg_wal_lsn_diff(CASE WHEN pg_is_in_recovery() THEN pg_last_wal_receive_lsn()
                                     ELSE pg_current_wal_lsn() END, replay_lsn), 0)::int8,
       coalesce(extract(epoch FROM replay_lag), -1)::float8,
       coalesce(age(backend_xmin), 0)::int8
FROM pg_stat_replication
ORDER BY 5 DESC, 1`
