package rules

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgadvisor/advisor/internal/probe"
	"github.com/pgadvisor/advisor/internal/probe/metrics"
	"github.com/pgadvisor/advisor/internal/probe/postgres"
	"github.com/pgadvisor/advisor/internal/probe/pprof"
	"github.com/pgadvisor/advisor/internal/probe/source"
	"github.com/pgadvisor/advisor/internal/scenario"
	"github.com/pgadvisor/advisor/internal/sqltext"
	"github.com/pgadvisor/advisor/internal/stack/stacktest"
	"github.com/pgadvisor/advisor/sampleapp"
	"github.com/pgadvisor/advisor/sampleapp/sampletest"
)

var dbCaptureFlag = flag.Bool("capture", false, "regenerate testdata/db and testdata/pool from sampleapp and the private stack")

// dbCapture is one captured window: two PostgreSQL snapshots as the probe
// read them, the service's /metrics text at about the same times, and
// goroutine dumps (debug=2) taken in between, with the paths of the machine
// that took them replaced.
type dbCapture struct {
	Note        string             `json:"note"`
	Prev        *postgres.Snapshot `json:"prev"`
	Cur         *postgres.Snapshot `json:"cur"`
	MetricsPrev string             `json:"metrics_prev,omitempty"`
	MetricsCur  string             `json:"metrics_cur,omitempty"`
	Goroutines  []string           `json:"goroutines,omitempty"`
}

// dbLoadCapture reads testdata/<dir>/<name>.json and builds its window with
// the probe packages' own functions.
func dbLoadCapture(t testing.TB, dir, name string) *probe.Window {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", dir, name+".json"))
	if err != nil {
		t.Fatalf("capture %s/%s: %v (regenerate with go test -run TestCapture -capture)", dir, name, err)
	}
	var c dbCapture
	if err := json.Unmarshal(data, &c); err != nil {
		t.Fatalf("capture %s/%s: %v", dir, name, err)
	}
	snap := func(pg *postgres.Snapshot, text string) *probe.Snapshot {
		s := &probe.Snapshot{Time: pg.Time, Postgres: pg, Status: map[string]source.Status{probe.Postgres: pg.Status}}
		if text != "" {
			fams, err := metrics.ParseBytes([]byte(text))
			if err != nil {
				t.Fatalf("capture %s/%s: metrics: %v", dir, name, err)
			}
			s.Metrics = metrics.NewSnapshot(pg.Time, fams, metrics.DefaultNames())
			s.Status[probe.Metrics] = s.Metrics.Status
		}
		return s
	}
	w := probe.NewWindow(snap(c.Prev, c.MetricsPrev), snap(c.Cur, c.MetricsCur))
	for _, text := range c.Goroutines {
		gs, err := pprof.ParseGoroutines(strings.NewReader(text))
		if err != nil {
			t.Fatalf("capture %s/%s: goroutines: %v", dir, name, err)
		}
		pprof.DefaultAttributor().Goroutines(gs)
		w.Goroutines = append(w.Goroutines, &pprof.GoroutineResult{Status: source.Status{State: source.OK},
			Goroutines: gs, Summary: pprof.SummarizeGoroutines(gs)})
	}
	return w
}

// dbRule returns a copy of the built-in rule id with some params changed.
func dbRule(t testing.TB, id string, params map[string]any) *Rule {
	t.Helper()
	r := loadBuiltin(t).Rule(id)
	if r == nil {
		t.Fatalf("no rule %s", id)
	}
	r = r.clone()
	for name, v := range params {
		found := false
		for i := range r.Params {
			if r.Params[i].Name == name {
				r.Params[i].Value = v
				found = true
			}
		}
		if !found {
			t.Fatalf("rule %s has no param %s", id, name)
		}
	}
	return r
}

// dbDetect runs one detector on a window, completing the findings as Run
// does.
func dbDetect(t testing.TB, w *probe.Window, r *Rule) []Finding {
	t.Helper()
	return dbDetectIn(t, &Input{Window: w}, r)
}

// dbDetectIn runs one detector on an input (a window and, for
// db.missing-index, an Explainer), completing the findings as Run does. The
// built-in patterns are filled in when the input has none.
func dbDetectIn(t testing.TB, in *Input, r *Rule) []Finding {
	t.Helper()
	reg := NewRegistry(dbRules...)
	for id, d := range NewRegistry(poolRules...) {
		reg[id] = d
	}
	if in.Patterns == nil {
		in.Patterns = loadBuiltin(t).Patterns
	}
	fs, errs := Run(context.Background(), in, []*Rule{r}, reg)
	for _, err := range errs {
		t.Errorf("%s: %v", r.ID, err)
	}
	for _, f := range fs {
		t.Logf("%s [%s] %s %v", f.Rule, f.Subject, f.Title, f.Evidence)
	}
	return fs
}

// ---------------------------------------------------------------- capture

// TestCapture regenerates the captures: sampleapp tuned with one knob naive
// at a time (the rows of TestMatrix) under load, and a database with an
// unused and a duplicate index, a blocked query, a transaction left idle, a
// long query and reads that miss the cache. Run with -capture.
func TestCapture(t *testing.T) {
	if !*dbCaptureFlag {
		t.Skip("run with -capture to regenerate the captures")
	}
	info := stacktest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	dsn := sampletest.Database(t, "rules_db_capture", sampleapp.TestSize)
	only := func(name string) bool {
		return *dbCaseFlag == "" || slices.Contains(strings.Split(*dbCaseFlag, ","), name)
	}
	for _, c := range dbCases {
		if !only(c.name) {
			continue
		}
		dir := "db"
		if strings.HasPrefix(c.name, "pool") {
			dir = "pool"
		}
		s, err := scenario.Start(ctx, scenario.Options{DSN: dsn, RedisAddr: info.RedisAddr, Profile: sampleapp.ProfileTuned,
			Knobs: c.knobs(), CacheNamespace: "rules-db-capture-" + c.name})
		if err != nil {
			t.Fatal(err)
		}
		// Goroutine dumps only where a rule reads stacks: the N+1's
		// location and the connects of pool.no-pooling.
		dumps := c.name == "nplusone" || c.name == "pool-per-request"
		capt := dbCaptureLoad(t, ctx, s, dsn, c.label(), dumps)
		if err := s.Close(); err != nil {
			t.Logf("close: %v", err)
		}
		dbWriteCapture(t, dir, c.name, capt)
	}
	if only("misc") {
		dbWriteCapture(t, "db", "misc", dbCaptureMisc(t, ctx))
	}
}

