// Maintenance: what the vacuum, bloat and settings rules read. Per table,
// the vacuum and analyze state with the thresholds that start autovacuum
// and a statistical bloat estimate (no table is scanned: pgstattuple is not
// used); the autovacuum workers at work; the settings that are dangerous or
// left untuned.

package postgres

import (
	"bufio"
	"context"
	"math"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pgadvisor/advisor/internal/probe/source"
)

// Maintenance is the maintenance state of the database.
type Maintenance struct {
	Status source.Status
	// Tables are the largest user tables' vacuum, analyze and bloat state,
	// read at most once a minute (maintenanceEvery) by a probe, as are
	// Settings and BlockSize.
	Tables []TableMaintenance
	// AutovacuumWorkers are the autovacuum workers running now, of all
	// databases.
	AutovacuumWorkers int
	// Settings are the settings the maintenance rules read, with their
	// built-in default and where their value comes from.
	Settings []SettingInfo
	// MemoryBytes is the server host's memory when the server runs on
	// advisor's host (loopback or a Unix socket: MemTotal of
	// /proc/meminfo); 0 when unknown.
	MemoryBytes int64
	// BlockSize is the server's block_size in bytes.
	BlockSize int64
}

// SettingInfo is one row of pg_settings.
type SettingInfo struct {
	Name, Value, Unit string
	// Boot is the built-in default (boot_val), in the setting's unit.
	Boot string
	// Source is where the value comes from: default, configuration file,
	// database, user, session...
	Source string
}

// Setting returns the named setting, or false.
func (m Maintenance) Setting(name string) (SettingInfo, bool) {
	for _, s := range m.Settings {
		if s.Name == name {
			return s, true
		}
	}
	return SettingInfo{}, false
}

// Bytes returns a memory setting in bytes.
func (s SettingInfo) Bytes() (int64, bool) {
	n, err := strconv.ParseInt(s.Value, 10, 64)
	mult, ok := unitBytes[s.Unit]
	return n * mult, err == nil && ok
}

// Float returns a numeric setting.
func (s SettingInfo) Float() (float64, bool) {
	f, err := strconv.ParseFloat(s.Value, 64)
	return f, err == nil
}

// TableMaintenance is one user table's vacuum, analyze and bloat state.
type TableMaintenance struct {
	RelID        uint32
	Schema, Name string
	Ident        string // schema-qualified, quoted as SQL needs it
	LiveTup      int64
	DeadTup      int64
	// ModSinceAnalyze is n_mod_since_analyze: rows changed since the last
	// analyze.
	ModSinceAnalyze int64
	// RelTuples is pg_class.reltuples (0 when never counted) and RelPages
	// the heap pages, TOASTPages those of its TOAST table.
	RelTuples  float64
	RelPages   int64
	TOASTPages int64
	// The last manual and automatic vacuum and analyze; zero if never.
	LastVacuum, LastAutovacuum   time.Time
	LastAnalyze, LastAutoanalyze time.Time
	// Options are the table's storage parameters (reloptions), by name.
	Options map[string]string
	// BloatEstimated is false when the estimate cannot be made: a column
	// without statistics (never analysed, or not readable by the probe's
	// role) or of type name.
	BloatEstimated bool
	// ExpectedPages is the heap and TOAST pages the table's rows need at its
	// fillfactor, from reltuples and pg_stats' average widths.
	ExpectedPages int64
	// Fillfactor is the table's fillfactor (100 unless set).
	Fillfactor int
}

// AutovacuumEnabled is false when the table's autovacuum_enabled storage
// parameter turns autovacuum off for it.
func (t TableMaintenance) AutovacuumEnabled() bool {
	v, ok := t.Options["autovacuum_enabled"]
	return !ok || parseBool(v, true)
}

// Pages is the heap and TOAST pages the table has.
func (t TableMaintenance) Pages() int64 { return t.RelPages + t.TOASTPages }

// LastVacuumed is the latest manual or automatic vacuum; zero if never.
func (t TableMaintenance) LastVacuumed() time.Time {
	return latest(&t.LastVacuum, &t.LastAutovacuum)
}

// LastAnalyzed is the latest manual or automatic analyze; zero if never.
func (t TableMaintenance) LastAnalyzed() time.Time {
	return latest(&t.LastAnalyze, &t.LastAutoanalyze)
}

// maintenanceEvery is how long the per-table maintenance state is reused:
// it changes at the pace of vacuum and analyze, and reading it (pg_stats
// through each table's name) costs about half a millisecond per table.
const maintenanceEvery = time.Minute

