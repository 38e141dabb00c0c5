package rules

import (
	"cmp"
	"context"
	"slices"
	"strings"

	"github.com/pgadvisor/advisor/internal/probe/postgres"
	"github.com/pgadvisor/advisor/internal/sqltext"
)

// dbCacheCandidate flags hot read-only statements over tables that are
// rarely written: reads a cache-aside with a TTL would serve. It gives one
// finding for the database, headed by the heaviest such statement and
// listing the others.
var dbCacheCandidate = Def[dbCacheCandidateParams]{ID: "db.cache-candidate", Check: checkDBCacheCandidate}

type dbCacheCandidateParams struct {
	MaxTableWritesPerS float64 `param:"max_table_writes_per_s"`
	MinReadsPerWrite   float64 `param:"min_reads_per_write"`
	MinTotalShare      float64 `param:"min_total_share"`
	MinCallsPerRequest float64 `param:"min_calls_per_request"`
}

// dbCacheSubject is the subject of the rule's one finding: the statements
// it lists change from window to window (a share at its threshold, a table
// written about as often as the bar allows), the finding does not.
const dbCacheSubject = "read-mostly statements"

func checkDBCacheCandidate(_ context.Context, in *Input, p dbCacheCandidateParams) ([]Finding, error) {
	pg := dbPG(in)
	if pg == nil {
		return nil, nil
	}
	// A statement qualifies by its share of the database's time, whatever
	// its rate: a short run makes few calls of the hottest read. Or by how
	// many of the service's requests make it: a read most requests make is
	// worth a cache however cheap, and its share of the database's time
	// falls under any bar while another statement (a sequential scan) takes
	// nearly all of it.
	maxWrites, minShare := p.MaxTableWritesPerS, p.MinTotalShare
	rps := 0.0
	if m := in.Window.Metrics; m != nil && m.Requests > 0 {
		rps = m.RPS
	}
	type candidate struct {
		d      *postgres.StatementDelta
		tables string
		writes float64
		// perRequest is the statement's calls per request of the
		// service; 0 without its request metrics.
		perRequest float64
	}
	var cands []candidate
	for _, d := range dbVisible(pg) {
		q := d.Statement.Query
		perRequest := 0.0
		if rps > 0 {
			perRequest = d.CallsPerS / rps
		}
		hot := d.Share >= minShare || (p.MinCallsPerRequest > 0 && perRequest >= p.MinCallsPerRequest)
		if !hot || !sqltext.ReadOnly(q) || sqltext.ReadsCatalog(q) {
			continue
		}
		_, from, ok := sqltext.SelectList(q)
		if !ok {
			continue
		}
		tables := dbTables(from, pg.Tables)
		if len(tables) == 0 {
			continue
		}
		writes := 0.0
		names := make([]string, len(tables))
		for i, t := range tables {
			writes += t.WritesPerS
			names[i] = sqltext.TableName(t.Schema, t.Name)
		}
		if !readMostly(d.CallsPerS, writes, maxWrites, p.MinReadsPerWrite) {
			continue
		}
		cands = append(cands, candidate{d: d, tables: strings.Join(names, ", "), writes: writes, perRequest: perRequest})
	}
	if len(cands) == 0 {
		return nil, nil
	}
	slices.SortStableFunc(cands, func(a, b candidate) int {
		if c := cmp.Compare(b.d.Share, a.d.Share); c != 0 {
			return c
		}
		return cmp.Compare(a.d.Statement.QueryID, b.d.Statement.QueryID)
	})
	top := cands[0]
	var share, callsPerS float64
	queryids := make([]string, len(cands))
	queries := make([]string, len(cands))
	for i, c := range cands {
		share += c.d.Share
		callsPerS += c.d.CallsPerS
		queryids[i] = dbQueryID(c.d.Statement.QueryID)
		queries[i] = sqltext.OneLine(c.d.Statement.Query)
	}
	d := top.d
	f := Finding{
		Subject: dbCacheSubject,
		Evidence: map[string]any{
			"query":              sqltext.OneLine(d.Statement.Query),
			"queryid":            dbQueryID(d.Statement.QueryID),
			"table":              top.tables,
			"calls":              d.Calls,
			"calls_per_s":        dbRound(d.CallsPerS, 1),
			"mean_ms":            dbRound(d.MeanTime, 3),
			"table_writes_per_s": dbRound(top.writes, 2),
			"total_share":        dbRound(d.Share, 3),
			"calls_per_request":  dbRound(top.perRequest, 2),
			// Every statement that qualifies, the heaviest first.
			"statements":       len(cands),
			"others":           len(cands) - 1,
			"queryids":         queryids,
			"queries":          queries,
			"statements_share": dbRound(share, 3),
			// Their calls together: the statements a cache spares.
			"statements_calls_per_s": dbRound(callsPerS, 1),
		},
		Impact: share,
	}
	if top.writes > 0 {
		// The reads between two invalidations, at most: a cache's hits.
		f.Evidence["reads_per_write"] = dbRound(d.CallsPerS/top.writes, 1)
	}
	return []Finding{f}, nil
}

// readMostly says whether a statement called callsPerS times a second reads
// tables written writesPerS rows a second rarely enough to cache: written at
// most maxWrites rows a second, or read at least minReadsPerWrite times for
// each row written. The bar is relative because a cache's hits are the reads
// between two invalidations: the sample service's feed reads its events
// about five times for every event an order writes, whatever the load (4.6
// at 359 events a second in a capture without the cache), and under the
// naive load, about one event a second, an absolute bar of one write a
// second took it in and out of the finding from window to window, and its
// share of the database's time with it (20% of the request time or nothing
// in issue 14's calibration).
func readMostly(callsPerS, writesPerS, maxWrites, minReadsPerWrite float64) bool {
	if writesPerS <= maxWrites {
		return true
	}
	return minReadsPerWrite > 0 && callsPerS >= minReadsPerWrite*writesPerS
}
