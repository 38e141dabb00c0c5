package rules

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgadvisor/advisor/internal/probe/postgres"
	"github.com/pgadvisor/advisor/internal/stack"
	"github.com/pgadvisor/advisor/internal/stack/stacktest"
)

// TestChecksumFailuresFixture: a scratch cluster with data checksums on
// (pg_checksums --enable while it is stopped), a table whose first page
// is overwritten on disk while the server is down, read once after the
// restart: PostgreSQL counts the failure, before a window that reads
// nothing. The shared stack (checksums off) gives no finding.
func TestChecksumFailuresFixture(t *testing.T) {
	healthSkipShort(t)
	t.Parallel() // servers or a database of its own, and no load whose rate it measures
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rule := dbRule(t, "db.checksum-failures", nil)

	// Checksums off: the counter is NULL, the rule silent.
	stacktest.Start(t)
	shared := stacktest.NewDatabase(t, "rules_checksums_off")
	if fs := dbDetect(t, healthWindow(t, shared, postgres.Options{}), rule); len(fs) != 0 {
		t.Fatalf("checksums off: %v", fs)
	}

	c := stacktest.Cluster(t, "")
	dsn := c.DSN(c.Database())
	var dataDir, relPath string
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	maintExec(t, conn, "CREATE TABLE ledger AS SELECT g AS id, repeat('x', 100) AS note FROM generate_series(1, 2000) g",
		"CHECKPOINT")
	if err := conn.QueryRow(ctx, "SELECT current_setting('data_directory'), pg_relation_filepath('ledger')").Scan(&dataDir, &relPath); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)
	if err := c.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	bin, err := stack.FindPostgres("")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, filepath.Join(bin.Bin, "pg_checksums"), "--enable", "-D", dataDir)
	// As the data directory's owner (postgres when the tests run as root).
	if fi, err := os.Stat(dataDir); err == nil {
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Uid != uint32(os.Getuid()) {
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: st.Uid, Gid: st.Gid}}
		}
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("pg_checksums --enable: %v: %s", err, out)
	}
	f, err := os.OpenFile(filepath.Join(dataDir, relPath), os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("corrupted by TestChecksumFailuresFixture"), 4000); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	conn, err = pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, "SELECT count(*) FROM ledger")
	if err == nil || !strings.Contains(err.Error(), "invalid page") {
		t.Fatalf("reading the corrupted table: %v, want invalid page", err)
	}
	maintFlush(t, conn)

	fs := dbDetect(t, healthWindow(t, dsn, postgres.Options{}), rule)
	if len(fs) != 1 {
		t.Fatalf("%d findings, want 1", len(fs))
	}
	ev := fs[0].Evidence
	if fs[0].Severity != Critical || ev["in_window"] != false || ev["checksum_failures_lifetime"].(int64) < 1 ||
		ev["last_failure"] == "unknown" || !strings.Contains(fs[0].Title, "(since ") {
		t.Errorf("%v %q %v", fs[0].Severity, fs[0].Title, ev)
	}
}
