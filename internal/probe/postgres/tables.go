// pg_stat_user_tables, pg_statio_user_tables and pg_stat_user_indexes: the
// user tables and their indexes, with sizes.

package postgres

import (
	"context"
	"sync"
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
		}, func() error {
			row := t
			row.LastVacuum = latest(lv, lav)
			row.LastAnalyze = latest(la, laa)
			row.Ident = pgx.Identifier{row.Schema, row.Name}.Sanitize()
			out.Rows = append(out.Rows, row)
			return nil
		})
		if err != nil {
			return err
		}
		return p.sizes.tableSizes(ctx, c, out.Rows)
	})
	return out
}

// sizesEvery is how long the tables' and indexes' sizes are reused: they
// change at the pace of the data, and measuring them costs more than
// reading the tables' statistics.
const sizesEvery = time.Minute

// sizeCache holds the sizes of the tables read and of their indexes,
// measured at most once every sizesEvery, and again when a table not
// measured yet is read.
type sizeCache struct {
	mu      sync.Mutex
	at      time.Time
	tables  map[uint32][3]int64 // table, indexes, total bytes
	indexes map[uint32]int64
}

// tableSizes sets the sizes of the tables, and measures those of their
// indexes for indexSizes: all measured again once sizesEvery has passed,
// and otherwise only the tables not measured yet.
func (s *sizeCache) tableSizes(ctx context.Context, c *pgxpool.Conn, tables []Table) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	all := s.at.IsZero() || time.Since(s.at) >= sizesEvery
	if all {
		s.tables, s.indexes = map[uint32][3]int64{}, map[uint32]int64{}
	}
	var relids []uint32
	for _, t := range tables {
		if _, ok := s.tables[t.RelID]; !ok {
			relids = append(relids, t.RelID)
		}
	}
	if len(relids) > 0 {
		rows, err := c.Query(ctx, probeTag+tableSizesSQL, relids)
		if err != nil {
			return err
		}
		var relid uint32
		var b [3]int64
		if _, err := pgx.ForEachRow(rows, []any{&relid, &b[0], &b[1], &b[2]}, func() error {
			s.tables[relid] = b
			return nil
		}); err != nil {
			return err
		}
		if err := s.readIndexSizes(ctx, c, indexSizesSQL, relids); err != nil {
			return err
		}
	}
	if all {
		s.at = time.Now()
	}
	for i := range tables {
		b := s.tables[tables[i].RelID]
		tables[i].TableBytes, tables[i].IndexesBytes, tables[i].TotalBytes = b[0], b[1], b[2]
	}
	return nil
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
			&ix.Method, &ix.Definition, &cols,
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
		if err != nil {
			return err
		}
		return p.sizes.indexSizes(ctx, c, out.Rows)
	})
	return out
}

// indexSizes sets the size of each index: measured with the tables, or
// now for an index created since.
func (s *sizeCache) indexSizes(ctx context.Context, c *pgxpool.Conn, rows []Index) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var missing []uint32
	for _, ix := range rows {
		if _, ok := s.indexes[ix.RelID]; !ok {
			missing = append(missing, ix.RelID)
		}
	}
	if len(missing) > 0 {
		if s.indexes == nil {
			s.indexes = map[uint32]int64{}
		}
		if err := s.readIndexSizes(ctx, c, indexesByOIDSizesSQL, missing); err != nil {
			return err
		}
	}
	for i := range rows {
		rows[i].Bytes = s.indexes[rows[i].RelID]
	}
	return nil
}

// readIndexSizes runs sql, which returns index oids and sizes for the oids
// in its $1, and keeps the sizes.
func (s *sizeCache) readIndexSizes(ctx context.Context, c *pgxpool.Conn, sql string, oids []uint32) error {
	rows, err := c.Query(ctx, probeTag+sql, oids)
	if err != nil {
		return err
	}
	var relid uint32
	var n int64
	_, err = pgx.ForEachRow(rows, []any{&relid, &n}, func() error {
		s.indexes[relid] = n
		return nil
	})
	return err
}
