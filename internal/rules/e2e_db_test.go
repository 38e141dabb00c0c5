package rules

import (
	"context"
	"flag"
	"fmt"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/pgadvisor/advisor/internal/config"
	"github.com/pgadvisor/advisor/internal/probe"
	"github.com/pgadvisor/advisor/internal/probe/postgres"
	"github.com/pgadvisor/advisor/internal/scenario"
	"github.com/pgadvisor/advisor/internal/sqltext"
	"github.com/pgadvisor/advisor/internal/stack"
	"github.com/pgadvisor/advisor/internal/stack/stacktest"
	"github.com/pgadvisor/advisor/sampleapp"
	"github.com/pgadvisor/advisor/sampleapp/sampletest"
)

var dbCaseFlag = flag.String("dbcase", "", "run only these comma-separated rows of TestMatrix (index, nplusone, ...)")

// dbCase is one row of the end-to-end matrix: sampleapp tuned but for one
// knob at its naive value (none for the tuned row), and the rule it must
// produce.
type dbCase struct {
	name        string
	knob, value string
	want        string // "" for the tuned row: no warning from these rules
	// rate is the row's load in requests per second (0: as fast as the
	// service answers). The statement rules count calls and time over the
	// window, which a steady 300 requests a second gives them several
	// times over; the pool rows need the pool's own limit reached, and
	// the tuned row holds without a warning under as much load as the
	// service takes. As fast as it answered, every row kept both CPUs
	// busy (88 CPU-seconds for the matrix, 2026-12-05).
	rate float64
}

var dbCases = []dbCase{
	{name: "index", knob: sampleapp.KnobIndex, value: "absent", want: "db.missing-index", rate: 300},
	{name: "nplusone", knob: sampleapp.KnobNPlusOne, value: "per-row", want: "db.n-plus-one", rate: 300},
	{name: "overfetch", knob: sampleapp.KnobOverfetch, value: "select-star", want: "db.overfetch", rate: 300},
	{name: "cache", knob: sampleapp.KnobCache, value: "none", want: "db.cache-candidate", rate: 300},
	{name: "pool-per-request", knob: sampleapp.KnobPool, value: "per-request", want: "pool.no-pooling"},
	{name: "pool-tiny", knob: sampleapp.KnobPool, value: "tiny", want: "pool.undersized"},
	{name: "pool-huge", knob: sampleapp.KnobPool, value: "huge", want: "pool.oversized"},
	{name: "tuned"},
}

func (c dbCase) knobs() map[string]string {
	if c.knob == "" {
		return nil
	}
	return map[string]string{c.knob: c.value}
}

func (c dbCase) label() string {
	if c.knob == "" {
		return "tuned"
	}
	return c.knob + "=" + c.value
}

// dbFamilyRules are the rules of this file's families, loaded from the
// built-in rules.yaml.
func dbFamilyRules(t testing.TB) []*Rule {
	t.Helper()
	set := loadBuiltin(t)
	var out []*Rule
	for _, r := range set.Rules {
		if strings.HasPrefix(r.ID, "db.") || strings.HasPrefix(r.ID, "pool.") {
			out = append(out, r)
		}
	}
	return out
}

// dbRun runs this file's rules over a window, explaining with ex (nil: no
// EXPLAIN, so no db.missing-index).
func dbRun(t testing.TB, ctx context.Context, w *probe.Window, ex postgres.Explainer) []Finding {
	t.Helper()
	reg := Registry{}
	for _, fam := range []Registry{NewRegistry(dbRules...), NewRegistry(poolRules...)} {
		for id, d := range fam {
			reg[id] = d
		}
	}
	fs, errs := Run(ctx, &Input{Window: w, Patterns: loadBuiltin(t).Patterns, Explainer: ex}, dbFamilyRules(t), reg)
	for _, err := range errs {
		t.Errorf("run: %v", err)
	}
	return fs
}

func dbFindingsOf(fs []Finding, rule string) []Finding {
	var out []Finding
	for _, f := range fs {
		if f.Rule == rule {
			out = append(out, f)
		}
	}
	return out
}

func dbRuleList(fs []Finding) string {
	count := map[string]int{}
	sev := map[string]Severity{}
	for _, f := range fs {
		count[f.Rule]++
		sev[f.Rule] = max(sev[f.Rule], f.Severity)
	}
	var parts []string
	for id, n := range count {
		parts = append(parts, fmt.Sprintf("%s(%s x%d)", id, sev[id], n))
	}
	sort.Strings(parts)
	if len(parts) == 0 {
		return "(none)"
	}
	return strings.Join(parts, " ")
}

