package postgres

import (
	"context"
	"strings"
	"testing"
)

// TestHealthRead reads the health part of a database with a sequence
// near the end of its column's range, a column narrower than its
// sequence, an invalid index and an idle transaction holding an xid.
func TestHealthRead(t *testing.T) {
	dsn := newPlainDatabase(t, "probe_pg_health")
	admin := adminConn(t, dsn)
	ctx := context.Background()
	for _, sql := range []string{
		`CREATE TABLE narrow (id serial PRIMARY KEY, v int)`,
		`SELECT setval('narrow_id_seq', 2040109465)`, // 95% of integer
		`CREATE SEQUENCE wide_seq AS bigint`,
		`CREATE TABLE wide (id integer DEFAULT nextval('wide_seq') PRIMARY KEY)`,
		`SELECT setval('wide_seq', 2126008811)`, // 99% of integer, not of bigint
		`CREATE TABLE roomy (id bigserial PRIMARY KEY)`,
		`INSERT INTO roomy DEFAULT VALUES`,
		`CREATE TABLE dup (x int)`,
		`INSERT INTO dup VALUES (1), (1)`,
	} {
		if _, err := admin.Exec(ctx, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	if _, err := admin.Exec(ctx, `CREATE UNIQUE INDEX CONCURRENTLY dup_x_key ON dup (x)`); err == nil {
		t.Fatal("unique index over duplicates built")
	}
	holder := adminConn(t, dsn)
	if _, err := holder.Exec(ctx, `BEGIN; SELECT txid_current()`); err != nil {
		t.Fatal(err)
	}

	p := openProbe(t, dsn, Options{})
	s := p.Snapshot(ctx)
	h := s.Health
	if !h.Status.Ok() {
		t.Fatalf("health: %+v", h.Status)
	}
	if h.FreezeMaxAge != 200000000 || h.MultixactFreezeMaxAge <= 0 || h.FailsafeAge <= 0 {
		t.Errorf("settings: %d %d %d", h.FreezeMaxAge, h.MultixactFreezeMaxAge, h.FailsafeAge)
	}
	seqs := map[string]Sequence{}
	for _, q := range h.Sequences {
		seqs[q.Name] = q
	}
	if q := seqs["narrow_id_seq"]; q.Table != "narrow" || q.TableSchema != "public" || q.Column != "id" || q.Limit != 2147483647 ||
		q.LimitedByColumn || q.UsedShare < 0.94 || q.UsedShare > 0.96 {
		t.Errorf("narrow_id_seq: %+v", q)
	}
	if q := seqs["wide_seq"]; q.Type != "bigint" || q.ColumnType != "integer" || !q.LimitedByColumn ||
		q.Remaining != 2147483647-2126008811 || q.UsedShare < 0.98 {
		t.Errorf("wide_seq: %+v", q)
	}
	if q := seqs["roomy_id_seq"]; q.UsedShare > 1e-9 || q.LimitedByColumn {
		t.Errorf("roomy_id_seq: %+v", q)
	}
	if len(h.Sequences) > 0 && h.Sequences[0].Name != "wide_seq" {
		t.Errorf("sequences not ordered by share: %+v", h.Sequences)
	}
	if len(h.Databases) == 0 || len(h.FreezeTables) == 0 || h.FreezeTables[0].XIDAge <= 0 {
		t.Errorf("ages: %+v %+v", h.Databases, h.FreezeTables)
	}
	if len(h.InvalidIndexes) != 1 || h.InvalidIndexes[0].Name != "dup_x_key" || !h.InvalidIndexes[0].Unique ||
		!strings.Contains(h.InvalidIndexes[0].Definition, "UNIQUE") {
		t.Errorf("invalid indexes: %+v", h.InvalidIndexes)
	}
	found := false
	for _, hh := range h.Holders {
		if hh.Kind == HolderBackend && hh.State == "idle in transaction" && hh.XIDAge >= 1 && hh.Seconds >= 0 {
			found = true
		}
		if hh.Application == ApplicationName {
			t.Errorf("advisor's own session listed: %+v", hh)
		}
	}
	if !found {
		t.Errorf("idle transaction not among the holders: %+v", h.Holders)
	}
	if h.Connections.Total < 2 || h.Connections.IdleInTransaction < 1 {
		t.Errorf("connections: %+v", h.Connections)
	}
	if h.Standby != nil {
		t.Errorf("standby state on a primary: %+v", h.Standby)
	}
	if _, err := holder.Exec(ctx, `ROLLBACK`); err != nil {
		t.Fatal(err)
	}
}
