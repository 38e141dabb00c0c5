package postgres

import (
	"fmt"
	"math"
	"sort"
	"time"
)

// Window is the change between two snapshots, or the cumulative statistics
// since their last reset (Cumulative). Counters that were reset between the
// snapshots count from the reset: no delta or rate is ever negative.
type Window struct {
	Start, End time.Time
	// Seconds is the length of the window; for a cumulative window, the
	// time since pg_stat_statements was last reset (or the server started).
	Seconds    float64
	Cumulative bool
	// Resets says which counters were reset inside the window and so count
	// from a fresh baseline.
	Resets []string

	Statements StatementsWindow
	Tables     []TableDelta
	Indexes    []IndexDelta
	Database   DatabaseDelta
	// Jobs are river's queues with their change over the window.
	Jobs []JobQueueDelta

	// Cur is the later snapshot, for what is not a counter (settings,
	// activity, locks, sizes).
	Cur *Snapshot
}

// StatementsWindow is the per-statement change.
type StatementsWindow struct {
	// Seconds the deltas cover: the window, or less after a reset whose time
	// is known.
	Seconds float64
	// TotalTime is the execution time of the top-level statements in the
	// window, in milliseconds: the database time that Share divides.
	TotalTime float64
	Rows      []StatementDelta
}

// StatementDelta is one statement's change. Times are in milliseconds.
type StatementDelta struct {
	Key       StatementKey
	Statement Statement // the row of the later snapshot
	Calls     int64
	TotalTime float64
	MeanTime  float64 // TotalTime / Calls, over the window
	// StddevTime is the standard deviation of the calls' times over the
	// window (population, as pg_stat_statements' own), from the change of
	// the counters' sums of squares.
	StddevTime float64
	Rows       int64
	SharedHit  int64
	SharedRead int64
	TempBlks   int64 // temp blocks read + written
	// TempWritten is temp_blks_written: blocks spilled to temporary files.
	TempWritten int64
	CallsPerS   float64
	RowsPerS    float64
	// Share of the window's top-level database time (0..1); 0 for nested
	// statements, whose time their caller's already holds.
	Share float64
	// Fresh is set when the statement counts from zero in this window: new,
	// or its counters went down (reset or evicted).
	Fresh bool
}

// TableDelta is one table's change; rates are per second.
type TableDelta struct {
	RelID        uint32
	Schema, Name string
	Table        Table // the row of the later snapshot
	SeqScan      int64
	SeqTupRead   int64
	IdxScan      int64
	IdxTupFetch  int64
	Writes       int64 // inserted + updated + deleted tuples
	HeapRead     int64
	HeapHit      int64
	SeqScanPerS  float64
	SeqTupPerS   float64
	IdxScanPerS  float64
	WritesPerS   float64
	Fresh        bool
}

// IndexDelta is one index's change.
type IndexDelta struct {
	RelID    uint32
	Index    Index // the row of the later snapshot
	Scan     int64
	ScanPerS float64
	TupRead  int64
	Fresh    bool
}

// DatabaseDelta is the change of pg_stat_database; rates are per second.
type DatabaseDelta struct {
	// Seconds the deltas cover.
	Seconds   float64
	Commits   int64
	Rollbacks int64
	BlksRead  int64
	BlksHit   int64
	TempFiles int64
	TempBytes int64
	Deadlocks int64
	Conflicts int64
	// ChecksumFailures over the window (0 without data checksums).
	ChecksumFailures int64
	Sessions         int64 // 0 before 14
	Abandoned        int64
	SessionTime      float64
	ActiveTime       float64
	CommitsPerS      float64
	SessionsPerS     float64
	// CacheHitRatio is blks_hit / (blks_hit + blks_read) over the window; -1
	// when no block was read.
	CacheHitRatio float64
	Fresh         bool
}

