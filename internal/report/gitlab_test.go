package report

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/pgadvisor/advisor/internal/rules"
)

func printGitLab(t *testing.T, r *Report, opts Options) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := Print(&b, FormatGitLab, r, opts); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestGitLabMatchesSchema validates the output against the shape GitLab's
// documentation gives the report (schema/gitlab-code-quality.schema.json),
// and checks that the validation is live.
func TestGitLabMatchesSchema(t *testing.T) {
	sch := compileSchema(t, "gitlab-code-quality.schema.json")
	cases := map[string][]byte{
		"fixture":    printGitLab(t, fixtureReport(), fixtureOptions()),
		"split":      printGitLab(t, fixtureSplitReport(), fixtureOptions()),
		"no options": printGitLab(t, fixtureReport(), Options{}),
		"empty":      printGitLab(t, New(fixtureTime, 0, nil, nil, Baseline{}), fixtureOptions()),
	}
	for name, data := range cases {
		if err := validate(sch, data); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		if bytes.HasPrefix(data, []byte("\xef\xbb\xbf")) {
			t.Errorf("%s: starts with a byte order mark, which GitLab's parser rejects", name)
		}
	}
	for name, mutate := range map[string]func(issue map[string]any){
		"severity warning": func(i map[string]any) { i["severity"] = "warning" },
		"no fingerprint":   func(i map[string]any) { delete(i, "fingerprint") },
		"no line":          func(i map[string]any) { delete(i["location"].(map[string]any), "lines") },
		"absolute path":    func(i map[string]any) { i["location"].(map[string]any)["path"] = "/srv/shop/go.mod" },
		"parent path":      func(i map[string]any) { i["location"].(map[string]any)["path"] = "../go.mod" },
	} {
		var doc []map[string]any
		if err := json.Unmarshal(cases["fixture"], &doc); err != nil {
			t.Fatal(err)
		}
		mutate(doc[0])
		data, err := json.Marshal(doc)
		if err != nil {
			t.Fatal(err)
		}
		if err := validate(sch, data); err == nil {
			t.Errorf("the schema accepts an issue with %s", name)
		}
	}
}

// TestGitLabIssues checks what GitLab does with the issues: one per finding,
// keyed by the finding's fingerprint (unique, stable across runs), the
// severity mapped, placed where SARIF places the result.
func TestGitLabIssues(t *testing.T) {
	r := fixtureReport()
	var issues []struct {
		Description string `json:"description"`
		CheckName   string `json:"check_name"`
		Fingerprint string `json:"fingerprint"`
		Severity    string `json:"severity"`
		Location    struct {
			Path  string `json:"path"`
			Lines struct {
				Begin int `json:"begin"`
			} `json:"lines"`
		} `json:"location"`
	}
	if err := json.Unmarshal(printGitLab(t, r, fixtureOptions()), &issues); err != nil {
		t.Fatal(err)
	}
	if len(issues) != len(r.Findings) {
		t.Fatalf("%d issues for %d findings", len(issues), len(r.Findings))
	}
	severity := map[rules.Severity]string{rules.Critical: "critical", rules.Warning: "major", rules.Info: "info"}
	seen := map[string]bool{}
	for i, is := range issues {
		f := &r.Findings[i]
		if is.CheckName != f.Rule || is.Fingerprint != f.Fingerprint || is.Severity != severity[f.Severity] {
			t.Errorf("issue %d: %s %s %s for %s %s %s", i, is.CheckName, is.Fingerprint, is.Severity, f.Rule, f.Fingerprint, f.Severity)
		}
		if seen[is.Fingerprint] {
			t.Errorf("fingerprint %s twice: GitLab would show one issue", is.Fingerprint)
		}
		seen[is.Fingerprint] = true
		if is.Description != inline(sarifMessage(f)) {
			t.Errorf("%s: description %q", f.Rule, is.Description)
		}
		want := map[string]string{"app.blocking-io": "internal/orders/handler.go", "app.inline-work": "internal/mail/send.go"}[f.Rule]
		line := map[string]int{"app.blocking-io": 87, "app.inline-work": 41}[f.Rule]
		if want == "" {
			want, line = "advisor.yaml", 1
		}
		if is.Location.Path != want || is.Location.Lines.Begin != line {
			t.Errorf("%s: at %s:%d, want %s:%d", f.Rule, is.Location.Path, is.Location.Lines.Begin, want, line)
		}
	}
	if got := string(printGitLab(t, New(fixtureTime, 0, nil, nil, Baseline{}), Options{})); got != "[]\n" {
		t.Errorf("a report without findings prints %q, want an empty array", got)
	}
}
