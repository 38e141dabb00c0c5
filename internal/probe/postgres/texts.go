package postgres

import (
	"context"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// ownStatementsMargin is how many more pg_stat_statements rows a snapshot
// reads than Options.MaxStatements, for the probe's own statements, which it
// leaves out once their texts are known.
const ownStatementsMargin = 64

// columnStatsCache keeps the last pg_stats read and the hot tables it was
// read for, with when each was last analysed.
type columnStatsCache struct {
	mu  sync.Mutex
	key string
	at  time.Time
	out ColumnStats
}

// textCache keeps the query text of each statement seen in the last
// snapshot, so that a snapshot reads only the texts of new statements.
type textCache struct {
	mu sync.Mutex
	m  map[StatementKey]string
}

// fill sets the Query of every row that is not hidden, reading with sql the
// texts the cache lacks, and keeps only the texts of rows. It returns how
// many texts it read. A statement evicted between the two reads keeps an
// empty text, read again next time.
func (t *textCache) fill(ctx context.Context, c *pgxpool.Conn, sql string, rows []Statement) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var missing []int64
	for _, r := range rows {
		if _, ok := t.m[r.Key()]; !ok && !r.Hidden {
			missing = append(missing, r.QueryID)
		}
	}
	read := map[StatementKey]string{}
	if len(missing) > 0 {
		res, err := c.Query(ctx, probeTag+sql, missing)
		if err != nil {
			return 0, err
		}
		var k StatementKey
		var text *string
		for res.Next() {
			if err := res.Scan(&k.UserID, &k.DBID, &k.QueryID, &k.TopLevel, &text); err != nil {
				res.Close()
				return 0, err
			}
			if text != nil {
				read[k] = *text
			}
		}
		res.Close()
		if err := res.Err(); err != nil {
			return 0, err
		}
	}
	next := make(map[StatementKey]string, len(rows))
	for i := range rows {
		r := &rows[i]
		if r.Hidden {
			continue
		}
		text, ok := t.m[r.Key()]
		if !ok {
			text, ok = read[r.Key()]
		}
		if ok {
			r.Query = text
			next[r.Key()] = text
		}
	}
	t.m = next
	return len(read), nil
}
