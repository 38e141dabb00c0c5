package rules

import (
	"context"
	"fmt"
	"math"

	"github.com/pgadvisor/advisor/internal/sqltext"
)

// dbTempFiles flags sorts and hashes that spill to temporary files: the
// statements that write temp blocks (pg_stat_statements), each with a
// work_mem that would hold it, and the database's temp file rate
// (pg_stat_database) over the window.
var dbTempFiles = Def[dbTempFilesParams]{ID: "db.temp-files", Check: checkDBTempFiles}

type dbTempFilesParams struct {
	MinTempBytesPerS       float64 `param:"min_temp_bytes_per_s"`
	MinStatementTempBytes  int     `param:"min_statement_temp_bytes"`
	MinTempBytesPerCall    int     `param:"min_temp_bytes_per_call"`
	MaxSuggestedWorkMemMiB int     `param:"max_suggested_work_mem_mib"`
}

func checkDBTempFiles(_ context.Context, in *Input, p dbTempFilesParams) ([]Finding, error) {
	pg := dbPG(in)
	if pg == nil || pg.Cur == nil {
		return nil, nil
	}
	cur := pg.Cur
	block := int64(8192)
	if cur.Maintenance.BlockSize > 0 {
		block = cur.Maintenance.BlockSize
	}
	workMem, _ := cur.Server.Settings.Bytes("work_mem")
	maxConns, _ := cur.Server.Settings.Int("max_connections")
	var out []Finding
	var explained int64
	for _, d := range dbVisible(pg) {
		written := d.TempWritten * block
		if written < int64(p.MinStatementTempBytes) || d.Calls <= 0 {
			continue
		}
		perCall := written / d.Calls
		if perCall < int64(p.MinTempBytesPerCall) {
			continue
		}
		explained += written
		suggest := dbWorkMemFor(perCall, workMem, int64(p.MaxSuggestedWorkMemMiB)<<20)
		mem := dbMemSetting(suggest)
		out = append(out, Finding{
			Subject: dbSubject(d),
			Evidence: map[string]any{
				"query":                      sqltext.OneLine(d.Statement.Query),
				"queryid":                    dbQueryID(d.Statement.QueryID),
				"calls":                      d.Calls,
				"mean_ms":                    dbRound(d.MeanTime, 3),
				"total_time_ms":              dbRound(d.TotalTime, 1),
				"total_share":                dbRound(d.Share, 3),
				"temp_bytes_written":         written,
				"temp_bytes_per_call":        perCall,
				"work_mem_bytes":             workMem,
				"suggested_work_mem_bytes":   suggest,
				"suggested_work_mem":         mem,
				"max_connections":            maxConns,
				"worst_case_if_global_bytes": suggest * max(maxConns, 1),
			},
			Fix: Fix{SQL: fmt.Sprintf("-- in the transaction that runs queryid %s only:\nBEGIN;\nSET LOCAL work_mem = '%s';\n-- the statement\nCOMMIT;",
				dbQueryID(d.Statement.QueryID), mem)},
			Impact: d.Share,
		})
	}
	db := pg.Database
	// The database's temp bytes that the flagged statements do not
	// account for (their temp blocks and the files' bytes differ a little),
	// at a rate and a volume: in a short window, one index build's spill
	// is a high rate.
	unexplained := db.TempBytes - explained
	rate := 0.0
	if db.Seconds > 0 {
		rate = float64(unexplained) / db.Seconds
	}
	if rate >= p.MinTempBytesPerS && unexplained >= int64(p.MinStatementTempBytes) {
		name := cur.Server.Database
		out = append(out, Finding{
			Subject: "database " + name,
			Evidence: map[string]any{
				"database":              name,
				"query":                 "", // the template tells the two kinds apart by it
				"temp_files":            db.TempFiles,
				"temp_bytes":            db.TempBytes,
				"temp_bytes_per_s":      dbRound(rate, 0),
				"window_s":              dbRound(db.Seconds, 1),
				"work_mem_bytes":        workMem,
				"statements_flagged":    len(out),
				"statements_temp_bytes": explained,
			},
			Fix: Fix{Config: map[string]string{"log_temp_files": "0 (log every temp file with its statement)"}},
		})
	}
	return out, nil
}

// dbWorkMemFor is a work_mem that would hold a sort or hash that spilled
// perCall bytes: twice the bytes spilled (the in-memory form of tuples is
// larger than the temp file's), rounded up to a power of two MiB, at least
// twice the current work_mem, at most ceiling.
func dbWorkMemFor(perCall, current, ceiling int64) int64 {
	want := max(2*perCall, 2*current, 1<<20)
	mib := int64(1)
	for mib<<20 < want {
		mib *= 2
	}
	return min(mib<<20, max(ceiling, 1<<20))
}

// dbMemSetting writes bytes as a memory setting's value: "64MB", "2GB".
func dbMemSetting(b int64) string {
	switch {
	case b >= 1<<30 && b%(1<<30) == 0:
		return fmt.Sprintf("%dGB", b>>30)
	case b >= 1<<20:
		return fmt.Sprintf("%dMB", int64(math.Ceil(float64(b)/(1<<20))))
	}
	return fmt.Sprintf("%dkB", int64(math.Ceil(float64(b)/(1<<10))))
}