// TestMatrix is the end-to-end matrix: sampleapp with one knob naive at a
// time under a short load, observed by the probes, analysed by these rules.
func TestMatrix(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: starts sampleapp under load")
	}
	info := stacktest.Start(t)
	dsn := sampletest.Database(t, "rules_db_matrix", sampleapp.TestSize)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	matrix := make([]string, 0, len(dbCases))
	for _, c := range dbCases {
		if *dbCaseFlag != "" && !slices.Contains(strings.Split(*dbCaseFlag, ","), c.name) {
			continue
		}
		s, err := scenario.Start(ctx, scenario.Options{DSN: dsn, RedisAddr: info.RedisAddr, Profile: sampleapp.ProfileTuned,
			Knobs: c.knobs(), CacheNamespace: "rules-db-matrix-" + c.name})
		if err != nil {
			t.Fatalf("%s: %v", c.label(), err)
		}
		var obs *scenario.Observation
		var fs []Finding
		for attempt := 1; ; attempt++ {
			obs, err = s.Observe(ctx, scenario.ObserveOptions{Connections: 16, Rate: c.rate, Window: 3 * time.Second,
				Warmup: time.Second, ProfileSeconds: 2,
				// The stack runs on this machine: its cores are the server's.
				Probe: probe.Config{Sources: config.Sources{DBCores: runtime.NumCPU()}}})
			if err != nil {
				break
			}
			// The shared stack's statistics may be reset by another test
			// inside the window (advisor notes it in the report): such a
			// window does not measure this load; observe again.
			if obs.Window.Postgres != nil && len(obs.Window.Postgres.Resets) > 0 && attempt < 3 {
				t.Logf("%s: statistics reset inside the window (%v): observing again", c.label(), obs.Window.Postgres.Resets)
				continue
			}
			// Observe closes its probes: the rules explain on probes of
			// their own, as advisor report does while its probes are open.
			probes, err := probe.Open(ctx, probe.Config{Sources: config.Sources{PG: dsn}})
			if err != nil {
				t.Fatal(err)
			}
			fs = dbRun(t, ctx, obs.Window, probes.Explainer())
			probes.Close()
			// Another package's load on the shared server can take the
			// headroom a rule needs (pool.undersized stays silent while
			// PostgreSQL is busy, as it should), and its databases share
			// the 128 MB of shared_buffers (the tuned row once saw a hit
			// ratio of 98.3% while other packages seeded theirs): a
			// planted problem missed, or a warning on the tuned service,
			// is observed again, twice at most, and each is logged. One
			// that holds fails the row.
			if attempt == 3 {
				break
			}
			if c.want == "" {
				warned := slices.ContainsFunc(fs, func(f Finding) bool { return f.Severity.AtLeast(Warning) })
				if !warned {
					break
				}
				t.Logf("%s: warnings in attempt %d (load %d requests; findings %s): observing again",
					c.label(), attempt, obs.Load.Requests, dbRuleList(fs))
				continue
			}
			if len(dbFindingsOf(fs, c.want)) > 0 {
				break
			}
			t.Logf("%s: no %s in attempt %d (load %d requests; findings %s): observing again",
				c.label(), c.want, attempt, obs.Load.Requests, dbRuleList(fs))
		}
		if cerr := s.Close(); cerr != nil {
			t.Logf("%s: close: %v", c.label(), cerr)
		}
		if err != nil {
			t.Fatalf("%s: observe: %v", c.label(), err)
		}
		matrix = append(matrix, fmt.Sprintf("%-22s -> %s", c.label(), dbRuleList(fs)))
		t.Run(c.name, func(t *testing.T) {
			defer func() {
				if !t.Failed() || obs.Window.Postgres == nil {
					return
				}
				// What the rules saw, to tell a flake from a bug.
				pw := obs.Window.Postgres
				t.Logf("sources %v; resets %v; statements over %.1f s; load %d requests, %d errors",
					obs.Window.Sources, pw.Resets, pw.Statements.Seconds, obs.Load.Requests, obs.Load.Errors)
				for i, d := range obs.Window.Postgres.Statements.Rows {
					if i == 15 {
						break
					}
					t.Logf("calls %d rows %d total %.1f ms: %.90s", d.Calls, d.Rows, d.TotalTime, sqltext.OneLine(d.Statement.Query))
				}
			}()
			dbCheckCase(t, c, fs)
		})
	}
	t.Logf("matrix (knob -> rules found, db.* and pool.* only):\n%s", strings.Join(matrix, "\n"))
}

