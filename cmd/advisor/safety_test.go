package main

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgadvisor/advisor/internal/report"
	"github.com/pgadvisor/advisor/internal/scenario"
	"github.com/pgadvisor/advisor/internal/stack/stacktest"
	"github.com/pgadvisor/advisor/sampleapp"
	"github.com/pgadvisor/advisor/sampleapp/sampletest"
)

// TestReportReadOnlyRoleWritesNothingAndHidesPassword runs advisor report,
// in every format, against naive sampleapp under load with a role that has
// only pg_monitor: the report works, pg_stat_statements shows no write by
// that role, and the role's password appears in no output.
func TestReportReadOnlyRoleWritesNothingAndHidesPassword(t *testing.T) {
	t.Parallel() // a database and a role of its own; it checks what is written, not how fast
	if testing.Short() {
		t.Skip("end to end")
	}
	info := stacktest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dsn := sampletest.Database(t, "safety_ro", sampleapp.TestSize)
	s, err := scenario.Start(ctx, scenario.Options{DSN: dsn, RedisAddr: info.RedisAddr, Profile: "naive", CacheNamespace: "safety"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	const password = "Ro-Pa55-w0rd-7f3c"
	roDSN, admin := readOnlyRole(ctx, t, dsn, "advisor_ro", password)
	// A steady rate, not as fast as the service answers: the probes
	// run all the same, and the test's CPU is left to the tests beside it.
	lc := s.LoadConfig(8, 2*time.Minute)
	lc.Rate = 20
	stopLoad := backgroundLoad(ctx, t, lc)
	defer stopLoad() // before the service closes
	time.Sleep(time.Second)

	dir := t.TempDir()
	args := []string{"report", "--target", s.App.URL, "--pg", roDSN, "--redis", info.RedisAddr,
		"--window", "3s", "--profile-seconds", "1", "--fail-on", "never"}
	var outs []string
	for _, f := range report.Formats {
		p := filepath.Join(dir, "report."+string(f))
		args = append(args, "--format", string(f)+":"+p)
		outs = append(outs, p)
	}
	code, stdout, stderr := runCaptured(t, args...)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	all := stdout + stderr
	for _, p := range outs {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if len(data) == 0 {
			t.Errorf("%s is empty", p)
		}
		all += string(data)
	}
	if strings.Contains(all, password) {
		t.Error("the DSN's password appears in the output")
	}
	if !strings.Contains(all, `"postgres": {`) || !strings.Contains(all, `"status": "ok"`) {
		t.Errorf("postgres not read with the pg_monitor role")
	}

	n := checkRoleWroteNothing(ctx, t, admin, "advisor_ro")
	t.Logf("%d statements by the read-only role, none writes", n)
}

// writeRe matches a statement that writes, or an EXPLAIN that executes.
var writeRe = regexp.MustCompile(`(?i)^\s*(INSERT|UPDATE|DELETE|MERGE|CREATE|DROP|ALTER|TRUNCATE|COPY|GRANT|REVOKE|VACUUM|CLUSTER|REINDEX|REFRESH|LOCK)\b|\bANALYZE\b|\bINTO\b`)

// checkRoleWroteNothing reads what role ran from pg_stat_statements, fails
// the test on any writing statement, and returns how many it ran.
func checkRoleWroteNothing(ctx context.Context, t *testing.T, admin *pgx.Conn, role string) int {
	t.Helper()
	rows, err := admin.Query(ctx, `SELECT s.query FROM pg_stat_statements s JOIN pg_roles r ON r.oid = s.userid
		WHERE r.rolname = $1`, role)
	if err != nil {
		t.Fatal(err)
	}
	queries, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if len(queries) == 0 {
		t.Fatalf("no statement of %s recorded", role)
	}
	for _, q := range queries {
		// advisor tags its statements with a leading comment.
		q = strings.TrimPrefix(q, "/* advisor */ ")
		if writeRe.MatchString(q) && !strings.HasPrefix(strings.TrimSpace(q), "PREPARE") {
			t.Errorf("%s ran a writing statement: %s", role, q)
		}
	}
	return len(queries)
}
