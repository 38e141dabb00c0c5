package rules

import (
	"context"
	"math"
	"slices"
	"sort"
	"strings"

	"github.com/pgadvisor/advisor/internal/probe/postgres"
	"github.com/pgadvisor/advisor/internal/sqltext"
)

// dbOverfetch flags hot reads that fetch wide rows: SELECT * over a table
// with wide columns, or named columns wider than needed, by pg_stats'
// average widths and the table's out-of-line (TOAST) bytes per row.
var dbOverfetch = Def[dbOverfetchParams]{ID: "db.overfetch", Check: checkDBOverfetch}

type dbOverfetchParams struct {
	MinCalls           int     `param:"min_calls"`
	MinAvgRowBytes     float64 `param:"min_avg_row_bytes"`
	MinWideColumnBytes float64 `param:"min_wide_column_bytes"`
}

// toastPointerWidth is pg_stats.avg_width of a column whose values are all
// stored out of line: the TOAST pointer's size.
const toastPointerWidth = 18

func checkDBOverfetch(ctx context.Context, in *Input, p dbOverfetchParams) ([]Finding, error) {
	pg := dbPG(in)
	cur := dbCur(in)
	if pg == nil || cur == nil {
		return nil, nil
	}
	minCalls, minRow, minWide := int64(p.MinCalls), p.MinAvgRowBytes, p.MinWideColumnBytes
	var out []Finding
	for _, d := range dbVisible(pg) {
		q := d.Statement.Query
		if d.Calls < minCalls || !sqltext.ReadOnly(q) || sqltext.ReadsCatalog(q) {
			continue
		}
		items, from, ok := sqltext.SelectList(q)
		if !ok {
			continue
		}
		aliases := dbAliases(from, pg.Tables)
		type fetched struct {
			star bool
			cols []string
		}
		per := map[*postgres.TableDelta]*fetched{}
		var order []*postgres.TableDelta
		get := func(t *postgres.TableDelta) *fetched {
			if per[t] == nil {
				per[t] = &fetched{}
				order = append(order, t)
			}
			return per[t]
		}
		for _, it := range items {
			qual, col, dotted := strings.Cut(it, ".")
			if strings.TrimSpace(it) == "" || (dotted && strings.TrimSpace(col) == "") {
				continue
			}
			switch {
			case it == "*":
				// Every column of every table of the FROM clause.
				for _, w := range sqltext.Identifiers(from) {
					if t := dbFindTable(pg.Tables, "", w); t != nil {
						get(t).star = true
					}
				}
			case dotted && col == "*":
				if t := dbAlias(aliases, qual); t != nil {
					get(t).star = true
				}
			default:
				// A column, perhaps with an alias: not an expression.
				expr := it
				var t *postgres.TableDelta
				if dotted {
					t, expr = dbAlias(aliases, qual), col
				}
				name, ok := sqltext.Unquote(strings.Fields(expr)[0])
				if !ok {
					continue
				}
				if !dotted && len(aliases) > 0 {
					for _, tt := range aliases {
						if _, has := dbColumnWidths(cur, tt)[name]; has {
							t = tt
							break
						}
					}
				}
				if t != nil {
					f := get(t)
					f.cols = append(f.cols, name)
				}
			}
		}
		for _, t := range order {
			f := per[t]
			widths := dbColumnWidths(cur, t)
			if len(widths) == 0 {
				continue
			}
			// Out-of-line (TOAST) bytes per row: the table's size beyond
			// what its rows' inline widths and headers take.
			var inline float64
			for _, w := range widths {
				inline += float64(w)
			}
			toastPerRow := 0.0
			if lt := t.Table.LiveTup; lt > 0 {
				toastPerRow = max(0, float64(t.Table.TableBytes)/float64(lt)-inline-28)
			}
			var toasted []string
			for c, w := range widths {
				if w == toastPointerWidth {
					toasted = append(toasted, c)
				}
			}
			colWidth := func(c string) float64 {
				w := float64(widths[c])
				if slices.Contains(toasted, c) && len(toasted) > 0 {
					w += toastPerRow / float64(len(toasted))
				}
				return w
			}
			cols := f.cols
			if f.star {
				cols = nil
				for c := range widths {
					cols = append(cols, c)
				}
			}
			sort.Strings(cols)
			var rowBytes float64
			var wide []string
			for _, c := range slices.Compact(cols) {
				w := colWidth(c)
				rowBytes += w
				if w >= minWide {
					wide = append(wide, c)
				}
			}
			if rowBytes < minRow || (!f.star && len(wide) == 0) {
				continue
			}
			table := sqltext.TableName(t.Schema, t.Name)
			out = append(out, Finding{
				Subject: dbSubject(d) + " " + table,
				Evidence: map[string]any{
					"query":         sqltext.OneLine(q),
					"queryid":       dbQueryID(d.Statement.QueryID),
					"table":         table,
					"calls":         d.Calls,
					"calls_per_s":   dbRound(d.CallsPerS, 1),
					"mean_ms":       dbRound(d.MeanTime, 3),
					"rows_per_call": dbRound(float64(d.Rows)/float64(d.Calls), 2),
					"avg_row_bytes": math.Round(rowBytes),
					"wide_columns":  wide,
					"select_star":   f.star,
					"total_share":   dbRound(d.Share, 3),
				},
				Impact: d.Share,
			})
		}
	}
	return out, nil
}
