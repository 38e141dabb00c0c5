package postgres

import (
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
)

// The SQL of the collectors. Where the catalog changed between versions the
// text is chosen by server_version_num; every statement only reads.

// Server versions (server_version_num) at which the catalog changed.
// probeTag starts every statement the probe sends, so that its own
// statements can be told apart in pg_stat_statements (which keeps a leading
// comment in the text) and left out of what advisor analyses.
const probeTag = "/* advisor */ "

const (
	pg12 = 120000
	pg13 = 130000
	pg14 = 140000
	pg16 = 160000
	pg17 = 170000
)

const serverSQL = `SELECT current_setting('server_version_num')::int,
       current_setting('server_version'),
       current_database(),
       current_user::text,
       pg_postmaster_start_time(),
       now(),
       pg_is_in_recovery(),
       (SELECT rolsuper FROM pg_roles WHERE rolname = current_user),
       pg_has_role(current_user, 'pg_read_all_stats', 'USAGE')`

// settingNames are the settings a snapshot reads on every version;
// settingsFor adds those of later versions.
var settingNames = []string{
	"max_connections",
	"superuser_reserved_connections",
	"shared_buffers",
	"work_mem",
	"maintenance_work_mem",
	"effective_cache_size",
	"random_page_cost",
	"shared_preload_libraries",
	"pg_stat_statements.track",
	"pg_stat_statements.max",
	"track_io_timing",
	"track_activity_query_size",
	"max_worker_processes",
	"max_parallel_workers_per_gather",
	"statement_timeout",
	"idle_in_transaction_session_timeout",
}

// settingsFor is the settings a snapshot reads on server version v:
// reserved_connections (slots kept for pg_use_reserved_connections) exists
// from 16.
func settingsFor(v int) []string {
	names := slices.Clone(settingNames)
	if v >= pg16 {
		names = append(names, "reserved_connections")
	}
	return names
}

const settingsSQL = `SELECT name, setting, coalesce(unit, '') FROM pg_settings WHERE name = ANY($1)`

const extensionSQL = `SELECT n.nspname, e.extversion
FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
WHERE e.extname = $1`

// statementsSQL reads pg_stat_statements of the current database, with the
// column names of server version v, without the query texts: reading them
// makes the server read its whole query text file, the larger part of the
// cost of a snapshot. statementTextsSQL reads the texts of statements not
// seen before. The probe's own statements are left out after both.
func statementsSQL(v int, schema string) string {
	fn := pgx.Identifier{schema, "pg_stat_statements"}.Sanitize() + "(false)"
	exec := "s.total_exec_time, s.mean_exec_time, s.min_exec_time, s.max_exec_time, s.stddev_exec_time, s.total_plan_time, s.plans"
	wal := "s.wal_bytes::float8"
	if v < pg13 {
		exec = "s.total_time, s.mean_time, s.min_time, s.max_time, s.stddev_time, 0::float8, 0::int8"
		wal = "0::float8"
	}
	blkTime := "s.blk_read_time, s.blk_write_time"
	statsSince := "NULL::timestamptz"
	if v >= pg17 {
		blkTime = "s.shared_blk_read_time, s.shared_blk_write_time"
		statsSince = "s.stats_since"
	}
	cols := []string{
		"s.userid", "coalesce(r.rolname, s.userid::text)", "s.dbid", "s.queryid", toplevelColumn(v),
		"s.calls", exec, "s.rows",
		"s.shared_blks_hit", "s.shared_blks_read", "s.shared_blks_dirtied", "s.shared_blks_written",
		"s.local_blks_hit", "s.local_blks_read", "s.temp_blks_read", "s.temp_blks_written",
		blkTime, wal, statsSince,
	}
	order := "s.total_exec_time"
	if v < pg13 {
		order = "s.total_time"
	}
	return "SELECT " + strings.Join(cols, ", ") + "\nFROM " + fn + " s LEFT JOIN pg_roles r ON r.oid = s.userid" +
		"\nWHERE s.dbid = (SELECT oid FROM pg_database WHERE datname = current_database())" +
		"\nORDER BY " + order + " DESC LIMIT $1"
}

// statementTextsSQL reads the query texts of the statements whose queryid
// is in $1.
func statementTextsSQL(v int, schema string) string {
	return "SELECT s.userid, s.dbid, s.queryid, " + toplevelColumn(v) + ", s.query\nFROM " +
		pgx.Identifier{schema, "pg_stat_statements"}.Sanitize() + "(true) s" +
		"\nWHERE s.dbid = (SELECT oid FROM pg_database WHERE datname = current_database())" +
		"\n  AND s.queryid = ANY($1)"
}