// maintenanceCache keeps the tables' maintenance state and the settings
// between snapshots.
type maintenanceCache struct {
	mu        sync.Mutex
	at        time.Time
	tables    []TableMaintenance
	settings  []SettingInfo
	blockSize int64
}

// parseBool reads a boolean as PostgreSQL accepts it in reloptions.
func parseBool(v string, def bool) bool {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "true", "on", "yes", "1", "t", "y":
		return true
	case "false", "off", "no", "0", "f", "n":
		return false
	}
	return def
}

// maintenanceSettings are the settings read besides every enable_*
// planner method.
var maintenanceSettings = []string{
	"fsync", "full_page_writes", "autovacuum", "track_counts", "track_activities",
	"autovacuum_vacuum_threshold", "autovacuum_vacuum_scale_factor",
	"autovacuum_analyze_threshold", "autovacuum_analyze_scale_factor",
	"autovacuum_max_workers", "autovacuum_naptime",
	"shared_buffers", "work_mem", "max_connections", "random_page_cost", "seq_page_cost",
	"track_io_timing", "block_size",
}

// maintenanceSettingsSQL reads maintenanceSettings and the planner's
// enable_* methods. The view's columns are the same on 13 to 17.
const maintenanceSettingsSQL = `SELECT name, setting, coalesce(unit, ''), coalesce(boot_val, ''), coalesce(source, '')
FROM pg_settings WHERE name = ANY($1) OR name LIKE 'enable\_%'
ORDER BY name`

const autovacuumWorkersSQL = `SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'autovacuum worker'`

// maintenanceTablesSQL reads the vacuum state of the largest user tables
// (by the catalog's page counts: sizing each file would cost more than the
// rest of the statement),
// with what the bloat estimate needs: reltuples, pages, fillfactor and,
// from pg_stats, the expected width of a row (the statistical estimate of
// ioguix/pgsql-bloat-estimation, which pghero's bloat query also follows).
// Only catalogs and statistics are read, never a table.
const maintenanceTablesSQL = `WITH t AS (
  SELECT c.oid, n.nspname::text AS schema, c.relname::text AS name,
         greatest(c.reltuples, 0)::float8 AS reltuples, c.relpages::int8 AS relpages,
         coalesce(toast.relpages, 0)::int8 AS toastpages, greatest(coalesce(toast.reltuples, 0), 0)::float8 AS toasttuples,
         coalesce(c.reloptions, '{}')::text[] AS reloptions,
         s.n_live_tup, s.n_dead_tup, s.n_mod_since_analyze,
         s.last_vacuum, s.last_autovacuum, s.last_analyze, s.last_autoanalyze
  FROM pg_stat_user_tables s
  JOIN pg_class c ON c.oid = s.relid
  JOIN pg_namespace n ON n.oid = c.relnamespace
  LEFT JOIN pg_class toast ON toast.oid = c.reltoastrelid
  WHERE c.relkind IN ('r', 'm')
  ORDER BY c.relpages + coalesce(toast.relpages, 0) DESC, c.oid
  LIMIT $1
), w AS (
  -- per table, so that pg_stats is read through its table's name (the
  -- view over every column of the database costs much more)
  SELECT t.oid, x.hdr, x.data_width, x.na
  FROM t CROSS JOIN LATERAL (
    SELECT 23 + CASE WHEN max(coalesce(st.null_frac, 0)) > 0 THEN (7 + count(*)) / 8 ELSE 0 END AS hdr,
           coalesce(sum((1 - coalesce(st.null_frac, 0)) * coalesce(st.avg_width, 0)), 0)::float8 AS data_width,
           bool_or(a.atttypid = 'pg_catalog.name'::regtype) OR count(*) <> count(st.attname) AS na
    FROM pg_attribute a
    LEFT JOIN pg_stats st ON st.schemaname = t.schema AND st.tablename = t.name
         AND st.attname = a.attname AND NOT st.inherited
    WHERE a.attrelid = t.oid AND a.attnum > 0 AND NOT a.attisdropped
  ) x
)
SELECT t.oid, t.schema, t.name, t.n_live_tup, t.n_dead_tup, t.n_mod_since_analyze,
       t.reltuples, t.relpages, t.toastpages, t.toasttuples, t.reloptions,
       t.last_vacuum, t.last_autovacuum, t.last_analyze, t.last_autoanalyze,
       coalesce(w.hdr, 23)::int8, coalesce(w.data_width, 0), coalesce(w.na, true)
FROM t LEFT JOIN w ON w.oid = t.oid
ORDER BY t.relpages + t.toastpages DESC, t.oid`

