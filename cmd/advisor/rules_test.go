package main

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pgadvisor/advisor/internal/rules"
)

var updateRulesGolden = flag.Bool("rules.update", false, "rewrite testdata/rules/*.golden")

// rulesTestRegistry stands for the build's registry in golden tests, so
// that their output does not change each time a detector is added.
func rulesTestRegistry() rules.Registry {
	return rules.NewRegistry(rules.Def[struct{}]{ID: "db.slow-query", Check: func(context.Context, *rules.Input, struct{}) ([]rules.Finding, error) { return nil, nil }})
}

// execRules runs the whole command tree in-process, with the rules command
// built over reg, and returns stdout, stderr and the error.
func execRules(t *testing.T, reg rules.Registry, args ...string) (string, string, error) {
	t.Helper()
	root := newRootCmd()
	for _, c := range root.Commands() {
		if c.Name() == "rules" {
			root.RemoveCommand(c)
		}
	}
	root.AddCommand(newRulesCmdWith(func() rules.Registry { return reg }))
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(args)
	err := root.ExecuteContext(context.Background())
	return out.String(), errOut.String(), err
}

func checkRulesGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", "rules", name+".golden")
	if *updateRulesGolden {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test -run Rules -rules.update writes it)", err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s (go test -run Rules -rules.update rewrites it)\ngot:\n%s\nwant:\n%s", path, got, want)
	}
}

// TestRulesListGolden prints the list of a fixed set of rules, so that the
// golden does not change each time a rule is added; TestRulesListEveryRule
// and TestRulesDetectorColumnIsHonest check the whole catalog.
func TestRulesListGolden(t *testing.T) {
	set, err := rules.Default("")
	if err != nil {
		t.Fatal(err)
	}
	var some []*rules.Rule
	for _, id := range []string{"app.blocking-io", "runtime.gomaxprocs", "db.n-plus-one", "db.missing-index",
		"db.slow-query", "pool.no-pooling", "redis.evictions", "probe.unavailable"} {
		some = append(some, set.Rule(id))
	}
	set.Rules = some
	var out strings.Builder
	if err := writeRulesList(&out, set, rulesTestRegistry()); err != nil {
		t.Fatal(err)
	}
	checkRulesGolden(t, "list", out.String())
}

// TestRulesListEveryRule runs the command: every rule of the catalog, once.
func TestRulesListEveryRule(t *testing.T) {
	out, _, err := execRules(t, rulesTestRegistry(), "rules", "list")
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range rules.Catalog() {
		if n := strings.Count(out, "\n"+id+" "); n != 1 {
			t.Errorf("%s listed %d times", id, n)
		}
	}
}

func TestRulesExplainGolden(t *testing.T) {
	for _, id := range []string{"db.slow-query", "db.n-plus-one", "db.vacuum-lag", "probe.unavailable"} {
		out, _, err := execRules(t, rulesTestRegistry(), "rules", "explain", id)
		if err != nil {
			t.Fatal(err)
		}
		checkRulesGolden(t, "explain-"+id, out)
	}
}

// TestRulesExplainFits80Columns explains every rule and checks that every
// line but a lone URL fits in 80 columns.
func TestRulesExplainFits80Columns(t *testing.T) {
	for _, id := range rules.Catalog() {
		out, _, err := execRules(t, rulesTestRegistry(), "rules", "explain", id)
		if err != nil {
			t.Fatalf("%s: %v", id, err)
		}
		for _, line := range strings.Split(out, "\n") {
			if len([]rune(line)) > 80 && !strings.HasPrefix(strings.TrimSpace(line), "https://") {
				t.Errorf("%s: line of %d columns: %q", id, len([]rune(line)), line)
			}
		}
	}
}

