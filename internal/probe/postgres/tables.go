// pg_stat_user_tables, pg_statio_user_tables and pg_stat_user_indexes: the
// user tables and their indexes, with sizes.

package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pgadvisor/advisor/internal/probe/source"
)

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