// Diff turns two snapshots into a Window. With prev nil the window is
// cumulative: every counter since its last reset, over the time since then.
// cur must not be nil.
func Diff(prev, cur *Snapshot) *Window {
	w := &Window{End: cur.Time, Cur: cur}
	defer func() { w.Jobs = diffJobs(prev, cur) }()
	if prev == nil || !prev.Server.Status.Ok() || !cur.Server.Status.Ok() {
		return cumulative(w, cur)
	}
	w.Start = prev.Time
	w.Seconds = cur.Time.Sub(prev.Time).Seconds()
	restarted := !cur.Server.PostmasterAt.Equal(prev.Server.PostmasterAt)
	if restarted {
		// Every counter started again with the server.
		w.Resets = append(w.Resets, fmt.Sprintf("server restarted at %s", cur.Server.PostmasterAt.Format(time.RFC3339)))
		since := sinceReset(cur.Server.PostmasterAt, prev.Time, cur.Time)
		w.Statements = statementsDelta(nil, cur.Statements, since)
		w.Tables = tablesDelta(nil, cur.Tables, since)
		w.Indexes = indexesDelta(nil, cur.Indexes, since)
		w.Database = databaseDelta(nil, cur.Database.Stats, since)
		return w
	}

	// pg_stat_statements: a full reset is known from 14 by
	// pg_stat_statements_info.stats_reset. Without an earlier reading the
	// counters are taken since their reset, not as this window's.
	prevStmts := &prev.Statements
	stmtSeconds := w.Seconds
	if !prev.Statements.Status.Ok() {
		w.Resets = append(w.Resets, "pg_stat_statements was not read before: counted since its reset")
		prevStmts = nil
		stmtSeconds = cur.Time.Sub(statementsStart(cur)).Seconds()
	} else if !cur.Statements.StatsReset.IsZero() && !cur.Statements.StatsReset.Equal(prev.Statements.StatsReset) {
		w.Resets = append(w.Resets, fmt.Sprintf("pg_stat_statements reset at %s", cur.Statements.StatsReset.Format(time.RFC3339)))
		prevStmts = nil
		stmtSeconds = sinceReset(cur.Statements.StatsReset, prev.Time, cur.Time)
	}
	w.Statements = statementsDelta(prevStmts, cur.Statements, stmtSeconds)

	// pg_stat_reset() resets the database's and its tables' counters and
	// sets pg_stat_database.stats_reset.
	prevDB := &prev.Database.Stats
	dbSeconds := w.Seconds
	prevTables, prevIndexes := &prev.Tables, &prev.Indexes
	if !cur.Database.Stats.StatsReset.Equal(prev.Database.Stats.StatsReset) && !cur.Database.Stats.StatsReset.IsZero() {
		w.Resets = append(w.Resets, fmt.Sprintf("database statistics reset at %s", cur.Database.Stats.StatsReset.Format(time.RFC3339)))
		prevDB, prevTables, prevIndexes = nil, nil, nil
		dbSeconds = sinceReset(cur.Database.Stats.StatsReset, prev.Time, cur.Time)
	}
	sinceStart := cur.Time.Sub(databaseStart(cur)).Seconds()
	dbDelta, tablesDeltaSeconds, indexesDeltaSeconds := dbSeconds, dbSeconds, dbSeconds
	if !prev.Database.Status.Ok() {
		prevDB, dbDelta = nil, sinceStart
	}
	if !prev.Tables.Status.Ok() {
		prevTables, tablesDeltaSeconds = nil, sinceStart
	}
	if !prev.Indexes.Status.Ok() {
		prevIndexes, indexesDeltaSeconds = nil, sinceStart
	}
	w.Database = databaseDelta(prevDB, cur.Database.Stats, dbDelta)
	w.Tables = tablesDelta(prevTables, cur.Tables, tablesDeltaSeconds)
	w.Indexes = indexesDelta(prevIndexes, cur.Indexes, indexesDeltaSeconds)
	return w
}

// statementsStart is when pg_stat_statements started counting: its last
// reset, or the server's start.
func statementsStart(s *Snapshot) time.Time {
	start := s.Server.PostmasterAt
	if r := s.Statements.StatsReset; r.After(start) {
		start = r
	}
	if start.IsZero() {
		return s.Time
	}
	return start
}

// databaseStart is when the database's and its tables' statistics started
// counting: pg_stat_database.stats_reset, or the server's start.
func databaseStart(s *Snapshot) time.Time {
	start := s.Server.PostmasterAt
	if r := s.Database.Stats.StatsReset; r.After(start) {
		start = r
	}
	if start.IsZero() {
		return s.Time
	}
	return start
}