func TestRulesListOverride(t *testing.T) {
	t.Chdir(t.TempDir())
	override := "rules:\n  - id: db.unused-index\n    enabled: false\n  - id: db.slow-query\n    severity: critical\n    params: {min_mean_ms: 12.5}\n"
	if err := os.WriteFile("mine.yaml", []byte(override), 0o644); err != nil {
		t.Fatal(err)
	}
	out, _, err := execRules(t, rulesTestRegistry(), "rules", "list", "--rules", "mine.yaml")
	if err != nil {
		t.Fatal(err)
	}
	lines := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) > 0 {
			lines[f[0]] = strings.Join(f[:min(len(f), 4)], " ")
		}
	}
	if got := lines["db.unused-index"]; got != "db.unused-index info no no" {
		t.Errorf("db.unused-index: %q", got)
	}
	if got := lines["db.slow-query"]; got != "db.slow-query critical yes yes" {
		t.Errorf("db.slow-query: %q", got)
	}
	out, _, err = execRules(t, rulesTestRegistry(), "rules", "explain", "db.slow-query", "--rules", "mine.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "  min_mean_ms        12.5\n") || !strings.Contains(out, "  severity  critical\n") {
		t.Errorf("explain does not show the override:\n%s", out)
	}
}

// TestRulesDetectorColumnIsHonest checks the real command against the
// build's registry: "yes" exactly for the rules that have a detector.
func TestRulesDetectorColumnIsHonest(t *testing.T) {
	code, out, errOut := runCaptured(t, "rules", "list")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	reg := rules.Builtin()
	seen := 0
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) < 4 || !rules.Known(f[0]) {
			continue
		}
		seen++
		_, has := reg[f[0]]
		if want := yesNo(has); f[3] != want {
			t.Errorf("%s: detector %q, want %q", f[0], f[3], want)
		}
	}
	if seen != len(rules.Catalog()) {
		t.Errorf("listed %d rules, want %d", seen, len(rules.Catalog()))
	}
}

func TestRulesExitCodes(t *testing.T) {
	t.Chdir(t.TempDir())
	bad := `rules:
  - id: db.slow-query
    severity: loud
    params:
      min_calls: many
  - id: db.slowquery
wait_patterns:
  - class: x
    kind: cpu
    states: ['(']
`
	if err := os.WriteFile("bad.yaml", []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"list", []string{"rules", "list"}, 0, ""},
		{"explain", []string{"rules", "explain", "db.missing-index"}, 0, ""},
		{"unknown id", []string{"rules", "explain", "db.misisng-index"}, 2,
			"advisor: unknown rule id \"db.misisng-index\"; did you mean db.missing-index?\n"},
		{"unknown id, no match", []string{"rules", "explain", "zzz"}, 2,
			"advisor: unknown rule id \"zzz\"; 'advisor rules list' shows them all\n"},
		{"no id", []string{"rules", "explain"}, 2, "advisor: accepts 1 arg(s), received 0\n"},
		{"bad rules file", []string{"rules", "list", "--rules", "bad.yaml"}, 2, `advisor: invalid rules file:
bad.yaml:3:15: invalid severity "loud" (want critical, warning or info)
bad.yaml:5:18: db.slow-query: params.min_calls must be an integer, not the string "many"
bad.yaml:6:9: unknown rule id "db.slowquery" (did you mean db.slow-query?)
bad.yaml:10:14: states: bad regular expression: error parsing regexp: missing closing ): ` + "`(`\n"},
		{"bad rules file, explain", []string{"rules", "explain", "db.slow-query", "--rules", "bad.yaml"}, 2, ""},
		{"missing rules file", []string{"rules", "list", "--rules", "nope.yaml"}, 2,
			"advisor: read rules: open nope.yaml: no such file or directory\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runCaptured(t, tt.args...)
			if code != tt.code {
				t.Errorf("exit %d, want %d; stderr %s", code, tt.code, errOut)
			}
			if tt.stderr != "" && errOut != tt.stderr {
				t.Errorf("stderr:\n%s\nwant:\n%s", errOut, tt.stderr)
			}
			if code == 0 && (out == "" || errOut != "") {
				t.Errorf("stdout %q, stderr %q", out, errOut)
			}
			if code != 0 && out != "" {
				t.Errorf("output on failure: %q", out)
			}
		})
	}
}