// dbCaptureLoad observes sampleapp under load: snapshot, dumps, snapshot.
func dbCaptureLoad(t *testing.T, ctx context.Context, s *scenario.Scenario, dsn, label string, dumps bool) dbCapture {
	t.Helper()
	// The statements with the most total time are enough for the rules,
	// and keep the captures small.
	pg, err := postgres.Open(ctx, dsn, postgres.Options{ServerCPUs: runtime.NumCPU(), MaxStatements: 60})
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()
	mc, err := metrics.NewClient(s.App.URL+"/metrics", metrics.HTTPOptions{})
	if err != nil {
		t.Fatal(err)
	}
	lctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		_, err := s.Load(lctx, 16, time.Minute)
		done <- err
	}()
	defer func() {
		stop()
		<-done
	}()
	time.Sleep(1500 * time.Millisecond)
	c := dbCapture{Note: "sampleapp (TestSize) tuned with " + label + ", 16 connections of load; regenerate with go test -run TestCapture -capture"}
	c.Prev = pg.Snapshot(ctx)
	c.MetricsPrev = dbMetricsText(t, ctx, mc)
	for i := 0; i < 3; i++ {
		time.Sleep(time.Second)
		if dumps {
			c.Goroutines = append(c.Goroutines, dbGoroutineText(t, ctx, s.App.URL))
		}
	}
	time.Sleep(time.Second)
	c.Cur = pg.Snapshot(ctx)
	c.MetricsCur = dbMetricsText(t, ctx, mc)
	return c
}

// dbMetricsText is the service's /metrics text, without the families no
// rule of this package reads.
func dbMetricsText(t *testing.T, ctx context.Context, mc *metrics.Client) string {
	t.Helper()
	b, err := mc.Fetch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	keep := []string{"http_request", "pgxpool_", "go_sql_", "process_start_time_seconds", "sampleapp_db_queries_total"}
	for sc.Scan() {
		line := sc.Text()
		name := strings.TrimPrefix(strings.TrimPrefix(line, "# HELP "), "# TYPE ")
		if slices.ContainsFunc(keep, func(p string) bool { return strings.HasPrefix(name, p) }) {
			out.WriteString(line + "\n")
		}
	}
	return out.String()
}