// dbCheckCase checks one row of the matrix.
func dbCheckCase(t *testing.T, c dbCase, fs []Finding) {
	for _, f := range fs {
		t.Logf("%s %s [%s] %s (impact %.2f) %v", f.Severity, f.Rule, f.Subject, f.Title, f.Impact, f.Location)
		if testing.Verbose() {
			t.Logf("    evidence: %v", f.Evidence)
		}
	}
	if c.want == "" {
		for _, f := range fs {
			if f.Severity.AtLeast(Warning) {
				t.Errorf("tuned: %s finding %s: %s", f.Severity, f.Rule, f.Title)
			}
		}
		return
	}
	got := dbFindingsOf(fs, c.want)
	if len(got) == 0 {
		t.Fatalf("%s: no %s finding", c.label(), c.want)
	}
	switch c.want {
	case "db.missing-index":
		found := false
		for _, f := range got {
			cols, _ := f.Evidence["columns"].([]string)
			if f.Evidence["table"] == "events" && slices.Equal(cols, []string{"user_id", "created_at DESC"}) {
				found = true
				if f.Evidence["verified"] != true {
					t.Errorf("not verified with hypopg: %v", f.Evidence)
				}
				if cut, _ := f.Evidence["cost_cut"].(float64); cut < 0.5 {
					t.Errorf("cost cut %v < 0.5", cut)
				}
				if !strings.Contains(f.Fix.SQL, "CREATE INDEX CONCURRENTLY ON events (user_id, created_at DESC)") {
					t.Errorf("fix SQL %q", f.Fix.SQL)
				}
			}
		}
		if !found {
			t.Errorf("no db.missing-index on events (user_id, created_at DESC): %v", got)
		}
	case "db.n-plus-one":
		found := false
		for _, f := range got {
			q, _ := f.Evidence["query"].(string)
			if strings.Contains(q, "FROM products WHERE id = $1") || strings.Contains(q, "FROM users WHERE id = $1") {
				found = true
				if f.Evidence["parent_query"] == "" && f.Evidence["per"] != "request" {
					t.Errorf("no parent statement nor per-request rate: %v", f.Evidence)
				}
				if !strings.Contains(f.Fix.Code, "= ANY($1)") {
					t.Errorf("fix code without = ANY($1): %q", f.Fix.Code)
				}
			}
		}
		if !found {
			t.Errorf("db.n-plus-one does not name the repeated lookup: %v", got)
		}
	case "db.overfetch":
		found := false
		for _, f := range got {
			if f.Evidence["table"] == "events" && slices.Contains(f.Evidence["wide_columns"].([]string), "payload") {
				found = true
			}
		}
		if !found {
			t.Errorf("db.overfetch does not name events.payload: %v", got)
		}
	case "pool.undersized", "pool.oversized":
		for _, f := range got {
			if f.Fix.Config["pool_max_conns"] == "" {
				t.Errorf("%s without a suggested size: %v", c.want, f.Evidence)
			}
		}
	}
}

// TestPgbenchNoFalsePositives runs pgbench's TPC-B workload on a database of
// its own: a schema with its keys in place and no N+1, so no missing index
// and no N+1 may be reported.
func TestPgbenchNoFalsePositives(t *testing.T) {
	if testing.Short() {
		t.Skip("runs pgbench")
	}
	stacktest.Start(t)
	dsn := stacktest.NewDatabase(t, "rules_db_pgbench")
	bin, err := stack.FindPostgres("")
	if err != nil {
		t.Skipf("no PostgreSQL binaries: %v", err)
	}
	pgbench := filepath.Join(bin.Bin, "pgbench")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, pgbench, "-i", "-q", "-s", "2", dsn).CombinedOutput(); err != nil {
		t.Fatalf("pgbench -i: %v\n%s", err, out)
	}
	probes, err := probe.Open(ctx, probe.Config{Sources: config.Sources{PG: dsn, DBCores: runtime.NumCPU()}})
	if err != nil {
		t.Fatal(err)
	}
	defer probes.Close()
	first := probes.Snapshot(ctx)
	if out, err := exec.CommandContext(ctx, pgbench, "-T", "5", "-c", "4", "-j", "2", "-M", "prepared", dsn).CombinedOutput(); err != nil {
		t.Fatalf("pgbench: %v\n%s", err, out)
	}
	w := probe.NewWindow(first, probes.Snapshot(ctx))
	if w.Postgres == nil || len(w.Postgres.Statements.Rows) < 5 {
		t.Fatalf("no pgbench statements in the window")
	}
	fs := dbRun(t, ctx, w, probes.Explainer())
	t.Logf("pgbench TPC-B -> %s", dbRuleList(fs))
	for _, f := range fs {
		t.Logf("%s %s [%s] %s", f.Severity, f.Rule, f.Subject, f.Title)
		if f.Rule == "db.missing-index" || f.Rule == "db.n-plus-one" {
			t.Errorf("false positive on pgbench: %s %s", f.Rule, f.Title)
		}
		// pgbench -i vacuums its tables; the private stack keeps fsync on.
		switch f.Rule {
		case dbVacuumLag.ID, dbTableBloat.ID, dbTempFiles.ID, dbSettings.ID:
			if f.Severity.AtLeast(Warning) {
				t.Errorf("false positive on pgbench: %s %s %s", f.Severity, f.Rule, f.Title)
			}
		}
	}
}
