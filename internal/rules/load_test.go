package rules

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	advisor "github.com/pgadvisor/advisor"
)

var update = flag.Bool("update", false, "rewrite the golden files of testdata/load")

func readTestdata(t *testing.T, name string) Source {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "load", name))
	if err != nil {
		t.Fatal(err)
	}
	return Source{Name: name, Data: data}
}

func builtinSource() Source { return Source{Name: BuiltinName, Data: advisor.DefaultRules} }

// TestLoadErrorsGolden loads broken files and compares every reported error,
// with its line and column, to testdata/load/<file>.errors.
func TestLoadErrorsGolden(t *testing.T) {
	tests := []struct {
		file     string
		override bool
	}{
		{"override-errors.yaml", true},
		{"syntax.yaml", true},
		{"not-a-mapping.yaml", true},
		{"base-errors.yaml", false},
		{"base-not-list.yaml", false},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			src := readTestdata(t, tt.file)
			var err error
			if tt.override {
				_, err = Load(builtinSource(), src)
			} else {
				_, err = Load(src)
			}
			var errs Errors
			if !errors.As(err, &errs) {
				t.Fatalf("Load: %v, want Errors", err)
			}
			for _, e := range errs {
				if e.File != tt.file || e.Line < 1 {
					t.Errorf("error without a position in %s: %+v", tt.file, e)
				}
			}
			got := withoutMissingRules(t, err.Error(), string(src.Data)) + "\n"
			golden := filepath.Join("testdata", "load", strings.TrimSuffix(tt.file, ".yaml")+".errors")
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if got != string(want) {
				t.Errorf("errors differ from %s (go test -update to rewrite)\ngot:\n%s\nwant:\n%s", golden, got, want)
			}
		})
	}
}

// TestLoadReportsEveryError checks, independently of the golden text, that
// the errors of override-errors.yaml are one per problem, each on the line
// of the problem, in file order.
func TestLoadReportsEveryError(t *testing.T) {
	_, err := Load(builtinSource(), readTestdata(t, "override-errors.yaml"))
	var errs Errors
	if !errors.As(err, &errs) {
		t.Fatalf("Load: %v", err)
	}
	wantLines := []int{4, 6, 7, 8, 9, 10, 13, 14, 15, 16, 18, 21, 22, 25, 26, 30, 34, 36, 38, 40, 43, 45}
	var lines []int
	for _, e := range errs {
		lines = append(lines, e.Line)
	}
	if !slices.Equal(lines, wantLines) {
		t.Errorf("error lines %v, want %v\n%v", lines, wantLines, err)
	}
}

func TestLoadUnknownIDSuggests(t *testing.T) {
	_, err := Load(builtinSource(), Source{Name: "o.yaml", Data: []byte("rules:\n  - id: db.slow-querry\n")})
	want := `o.yaml:2:9: unknown rule id "db.slow-querry" (did you mean db.slow-query?)`
	if err == nil || err.Error() != want {
		t.Errorf("got %v, want %s", err, want)
	}
}

func TestLoadEmptyOverrideIsAnError(t *testing.T) {
	for _, data := range []string{"", "# only a comment\n"} {
		_, err := Load(builtinSource(), Source{Name: "o.yaml", Data: []byte(data)})
		if err == nil || !strings.Contains(err.Error(), "empty rules file") {
			t.Errorf("%q: got %v", data, err)
		}
	}
}