// cumulative fills w with every counter of cur since its reset.
func cumulative(w *Window, cur *Snapshot) *Window {
	w.Cumulative = true
	w.Start = statementsStart(cur)
	w.Seconds = cur.Time.Sub(w.Start).Seconds()
	dbSeconds := cur.Time.Sub(databaseStart(cur)).Seconds()
	w.Statements = statementsDelta(nil, cur.Statements, w.Seconds)
	w.Tables = tablesDelta(nil, cur.Tables, dbSeconds)
	w.Indexes = indexesDelta(nil, cur.Indexes, dbSeconds)
	w.Database = databaseDelta(nil, cur.Database.Stats, dbSeconds)
	return w
}

// sinceReset is the time from a reset inside (start, end] to end, or the
// whole window when the reset is outside it.
func sinceReset(reset, start, end time.Time) float64 {
	if reset.After(start) && !reset.After(end) {
		return end.Sub(reset).Seconds()
	}
	return end.Sub(start).Seconds()
}

func statementsDelta(prev *Statements, cur Statements, seconds float64) StatementsWindow {
	out := StatementsWindow{Seconds: seconds}
	var before map[StatementKey]*Statement
	if prev != nil {
		before = make(map[StatementKey]*Statement, len(prev.Rows))
		for i := range prev.Rows {
			before[prev.Rows[i].Key()] = &prev.Rows[i]
		}
	}
	out.Rows = make([]StatementDelta, 0, len(cur.Rows))
	for _, s := range cur.Rows {
		d := StatementDelta{Key: s.Key(), Statement: s}
		p := before[s.Key()]
		if p == nil || s.Calls < p.Calls || s.TotalExecTime < p.TotalExecTime || s.Rows < p.Rows ||
			(!s.StatsSince.IsZero() && !s.StatsSince.Equal(p.StatsSince)) {
			p = &Statement{}
			d.Fresh = prev != nil
		}
		d.Calls = s.Calls - p.Calls
		d.TotalTime = nonNeg(s.TotalExecTime - p.TotalExecTime)
		d.Rows = s.Rows - p.Rows
		d.SharedHit = nonNegInt(s.SharedBlksHit - p.SharedBlksHit)
		d.SharedRead = nonNegInt(s.SharedBlksRead - p.SharedBlksRead)
		d.TempBlks = nonNegInt(s.TempBlksRead + s.TempBlksWritten - p.TempBlksRead - p.TempBlksWritten)
		d.TempWritten = nonNegInt(s.TempBlksWritten - p.TempBlksWritten)
		if d.Calls == 0 {
			continue
		}
		d.MeanTime = d.TotalTime / float64(d.Calls)
		d.StddevTime = windowStddev(d.Calls, d.TotalTime, sumSquares(s)-sumSquares(*p))
		d.CallsPerS = rate(d.Calls, seconds)
		d.RowsPerS = rate(d.Rows, seconds)
		if s.TopLevel {
			out.TotalTime += d.TotalTime
		}
		out.Rows = append(out.Rows, d)
	}
	if out.TotalTime > 0 {
		for i := range out.Rows {
			if out.Rows[i].Key.TopLevel {
				out.Rows[i].Share = out.Rows[i].TotalTime / out.TotalTime
			}
		}
	}
	sort.SliceStable(out.Rows, func(i, j int) bool { return out.Rows[i].TotalTime > out.Rows[j].TotalTime })
	return out
}

// sumSquares is the sum of the squares of a statement's call times since
// its counters started: pg_stat_statements keeps the mean and the
// population standard deviation, and n(sd² + mean²) is that sum.
func sumSquares(s Statement) float64 {
	if s.Calls <= 0 {
		return 0
	}
	mean := s.TotalExecTime / float64(s.Calls)
	return float64(s.Calls) * (s.StddevExecTime*s.StddevExecTime + mean*mean)
}

// windowStddev is the population standard deviation of n calls whose times
// sum to total and whose squares sum to squares; 0 where rounding of the
// cumulative sums leaves a negative variance.
func windowStddev(n int64, total, squares float64) float64 {
	if n <= 0 {
		return 0
	}
	mean := total / float64(n)
	v := squares/float64(n) - mean*mean
	if v <= 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0
	}
	return math.Sqrt(v)
}

