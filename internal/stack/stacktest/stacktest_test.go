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