func TestOverrideMerge(t *testing.T) {
	base := loadBuiltin(t)
	over := Source{Name: "o.yaml", Data: []byte(`
rules:
  - id: db.slow-query
    severity: critical
    params:
      min_mean_ms: 50
  - id: db.unused-index
    enabled: false
    params:
      min_size_mb: 1
  - id: redis.low-hit-ratio
    params:
      hit_ratio_below: 1
    title: 'hit ratio {{pct .hit_ratio}} under {{.Params.hit_ratio_below}}'
  - id: redis.slow-commands
    params:
      linear_commands: [KEYS]
wait_patterns:
  - class: billing
    kind: network
    functions: ['^example\.com/billing\.']
  - class: sleep
    kind: sleep
    states: ['^sleep$']
`)}
	set, err := Load(builtinSource(), over)
	if err != nil {
		t.Fatal(err)
	}

	slow := set.Rule("db.slow-query")
	if slow.Severity != Critical || param(slow, "min_mean_ms") != 50.0 || param(slow, "min_calls") != 25 {
		t.Errorf("db.slow-query: severity %v, min_mean_ms %v, min_calls %v", slow.Severity, param(slow, "min_mean_ms"), param(slow, "min_calls"))
	}
	baseSlow := base.Rule("db.slow-query")
	if slow.Title != baseSlow.Title || slow.Docs.Why != baseSlow.Docs.Why || !slow.Enabled {
		t.Errorf("fields not given in the override changed")
	}

	unused := set.Rule("db.unused-index")
	if unused.Enabled || unused.Severity != Info || param(unused, "min_size_mb") != 1.0 || param(unused, "max_scans") != 0 {
		t.Errorf("db.unused-index: %+v", unused)
	}

	hit := set.Rule("redis.low-hit-ratio")
	if v, _ := hit.Param("hit_ratio_below"); v != 1.0 {
		t.Errorf("an integer given for a float param must become a float64, got %#v", v)
	}
	f := Finding{Evidence: map[string]any{"hit_ratio": 0.5}}
	if title, err := hit.RenderTitle(&f); err != nil || title != "hit ratio 50% under 1" {
		t.Errorf("overridden title: %q, %v", title, err)
	}
	if got := param(set.Rule("redis.slow-commands"), "linear_commands").([]string); !slices.Equal(got, []string{"KEYS"}) {
		t.Errorf("linear_commands %v", got)
	}

	// Rules not named keep the built-in values.
	for i, r := range set.Rules {
		switch r.ID {
		case "db.slow-query", "db.unused-index", "redis.low-hit-ratio", "redis.slow-commands":
			continue
		}
		if r != base.Rules[i] && (r.Severity != base.Rules[i].Severity || !slices.EqualFunc(r.Params, base.Rules[i].Params, paramEqual)) {
			t.Errorf("%s changed", r.ID)
		}
	}

	// The new class comes first; sleep is replaced in place.
	classes := set.Patterns.Classes
	if classes[0].Class != "billing" || len(classes) != len(base.Patterns.Classes)+1 {
		t.Errorf("classes %v", classNames(classes))
	}
	i := slices.IndexFunc(classes, func(w *WaitPattern) bool { return w.Class == "sleep" })
	j := slices.IndexFunc(base.Patterns.Classes, func(w *WaitPattern) bool { return w.Class == "sleep" })
	if i != j+1 || len(classes[i].Functions) != 0 {
		t.Errorf("sleep class at %d (built-in %d), functions %v", i, j, classes[i].Functions)
	}
	if c := set.Patterns.Classify("IO wait", []string{"example.com/billing.Charge", "net/http.(*Client).Do"}); c == nil || c.Class != "billing" {
		t.Errorf("user class does not take precedence: %v", c)
	}

	// Loading again gives the built-in values: no state is shared.
	again := loadBuiltin(t)
	if again.Rule("db.slow-query").Severity != Warning || len(again.Patterns.Classes) != len(base.Patterns.Classes) {
		t.Errorf("override leaked into a later load")
	}
}

func TestOverrideFailureLeavesNothing(t *testing.T) {
	set, err := Load(builtinSource(), Source{Name: "o.yaml", Data: []byte("rules:\n  - id: db.slow-query\n    severity: loud\n")})
	if set != nil || err == nil {
		t.Fatalf("got %v, %v", set, err)
	}
}

func TestDefaultReadsFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mine.yaml")
	if err := os.WriteFile(path, []byte("rules:\n  - id: db.long-running\n    params: {min_duration_seconds: 10}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	set, err := Default(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := param(set.Rule("db.long-running"), "min_duration_seconds"); got != 10.0 {
		t.Errorf("min_duration_seconds %v", got)
	}
	if _, err := Default(filepath.Join(t.TempDir(), "missing.yaml")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	if err := os.WriteFile(path, []byte("rules: 3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = Default(path)
	if err == nil || !regexp.MustCompile(`mine\.yaml:1:8: rules must be a list`).MatchString(err.Error()) {
		t.Errorf("got %v", err)
	}
}

func paramEqual(a, b Param) bool {
	if a.Name != b.Name {
		return false
	}
	if la, ok := a.Value.([]string); ok {
		lb, ok := b.Value.([]string)
		return ok && slices.Equal(la, lb)
	}
	return a.Value == b.Value
}

func classNames(ws []*WaitPattern) []string {
	var out []string
	for _, w := range ws {
		out = append(out, w.Class)
	}
	return out
}

// FuzzLoad feeds arbitrary override files to the loader: it must never
// panic, and whatever it accepts must be a complete, valid rule set.
//
//	go test -run NONE -fuzz FuzzLoad -fuzzminimizetime 1x ./internal/rules
//
// (the seeds are large, and minimising each new input to them otherwise
// takes most of the fuzzing time).
func FuzzLoad(f *testing.F) {
	f.Add(advisor.DefaultRules)
	for _, name := range []string{"override-errors.yaml", "syntax.yaml", "not-a-mapping.yaml", "base-errors.yaml", "base-not-list.yaml"} {
		data, err := os.ReadFile(filepath.Join("testdata", "load", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("rules:\n  - id: db.slow-query\n    params: {min_mean_ms: 5}\nwait_patterns:\n  - {class: x, kind: cpu, states: [a]}\n"))
	f.Add([]byte("rules: &a [*a]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		set, err := Load(builtinSource(), Source{Name: "fuzz.yaml", Data: data})
		if err != nil {
			var errs Errors
			if !errors.As(err, &errs) || len(errs) == 0 {
				t.Fatalf("error %v is not a non-empty Errors", err)
			}
			return
		}
		if len(set.Rules) != len(catalog()) {
			t.Fatalf("%d rules", len(set.Rules))
		}
		for _, r := range set.Rules {
			if !r.Severity.Valid() || r.title == nil || r.fix == nil {
				t.Fatalf("invalid rule %+v", r)
			}
		}
		// The base file itself, fuzzed, must not panic either.
		_, _ = Load(Source{Name: "fuzz.yaml", Data: data})
	})
}

// TestLoadChecksDetectorParams: a param of rules.yaml that the detector does
// not read, one it reads that is missing, and one of another type are load
// errors at the param's (or the params') position.
func TestLoadChecksDetectorParams(t *testing.T) {
	data := string(advisor.DefaultRules)
	// The lines of http.saturation's params and of the param, wherever
	// edits above them put them.
	at := strings.Index(data, "      min_queue_share: 0.5\n")
	if at < 0 {
		t.Fatal("rules.yaml no longer has http.saturation's min_queue_share: 0.5")
	}
	param := 1 + strings.Count(data[:at], "\n")
	params := 1 + strings.Count(data[:strings.LastIndex(data[:at], "    params:\n")], "\n")
	for _, tc := range []struct {
		old, new string
		want     []string
	}{
		{"      min_queue_share: 0.5\n", "      min_queue_shar: 0.5\n", []string{
			fmt.Sprintf(`:%d:5: http.saturation: params: param "min_queue_share" is missing: the detector reads it as a number`, params),
			fmt.Sprintf(`:%d:7: http.saturation: params: param "min_queue_shar" is not read by the detector (did you mean "min_queue_share"?)`, param),
		}},
		{"      min_queue_share: 0.5\n", "      min_queue_share: half\n", []string{
			fmt.Sprintf(`:%d:7: http.saturation: params: param "min_queue_share" is a string; the detector reads a number`, param),
		}},
	} {
		if !strings.Contains(data, tc.old) {
			t.Fatalf("rules.yaml no longer has %q", tc.old)
		}
		_, err := Load(Source{Name: "rules.yaml", Data: []byte(strings.Replace(data, tc.old, tc.new, 1))})
		var errs Errors
		if !errors.As(err, &errs) || len(errs) != len(tc.want) {
			t.Fatalf("%q: errors %v, want %d", tc.new, err, len(tc.want))
		}
		for i, e := range errs {
			if !strings.HasSuffix(e.Error(), tc.want[i]) {
				t.Errorf("error %q, want ...%s", e.Error(), tc.want[i])
			}
		}
	}
}

// param returns a rule's param value, nil when it has none.
func param(r *Rule, name string) any {
	v, _ := r.Param(name)
	return v
}

// withoutMissingRules checks the "rule X of the catalog is missing" errors of
// a base file, one for each catalog rule the file does not define, and
// returns the other errors: the goldens do not change when the catalog
// grows.
func withoutMissingRules(t *testing.T, errs, file string) string {
	t.Helper()
	missing := regexp.MustCompile(`^[^:]+:\d+:\d+: rule "([^"]+)" of the catalog is missing$`)
	var kept, got, want []string
	for _, line := range strings.Split(errs, "\n") {
		if m := missing.FindStringSubmatch(line); m != nil {
			got = append(got, m[1])
			continue
		}
		kept = append(kept, line)
	}
	if len(got) > 0 {
		for _, id := range Catalog() {
			if !strings.Contains(file, "id: "+id+"\n") {
				want = append(want, id)
			}
		}
		if !slices.Equal(got, want) {
			t.Errorf("missing rules reported %v, want %v", got, want)
		}
	}
	return strings.Join(kept, "\n")
}
