package rules

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"

	"github.com/pgadvisor/advisor/internal/probe/postgres"
	"github.com/pgadvisor/advisor/internal/sqltext"
)

// dbRules are the detectors of the database rules, one file each
// (db_<rule>.go); this file holds what several of them share.
var dbRules = []Detector{
	dbMissingIndex,
	dbNPlusOne,
	dbOverfetch,
	dbSlowQuery,
	dbCacheCandidate,
	dbUnusedIndex,
	dbDuplicateIndex,
	dbBlockedQueries,
	dbIdleInTransaction,
	dbLongRunning,
	dbLowCacheHit,
	dbSequenceExhaustion,
	dbXIDWraparound,
	dbInvalidIndex,
	dbXminHorizon,
	dbConnections,
	dbReplication,
	dbVacuumLag,
	dbTableBloat,
	dbTempFiles,
	dbSettings,
	dbDeadlocks,
	dbChecksumFailures,
	dbRecoveryConflicts,
}

// dbPG returns the window's PostgreSQL part, or nil.
func dbPG(in *Input) *postgres.Window {
	if in == nil || in.Window == nil {
		return nil
	}
	return in.Window.Postgres
}

// dbCur returns the later snapshot of the PostgreSQL window, or nil.
func dbCur(in *Input) *postgres.Snapshot {
	pg := dbPG(in)
	if pg == nil {
		return nil
	}
	return pg.Cur
}

// dbQueryID is a queryid as findings show it.
func dbQueryID(id int64) string { return strconv.FormatInt(id, 10) }

// dbSubject is the subject of a finding about one statement.
func dbSubject(d *postgres.StatementDelta) string { return "queryid " + dbQueryID(d.Statement.QueryID) }

// dbVisible are the statements whose text advisor can read.
func dbVisible(pg *postgres.Window) []*postgres.StatementDelta {
	var out []*postgres.StatementDelta
	for i := range pg.Statements.Rows {
		d := &pg.Statements.Rows[i]
		if d.Statement.Hidden || d.Calls <= 0 || strings.TrimSpace(d.Statement.Query) == "" {
			continue
		}
		out = append(out, d)
	}
	return out
}

// dbTables returns the user tables a statement names, in the order of the
// text, once each. Names are matched on the table name, regardless of case
// (schema-qualified names match too).
func dbTables(query string, tables []postgres.TableDelta) []*postgres.TableDelta {
	names := make([]string, len(tables))
	for i, t := range tables {
		names[i] = t.Name
	}
	var out []*postgres.TableDelta
	for _, i := range sqltext.Mentions(query, names) {
		out = append(out, &tables[i])
	}
	return out
}

// dbFindTable returns the table a plan node names (plans without VERBOSE
// give no schema: public wins over other schemas).
func dbFindTable(tables []postgres.TableDelta, schema, name string) *postgres.TableDelta {
	var found *postgres.TableDelta
	for i := range tables {
		t := &tables[i]
		if t.Name != name || (schema != "" && t.Schema != schema) {
			continue
		}
		if found == nil || t.Schema == "public" {
			found = t
		}
	}
	return found
}

// dbAliases maps the aliases and names of the FROM clause's tables to them,
// as sqltext.Identifiers spells them (unquoted names in lower case).
func dbAliases(from string, tables []postgres.TableDelta) map[string]*postgres.TableDelta {
	out := map[string]*postgres.TableDelta{}
	words := sqltext.Identifiers(from)
	for i, w := range words {
		t := dbFindTable(tables, "", w)
		if t == nil {
			continue
		}
		out[t.Name] = t
		j := i + 1
		if j < len(words) && words[j] == "as" {
			j++
		}
		if j < len(words) && !dbSQLKeyword[strings.ToUpper(words[j])] {
			out[words[j]] = t
		}
	}
	return out
}

// dbAlias returns the table a qualifier of the select list (an alias or a
// table name, quoted or not) stands for in aliases, or nil.
func dbAlias(aliases map[string]*postgres.TableDelta, qual string) *postgres.TableDelta {
	name, ok := sqltext.Unquote(qual)
	if !ok {
		return nil
	}
	return aliases[name]
}

// dbSQLKeyword are the keywords that may follow a table of a FROM clause in
// place of an alias.
var dbSQLKeyword = map[string]bool{"WHERE": true, "JOIN": true, "LEFT": true, "RIGHT": true, "INNER": true,
	"FULL": true, "CROSS": true, "ON": true, "ORDER": true, "GROUP": true, "LIMIT": true, "USING": true,
	"NATURAL": true, "LATERAL": true, "HAVING": true, "UNION": true, "OFFSET": true, "FOR": true, "WINDOW": true}

// dbColumnWidths are pg_stats' average widths of a table's columns.
func dbColumnWidths(cur *postgres.Snapshot, t *postgres.TableDelta) map[string]int32 {
	out := map[string]int32{}
	if cur == nil {
		return out
	}
	for _, c := range cur.ColumnStats.Rows {
		if c.Schema == t.Schema && c.Table == t.Name {
			out[c.Column] = c.AvgWidth
		}
	}
	return out
}

// dbApp is an application_name as findings show it.
func dbApp(name string) string {
	if name == "" {
		return "(no application_name)"
	}
	return name
}

// dbRound keeps evidence readable.
func dbRound(v float64, digits int) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0
	}
	p := math.Pow(10, float64(digits))
	return math.Round(v*p) / p
}

// dbDriverRe recognises the frames of PostgreSQL drivers: a query is issued
// by the first frame beneath them.
var dbDriverRe = regexp.MustCompile(`^(github\.com/jackc/pgx/v[0-9]+|github\.com/jackc/pgconn|github\.com/jackc/puddle|github\.com/lib/pq|database/sql)[./]`)

// dbFrame is one stack frame, from a profile or a goroutine dump.
type dbFrame struct {
	fn, file string
	line     int64
}

// dbLocation is a frame's file:line as the binary records it (an absolute
// build path, or a module path with -trimpath): the report's SARIF printer
// maps it to the repository, the other printers show it as it is.
func dbLocation(f dbFrame) string {
	if f.file == "" {
		return f.fn
	}
	return fmt.Sprintf("%s:%d", f.file, f.line)
}
