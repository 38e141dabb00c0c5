// pg_stats: the column statistics of the hot tables.

package postgres

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pgadvisor/advisor/internal/probe/source"
	"github.com/pgadvisor/advisor/internal/sqltext"
)

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

// HotTables returns the tables whose column statistics a snapshot reads:
// those the statements with the highest total time mention, then the
// largest, n of each at most.
func HotTables(stmts []Statement, tables []Table, n int) []Table {
	seen := map[uint32]bool{}
	var out []Table
	byTime := append([]Statement(nil), stmts...)
	sort.Slice(byTime, func(i, j int) bool { return byTime[i].TotalExecTime > byTime[j].TotalExecTime })
	names := make([]string, len(tables))
	for i, t := range tables {
		names[i] = t.Name
	}
	hot := 0
	for _, s := range byTime {
		if s.Hidden || hot >= n {
			continue
		}
		for _, i := range sqltext.Mentions(s.Query, names) {
			if !seen[tables[i].RelID] && hot < n {
				seen[tables[i].RelID] = true
				out = append(out, tables[i])
				hot++
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
