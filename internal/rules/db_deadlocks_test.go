package rules

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgadvisor/advisor/internal/probe"
	"github.com/pgadvisor/advisor/internal/probe/postgres"
	"github.com/pgadvisor/advisor/internal/probe/source"
	"github.com/pgadvisor/advisor/internal/stack/stacktest"
)

// deadlockSnapshot reads dsn as a report's probe does.
func deadlockSnapshot(t *testing.T, pg *postgres.Probe) *probe.Snapshot {
	t.Helper()
	s := &probe.Snapshot{Postgres: pg.Snapshot(context.Background())}
	s.Time = s.Postgres.Time
	s.Status = map[string]source.Status{probe.Postgres: s.Postgres.Status}
	if !s.Postgres.Database.Status.Ok() {
		t.Fatalf("database part: %+v", s.Postgres.Database.Status)
	}
	return s
}

// deadlock makes two sessions of dsn deadlock for real: each updates one
// row, then the other's. PostgreSQL aborts one after deadlock_timeout.
func deadlock(t *testing.T, dsn string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var conns [2]*pgx.Conn
	for i := range conns {
		c, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close(context.Background())
		conns[i] = c
	}
	for i, c := range conns {
		if _, err := c.Exec(ctx, "BEGIN"); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Exec(ctx, "UPDATE accounts SET balance = balance - 1 WHERE id = $1", i+1); err != nil {
			t.Fatal(err)
		}
	}
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if i == 1 {
				time.Sleep(200 * time.Millisecond) // the first waits already
			}
			_, errs[i] = c.Exec(ctx, "UPDATE accounts SET balance = balance + 1 WHERE id = $1", 2-i)
			_, _ = c.Exec(ctx, "ROLLBACK")
		}()
	}
	wg.Wait()
	if !strings.Contains(errs[0].Error()+" "+errString(errs[1]), "deadlock detected") {
		t.Fatalf("no deadlock: %v, %v", errs[0], errs[1])
	}
	for _, c := range conns {
		maintFlush(t, c)
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// TestDeadlocksFixture: two sessions deadlock for real, first before a
// window that sees none (the finding comes from the counter since the
// statistics were reset, marked so), then inside a window.
func TestDeadlocksFixture(t *testing.T) {
	healthSkipShort(t)
	t.Parallel() // servers or a database of its own, and no load whose rate it measures
	stacktest.Start(t)
	dsn := stacktest.NewDatabase(t, "rules_deadlocks")
	healthExec(t, dsn, "CREATE TABLE accounts (id int PRIMARY KEY, balance int NOT NULL)",
		"INSERT INTO accounts VALUES (1, 100), (2, 100)", "SELECT pg_stat_reset()")
	rule := dbRule(t, "db.deadlocks", nil)
	ctx := context.Background()
	pg, err := postgres.Open(ctx, dsn, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()
	window := func(between func()) *probe.Window {
		first := deadlockSnapshot(t, pg)
		between()
		return probe.NewWindow(first, deadlockSnapshot(t, pg))
	}

	// Nothing yet.
	if fs := dbDetect(t, window(func() { time.Sleep(100 * time.Millisecond) }), rule); len(fs) != 0 {
		t.Fatalf("no deadlock yet: %v", fs)
	}

	deadlock(t, dsn)
	fs := dbDetect(t, window(func() { time.Sleep(100 * time.Millisecond) }), rule)
	if len(fs) != 1 {
		t.Fatalf("%d findings after a deadlock before the window, want 1", len(fs))
	}
	f := fs[0]
	ev := f.Evidence
	if ev["in_window"] != false || ev["deadlocks_lifetime"] != int64(1) || ev["deadlocks"] != int64(0) ||
		!strings.HasPrefix(ev["lifetime"].(string), "since stats reset, ") {
		t.Errorf("%q %v", f.Title, ev)
	}
	if want := "rules_deadlocks: 1 deadlock (since stats reset, "; !strings.HasPrefix(f.Title, want) ||
		!strings.Contains(f.Fix.Summary, "40P01") {
		t.Errorf("title %q, fix %q", f.Title, f.Fix.Summary)
	}

	// One inside the window: the window's count is the figure.
	fs = dbDetect(t, window(func() { deadlock(t, dsn) }), rule)
	if len(fs) != 1 || fs[0].Evidence["in_window"] != true || fs[0].Evidence["deadlocks"] != int64(1) ||
		fs[0].Evidence["deadlocks_lifetime"] != int64(2) || !strings.HasPrefix(fs[0].Title, "rules_deadlocks: 1 deadlock in ") {
		t.Errorf("in the window: %v", fs)
	}
}