func tablesDelta(prev *Tables, cur Tables, seconds float64) []TableDelta {
	before := map[uint32]*Table{}
	if prev != nil {
		for i := range prev.Rows {
			before[prev.Rows[i].RelID] = &prev.Rows[i]
		}
	}
	out := make([]TableDelta, 0, len(cur.Rows))
	for _, t := range cur.Rows {
		d := TableDelta{RelID: t.RelID, Schema: t.Schema, Name: t.Name, Table: t}
		p := before[t.RelID]
		if p == nil || t.SeqScan < p.SeqScan || t.IdxScan < p.IdxScan || t.SeqTupRead < p.SeqTupRead ||
			t.TupIns < p.TupIns || t.TupUpd < p.TupUpd || t.TupDel < p.TupDel {
			p = &Table{}
			d.Fresh = prev != nil
		}
		d.SeqScan = t.SeqScan - p.SeqScan
		d.SeqTupRead = t.SeqTupRead - p.SeqTupRead
		d.IdxScan = t.IdxScan - p.IdxScan
		d.IdxTupFetch = nonNegInt(t.IdxTupFetch - p.IdxTupFetch)
		d.Writes = (t.TupIns - p.TupIns) + (t.TupUpd - p.TupUpd) + (t.TupDel - p.TupDel)
		d.HeapRead = nonNegInt(t.HeapBlksRead - p.HeapBlksRead)
		d.HeapHit = nonNegInt(t.HeapBlksHit - p.HeapBlksHit)
		d.SeqScanPerS = rate(d.SeqScan, seconds)
		d.SeqTupPerS = rate(d.SeqTupRead, seconds)
		d.IdxScanPerS = rate(d.IdxScan, seconds)
		d.WritesPerS = rate(d.Writes, seconds)
		out = append(out, d)
	}
	return out
}

func indexesDelta(prev *Indexes, cur Indexes, seconds float64) []IndexDelta {
	before := map[uint32]*Index{}
	if prev != nil {
		for i := range prev.Rows {
			before[prev.Rows[i].RelID] = &prev.Rows[i]
		}
	}
	out := make([]IndexDelta, 0, len(cur.Rows))
	for _, ix := range cur.Rows {
		d := IndexDelta{RelID: ix.RelID, Index: ix}
		p := before[ix.RelID]
		if p == nil || ix.Scan < p.Scan || ix.TupRead < p.TupRead {
			p = &Index{}
			d.Fresh = prev != nil
		}
		d.Scan = ix.Scan - p.Scan
		d.TupRead = ix.TupRead - p.TupRead
		d.ScanPerS = rate(d.Scan, seconds)
		out = append(out, d)
	}
	return out
}

func databaseDelta(prev *DatabaseStats, cur DatabaseStats, seconds float64) DatabaseDelta {
	d := DatabaseDelta{Seconds: seconds}
	p := prev
	if p == nil || cur.XactCommit < p.XactCommit || cur.BlksHit < p.BlksHit || cur.Sessions < p.Sessions {
		p = &DatabaseStats{}
		d.Fresh = prev != nil
	}
	d.Commits = cur.XactCommit - p.XactCommit
	d.Rollbacks = nonNegInt(cur.XactRollback - p.XactRollback)
	d.BlksRead = nonNegInt(cur.BlksRead - p.BlksRead)
	d.BlksHit = cur.BlksHit - p.BlksHit
	d.TempFiles = nonNegInt(cur.TempFiles - p.TempFiles)
	d.TempBytes = nonNegInt(cur.TempBytes - p.TempBytes)
	d.Deadlocks = nonNegInt(cur.Deadlocks - p.Deadlocks)
	d.Conflicts = nonNegInt(cur.Conflicts - p.Conflicts)
	d.ChecksumFailures = nonNegInt(cur.ChecksumFailures - p.ChecksumFailures)
	d.Sessions = cur.Sessions - p.Sessions
	d.Abandoned = nonNegInt(cur.SessionsAbandoned - p.SessionsAbandoned)
	d.SessionTime = nonNeg(cur.SessionTime - p.SessionTime)
	d.ActiveTime = nonNeg(cur.ActiveTime - p.ActiveTime)
	d.CommitsPerS = rate(d.Commits, seconds)
	d.SessionsPerS = rate(d.Sessions, seconds)
	d.CacheHitRatio = -1
	if total := d.BlksHit + d.BlksRead; total > 0 {
		d.CacheHitRatio = float64(d.BlksHit) / float64(total)
	}
	return d
}

func rate(n int64, seconds float64) float64 {
	if seconds <= 0 || n <= 0 {
		return 0
	}
	return float64(n) / seconds
}

func nonNeg(f float64) float64 { return max(f, 0) }

func nonNegInt(n int64) int64 { return max(n, 0) }
