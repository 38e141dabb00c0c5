package rules

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/pgadvisor/advisor/internal/probe"
)

// testRules loads the built-in rules with a few overridden for the engine
// tests.
func testRules(t *testing.T) *Set {
	t.Helper()
	set, err := Load(builtinSource(), Source{Name: "test.yaml", Data: []byte(`
rules:
  - id: db.slow-query
    title: 'slow {{.query}} ({{ms .mean_ms}}, min {{.Params.min_mean_ms}})'
    fix: 'index {{.query}}'
  - id: db.unused-index
    enabled: false
  - id: redis.evictions
    severity: critical
`)})
	if err != nil {
		t.Fatal(err)
	}
	return set
}

func finding(subject string, impact float64, ev map[string]any) Finding {
	return Finding{Subject: subject, Impact: impact, Evidence: ev}
}

func TestRunCompletesFindings(t *testing.T) {
	set := testRules(t)
	var gotWindow *probe.Window
	reg := Registry{
		"db.slow-query": testDetector(func(_ context.Context, in *Input, r *Rule) ([]Finding, error) {
			gotWindow = in.Window
			if v, _ := r.Param("min_mean_ms"); v != 20.0 {
				t.Errorf("detector sees min_mean_ms %v", v)
			}
			return []Finding{
				{Rule: "wrong", Severity: Critical, Subject: "q1", Impact: 0.3, Evidence: map[string]any{"query": "SELECT 1", "mean_ms": 25.0}},
				{Subject: "q2", Title: "my own title", Fix: Fix{Summary: "my own fix", SQL: "CREATE INDEX"}, Evidence: map[string]any{"query": "SELECT 2", "mean_ms": 30}},
				{Severity: Info, Subject: "q3", Evidence: map[string]any{"query": "SELECT 3", "mean_ms": 40}},
			}, nil
		}),
	}
	w := &probe.Window{Seconds: 10}
	fs, errs := Run(context.Background(), &Input{Window: w, Patterns: set.Patterns}, set.Rules, reg)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if gotWindow != w {
		t.Errorf("detector did not get the window")
	}
	if len(fs) != 3 {
		t.Fatalf("%d findings", len(fs))
	}
	f := fs[0]
	// A detector may raise a finding above its rule's severity.
	if f.Rule != "db.slow-query" || f.Severity != Critical {
		t.Errorf("rule not set from the rule, or the detector's severity not kept: %q %v", f.Rule, f.Severity)
	}
	if fs[1].Severity != Warning {
		t.Errorf("a finding the detector left unset takes its rule's severity: %v", fs[1].Severity)
	}
	// A detector may lower a finding below its rule's severity.
	if fs[2].Subject != "q3" || fs[2].Severity != Info {
		t.Errorf("a finding the detector lowered to info: %+v", fs[2])
	}
	if f.Title != "slow SELECT 1 (25 ms, min 20)" || f.Fix.Summary != "index SELECT 1" {
		t.Errorf("templates: title %q, fix %q", f.Title, f.Fix.Summary)
	}
	if fs[1].Title != "my own title" || fs[1].Fix.Summary != "my own fix" || fs[1].Fix.SQL != "CREATE INDEX" {
		t.Errorf("detector's own title and fix must be kept: %+v", fs[1])
	}
}