// toplevelColumn is pg_stat_statements' toplevel (14+).
func toplevelColumn(v int) string {
	if v >= pg14 {
		return "s.toplevel"
	}
	return "true"
}

// statementsInfoSQL reads pg_stat_statements_info (14+).
func statementsInfoSQL(schema string) string {
	return "SELECT dealloc, stats_reset FROM " + pgx.Identifier{schema, "pg_stat_statements_info"}.Sanitize()
}

const tablesSQL = `SELECT s.relid, s.schemaname::text, s.relname::text,
       coalesce(s.seq_scan, 0), coalesce(s.seq_tup_read, 0), coalesce(s.idx_scan, 0), coalesce(s.idx_tup_fetch, 0),
       s.n_tup_ins, s.n_tup_upd, s.n_tup_del, s.n_tup_hot_upd, s.n_live_tup, s.n_dead_tup,
       s.last_vacuum, s.last_autovacuum, s.last_analyze, s.last_autoanalyze,
       coalesce(io.heap_blks_read, 0), coalesce(io.heap_blks_hit, 0),
       coalesce(io.idx_blks_read, 0), coalesce(io.idx_blks_hit, 0)
FROM pg_stat_user_tables s LEFT JOIN pg_statio_user_tables io ON io.relid = s.relid
JOIN pg_class c ON c.oid = s.relid
LEFT JOIN pg_class t ON t.oid = c.reltoastrelid
ORDER BY c.relpages + coalesce(t.relpages, 0) DESC, s.relid
LIMIT $1`

// tableSizesSQL measures the tables: the size functions look at every
// file of every fork of the table, its TOAST table and its indexes, more
// than half of the tables' reading when it was done at every reading.
const tableSizesSQL = `SELECT r, coalesce(pg_table_size(r), 0), coalesce(pg_indexes_size(r), 0),
       coalesce(pg_total_relation_size(r), 0)
FROM unnest($1::oid[]) AS r`

// indexSizesSQL measures the indexes of the tables.
const indexSizesSQL = `SELECT indexrelid, coalesce(pg_relation_size(indexrelid), 0)
FROM pg_index WHERE indrelid = ANY($1)`

// indexesByOIDSizesSQL measures the indexes given.
const indexesByOIDSizesSQL = `SELECT r, coalesce(pg_relation_size(r), 0) FROM unnest($1::oid[]) AS r`

const indexesSQL = `SELECT s.relid, s.indexrelid, s.schemaname::text, s.relname::text, s.indexrelname::text,
       coalesce(s.idx_scan, 0), coalesce(s.idx_tup_read, 0), coalesce(s.idx_tup_fetch, 0),
       coalesce(io.idx_blks_read, 0), coalesce(io.idx_blks_hit, 0),
       i.indisunique, i.indisprimary, i.indisvalid, i.indpred IS NOT NULL, i.indnkeyatts,
       am.amname::text, pg_get_indexdef(s.indexrelid),
       ARRAY(SELECT coalesce(a.attname::text, '')
             FROM unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, n)
             LEFT JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
             ORDER BY k.n)
FROM pg_stat_user_indexes s
JOIN pg_index i ON i.indexrelid = s.indexrelid
JOIN pg_class c ON c.oid = s.indexrelid
JOIN pg_am am ON am.oid = c.relam
LEFT JOIN pg_statio_user_indexes io ON io.indexrelid = s.indexrelid
WHERE s.relid = ANY($1)
ORDER BY s.relid, s.indexrelid`

// activityGroupsSQL groups the client backends of every database by
// database, user, application, client address (empty for a Unix socket), state
// and wait event. $1 is the application name of advisor's own sessions.
const activityGroupsSQL = `SELECT coalesce(datname::text, ''), coalesce(usename::text, ''), application_name,
       coalesce(host(client_addr), ''),
       coalesce(state, ''), coalesce(wait_event_type, ''), coalesce(wait_event, ''),
       count(*),
       coalesce(max(extract(epoch FROM now() - xact_start)), 0)::float8,
       coalesce(max(extract(epoch FROM now() - query_start)) FILTER (WHERE state = 'active'), 0)::float8,
       coalesce(max(extract(epoch FROM now() - state_change)), 0)::float8,
       coalesce(min(extract(epoch FROM now() - backend_start)), 0)::float8,
       coalesce(avg(extract(epoch FROM now() - backend_start)), 0)::float8
FROM pg_stat_activity
WHERE backend_type = 'client backend' AND pid <> pg_backend_pid() AND application_name <> $1
GROUP BY 1, 2, 3, 4, 5, 6, 7
ORDER BY 8 DESC, 1, 2, 3, 4, 5, 6, 7`