func (p *Probe) collectMaintenance(ctx context.Context) Maintenance {
	var out Maintenance
	if source.LocalHost(p.host) {
		out.MemoryBytes = hostMemory()
	}
	out.Status = p.collect(ctx, "maintenance", func(ctx context.Context, c *pgxpool.Conn) error {
		if err := c.QueryRow(ctx, probeTag+autovacuumWorkersSQL).Scan(&out.AutovacuumWorkers); err != nil {
			return err
		}
		p.maint.mu.Lock()
		defer p.maint.mu.Unlock()
		// The tables and the settings change at the pace of vacuum and of
		// an operator: read once a minute. pg_settings builds every
		// setting's row, about half a millisecond of server time.
		if !p.maint.at.IsZero() && time.Since(p.maint.at) < maintenanceEvery {
			out.Tables, out.Settings, out.BlockSize = p.maint.tables, p.maint.settings, p.maint.blockSize
			return nil
		}
		rows, err := c.Query(ctx, probeTag+maintenanceSettingsSQL, maintenanceSettings)
		if err != nil {
			return err
		}
		var s SettingInfo
		if _, err := pgx.ForEachRow(rows, []any{&s.Name, &s.Value, &s.Unit, &s.Boot, &s.Source}, func() error {
			out.Settings = append(out.Settings, s)
			return nil
		}); err != nil {
			return err
		}
		out.BlockSize = 8192
		if bs, ok := out.Setting("block_size"); ok {
			if n, err := strconv.ParseInt(bs.Value, 10, 64); err == nil && n > 0 {
				out.BlockSize = n
			}
		}
		rows, err = c.Query(ctx, probeTag+maintenanceTablesSQL, p.opts.MaxTables)
		if err != nil {
			return err
		}
		var t TableMaintenance
		var toastTuples, dataWidth float64
		var hdr int64
		var na bool
		var opts []string
		var lv, lav, la, laa *time.Time
		_, err = pgx.ForEachRow(rows, []any{&t.RelID, &t.Schema, &t.Name, &t.LiveTup, &t.DeadTup, &t.ModSinceAnalyze,
			&t.RelTuples, &t.RelPages, &t.TOASTPages, &toastTuples, &opts,
			&lv, &lav, &la, &laa, &hdr, &dataWidth, &na,
		}, func() error {
			row := t
			row.Ident = pgx.Identifier{row.Schema, row.Name}.Sanitize()
			row.LastVacuum, row.LastAutovacuum = deref(lv), deref(lav)
			row.LastAnalyze, row.LastAutoanalyze = deref(la), deref(laa)
			row.Options = map[string]string{}
			for _, o := range opts {
				if k, v, ok := strings.Cut(o, "="); ok {
					row.Options[k] = v
				}
			}
			row.Fillfactor = 100
			if ff, err := strconv.Atoi(row.Options["fillfactor"]); err == nil && ff >= 10 && ff <= 100 {
				row.Fillfactor = ff
			}
			row.BloatEstimated = !na && row.RelTuples > 0
			if row.BloatEstimated {
				row.ExpectedPages = ExpectedPages(row.RelTuples, toastTuples, hdr, dataWidth, row.Fillfactor, out.BlockSize)
			}
			out.Tables = append(out.Tables, row)
			return nil
		})
		if err == nil {
			p.maint.at, p.maint.tables = time.Now(), out.Tables
			p.maint.settings, p.maint.blockSize = out.Settings, out.BlockSize
		}
		return err
	})
	return out
}

// ExpectedPages is the number of pages that tuples rows of a table need, as
// ioguix/pgsql-bloat-estimation estimates it: a tuple is the header hdr
// (23 bytes and the null bitmap) and dataWidth bytes of data, both aligned
// to 8 bytes, plus its 4-byte line pointer; a page holds (blockSize - 24) x
// fillfactor% of them; TOAST tuples count four to a page.
func ExpectedPages(tuples, toastTuples float64, hdr int64, dataWidth float64, fillfactor int, blockSize int64) int64 {
	const align = 8
	const pageHeader = 24
	data := int64(math.Ceil(dataWidth))
	pad := func(n int64) int64 {
		if n%align == 0 {
			return align
		}
		return n % align
	}
	tuple := float64(4+hdr+align*2-pad(hdr)-pad(data)) + dataWidth
	perPage := float64(blockSize-pageHeader) * float64(fillfactor) / (tuple * 100)
	if perPage <= 0 {
		return 0
	}
	return int64(math.Ceil(tuples/perPage) + math.Ceil(toastTuples/4))
}

// hostMemory reads MemTotal from /proc/meminfo; 0 when it cannot.
func hostMemory() int64 {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "MemTotal:" {
			kb, err := strconv.ParseInt(fields[1], 10, 64)
			if err != nil {
				return 0
			}
			return kb << 10
		}
	}
	return 0
}