func TestRunOrdersBySeverityThenImpact(t *testing.T) {
	set := testRules(t)
	ret := func(fs ...Finding) Detector {
		return testDetector(func(context.Context, *Input, *Rule) ([]Finding, error) { return fs, nil })
	}
	reg := Registry{
		// info
		"db.overfetch": ret(finding("o", 0.9, map[string]any{"query": "q", "table": "t", "avg_row_bytes": 2048, "wide_columns": []any{}})),
		// warning
		"db.long-running": ret(
			finding("l-small", 0.1, map[string]any{"query": "q", "duration_seconds": 70}),
			finding("l-big", 0.5, map[string]any{"query": "q", "duration_seconds": 700}),
		),
		// critical by override
		"redis.evictions": ret(finding("e", 0.01, map[string]any{"evicted_keys_per_s": 3, "maxmemory_bytes": 1 << 20, "maxmemory_policy": "allkeys-lru", "in_window": true})),
		// impact out of range is clamped
		"db.idle-in-transaction": ret(finding("i", math.NaN(), map[string]any{"application_name": "a", "idle_seconds": 100})),
		"db.blocked-queries": ret(finding("b", 7, map[string]any{"wait_seconds": 9, "lock_mode": "RowExclusiveLock", "relation": "t",
			"blocking_application": "x", "blocking_query": "q"})),
	}
	fs, errs := Run(context.Background(), &Input{}, set.Rules, reg)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	var got []string
	for _, f := range fs {
		got = append(got, f.Severity.String()+":"+f.Subject)
	}
	want := []string{"critical:e", "warning:b", "warning:l-big", "warning:l-small", "warning:i", "info:o"}
	if !slices.Equal(got, want) {
		t.Errorf("order %v, want %v", got, want)
	}
	if fs[1].Impact != 1 || fs[4].Impact != 0 {
		t.Errorf("impact not clamped: %v %v", fs[1].Impact, fs[4].Impact)
	}
}

func TestRunSkipsDisabledAndUndetected(t *testing.T) {
	set := testRules(t)
	called := map[string]bool{}
	reg := Registry{}
	for _, id := range []string{"db.unused-index", "db.long-running"} {
		reg[id] = testDetector(func(context.Context, *Input, *Rule) ([]Finding, error) {
			called[id] = true
			return nil, nil
		})
	}
	_, errs := Run(context.Background(), &Input{}, set.Rules, reg)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if called["db.unused-index"] {
		t.Errorf("disabled rule ran")
	}
	if !called["db.long-running"] {
		t.Errorf("enabled rule did not run")
	}
}

func TestRunRecoversPanicsAndKeepsGoing(t *testing.T) {
	set := testRules(t)
	reg := Registry{
		"db.long-running": testDetector(func(_ context.Context, in *Input, _ *Rule) ([]Finding, error) {
			// A detector bug: the input has no window.
			if in.Window.Seconds > 0 {
				return nil, nil
			}
			return nil, nil
		}),
		"db.missing-index": testDetector(func(_ context.Context, _ *Input, r *Rule) ([]Finding, error) {
			// Another bug: a param read past the end.
			_ = r.Params[len(r.Params)]
			return nil, nil
		}),
		"db.idle-in-transaction": testDetector(func(context.Context, *Input, *Rule) ([]Finding, error) {
			return []Finding{finding("kept", 0, map[string]any{"application_name": "a", "idle_seconds": 100})},
				errors.New("pg_stat_activity: partial read")
		}),
		"db.blocked-queries": testDetector(func(context.Context, *Input, *Rule) ([]Finding, error) {
			return []Finding{finding("ok", 0, map[string]any{"wait_seconds": 9, "lock_mode": "m", "relation": "t",
				"blocking_application": "x", "blocking_query": "q"})}, nil
		}),
	}
	fs, errs := Run(context.Background(), &Input{}, set.Rules, reg)
	var subjects []string
	for _, f := range fs {
		subjects = append(subjects, f.Subject)
	}
	slices.Sort(subjects)
	if !slices.Equal(subjects, []string{"kept", "ok"}) {
		t.Errorf("findings %v", subjects)
	}
	if len(errs) != 3 {
		t.Fatalf("errors %v", errs)
	}
	var pe *PanicError
	if !errors.As(errs[0], &pe) || pe.Rule != "db.missing-index" || len(pe.Stack) == 0 ||
		!strings.Contains(errs[0].Error(), "rule db.missing-index: detector panicked: runtime error: index out of range") {
		t.Errorf("first error %v", errs[0])
	}
	if errs[1].Error() != "rule db.idle-in-transaction: pg_stat_activity: partial read" {
		t.Errorf("second error %v", errs[1])
	}
	if !errors.As(errs[2], &pe) || pe.Rule != "db.long-running" {
		t.Errorf("third error %v", errs[2])
	}
}