// testGet is the body of a GET of url.
func testGet(ctx context.Context, t testing.TB, url string) []byte {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// dbGoroutineText is a debug=2 goroutine dump with the build machine's
// paths replaced by neutral ones.
func dbGoroutineText(t *testing.T, ctx context.Context, base string) string {
	t.Helper()
	b := testGet(ctx, t, base+"/debug/pprof/goroutine?debug=2")
	root, err := stacktest.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	// Only the goroutines in a PostgreSQL driver or pool.
	var kept []string
	for _, g := range strings.Split(string(b), "\n\n") {
		if strings.Contains(g, "github.com/jackc/") {
			kept = append(kept, g)
		}
	}
	text := strings.ReplaceAll(strings.Join(kept, "\n\n")+"\n", root+"/", "/src/advisor/")
	if goroot, err := exec.CommandContext(ctx, "go", "env", "GOROOT").Output(); err == nil {
		text = strings.ReplaceAll(text, strings.TrimSpace(string(goroot))+"/", "/goroot/")
	}
	if home, err := os.UserHomeDir(); err == nil {
		text = strings.ReplaceAll(text, home+"/", "/home/")
	}
	if gp := os.Getenv("GOPATH"); gp != "" {
		text = strings.ReplaceAll(text, gp+"/", "/gopath/")
	}
	return text
}

// dbCaptureMisc makes a database with the problems of the catalog and
// activity rules and snapshots it.
func dbCaptureMisc(t *testing.T, ctx context.Context) dbCapture {
	t.Helper()
	dsn := stacktest.NewDatabase(t, "rules_db_misc")
	admin, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(context.Background())
	for _, sql := range []string{
		`CREATE TABLE misc_items (id bigint PRIMARY KEY, owner bigint NOT NULL, kind text NOT NULL, pad text NOT NULL)`,
		// About 190 MB: larger than shared_buffers (128 MB on the stack),
		// so sequential scans, through a ring buffer, read from the OS.
		`INSERT INTO misc_items SELECT g, g % 5000, 'kind-' || (g % 7) || repeat('k', 40), repeat(md5(g::text), 5) FROM generate_series(1, 800000) g`,
		`CREATE INDEX misc_items_owner_idx ON misc_items (owner)`,
		`CREATE INDEX misc_items_owner_kind_idx ON misc_items (owner, kind)`,
		`CREATE INDEX misc_items_kind_idx ON misc_items (kind)`,
		`CREATE UNIQUE INDEX misc_items_owner_id_key ON misc_items (owner, id)`,
		`ANALYZE misc_items`,
	} {
		if _, err := admin.Exec(ctx, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	pg, err := postgres.Open(ctx, dsn, postgres.Options{ServerCPUs: runtime.NumCPU()})
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()
	c := dbCapture{Note: "misc_items: an unused and a duplicate index, a transaction left idle holding a row lock, an UPDATE blocked on it, a pg_sleep query, and sequential scans larger than shared_buffers/4; regenerate with go test -run TestCapture -capture"}
	c.Prev = pg.Snapshot(ctx)

	holder, err := pgx.Connect(ctx, dsn+"&application_name=misc-holder")
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close(context.Background())
	if _, err := holder.Exec(ctx, "BEGIN"); err != nil {
		t.Fatal(err)
	}
	if _, err := holder.Exec(ctx, "UPDATE misc_items SET pad = pad WHERE id = 1"); err != nil {
		t.Fatal(err)
	}
	bctx, stop := context.WithCancel(ctx)
	var background []chan struct{}
	run := func(app, sql string) {
		done := make(chan struct{})
		background = append(background, done)
		go func() {
			defer close(done)
			conn, err := pgx.Connect(bctx, dsn+"&application_name="+app)
			if err != nil {
				return
			}
			defer conn.Close(context.Background())
			_, _ = conn.Exec(bctx, sql)
		}()
	}
	run("misc-blocked", "UPDATE misc_items SET kind = kind WHERE id = 1")
	run("misc-sleeper", "SELECT pg_sleep(60)")
	for i := 0; i < 2; i++ {
		if _, err := admin.Exec(ctx, "SELECT count(*) FROM misc_items WHERE pad LIKE '%zzz%'"); err != nil {
			t.Fatal(err)
		}
	}
	// Statistics are flushed at most once a second, and 10 s after a
	// backend goes idle: flush them now.
	if _, err := admin.Exec(ctx, "SELECT pg_stat_force_next_flush()"); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Exec(ctx, "SELECT 1"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2500 * time.Millisecond)
	c.Cur = pg.Snapshot(ctx)
	stop()
	_, _ = holder.Exec(ctx, "ROLLBACK")
	for _, d := range background {
		<-d
	}
	return c
}

func dbWriteCapture(t *testing.T, dir, name string, c dbCapture) {
	t.Helper()
	if !c.Prev.Status.Ok() || !c.Cur.Status.Ok() {
		t.Fatalf("capture %s: snapshots not ok: %+v %+v", name, c.Prev.Status, c.Cur.Status)
	}
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join("testdata", dir), 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("testdata", dir, name+".json")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s (%d bytes)", path, len(b))
}

// ---------------------------------------------------------------- fixtures

func TestDBNPlusOneCaptured(t *testing.T) {
	w := dbLoadCapture(t, "db", "nplusone")
	fs := dbDetect(t, w, dbRule(t, "db.n-plus-one", nil))
	var products *Finding
	for i, f := range fs {
		if strings.Contains(f.Evidence["query"].(string), "FROM products WHERE id = $1") {
			products = &fs[i]
		}
		// The items of each order are fetched per order too, but in this
		// capture 4.6 times per order list (below Sentry's 5) and 2.3 rows
		// per call (not a lookup of one row).
		if strings.Contains(f.Evidence["query"].(string), "order_id = $1") {
			t.Errorf("items per order (about 3 per parent) reported as N+1: %v", f.Evidence)
		}
	}
	if products == nil {
		t.Fatalf("no N+1 for the products lookup: %v", fs)
	}
	ev := products.Evidence
	if !strings.Contains(ev["parent_query"].(string), "FROM events WHERE user_id = $1") || ev["per"] != "call of the parent statement" {
		t.Errorf("parent: %v", ev)
	}
	if reps := ev["repetitions"].(float64); reps < 5 {
		t.Errorf("repetitions %v", reps)
	}
	if products.Location != "/src/advisor/sampleapp/api.go:374" || !strings.HasSuffix(ev["issued_by"].(string), "sampleapp.(*App).nameRef") {
		t.Errorf("location %q issued by %v", products.Location, ev["issued_by"])
	}
	if !strings.Contains(products.Fix.Code, `"SELECT name, id FROM products WHERE id = ANY($1)"`) {
		t.Errorf("fix code:\n%s", products.Fix.Code)
	}
	// Batching the feed removes its users lookup too (the sibling on the
	// same events rows), as estimated_time_ms counts: the statements
	// batched away are every lookup's calls but one per parent call.
	siblings, _ := ev["sibling_queryids"].([]string)
	if len(siblings) == 0 {
		t.Fatalf("no sibling lookup of the events rows: %v", ev)
	}
	parentCalls := float64(ev["parent_calls"].(int64))
	var want float64
	for _, d := range w.Postgres.Statements.Rows {
		if id := dbQueryID(d.Statement.QueryID); id == ev["queryid"] || slices.Contains(siblings, id) {
			want += d.CallsPerS * (1 - parentCalls/float64(d.Calls))
		}
	}
	own := ev["calls_per_s"].(float64) * (1 - 1/ev["repetitions"].(float64))
	if got := ev["batched_away_per_s"].(float64); math.Abs(got-want) > 0.1 || got <= own*1.1 {
		t.Errorf("batched away %.1f/s, want %.1f/s (the statement alone: %.1f/s)", got, want, own)
	}
	if share := ev["batched_away_share"].(float64); share <= 0 || share > 1 {
		t.Errorf("batched away share %v", share)
	}
	// The items lookup is there, run about 3 times per order list.
	items := false
	for _, d := range w.Postgres.Statements.Rows {
		items = items || strings.Contains(d.Statement.Query, "WHERE i.order_id = $1")
	}
	if !items {
		t.Errorf("the capture lacks the per-order items lookup the negative case needs")
	}
}

// TestDBNPlusOneCollection: a lookup of several rows run once per row of
// its parent is an N+1 too: the lazy load of a one-to-many relationship
// (the items of each order, 2.3 rows per call, keyed by order_id for the
// orders list). The capture's orders lists return 4.6 orders each, below
// the default min_repetitions 5 (TestDBNPlusOneCaptured); at 4 they count.
// Without its parent, a collection is no N+1, however often a request runs
// it: the calls per request do not tell it from a page read several times.
func TestDBNPlusOneCollection(t *testing.T) {
	w := dbLoadCapture(t, "db", "nplusone")
	isItems := func(f Finding) bool { return strings.Contains(f.Evidence["query"].(string), "WHERE i.order_id = $1") }
	fs := dbDetect(t, w, dbRule(t, "db.n-plus-one", map[string]any{"min_repetitions": 4.0}))
	i := slices.IndexFunc(fs, isItems)
	if i < 0 {
		t.Fatalf("no N+1 for the items fetched per order: %v", fs)
	}
	ev := fs[i].Evidence
	if !strings.Contains(ev["parent_query"].(string), "FROM orders WHERE user_id = $1") || ev["per"] != "call of the parent statement" {
		t.Errorf("parent: %v", ev)
	}
	if rpc := ev["rows_per_call"].(float64); rpc < 2 {
		t.Errorf("rows per call %v, want the capture's 2.3", rpc)
	}
	if reps := ev["repetitions"].(float64); reps < 4.5 || reps > 4.7 {
		t.Errorf("repetitions %v, want 4.6", reps)
	}
	if !strings.Contains(fs[i].Fix.Code, "order_id = ANY($1)") {
		t.Errorf("fix code:\n%s", fs[i].Fix.Code)
	}
	if away := ev["batched_away_per_s"].(float64); away <= 0 || away >= ev["calls_per_s"].(float64) {
		t.Errorf("batched away %v/s of %v/s", away, ev["calls_per_s"])
	}

	// SQLAlchemy's lazy load of the same collection writes its key with
	// the parameter first, and its columns with the ORM's aliases: the
	// same N+1, with the ORM's fix.
	sqla := dbLoadCapture(t, "db", "nplusone")
	for i := range sqla.Postgres.Statements.Rows {
		st := &sqla.Postgres.Statements.Rows[i].Statement
		if strings.Contains(st.Query, "WHERE i.order_id = $1") {
			st.Query = "SELECT order_items.id AS order_items_id, order_items.order_id AS order_items_order_id, " +
				"order_items.product_id AS order_items_product_id, order_items.quantity AS order_items_quantity \n" +
				"FROM order_items \nWHERE $1 = order_items.order_id ORDER BY order_items.id"
		}
	}
	fs = dbDetect(t, sqla, dbRule(t, "db.n-plus-one", map[string]any{"min_repetitions": 4.0}))
	i = slices.IndexFunc(fs, func(f Finding) bool {
		return strings.Contains(f.Evidence["query"].(string), "WHERE $1 = order_items.order_id")
	})
	if i < 0 {
		t.Fatalf("no N+1 for SQLAlchemy's lazy load of the items: %v", fs)
	}
	if ev := fs[i].Evidence; !strings.Contains(ev["parent_query"].(string), "FROM orders WHERE user_id = $1") || ev["orm"] != "sqlalchemy" ||
		!strings.Contains(fs[i].Fix.Code, "selectinload") {
		t.Errorf("SQLAlchemy's lazy load: parent %v, orm %v, fix:\n%s", ev["parent_query"], ev["orm"], fs[i].Fix.Code)
	}

	// The parents gone, the request rate alone does not make the
	// collection an N+1 (0.68 calls per request, at min_repetitions 0.5);
	// counted as a lookup of one row (max_rows_per_call 3) it would be.
	w.Postgres.Statements.Rows = slices.DeleteFunc(w.Postgres.Statements.Rows, func(d postgres.StatementDelta) bool {
		return strings.Contains(d.Statement.Query, "FROM orders WHERE user_id = $1") || strings.Contains(d.Statement.Query, "FROM events WHERE user_id = $1")
	})
	for _, maxRows := range []float64{1.5, 3} {
		fs = dbDetect(t, w, dbRule(t, "db.n-plus-one", map[string]any{"min_repetitions": 0.5, "min_total_time_ms": 0.0, "max_rows_per_call": maxRows}))
		i := slices.IndexFunc(fs, isItems)
		switch {
		case maxRows < 2.32 && i >= 0:
			t.Errorf("a collection reported per request: %v", fs[i].Evidence)
		case maxRows > 2.32 && (i < 0 || fs[i].Evidence["per"] != "request"):
			t.Errorf("max_rows_per_call %v: the items lookup not reported per request: %v", maxRows, fs)
		}
	}
}

// TestDBKeys: the key conditions of a lookup, either way round, and the
// batched form of the first.
func TestDBKeys(t *testing.T) {
	for _, tc := range []struct {
		query   string
		cols    []string
		batched string
	}{
		{"SELECT name FROM products WHERE id = $1", []string{"id"}, "SELECT name FROM products WHERE id = ANY($1)"},
		{"SELECT c.id FROM comments c WHERE $1 = c.post_id ORDER BY c.id", []string{"post_id"},
			"SELECT c.id FROM comments c WHERE c.post_id = ANY($1) ORDER BY c.id"},
		{"SELECT * FROM t WHERE a.x = $2 AND $3 = b", []string{"x", "b"}, "SELECT * FROM t WHERE a.x = ANY($2) AND $3 = b"},
		{"SELECT * FROM t WHERE $1 = ANY(tags)", nil, ""},
		{"SELECT * FROM t WHERE $1 = ANY (tags) AND id = $2", []string{"id"}, "SELECT * FROM t WHERE $1 = ANY (tags) AND id = ANY($2)"},
	} {
		keys := dbKeys(tc.query)
		var cols []string
		for _, k := range keys {
			cols = append(cols, k.col)
		}
		if !slices.Equal(cols, tc.cols) {
			t.Errorf("%s: keys %q, want %q", tc.query, cols, tc.cols)
			continue
		}
		if len(keys) > 0 {
			if got := keys[0].batched(tc.query); got != tc.batched {
				t.Errorf("%s: batched %q, want %q", tc.query, got, tc.batched)
			}
		}
		if got := dbLookupRe.MatchString(tc.query); !got {
			t.Errorf("%s: not a lookup", tc.query)
		}
	}
}

func TestDBNPlusOneNotOnBatched(t *testing.T) {
	for _, name := range []string{"tuned", "cache", "overfetch"} {
		t.Run(name, func(t *testing.T) {
			w := dbLoadCapture(t, "db", name)
			if fs := dbDetect(t, w, dbRule(t, "db.n-plus-one", nil)); len(fs) > 0 {
				t.Errorf("N+1 on a batched profile: %v", fs[0].Evidence)
			}
		})
	}
}

// TestDBNPlusOneUnrelatedCountsMatch: a group of lookups pairs with a
// parent only when every lookup is keyed by what the parent returns. The
// figures are those of a window of the sample service with a session per
// request (TestMatrix's pool=per-request row, 2026-12-05), set on the tuned
// capture's statements: the order lines (6 calls, 42 rows, order_id and
// product_id), the users' profile lookup by user id (36 calls, once per
// request) and the orders lookup by order id (6 calls). 36 + 6 calls for 42
// rows paired the three, and the profile lookup was reported as an N+1 run
// 6 times per order list.
func TestDBNPlusOneUnrelatedCountsMatch(t *testing.T) {
	w := dbLoadCapture(t, "db", "tuned")
	pg := w.Postgres
	// set gives the window's statement whose text holds part these figures,
	// adding it from the capture's later snapshot when it did not run in
	// the window.
	set := func(part string, calls, rows int64, totalMS float64) postgres.Statement {
		t.Helper()
		i := slices.IndexFunc(pg.Statements.Rows, func(d postgres.StatementDelta) bool {
			return strings.Contains(sqltext.OneLine(d.Statement.Query), part)
		})
		if i < 0 {
			j := slices.IndexFunc(pg.Cur.Statements.Rows, func(st postgres.Statement) bool {
				return strings.Contains(sqltext.OneLine(st.Query), part)
			})
			if j < 0 {
				t.Fatalf("the tuned capture has no statement with %q", part)
			}
			pg.Statements.Rows = append(pg.Statements.Rows, postgres.StatementDelta{Statement: pg.Cur.Statements.Rows[j]})
			i = len(pg.Statements.Rows) - 1
		}
		d := &pg.Statements.Rows[i]
		d.Calls, d.Rows, d.TotalTime, d.MeanTime = calls, rows, totalMS, totalMS/float64(calls)
		d.CallsPerS, d.RowsPerS = float64(calls)/pg.Statements.Seconds, float64(rows)/pg.Statements.Seconds
		return d.Statement
	}
	set("WHERE i.order_id = ANY($1)", 6, 42, 2)
	profile := set("WHERE u.id = $1", 36, 36, 205.5)
	orders := set("WHERE o.id = $1", 6, 6, 1.4)
	fs := dbDetect(t, w, dbRule(t, "db.n-plus-one", nil))
	for _, f := range fs {
		if q := f.Evidence["queryid"]; q == dbQueryID(profile.QueryID) || q == dbQueryID(orders.QueryID) {
			t.Errorf("N+1 on a lookup paired by its calls alone: %v", f.Evidence)
		}
	}
}

// TestDBNPlusOnePerRequest: without a parent, the request rate alone makes a
// lookup run 5 times per request an N+1, and 3 times per request not.
func TestDBNPlusOnePerRequest(t *testing.T) {
	w := dbLoadCapture(t, "db", "nplusone")
	var products *postgres.StatementDelta
	for i := range w.Postgres.Statements.Rows {
		if strings.Contains(w.Postgres.Statements.Rows[i].Statement.Query, "FROM products WHERE id = $1") {
			products = &w.Postgres.Statements.Rows[i]
		}
	}
	if products == nil || w.Metrics == nil || w.Metrics.RPS <= 0 {
		t.Fatal("capture without the products lookup or a request rate")
	}
	lookup := *products
	products = &lookup
	perRequest := products.CallsPerS / w.Metrics.RPS
	t.Logf("products lookup: %.1f per request", perRequest)
	// Leave out the statements that return several rows, the parents, so
	// that only the request rate can tell.
	w.Postgres.Statements.Rows = slices.DeleteFunc(w.Postgres.Statements.Rows, func(d postgres.StatementDelta) bool {
		return d.Rows > d.Calls
	})
	for _, tc := range []struct {
		reps float64
		want bool
	}{{perRequest * 0.95, true}, {perRequest * 1.6, false}} {
		fs := dbDetect(t, w, dbRule(t, "db.n-plus-one", map[string]any{"min_repetitions": tc.reps, "min_total_time_ms": 0.0}))
		got := slices.ContainsFunc(fs, func(f Finding) bool { return f.Evidence["queryid"] == dbQueryID(products.Statement.QueryID) })
		if got != tc.want {
			t.Errorf("min_repetitions %.1f (lookup at %.1f per request): found %v, want %v", tc.reps, perRequest, got, tc.want)
		}
		if got && tc.want {
			f := fs[slices.IndexFunc(fs, func(f Finding) bool { return f.Evidence["queryid"] == dbQueryID(products.Statement.QueryID) })]
			if f.Evidence["per"] != "request" {
				t.Errorf("per %v", f.Evidence["per"])
			}
		}
	}
}

func TestDBOverfetchCaptured(t *testing.T) {
	w := dbLoadCapture(t, "db", "overfetch")
	fs := dbDetect(t, w, dbRule(t, "db.overfetch", nil))
	found := false
	for _, f := range fs {
		if f.Evidence["table"] == "events" {
			found = true
			if f.Evidence["select_star"] != true || !slices.Contains(f.Evidence["wide_columns"].([]string), "payload") {
				t.Errorf("evidence %v", f.Evidence)
			}
			if b := f.Evidence["avg_row_bytes"].(float64); b < 1024 {
				t.Errorf("avg_row_bytes %v", b)
			}
		}
		if f.Evidence["table"] != "events" {
			t.Errorf("overfetch on a narrow table: %v", f.Evidence)
		}
	}
	if !found {
		t.Error("no overfetch on events")
	}
	// Named columns without the payload: nothing.
	if fs := dbDetect(t, dbLoadCapture(t, "db", "tuned"), dbRule(t, "db.overfetch", nil)); len(fs) > 0 {
		t.Errorf("overfetch on the tuned profile: %v", fs[0].Evidence)
	}
}

// TestDBOverfetchFewCalls: the row width is the table's, so a slow list
// endpoint's five calls in a short CI window are enough (the fleet test
// under CI load saw the naive feed's SELECT * run fewer than ten times in
// 5 s), and four are not.
func TestDBOverfetchFewCalls(t *testing.T) {
	for _, calls := range []int64{5, 4} {
		w := dbLoadCapture(t, "db", "overfetch")
		n := 0
		for i := range w.Postgres.Statements.Rows {
			d := &w.Postgres.Statements.Rows[i]
			if strings.Contains(d.Statement.Query, "FROM events") && d.Calls > calls {
				d.Rows = d.Rows * calls / d.Calls
				d.TotalTime = d.MeanTime * float64(calls)
				d.Calls = calls
				n++
			}
		}
		if n == 0 {
			t.Fatal("the capture has no statement on events to cut down")
		}
		found := false
		for _, f := range dbDetect(t, w, dbRule(t, "db.overfetch", nil)) {
			found = found || f.Evidence["table"] == "events"
		}
		if want := calls >= 5; found != want {
			t.Errorf("%d calls: overfetch on events %v, want %v", calls, found, want)
		}
	}
}

func TestDBCacheCandidateCaptured(t *testing.T) {
	fs := dbDetect(t, dbLoadCapture(t, "db", "cache"), dbRule(t, "db.cache-candidate", nil))
	if len(fs) != 1 || fs[0].Subject != "read-mostly statements" {
		t.Fatalf("want one finding for the database: %v", fs)
	}
	found := false
	queries := fs[0].Evidence["queries"].([]string)
	if len(queries) != fs[0].Evidence["statements"] || queries[0] != fs[0].Evidence["query"] {
		t.Errorf("headline %q, statements %v: %q", fs[0].Evidence["query"], fs[0].Evidence["statements"], queries)
	}
	feed := false
	for _, q := range queries {
		if strings.Contains(q, "FROM tokens") || strings.Contains(q, "FROM users u JOIN profiles") {
			found = true
		}
		feed = feed || strings.Contains(q, "FROM events")
		// An order writes a row to orders and two to order_items, and the
		// order list reads them about once per order.
		if strings.Contains(q, "FROM orders") {
			t.Errorf("cache candidate on a table written about as often as read: %q", q)
		}
	}
	if !found {
		t.Error("no cache candidate for the token or profile reads")
	}
	// The feed reads events 4.6 times for each event an order writes (359
	// a second): read-mostly for how often it is read, not for how often
	// it is written.
	if !feed || fs[0].Evidence["reads_per_write"].(float64) < 3 {
		t.Errorf("the feed on events: listed %v, headline %v reads per row written", feed, fs[0].Evidence["reads_per_write"])
	}
	// The bar on writes alone (min_reads_per_write 0) leaves it out.
	for _, f := range dbDetect(t, dbLoadCapture(t, "db", "cache"), dbRule(t, "db.cache-candidate", map[string]any{"min_reads_per_write": 0.0})) {
		for _, q := range f.Evidence["queries"].([]string) {
			if strings.Contains(q, "FROM events") {
				t.Errorf("the feed on events with min_reads_per_write 0 (359 writes a second): %v", f.Evidence)
			}
		}
	}
	// The same reads served by the cache: too few to matter.
	for _, f := range dbDetect(t, dbLoadCapture(t, "db", "tuned"), dbRule(t, "db.cache-candidate", nil)) {
		for _, q := range f.Evidence["queries"].([]string) {
			if strings.Contains(q, "FROM tokens") {
				t.Errorf("token reads flagged with the cache on: %v", f.Evidence)
			}
		}
	}
}

// TestDBCacheCandidatePerRequest: on the naive sample service a sequential
// scan took 87% of the database's time and left the profile read, made by
// most requests, at 1.5-1.8%, under min_total_share: the finding came and
// went with the machine's load. A read most requests make qualifies by its
// calls per request, whatever its share; without request metrics, or with
// min_calls_per_request 0, the share alone decides.
func TestDBCacheCandidatePerRequest(t *testing.T) {
	load := func() *probe.Window {
		w := dbLoadCapture(t, "db", "cache")
		for i := range w.Postgres.Statements.Rows {
			w.Postgres.Statements.Rows[i].Share = min(w.Postgres.Statements.Rows[i].Share, 0.005)
		}
		return w
	}
	profileRead := func(fs []Finding) (float64, bool) {
		for _, f := range fs {
			for _, q := range f.Evidence["queries"].([]string) {
				if strings.Contains(q, "FROM users u JOIN profiles") {
					return f.Evidence["calls_per_request"].(float64), true
				}
			}
		}
		return 0, false
	}
	w := load()
	if per, ok := profileRead(dbDetect(t, w, dbRule(t, "db.cache-candidate", nil))); !ok || per < 0.9 {
		t.Errorf("profile read under the share bar, made by every request: found %v, %v calls per request", ok, per)
	}
	// The calls a cache spares: every qualifying statement's together.
	for _, f := range dbDetect(t, load(), dbRule(t, "db.cache-candidate", nil)) {
		all, top := f.Evidence["statements_calls_per_s"].(float64), f.Evidence["calls_per_s"].(float64)
		if top <= 0 || all < top || (f.Evidence["statements"].(int) == 1) != (all == top) {
			t.Errorf("%d statements: %v calls/s in all, %v for the first", f.Evidence["statements"], all, top)
		}
	}
	if _, ok := profileRead(dbDetect(t, load(), dbRule(t, "db.cache-candidate", map[string]any{"min_calls_per_request": 0.0}))); ok {
		t.Error("min_calls_per_request 0: the share alone should decide")
	}
	w = load()
	w.Metrics = nil
	if _, ok := profileRead(dbDetect(t, w, dbRule(t, "db.cache-candidate", nil))); ok {
		t.Error("without request metrics: the share alone should decide")
	}
	// The tuned service's batched product read (0.1 per request, 0.7%).
	for _, f := range dbDetect(t, dbLoadCapture(t, "db", "tuned"), dbRule(t, "db.cache-candidate", nil)) {
		t.Errorf("tuned: %v", f.Evidence["queries"])
	}
}

// TestDBCacheCandidateStableSubject: attach on the naive sample service saw
// the finding leave and come back as the statements at the rule's bars
// (a share near 2%, a table written about once a second) took turns; the
// statements qualifying change, the finding does not.
func TestDBCacheCandidateStableSubject(t *testing.T) {
	w := dbLoadCapture(t, "db", "cache")
	// A low bar, so that the capture has several candidates.
	low := map[string]any{"min_total_share": 0.001}
	first := dbDetect(t, w, dbRule(t, "db.cache-candidate", low))
	if len(first) != 1 || first[0].Evidence["statements"].(int) < 2 {
		t.Fatalf("want one finding of several statements: %v", first)
	}
	// The headline statement falls under the bar in the next window.
	for i := range w.Postgres.Statements.Rows {
		if dbQueryID(w.Postgres.Statements.Rows[i].Statement.QueryID) == first[0].Evidence["queryid"] {
			w.Postgres.Statements.Rows[i].Share = 0.001
		}
	}
	next := dbDetect(t, w, dbRule(t, "db.cache-candidate", low))
	if len(next) != 1 || next[0].Fingerprint() != first[0].Fingerprint() || next[0].Evidence["queryid"] == first[0].Evidence["queryid"] {
		t.Errorf("first %v, next %v", first, next)
	}
}

func TestDBSlowQueryCaptured(t *testing.T) {
	// The feed without its index: a sequential scan per call that takes
	// most of the database's time.
	fs := dbDetect(t, dbLoadCapture(t, "db", "index"), dbRule(t, "db.slow-query", nil))
	if !slices.ContainsFunc(fs, func(f Finding) bool { return strings.Contains(f.Evidence["query"].(string), "FROM events") }) {
		t.Error("the feed without its index is not slow")
	}
	// pghero's bar alone (20 ms mean) on the tuned profile: nothing.
	if fs := dbDetect(t, dbLoadCapture(t, "db", "tuned"), dbRule(t, "db.slow-query", nil)); len(fs) > 0 {
		t.Errorf("slow query on the tuned profile: %v", fs[0].Evidence)
	}
}

func TestDBMiscCaptured(t *testing.T) {
	w := dbLoadCapture(t, "db", "misc")
	t.Run("unused-index", func(t *testing.T) {
		fs := dbDetect(t, w, dbRule(t, "db.unused-index", map[string]any{"min_size_mb": 1.0}))
		var names []string
		for _, f := range fs {
			names = append(names, f.Evidence["index"].(string))
		}
		// The unique index is a constraint, the primary key too: never
		// unused.
		for _, want := range []string{"misc_items_kind_idx", "misc_items_owner_idx", "misc_items_owner_kind_idx"} {
			if !slices.Contains(names, want) {
				t.Errorf("%s not reported unused: %v", want, names)
			}
		}
		for _, no := range []string{"misc_items_pkey", "misc_items_owner_id_key"} {
			if slices.Contains(names, no) {
				t.Errorf("%s reported unused", no)
			}
		}
		// pghero's 10 MB: the small indexes are not worth a finding.
		for _, f := range dbDetect(t, w, dbRule(t, "db.unused-index", nil)) {
			if f.Evidence["size_bytes"].(int64) < 10<<20 {
				t.Errorf("index below min_size_mb: %v", f.Evidence)
			}
		}
	})
	t.Run("duplicate-index", func(t *testing.T) {
		fs := dbDetect(t, w, dbRule(t, "db.duplicate-index", nil))
		if len(fs) != 1 || fs[0].Evidence["index"] != "misc_items_owner_idx" || fs[0].Evidence["covered_by"] == "misc_items_owner_idx" {
			t.Fatalf("want misc_items_owner_idx covered by another: %v", fs)
		}
		if fs[0].Fix.SQL != "DROP INDEX CONCURRENTLY misc_items_owner_idx;" {
			t.Errorf("fix %q", fs[0].Fix.SQL)
		}
	})
	t.Run("blocked-queries", func(t *testing.T) {
		fs := dbDetect(t, w, dbRule(t, "db.blocked-queries", map[string]any{"min_wait_seconds": 1.0}))
		if len(fs) != 1 || !strings.Contains(fs[0].Evidence["query"].(string), "UPDATE misc_items") ||
			fs[0].Evidence["blocking_application"] != "misc-holder" {
			t.Fatalf("want the UPDATE blocked by misc-holder: %v", fs)
		}
		if fs := dbDetect(t, w, dbRule(t, "db.blocked-queries", nil)); len(fs) != 0 {
			t.Errorf("a wait of about 2 s is below pghero's 5 s: %v", fs)
		}
	})
	t.Run("idle-in-transaction", func(t *testing.T) {
		fs := dbDetect(t, w, dbRule(t, "db.idle-in-transaction", map[string]any{"min_idle_seconds": 1.0}))
		if len(fs) != 1 || fs[0].Evidence["application_name"] != "misc-holder" {
			t.Fatalf("want misc-holder idle in transaction: %v", fs)
		}
		if fs := dbDetect(t, w, dbRule(t, "db.idle-in-transaction", nil)); len(fs) != 0 {
			t.Errorf("below a minute: %v", fs)
		}
	})
	t.Run("long-running", func(t *testing.T) {
		fs := dbDetect(t, w, dbRule(t, "db.long-running", map[string]any{"min_duration_seconds": 1.0}))
		if !slices.ContainsFunc(fs, func(f Finding) bool { return f.Subject == "SELECT pg_sleep(?)" }) {
			t.Fatalf("want pg_sleep: %v", fs)
		}
		if fs := dbDetect(t, w, dbRule(t, "db.long-running", nil)); len(fs) != 0 {
			t.Errorf("below a minute: %v", fs)
		}
	})
	t.Run("low-cache-hit", func(t *testing.T) {
		fs := dbDetect(t, w, dbRule(t, "db.low-cache-hit", map[string]any{"min_block_reads_per_s": 1.0}))
		if !slices.ContainsFunc(fs, func(f Finding) bool { return f.Subject == "tables" }) {
			t.Fatalf("want the tables' hit ratio: %v", fs)
		}
		// The sampleapp profiles read from shared buffers.
		if fs := dbDetect(t, dbLoadCapture(t, "db", "tuned"), dbRule(t, "db.low-cache-hit", nil)); len(fs) != 0 {
			t.Errorf("low cache hit on the tuned profile: %v", fs)
		}
	})
}

// ---------------------------------------------------------------- missing index, live

// TestMissingIndexLive checks db.missing-index against the stack with the
// probe's Explainer: found and verified, unverified without hypopg, and
// nothing once the index exists.
func TestMissingIndexLive(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the private stack")
	}
	t.Parallel() // servers or a database of its own, and no load whose rate it measures
	stacktest.Start(t)
	dsn := stacktest.NewDatabase(t, "rules_db_index")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	exec := func(sql string, args ...any) {
		t.Helper()
		if _, err := conn.Exec(ctx, sql, args...); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	exec(`CREATE TABLE feed (id bigint PRIMARY KEY, user_id bigint NOT NULL, kind text NOT NULL, created_at timestamptz NOT NULL)`)
	exec(`INSERT INTO feed SELECT g, g % 2000, 'k' || (g % 5), now() - g * interval '1 second' FROM generate_series(1, 100000) g`)
	exec(`CREATE TABLE tags (id bigint PRIMARY KEY, name text NOT NULL)`)
	exec(`INSERT INTO tags SELECT g, 'tag' || g FROM generate_series(1, 1000) g`)
	exec(`ANALYZE feed`)
	exec(`ANALYZE tags`)
	pg, err := postgres.Open(ctx, dsn, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()
	window := func() *probe.Window {
		t.Helper()
		first := &probe.Snapshot{Postgres: pg.Snapshot(ctx)}
		first.Time = first.Postgres.Time
		for i := 0; i < 120; i++ {
			exec("SELECT id, kind FROM feed WHERE user_id = $1 ORDER BY created_at DESC LIMIT 20", i)
			// A key lookup: its index is there.
			exec("SELECT name FROM tags WHERE id = $1", i)
		}
		// Table statistics reach the server at most once a second.
		exec("SELECT pg_stat_force_next_flush()")
		exec("SELECT 1")
		last := &probe.Snapshot{Postgres: pg.Snapshot(ctx)}
		last.Time = last.Postgres.Time
		first.Status = map[string]source.Status{probe.Postgres: first.Postgres.Status}
		last.Status = map[string]source.Status{probe.Postgres: last.Postgres.Status}
		return probe.NewWindow(first, last)
	}
	// detect runs a rule on a new window, explaining on the probe.
	detect := func(r *Rule) []Finding {
		t.Helper()
		return dbDetectIn(t, &Input{Window: window(), Explainer: pg}, r)
	}
	rule := dbRule(t, "db.missing-index", map[string]any{"min_total_time_ms": 1.0})

	fs := detect(rule)
	if len(fs) != 1 {
		t.Fatalf("want one finding, got %v", fs)
	}
	f := fs[0]
	if f.Subject != "feed (user_id, created_at DESC)" || f.Evidence["verified"] != true || f.Evidence["cost_cut"].(float64) < 0.5 {
		t.Errorf("finding %s %v", f.Subject, f.Evidence)
	}
	if !strings.HasPrefix(f.Fix.SQL, "CREATE INDEX CONCURRENTLY ON feed (user_id, created_at DESC);") {
		t.Errorf("fix %q", f.Fix.SQL)
	}
	if f.Evidence["rows_scanned_per_call"].(float64) < 50000 {
		t.Errorf("rows scanned per call %v", f.Evidence["rows_scanned_per_call"])
	}

	// The budget of hypothetical indexes bounds the work on the server.
	if fs := detect(dbRule(t, "db.missing-index", map[string]any{"min_total_time_ms": 1.0, "max_hypothetical": 0})); len(fs) != 0 {
		t.Errorf("a zero budget still tried indexes: %v", fs)
	}

	// Without hypopg: the same suggestion, unverified, saying so.
	exec("DROP EXTENSION hypopg")
	fs = detect(rule)
	if len(fs) != 1 || fs[0].Evidence["verified"] != false || !strings.Contains(fs[0].Title, "unverified") ||
		!strings.HasPrefix(fs[0].Evidence["confidence"].(string), "low") {
		t.Fatalf("want an unverified finding: %v", fs)
	}
	exec("CREATE EXTENSION hypopg")

	// An index that serves only the filter's equality column: the plan
	// scans it and still sorts under the limit. The index on both columns
	// is still suggested (dexter's sort-under-limit case), never the one
	// that exists.
	exec("CREATE INDEX feed_user_idx ON feed (user_id)")
	exec("ANALYZE feed")
	fs = detect(rule)
	if len(fs) != 1 || fs[0].Subject != "feed (user_id, created_at DESC)" {
		t.Errorf("with an index on user_id only: %v", fs)
	}

	// With the index: nothing.
	exec("CREATE INDEX feed_user_created_idx ON feed (user_id, created_at DESC)")
	exec("ANALYZE feed")
	if fs := detect(rule); len(fs) != 0 {
		t.Errorf("index present, still suggested: %v", fs)
	}
}

// ---------------------------------------------------------------- units

func TestDBBatchSketch(t *testing.T) {
	got := dbBatchSketch(`SELECT i.order_id, i.product_id, p.name FROM order_items i JOIN products p ON p.id = i.product_id WHERE i.order_id = $1 ORDER BY i.id`)
	if !strings.Contains(got, `WHERE i.order_id = ANY($1) ORDER BY i.id"`) || !strings.Contains(got, "p.OrderID") {
		t.Errorf("sketch:\n%s", got)
	}
	if dbBatchSketch("SELECT 1") != "" {
		t.Error("a sketch for a statement without a key")
	}
}

func TestDBShortLocation(t *testing.T) {
	for in, want := range map[dbFrame]string{
		{fn: "main.f", file: "/src/advisor/sampleapp/api.go", line: 374}: "/src/advisor/sampleapp/api.go:374",
		{fn: "main.f", file: "api.go", line: 3}:                          "api.go:3",
		{fn: "main.f"}:                                                   "main.f",
	} {
		if got := dbLocation(in); got != want {
			t.Errorf("%v: %q, want %q", in, got, want)
		}
	}
}

func TestDBNoSourceNoFinding(t *testing.T) {
	w := &probe.Window{Sources: map[string]source.Status{}}
	for id, d := range NewRegistry(dbRules...) {
		fs, err := d.run(context.Background(), &Input{Window: w}, loadBuiltin(t).Rule(id))
		if err != nil || len(fs) > 0 {
			t.Errorf("%s without PostgreSQL: %v %v", id, fs, err)
		}
	}
}

func TestDBMergePrefixes(t *testing.T) {
	f := func(table, qid string, impact float64, cols ...string) Finding {
		return Finding{Impact: impact, Evidence: map[string]any{"table": table, "queryid": qid, "columns": cols}}
	}
	out := dbMergePrefixes([]Finding{
		f("events", "1", 0.1, "user_id"),
		f("events", "2", 0.5, "user_id", "created_at DESC"),
		f("orders", "3", 0.2, "user_id"),
	})
	if len(out) != 2 || out[0].Evidence["queryid"] != "2" || out[0].Impact != 0.6 ||
		!slices.Equal(out[0].Evidence["also_serves_queryids"].([]string), []string{"1"}) {
		t.Errorf("merged: %+v", out)
	}
}

// TestDBOddStatements: statement texts the parsers do not expect give no
// finding and no panic.
func TestDBOddStatements(t *testing.T) {
	w := dbLoadCapture(t, "db", "overfetch")
	odd := []string{"SELECT FROM events", "SELECT e. FROM events e", "SELECT (", "SELECT * FROM", "select",
		"SELECT ,, FROM events WHERE id = $1", "WITH x AS (SELECT 1) SELECT * FROM x", `SELECT "" FROM "events"`}
	for i, q := range odd {
		d := w.Postgres.Statements.Rows[0]
		d.Statement.Query = q
		d.Statement.QueryID = int64(i + 1)
		w.Postgres.Statements.Rows = append(w.Postgres.Statements.Rows, d)
	}
	for id := range NewRegistry(dbRules...) {
		if id == "db.missing-index" {
			continue // needs the server
		}
		dbDetect(t, w, loadBuiltin(t).Rule(id))
	}
}

// TestDBOneGroup: the function issuing most statements is an N+1's
// location only while the findings are one group (one parent's lookups, or
// one statement): with the feed's lookups and the order lines both
// reported, the stacks cannot tell which issues which.
func TestDBOneGroup(t *testing.T) {
	f := func(queryid, parent string) Finding {
		return Finding{Evidence: map[string]any{"queryid": queryid, "parent_queryid": parent}}
	}
	for _, c := range []struct {
		name string
		fs   []Finding
		want bool
	}{
		{"none", nil, true},
		{"one", []Finding{f("1", "9")}, true},
		{"siblings of one parent", []Finding{f("1", "9"), f("2", "9")}, true},
		{"two parents", []Finding{f("1", "9"), f("2", "8")}, false},
		{"one per request and one per parent row", []Finding{f("1", ""), f("2", "9")}, false},
	} {
		if got := dbOneGroup(c.fs); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}
