package report

import (
	"bytes"
	"strconv"
	"strings"
	"testing"

	"github.com/pgadvisor/advisor/internal/rules"
)

// workflowCommand is a workflow command as the GitHub Actions runner reads
// it from a log line.
type workflowCommand struct {
	name  string
	props map[string]string
	data  string
}

// parseWorkflowCommand reads a log line as the runner does (actions/runner,
// src/Runner.Common/ActionCommand.cs, TryParseV2): leading spaces trimmed,
// "::", the command and its properties up to the next "::", the properties
// split at commas and at their first "=", values and data unescaped in the
// runner's order, %25 last.
func parseWorkflowCommand(line string) (workflowCommand, bool) {
	line = strings.TrimLeft(line, " \t")
	if !strings.HasPrefix(line, "::") {
		return workflowCommand{}, false
	}
	end := strings.Index(line[2:], "::")
	if end < 0 {
		return workflowCommand{}, false
	}
	info, data := line[2:2+end], line[2+end+2:]
	name, props, _ := strings.Cut(info, " ")
	c := workflowCommand{name: name, props: map[string]string{}}
	unescape := func(s string, property bool) string {
		pairs := []string{"%0D", "\r", "%0A", "\n"}
		if property {
			pairs = append(pairs, "%3A", ":", "%2C", ",")
		}
		pairs = append(pairs, "%25", "%")
		for i := 0; i < len(pairs); i += 2 {
			s = strings.ReplaceAll(s, pairs[i], pairs[i+1])
		}
		return s
	}
	for _, p := range strings.Split(strings.TrimSpace(props), ",") {
		if k, v, ok := strings.Cut(p, "="); ok && k != "" && v != "" {
			c.props[k] = unescape(v, true)
		}
	}
	c.data = unescape(data, false)
	return c, true
}

func printGitHub(t *testing.T, r *Report, opts Options) string {
	t.Helper()
	var b bytes.Buffer
	if err := Print(&b, FormatGitHub, r, opts); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestGitHubAnnotations reads the fixture's annotations back as the runner
// does: one command per finding, by severity (known findings as notices),
// at the place SARIF uses, the rule in the title, the message whole.
func TestGitHubAnnotations(t *testing.T) {
	r := fixtureSplitReport()
	opts := fixtureOptions()
	out := printGitHub(t, r, opts)
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != len(r.Findings) {
		t.Fatalf("%d lines for %d findings:\n%s", len(lines), len(r.Findings), out)
	}
	want := map[string]string{"app.blocking-io": "error", "db.missing-index": "error", "app.inline-work": "warning",
		"db.n-plus-one": "warning", "pool.oversized": "notice", "db.unused-index": "notice", "probe.unavailable": "notice"}
	for i, line := range lines {
		f := &r.Findings[i]
		c, ok := parseWorkflowCommand(line)
		if !ok {
			t.Fatalf("line %d is not a workflow command: %q", i+1, line)
		}
		if c.name != want[f.Rule] {
			t.Errorf("%s: ::%s, want ::%s", f.Rule, c.name, want[f.Rule])
		}
		at := place(f, opts.WorkDir, opts.ModulePath, opts.Anchor)
		if c.props["file"] != at.File || c.props["line"] != strconv.Itoa(at.Line) {
			t.Errorf("%s: file=%q line=%q, want %s:%d", f.Rule, c.props["file"], c.props["line"], at.File, at.Line)
		}
		if !strings.HasPrefix(c.props["title"], "advisor: "+f.Rule) {
			t.Errorf("%s: title %q", f.Rule, c.props["title"])
		}
		if c.data != githubMessage(r, f, at) {
			t.Errorf("%s: message read back as\n%q\nwant\n%q", f.Rule, c.data, githubMessage(r, f, at))
		}
		if !strings.Contains(c.data, f.Fix.Summary) || (f.Fix.SQL != "" && !strings.Contains(c.data, f.Fix.SQL)) {
			t.Errorf("%s: message lacks the fix: %q", f.Rule, c.data)
		}
	}
	// The two findings with a file of the repository are placed on it.
	for _, l := range []string{"file=internal/orders/handler.go,line=87,", "file=internal/mail/send.go,line=41,"} {
		if !strings.Contains(out, l) {
			t.Errorf("no annotation at %s:\n%s", l, out)
		}
	}
	if !strings.Contains(out, "title=advisor%3A pool.oversized (known)::") {
		t.Errorf("the known finding's title does not say so:\n%s", out)
	}
	if got := printGitHub(t, New(fixtureTime, 0, nil, nil, Baseline{}), opts); got != "" {
		t.Errorf("a report without findings prints %q, want nothing", got)
	}
}

// TestGitHubEscaping: text from the probed systems, and file names, cannot
// end the command, start another or change a property; the runner reads
// every value back unchanged.
func TestGitHubEscaping(t *testing.T) {
	for _, tc := range []struct{ in, data, prop string }{
		{"plain", "plain", "plain"},
		{"100%", "100%25", "100%25"},
		{"a\r\nb", "a%0D%0Ab", "a%0D%0Ab"},
		{"key: a, b", "key: a, b", "key%3A a%2C b"},
		{"%0A stays", "%250A stays", "%250A stays"},
		{"::error::x", "::error::x", "%3A%3Aerror%3A%3Ax"},
	} {
		if got := escapeGitHubData(tc.in); got != tc.data {
			t.Errorf("escapeGitHubData(%q) = %q, want %q", tc.in, got, tc.data)
		}
		if got := escapeGitHubProperty(tc.in); got != tc.prop {
			t.Errorf("escapeGitHubProperty(%q) = %q, want %q", tc.in, got, tc.prop)
		}
	}

	hostile := rules.Finding{
		Rule:     "db.slow-query",
		Severity: rules.Warning,
		Title:    "slow query\n::error file=x.go,line=1::injected",
		Subject:  "public.t,1:2 = 100%0A",
		Fix:      rules.Fix{Summary: "Rewrite it;\r\nthen check 50% of the plan.", SQL: "SELECT 1 WHERE a = ',:'"},
		Location: "/srv/shop/odd,name:x%25.go:12",
	}
	r := New(fixtureTime, 0, nil, []rules.Finding{hostile}, Baseline{})
	out := printGitHub(t, r, fixtureOptions())
	if strings.Count(out, "\n") != 1 || !strings.HasSuffix(out, "\n") {
		t.Fatalf("one finding printed on more than one line:\n%s", out)
	}
	c, ok := parseWorkflowCommand(strings.TrimSuffix(out, "\n"))
	if !ok || c.name != "warning" {
		t.Fatalf("not a ::warning command: %q", out)
	}
	if c.props["file"] != "odd,name:x%25.go" || c.props["line"] != "12" || c.props["title"] != "advisor: db.slow-query" || len(c.props) != 3 {
		t.Errorf("properties read back as %q", c.props)
	}
	f := &r.Findings[0]
	if want := githubMessage(r, f, place(f, "/srv/shop", "", "")); c.data != want {
		t.Errorf("message read back as\n%q\nwant\n%q", c.data, want)
	}
	for _, s := range []string{"slow query\n::error file=x.go,line=1::injected", "public.t,1:2 = 100%0A", "then check 50% of the plan", "',:'"} {
		if !strings.Contains(c.data, s) {
			t.Errorf("message lost %q: %q", s, c.data)
		}
	}
}