func TestRunTemplateErrorKeepsFinding(t *testing.T) {
	set := testRules(t)
	reg := Registry{
		"db.long-running": testDetector(func(context.Context, *Input, *Rule) ([]Finding, error) {
			return []Finding{{Subject: "SELECT pg_sleep(600)", Evidence: map[string]any{"duration_seconds": "long"}}}, nil
		}),
	}
	fs, errs := Run(context.Background(), &Input{}, set.Rules, reg)
	if len(fs) != 1 || len(errs) != 1 {
		t.Fatalf("findings %v, errors %v", fs, errs)
	}
	if !strings.HasPrefix(errs[0].Error(), "rule db.long-running: title: ") || !strings.Contains(errs[0].Error(), "is not a number") {
		t.Errorf("error %v", errs[0])
	}
	if fs[0].Title != "Queries running for a long time: SELECT pg_sleep(600)" || fs[0].Fix.Summary == "" {
		t.Errorf("fallback title %q, fix %q", fs[0].Title, fs[0].Fix.Summary)
	}
}

func TestRunStopsWhenCancelled(t *testing.T) {
	set := testRules(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ran := 0
	reg := Registry{}
	for _, id := range []string{"app.blocking-io", "db.long-running"} {
		reg[id] = testDetector(func(context.Context, *Input, *Rule) ([]Finding, error) {
			ran++
			cancel()
			return nil, nil
		})
	}
	_, errs := Run(ctx, &Input{}, set.Rules, reg)
	if ran != 1 || len(errs) != 1 || !errors.Is(errs[0], context.Canceled) {
		t.Errorf("ran %d, errors %v", ran, errs)
	}
}

func TestFingerprintIgnoresNumbers(t *testing.T) {
	a := Finding{Rule: "db.slow-query", Subject: "queryid 42", Evidence: map[string]any{"mean_ms": 20}}
	b := Finding{Rule: "db.slow-query", Subject: "queryid 42", Evidence: map[string]any{"mean_ms": 90}, Title: "other", Impact: 0.5}
	c := Finding{Rule: "db.slow-query", Subject: "queryid 43"}
	d := Finding{Rule: "db.slow-quer", Subject: "yqueryid 42"}
	if a.Fingerprint() != b.Fingerprint() {
		t.Errorf("fingerprint depends on measurements")
	}
	if a.Fingerprint() == c.Fingerprint() || a.Fingerprint() == d.Fingerprint() {
		t.Errorf("fingerprint collides")
	}
	if len(a.Fingerprint()) != 24 {
		t.Errorf("fingerprint %q", a.Fingerprint())
	}
}

func TestFindingJSON(t *testing.T) {
	f := Finding{Rule: "db.missing-index", Severity: Critical, Title: "t", Subject: "s",
		Evidence: map[string]any{"calls": 3}, Fix: Fix{Summary: "x", SQL: "CREATE INDEX"}, Impact: 0.25}
	b, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"rule":"db.missing-index","severity":"critical","title":"t","subject":"s","evidence":{"calls":3},"fix":{"summary":"x","sql":"CREATE INDEX"},"impact":0.25}`
	if string(b) != want {
		t.Errorf("got  %s\nwant %s", b, want)
	}
	var back Finding
	if err := json.Unmarshal(b, &back); err != nil || back.Severity != Critical {
		t.Errorf("round trip: %v %v", back.Severity, err)
	}
	if _, err := json.Marshal(Finding{}); err == nil {
		t.Errorf("a finding without severity must not marshal")
	}
}

func TestSeverity(t *testing.T) {
	for _, s := range Severities {
		got, err := ParseSeverity(s.String())
		if err != nil || got != s {
			t.Errorf("%v: %v %v", s, got, err)
		}
	}
	if _, err := ParseSeverity("never"); err == nil {
		t.Errorf("never is not a severity")
	}
	if _, err := ParseSeverity("Warning"); err == nil {
		t.Errorf("severities are lower case")
	}
	never, err := ParseThreshold("never")
	if err != nil || never != Never {
		t.Fatalf("never: %v %v", never, err)
	}
	tests := []struct {
		s, min Severity
		want   bool
	}{
		{Critical, Warning, true}, {Warning, Warning, true}, {Info, Warning, false},
		{Info, Info, true}, {Critical, Never, false}, {0, Info, false},
	}
	for _, tt := range tests {
		if got := tt.s.AtLeast(tt.min); got != tt.want {
			t.Errorf("%v.AtLeast(%v) = %v", tt.s, tt.min, got)
		}
	}
	if !(Critical > Warning && Warning > Info) {
		t.Errorf("severities do not order")
	}
	if _, err := ParseThreshold("fatal"); err == nil {
		t.Errorf("fatal accepted")
	}
}

func TestTemplateFuncs(t *testing.T) {
	tests := []struct {
		got  func() (string, error)
		want string
	}{
		{func() (string, error) { return fmtNum(1234.5) }, "1235"},
		{func() (string, error) { return fmtNum(0.012345) }, "0.0123"},
		{func() (string, error) { return fmtNum(int64(7)) }, "7"},
		{func() (string, error) { return fmtCount(int64(1), "deadlock", "deadlocks") }, "1 deadlock"},
		{func() (string, error) { return fmtCount(1.0, "query", "queries") }, "1 query"},
		{func() (string, error) { return fmtCount(2, "query", "queries") }, "2 queries"},
		{func() (string, error) { return fmtCount(0, "key", "keys") }, "0 keys"},
		{func() (string, error) { return fmtPct(0.4234) }, "42.3%"},
		{func() (string, error) { return fmtPct(1) }, "100%"},
		{func() (string, error) { return fmtMs(12.345) }, "12.3 ms"},
		{func() (string, error) { return fmtMs(1500) }, "1.5 s"},
		{func() (string, error) { return fmtBytes(10 << 20) }, "10 MB"},
		{func() (string, error) { return fmtBytes(uint64(512)) }, "512 bytes"},
		{func() (string, error) { return joinList([]any{"a", 1}, ", ") }, "a, 1"},
		{func() (string, error) { return truncate(5, "abcdefgh"), nil }, "abcd…"},
		{func() (string, error) { return truncate(5, "abc"), nil }, "abc"},
	}
	for i, tt := range tests {
		got, err := tt.got()
		if err != nil || got != tt.want {
			t.Errorf("%d: %q, %v; want %q", i, got, err, tt.want)
		}
	}
	if _, err := fmtMs("slow"); err == nil {
		t.Errorf("ms of a string must fail")
	}
}

func TestReflow(t *testing.T) {
	in := "Batch the\n  lookups:\n\n    ids := x\n    f(ids)\n\nthen group\nthem.\n"
	want := "Batch the lookups:\n\n    ids := x\n    f(ids)\n\nthen group them."
	if got := reflow(in); got != want {
		t.Errorf("got %q\nwant %q", got, want)
	}
}

// testDetector adapts a plain function for the engine tests: it reads the
// rule itself, params by name included.
type testDetector func(ctx context.Context, in *Input, r *Rule) ([]Finding, error)

func (testDetector) RuleID() string { return "" }

func (testDetector) paramsType() reflect.Type { return nil }

func (f testDetector) run(ctx context.Context, in *Input, r *Rule) ([]Finding, error) {
	return f(ctx, in, r)
}

// A detector's own severity stands against the built-in file; a rules file
// that moves the rule's severity moves it by as many steps.
func TestSeverityOf(t *testing.T) {
	for _, c := range []struct {
		set, base, rule, want Severity
	}{
		{0, Warning, Warning, Warning},         // detector set nothing
		{Critical, Warning, Warning, Critical}, // a critical_* threshold crossed
		{Info, Critical, Critical, Info},       // db.settings: untuned, not dangerous
		{Critical, Critical, Warning, Warning}, // rules file lowered the rule a step
		{Info, Critical, Warning, Info},        // ... never below info
		{Warning, Warning, Critical, Critical}, // rules file raised the rule a step
		{Critical, Warning, Critical, Critical},
		{Critical, 0, Warning, Critical}, // a rule built in code: no base
	} {
		r := &Rule{ID: "x", Severity: c.rule, base: c.base}
		if got := severityOf(c.set, r); got != c.want {
			t.Errorf("set %v, base %v, rule %v: got %v, want %v", c.set, c.base, c.rule, got, c.want)
		}
	}
}

func (testDetector) countsDumps(Finding) bool { return false }
