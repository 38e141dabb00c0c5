package stacktest

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
)

func TestSharedStackAndOwnDatabase(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	info := Start(t)
	if again := Start(t); again != info {
		t.Errorf("second Start returned %+v, want %+v", again, info)
	}

	dsn := NewDatabase(t, "stacktest_own")
	if !strings.Contains(dsn, "/stacktest_own?") {
		t.Errorf("NewDatabase DSN %q does not name the database", dsn)
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var exts []string
	rows, err := conn.Query(ctx, "SELECT extname FROM pg_extension ORDER BY 1")
	if err != nil {
		t.Fatal(err)
	}
	exts, err = pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(exts, ","); !strings.Contains(got, "hypopg") || !strings.Contains(got, "pg_stat_statements") {
		t.Errorf("extensions in a new database: %s", got)
	}

	// A second NewDatabase with the same name starts from an empty database.
	if _, err := conn.Exec(ctx, "CREATE TABLE leftover (id int)"); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)
	dsn = NewDatabase(t, "stacktest_own")
	conn2, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn2.Close(ctx)
	var n int
	if err := conn2.QueryRow(ctx, "SELECT count(*) FROM pg_tables WHERE tablename = 'leftover'").Scan(&n); err != nil || n != 0 {
		t.Errorf("recreated database still has the old table (n=%d, err=%v)", n, err)
	}

	rc := redis.NewClient(&redis.Options{Addr: info.RedisAddr})
	defer rc.Close()
	if err := rc.Ping(ctx).Err(); err != nil {
		t.Errorf("redis: %v", err)
	}
}

// TestScratchCluster starts a cluster of its own with a setting of its own,
// moves its next transaction ID with pg_resetwal and gives it a replica.
func TestScratchCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two PostgreSQL servers")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := Cluster(t, "max_prepared_transactions = 3\n")
	conn, err := pgx.Connect(ctx, c.DSN(c.Database()))
	if err != nil {
		t.Fatal(err)
	}
	var mpt string
	if err := conn.QueryRow(ctx, "SHOW max_prepared_transactions").Scan(&mpt); err != nil || mpt != "3" {
		t.Errorf("max_prepared_transactions %q, %v", mpt, err)
	}
	conn.Close(ctx)

	const next = 300_000_000
	if err := c.SetNextXID(ctx, next); err != nil {
		t.Fatal(err)
	}
	conn, err = pgx.Connect(ctx, c.DSN(c.Database()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var xid, age int64
	if err := conn.QueryRow(ctx, "SELECT txid_current(), age(datfrozenxid) FROM pg_database WHERE datname = current_database()").Scan(&xid, &age); err != nil {
		t.Fatal(err)
	}
	if xid < next || age < next-10_000 {
		t.Errorf("after SetNextXID(%d): txid %d, database age %d", next, xid, age)
	}

	r := Replica(t, c, "scratch_replica")
	rc, err := pgx.Connect(ctx, r.DSN(c.Database()))
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close(ctx)
	var recovery bool
	if err := rc.QueryRow(ctx, "SELECT pg_is_in_recovery()").Scan(&recovery); err != nil || !recovery {
		t.Errorf("replica in recovery: %v, %v", recovery, err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		var state string
		err := conn.QueryRow(ctx, "SELECT state FROM pg_stat_replication WHERE application_name = 'scratch_replica'").Scan(&state)
		if err == nil && state == "streaming" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("replica not streaming: %q, %v", state, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
