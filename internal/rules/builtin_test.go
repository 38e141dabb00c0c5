package rules

import (
	"context"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// sample is a testdata/evidence/<id>.yaml file: what the rule's detector
// returns for a typical case. The samples are the contract for detector
// authors: the keys there are the keys the templates use.
type sample struct {
	Subject  string         `yaml:"subject"`
	Location string         `yaml:"location"`
	Evidence map[string]any `yaml:"evidence"`
	Fix      struct {
		SQL    string            `yaml:"sql"`
		Config map[string]string `yaml:"config"`
		Code   string            `yaml:"code"`
	} `yaml:"fix"`
}

func loadSample(t *testing.T, id string) Finding {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "evidence", id+".yaml"))
	if err != nil {
		t.Fatalf("every rule needs a sample evidence file: %v", err)
	}
	var s sample
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	dec.KnownFields(true)
	if err := dec.Decode(&s); err != nil {
		t.Fatalf("%s sample: %v", id, err)
	}
	if s.Subject == "" || len(s.Evidence) == 0 {
		t.Fatalf("%s sample: subject and evidence are required", id)
	}
	return Finding{
		Subject:  s.Subject,
		Location: s.Location,
		Evidence: s.Evidence,
		Fix:      Fix{SQL: s.Fix.SQL, Config: s.Fix.Config, Code: s.Fix.Code},
	}
}

func loadBuiltin(t testing.TB) *Set {
	t.Helper()
	set, err := Default("")
	if err != nil {
		t.Fatalf("built-in rules.yaml:\n%v", err)
	}
	return set
}

// TestBuiltinWellFormed keeps every built-in rule complete: present once,
// in catalog order, documented, and with templates that execute on the
// rule's sample evidence.
func TestBuiltinWellFormed(t *testing.T) {
	set := loadBuiltin(t)
	var ids []string
	for _, r := range set.Rules {
		ids = append(ids, r.ID)
	}
	if !slices.Equal(ids, catalog()) {
		t.Fatalf("built-in rules %v, want the catalog %v", ids, catalog())
	}
	for _, r := range set.Rules {
		t.Run(r.ID, func(t *testing.T) {
			if !r.Severity.Valid() {
				t.Errorf("severity %v", r.Severity)
			}
			if !r.Enabled {
				t.Errorf("built-in rules are enabled; users disable them")
			}
			d := r.Docs
			for name, text := range map[string]string{"summary": d.Summary, "why": d.Why, "detection": d.Detection, "fix": d.Fix} {
				if len(strings.Fields(text)) < 3 {
					t.Errorf("docs.%s is too short: %q", name, text)
				}
			}
			if n := utf8.RuneCountInString(d.Summary); n > 60 {
				t.Errorf("docs.summary is %d characters; rules list needs at most 60", n)
			}
			if len(d.Links) == 0 {
				t.Errorf("docs.links is empty")
			}
			for _, p := range r.Params {
				if !strings.Contains(d.Detection, p.Name) {
					t.Errorf("docs.detection does not explain param %s", p.Name)
				}
			}

			f := loadSample(t, r.ID)
			title, err := r.RenderTitle(&f)
			if err != nil {
				t.Fatalf("title: %v", err)
			}
			if title == "" || strings.Contains(title, "\n") {
				t.Errorf("title must be one non-empty line, got %q", title)
			}
			if strings.Contains(title, "<no value>") {
				t.Errorf("title has a missing value: %q", title)
			}
			fix, err := r.RenderFix(&f)
			if err != nil {
				t.Fatalf("fix: %v", err)
			}
			if len(strings.Fields(fix)) < 3 || strings.Contains(fix, "<no value>") {
				t.Errorf("fix summary %q", fix)
			}
		})
	}
}