// sessionsSQL lists the long-running queries and the transactions left idle.
const sessionsSQL = `SELECT pid, coalesce(datname::text, ''), coalesce(usename::text, ''), application_name,
       coalesce(host(client_addr), ''), coalesce(state, ''), coalesce(wait_event_type, ''), coalesce(wait_event, ''),
       coalesce(extract(epoch FROM now() - backend_start), 0)::float8,
       coalesce(extract(epoch FROM now() - xact_start), 0)::float8,
       coalesce(extract(epoch FROM now() - query_start), 0)::float8,
       coalesce(extract(epoch FROM now() - state_change), 0)::float8,
       left(query, $3)
FROM pg_stat_activity
WHERE backend_type = 'client backend' AND pid <> pg_backend_pid() AND application_name <> $1
  AND ((state = 'active' AND now() - query_start >= $2::interval)
    OR (state LIKE 'idle in transaction%' AND now() - state_change >= $2::interval))
ORDER BY coalesce(xact_start, query_start) NULLS LAST
LIMIT $4`

// blockedSQL lists the sessions waiting for a lock with the sessions that
// block them. waitstart exists from 14.
func blockedSQL(v int) string {
	waitStart := "a.query_start"
	if v >= pg14 {
		waitStart = "coalesce(l.waitstart, a.query_start)"
	}
	return `SELECT a.pid, coalesce(a.usename::text, ''), a.application_name,
       coalesce(extract(epoch FROM now() - ` + waitStart + `), 0)::float8,
       coalesce(l.locktype, ''), coalesce(l.mode, ''), coalesce(l.relation::regclass::text, ''),
       left(a.query, $2),
       b.pid, coalesce(b.usename::text, ''), b.application_name, coalesce(b.state, ''),
       coalesce(extract(epoch FROM now() - b.xact_start), 0)::float8,
       left(b.query, $2)
FROM pg_stat_activity a
CROSS JOIN LATERAL unnest(pg_blocking_pids(a.pid)) AS bp(pid)
JOIN pg_stat_activity b ON b.pid = bp.pid
LEFT JOIN LATERAL (SELECT * FROM pg_locks pl WHERE pl.pid = a.pid AND NOT pl.granted LIMIT 1) l ON true
WHERE a.wait_event_type = 'Lock' AND a.application_name <> $1
ORDER BY 4 DESC, a.pid, b.pid
LIMIT 200`
}

// databaseSQL reads pg_stat_database for the current database; the session
// counters exist from 14.
func databaseSQL(v int) string {
	sessions := "false, 0::int8, 0::float8, 0::float8, 0::float8, 0::int8, 0::int8, 0::int8"
	if v >= pg14 {
		sessions = "true, sessions, session_time, active_time, idle_in_transaction_time, sessions_abandoned, sessions_fatal, sessions_killed"
	}
	// checksum_failures exists from 12, NULL when data checksums are off.
	checksums := "false, 0::int8, NULL::timestamptz"
	if v >= pg12 {
		checksums = "checksum_failures IS NOT NULL, coalesce(checksum_failures, 0), checksum_last_failure"
	}
	return `SELECT datname::text, numbackends, xact_commit, xact_rollback, blks_read, blks_hit,
       tup_returned, tup_fetched, tup_inserted, tup_updated, tup_deleted,
       temp_files, temp_bytes, deadlocks, blk_read_time, blk_write_time, ` + sessions + `, stats_reset,
       conflicts, ` + checksums + `
FROM pg_stat_database WHERE datname = current_database()`
}

const columnStatsSQL = `SELECT schemaname::text, tablename::text, attname::text,
       coalesce(null_frac, 0)::float8, coalesce(avg_width, 0), coalesce(n_distinct, 0)::float8
FROM pg_stats
WHERE (schemaname::text, tablename::text) IN (SELECT * FROM unnest($1::text[], $2::text[]))
ORDER BY 1, 2, 3`
