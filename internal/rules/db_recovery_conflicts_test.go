package rules

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgadvisor/advisor/internal/probe/postgres"
	"github.com/pgadvisor/advisor/internal/stack/stacktest"
)

// TestRecoveryConflictsFixture: a standby (max_standby_streaming_delay 0)
// whose session reads a table in an open transaction while the primary
// drops it: replay cancels the session, before a window that sees none.
// The primary counts no conflict.
func TestRecoveryConflictsFixture(t *testing.T) {
	healthSkipShort(t)
	t.Parallel() // servers or a database of its own, and no load whose rate it measures
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rule := dbRule(t, "db.recovery-conflicts", nil)
	c := stacktest.Cluster(t, "max_standby_streaming_delay = 0\nhot_standby_feedback = off\n")
	dsn := c.DSN(c.Database())
	healthExec(t, dsn, "CREATE TABLE reports (id int PRIMARY KEY)", "INSERT INTO reports SELECT generate_series(1, 100)")
	r := stacktest.Replica(t, c, "conflicts_replica")
	rdsn := r.DSN(c.Database())
	// The table reaches the standby.
	deadline := time.Now().Add(30 * time.Second)
	standby, err := pgx.Connect(ctx, rdsn)
	if err != nil {
		t.Fatal(err)
	}
	defer standby.Close(context.Background())
	for {
		var n int
		if err := standby.QueryRow(ctx, "SELECT count(*) FROM reports").Scan(&n); err == nil && n == 100 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the table did not reach the standby")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if fs := dbDetect(t, healthWindow(t, rdsn, postgres.Options{}), rule); len(fs) != 0 {
		t.Fatalf("no conflict yet: %v", fs)
	}

	// A report's transaction holds its lock on the standby; the primary
	// drops the table; replay takes the lock at once.
	maintExec(t, standby, "BEGIN ISOLATION LEVEL REPEATABLE READ", "SELECT count(*) FROM reports")
	healthExec(t, dsn, "DROP TABLE reports")
	deadline = time.Now().Add(30 * time.Second)
	for {
		_, err := standby.Exec(ctx, "SELECT 1")
		if err != nil {
			if !strings.Contains(err.Error(), "conflict with recovery") {
				t.Logf("standby session: %v", err)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the standby's session was not cancelled")
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The cancelled backend reports the conflict; give its statistics a
	// flush (the standby's counters are flushed within a second).
	deadline = time.Now().Add(15 * time.Second)
	var fs []Finding
	for {
		fs = dbDetect(t, healthWindow(t, rdsn, postgres.Options{}), rule)
		if len(fs) > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	if len(fs) != 1 {
		t.Fatalf("%d findings on the standby, want 1", len(fs))
	}
	ev := fs[0].Evidence
	if ev["in_recovery"] != true || ev["conflicts_lifetime"].(int64) < 1 || !strings.Contains(fs[0].Title, "(since ") ||
		!strings.Contains(fs[0].Fix.Summary, "hot_standby_feedback") {
		t.Errorf("%q %v", fs[0].Title, ev)
	}
	if fs := dbDetect(t, healthWindow(t, dsn, postgres.Options{}), rule); len(fs) != 0 {
		t.Errorf("the primary: %v", fs)
	}
}
