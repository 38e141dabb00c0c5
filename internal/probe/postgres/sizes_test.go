package postgres

import (
	"context"
	"testing"

	"github.com/pgadvisor/advisor/internal/stack/stacktest"
)

// TestSizesReused: the tables' and indexes' sizes are measured once a
// minute, not at every reading; a table or an index created since is
// measured at once.
func TestSizesReused(t *testing.T) {
	if testing.Short() {
		t.Skip("PostgreSQL")
	}
	stacktest.Start(t)
	dsn := stacktest.NewDatabase(t, "probe_sizes")
	conn := adminConn(t, dsn)
	ctx := context.Background()
	exec := func(sql string) {
		t.Helper()
		if _, err := conn.Exec(ctx, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	exec("CREATE TABLE grows (id int PRIMARY KEY, pad text)")
	exec("INSERT INTO grows SELECT g, repeat('x', 100) FROM generate_series(1, 1000) g")
	p := openProbe(t, dsn, Options{})
	read := func() (map[string]Table, map[string]Index) {
		t.Helper()
		tables := p.collectTables(ctx)
		indexes := p.collectIndexes(ctx, tables)
		if !tables.Status.Ok() || !indexes.Status.Ok() {
			t.Fatalf("tables %+v, indexes %+v", tables.Status, indexes.Status)
		}
		ts, ixs := map[string]Table{}, map[string]Index{}
		for _, r := range tables.Rows {
			ts[r.Name] = r
		}
		for _, r := range indexes.Rows {
			ixs[r.Name] = r
		}
		return ts, ixs
	}
	ts, ixs := read()
	before, pkey := ts["grows"].TableBytes, ixs["grows_pkey"].Bytes
	if before <= 0 || pkey <= 0 || ts["grows"].TotalBytes < before+pkey {
		t.Fatalf("first reading: table %+v, index %+v", ts["grows"], ixs["grows_pkey"])
	}
	exec("INSERT INTO grows SELECT g, repeat('x', 100) FROM generate_series(1001, 20000) g")
	exec("CREATE TABLE later (id int)")
	exec("INSERT INTO later SELECT generate_series(1, 1000)")
	exec("CREATE INDEX grows_pad ON grows (pad)")
	ts, ixs = read()
	if got := ts["grows"].TableBytes; got != before {
		t.Errorf("within the minute: %d bytes, want the first measurement, %d", got, before)
	}
	if ts["later"].TableBytes <= 0 || ixs["grows_pad"].Bytes <= 0 {
		t.Errorf("created since: table %+v, index %+v, want measured", ts["later"], ixs["grows_pad"])
	}
	// A minute later, measured again.
	p.sizes.mu.Lock()
	p.sizes.at = p.sizes.at.Add(-sizesEvery)
	p.sizes.mu.Unlock()
	ts, ixs = read()
	if got := ts["grows"].TableBytes; got <= 10*before {
		t.Errorf("after a minute: %d bytes, want the grown table's (it was %d)", got, before)
	}
	if got := ixs["grows_pkey"].Bytes; got <= pkey {
		t.Errorf("after a minute: the primary key has %d bytes, want more than %d", got, pkey)
	}
}