// TestEvidenceSamplesMatchCatalog keeps testdata/evidence to one file per
// rule id, so that a renamed rule does not leave a stale contract behind.
func TestEvidenceSamplesMatchCatalog(t *testing.T) {
	entries, err := os.ReadDir(filepath.Join("testdata", "evidence"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		id := strings.TrimSuffix(e.Name(), ".yaml")
		if !Known(id) {
			t.Errorf("testdata/evidence/%s: not a rule id of the catalog", e.Name())
		}
	}
	if len(entries) != len(catalog()) {
		t.Errorf("%d sample files for %d rules", len(entries), len(catalog()))
	}
}

// TestBuiltinSamplesThroughEngine runs every rule with a detector that
// returns the rule's sample: the engine must complete each finding without
// error.
func TestBuiltinSamplesThroughEngine(t *testing.T) {
	set := loadBuiltin(t)
	reg := Registry{}
	for _, r := range set.Rules {
		f := loadSample(t, r.ID)
		reg[r.ID] = testDetector(func(context.Context, *Input, *Rule) ([]Finding, error) { return []Finding{f}, nil })
	}
	fs, errs := Run(context.Background(), &Input{Patterns: set.Patterns}, set.Rules, reg)
	if len(errs) > 0 {
		t.Fatalf("errors: %v", errs)
	}
	if len(fs) != len(set.Rules) {
		t.Fatalf("%d findings for %d rules", len(fs), len(set.Rules))
	}
	for _, f := range fs {
		if f.Title == "" || f.Fix.Summary == "" || !f.Severity.Valid() {
			t.Errorf("%s: incomplete finding %+v", f.Rule, f)
		}
	}
}

// TestBuiltinRegistry keeps the registry to catalog ids.
func TestBuiltinRegistry(t *testing.T) {
	for id, d := range Builtin() {
		if !Known(id) {
			t.Errorf("detector registered for unknown rule id %q", id)
		}
		if d == nil {
			t.Errorf("nil detector registered for %q", id)
		}
	}
}

// TestBuiltinOneDetectorPerRule keeps a rule to one detector: builtin()
// lists exactly one for each rule of the catalog and none for another id.
func TestBuiltinOneDetectorPerRule(t *testing.T) {
	n := map[string]int{}
	for _, d := range builtin() {
		if d == nil {
			t.Errorf("nil detector in builtin()")
			continue
		}
		if !Known(d.RuleID()) {
			t.Errorf("detector for unknown rule id %q in builtin()", d.RuleID())
		}
		n[d.RuleID()]++
	}
	for _, id := range catalog() {
		if n[id] != 1 {
			t.Errorf("rule %s has %d detectors in builtin(), want 1", id, n[id])
		}
	}
}

// TestBuiltinDetectorFiles keeps a rule to one detector file: the Def of
// each rule of the catalog, Def[P]{ID: "x.y-z", ...}, is written once, in
// x_y_z.go, and every Def literal names a rule of the catalog. The id is
// written nowhere else in the package's production code: other code refers
// to the Def (appInlineWork.ID).
func TestBuiltinDetectorFiles(t *testing.T) {
	defs, ids := detectorDefs(t)
	for _, id := range catalog() {
		want := strings.NewReplacer(".", "_", "-", "_").Replace(id) + ".go"
		if got := defs[id]; len(got) != 1 || got[0] != want {
			t.Errorf("rule %s: Def literals in %v, want one in %s", id, got, want)
		}
		if got := ids[id]; len(got) > 1 {
			t.Errorf("rule %s: its id is written %d times, in %v; outside its Def, use the Def's ID field", id, len(got), got)
		}
	}
	for id, files := range defs {
		if !Known(id) {
			t.Errorf("%v: Def of unknown rule id %q", files, id)
		}
	}
}

// detectorDefs parses the package's production files and returns the files
// of the Def composite literals, by the string literal of their ID field,
// and the files of every string literal that is a rule id of the catalog.
func detectorDefs(t *testing.T) (defs, ids map[string][]string) {
	t.Helper()
	names, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	defs, ids = map[string][]string{}, map[string][]string{}
	for _, name := range names {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.BasicLit:
				if s, err := strconv.Unquote(n.Value); n.Kind == token.STRING && err == nil && Known(s) {
					ids[s] = append(ids[s], name)
				}
			case *ast.CompositeLit:
				if id, ok := defID(t, fset, n); ok {
					defs[id] = append(defs[id], name)
				}
			}
			return true
		})
	}
	return defs, ids
}

// defID returns the ID of a Def[P] composite literal.
func defID(t *testing.T, fset *token.FileSet, lit *ast.CompositeLit) (string, bool) {
	t.Helper()
	idx, ok := lit.Type.(*ast.IndexExpr)
	if !ok {
		return "", false
	}
	if typ, ok := idx.X.(*ast.Ident); !ok || typ.Name != "Def" {
		return "", false
	}
	for _, e := range lit.Elts {
		kv, ok := e.(*ast.KeyValueExpr)
		if !ok {
			continue
		}
		if key, ok := kv.Key.(*ast.Ident); !ok || key.Name != "ID" {
			continue
		}
		v, ok := kv.Value.(*ast.BasicLit)
		if !ok || v.Kind != token.STRING {
			t.Errorf("%s: the ID of a Def must be a string literal", fset.Position(kv.Pos()))
			return "", false
		}
		id, err := strconv.Unquote(v.Value)
		if err != nil {
			t.Fatal(err)
		}
		return id, true
	}
	t.Errorf("%s: a Def without an ID", fset.Position(lit.Pos()))
	return "", false
}

// TestCountsDumps: the findings that rest on a count of goroutine samples
// say so, so that attach keeps its dumps between readings coming while one
// is shown; every rule with a min_samples param is such a rule, and no
// finding of another rule asks for dumps.
func TestCountsDumps(t *testing.T) {
	reg := Builtin()
	set, err := Default("")
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range catalog() {
		r := set.Rule(id)
		if r == nil {
			continue
		}
		counted := slices.ContainsFunc(r.Params, func(p Param) bool { return p.Name == "min_samples" })
		if got := reg.CountsDumps(Finding{Rule: id}); got != counted {
			t.Errorf("%s: CountsDumps %v, want %v (min_samples param: %v)", id, got, counted, counted)
		}
	}
	for _, c := range []struct {
		f    Finding
		want bool
	}{
		{Finding{Rule: appLockContention.ID}, true},
		{Finding{Rule: poolUndersized.ID, Evidence: map[string]any{"evidence_from": "goroutine stacks"}}, true},
		{Finding{Rule: poolUndersized.ID, Evidence: map[string]any{"evidence_from": "pool metrics"}}, false},
		{Finding{Rule: poolUndersized.ID, Evidence: map[string]any{"evidence_from": "pg_stat_activity"}}, false},
		{Finding{Rule: dbNPlusOne.ID}, false},
		{Finding{Rule: "no.such-rule"}, false},
	} {
		if got := reg.CountsDumps(c.f); got != c.want {
			t.Errorf("%s %v: CountsDumps %v, want %v", c.f.Rule, c.f.Evidence, got, c.want)
		}
	}
}
