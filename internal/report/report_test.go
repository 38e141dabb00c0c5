package report

import (
	"bytes"
	"errors"
	"io"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pgadvisor/advisor/internal/probe"
	"github.com/pgadvisor/advisor/internal/rules"
)

func TestNew(t *testing.T) {
	r := fixtureReport()
	if r.Schema != SchemaID || r.WindowSeconds != 10 {
		t.Errorf("schema %q window %v", r.Schema, r.WindowSeconds)
	}
	if !r.GeneratedAt.Equal(time.Date(2026, 3, 14, 9, 26, 53, 0, time.UTC)) {
		t.Errorf("generated_at = %v, want the fixture time to the second", r.GeneratedAt)
	}
	if r.Summary != (Summary{Critical: 2, Warning: 3, Info: 2}) {
		t.Errorf("summary = %+v", r.Summary)
	}
	var order []string
	for _, f := range r.Findings {
		order = append(order, f.Rule)
		if f.Fingerprint != f.Finding.Fingerprint() {
			t.Errorf("%s: fingerprint %q, want %q", f.Rule, f.Fingerprint, f.Finding.Fingerprint())
		}
	}
	want := "db.missing-index app.blocking-io app.inline-work pool.oversized db.n-plus-one db.unused-index probe.unavailable"
	if got := strings.Join(order, " "); got != want {
		t.Errorf("order = %s\nwant    %s", got, want)
	}
	if r.KnownCount() != 1 || !r.Known(&r.Findings[3]) {
		t.Errorf("known = %v", r.KnownFingerprints)
	}
	if r.AllUnavailable() {
		t.Error("AllUnavailable with three sources ok")
	}

	// New does not reorder the caller's findings.
	fs := fixtureFindings()
	New(fixtureTime, 0, nil, fs, Baseline{})
	if fs[0].Rule != "db.unused-index" {
		t.Error("New sorted the caller's slice")
	}
}

func TestNewFillsSources(t *testing.T) {
	r := New(fixtureTime, 0, map[string]Source{probe.Postgres: {Status: StatusError, Detail: "bad"}}, nil, Baseline{})
	for _, name := range probe.SourceNames {
		if _, ok := r.Sources[name]; !ok {
			t.Errorf("source %s missing", name)
		}
	}
	if r.Sources[probe.Redis].Status != StatusUnavailable || r.Sources[probe.Postgres].Detail != "bad" {
		t.Errorf("sources = %+v", r.Sources)
	}
	if !r.AllUnavailable() {
		t.Error("AllUnavailable false with no source ok")
	}
	if r.Findings == nil || r.KnownFingerprints == nil {
		t.Error("nil slices would print as null")
	}
}

func TestFailing(t *testing.T) {
	r := fixtureReport()
	rulesOf := func(fs []Finding) string {
		var ids []string
		for _, f := range fs {
			ids = append(ids, f.Rule)
		}
		return strings.Join(ids, " ")
	}
	for _, tc := range []struct {
		threshold rules.Severity
		want      string
	}{
		{rules.Critical, "db.missing-index app.blocking-io"},
		// pool.oversized is a warning, but known.
		{rules.Warning, "db.missing-index app.blocking-io app.inline-work db.n-plus-one"},
		{rules.Info, "db.missing-index app.blocking-io app.inline-work db.n-plus-one db.unused-index probe.unavailable"},
		{rules.Never, ""},
	} {
		if got := rulesOf(r.Failing(tc.threshold)); got != tc.want {
			t.Errorf("Failing(%s) = %q, want %q", tc.threshold, got, tc.want)
		}
	}
}

func TestParseFormat(t *testing.T) {
	for in, want := range map[string]Format{
		"text": FormatText, "markdown": FormatMarkdown, "md": FormatMarkdown, "MD": FormatMarkdown,
		"json": FormatJSON, "sarif": FormatSARIF, "junit": FormatJUnit, " json ": FormatJSON,
		"github-actions": FormatGitHub, "GitLab": FormatGitLab, "code-climate": FormatGitLab,
	} {
		got, err := ParseFormat(in)
		if err != nil || got != want {
			t.Errorf("ParseFormat(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "yaml", "xml", "html", "github", "sarif:a.sarif"} {
		if _, err := ParseFormat(in); err == nil {
			t.Errorf("ParseFormat(%q) succeeded", in)
		}
	}
	for _, f := range Formats {
		if _, err := NewPrinter(f, Options{}); err != nil {
			t.Errorf("NewPrinter(%s): %v", f, err)
		}
	}
	if err := Print(io.Discard, Format("yaml"), fixtureReport(), Options{}); err == nil {
		t.Error("Print with an invalid format succeeded")
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestPrintWriteError(t *testing.T) {
	for _, f := range Formats {
		err := Print(failWriter{}, f, fixtureReport(), fixtureOptions())
		if err == nil || !strings.Contains(err.Error(), "disk full") {
			t.Errorf("%s: error %v, want the writer's", f, err)
		}
	}
	if err := WriteBaseline(failWriter{}, fixtureFindings()); err == nil {
		t.Error("WriteBaseline: no error from a failing writer")
	}
}

// TestTextSanitizes checks that text from the probed systems (a table name,
// a query) cannot send terminal escapes through the text format.
func TestTextSanitizes(t *testing.T) {
	f := rules.Finding{
		Rule: "db.slow-query", Severity: rules.Warning,
		Title:    "slow \x1b]0;pwned\x07 query",
		Subject:  "public.\x1b[2Jevil",
		Evidence: map[string]any{"query": "SELECT 1\x1b[5m"},
		Fix:      rules.Fix{Summary: "fix\x9b", SQL: "SELECT\t1;\x1b[0m"},
	}
	src := map[string]Source{probe.Redis: {Status: StatusError, Detail: "bad reply \x1b[1m"}}
	for _, color := range []bool{false, true} {
		var b bytes.Buffer
		if err := Print(&b, FormatText, New(fixtureTime, 0, src, []rules.Finding{f}, Baseline{}), Options{Color: color}); err != nil {
			t.Fatal(err)
		}
		out := b.String()
		for _, bad := range []string{"\x1b]", "\x1b[2J", "\x1b[5m", "\x9b", "\x07"} {
			if strings.Contains(out, bad) {
				t.Errorf("color %v: output holds %q", color, bad)
			}
		}
		if !color && strings.Contains(out, "\x1b") {
			t.Errorf("output without colour holds an escape:\n%q", out)
		}
		if !strings.Contains(out, "evil") || !strings.Contains(out, "SELECT    1;") {
			t.Errorf("color %v: sanitizing lost the text:\n%s", color, out)
		}
	}
}

func TestColorEnabled(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	t.Setenv("NO_COLOR", "")
	if ColorEnabled(w) {
		t.Error("colour on a pipe")
	}
	if ColorEnabled(nil) {
		t.Error("colour on nil")
	}
}

// TestColorOnTerminal needs a pseudo-terminal: it is skipped, and says so,
// where none can be opened.
func TestColorOnTerminal(t *testing.T) {
	tty := openTTY(t)
	t.Setenv("NO_COLOR", "")
	if !ColorEnabled(tty) {
		t.Error("no colour on a terminal with NO_COLOR empty")
	}
	t.Setenv("NO_COLOR", "1")
	if ColorEnabled(tty) {
		t.Error("colour on a terminal with NO_COLOR=1")
	}
}

func TestRuleName(t *testing.T) {
	got := []string{ruleName("db.missing-index"), ruleName("app.blocking-io"), ruleName("redis.low-hit-ratio")}
	want := []string{"DbMissingIndex", "AppBlockingIo", "RedisLowHitRatio"}
	if !slices.Equal(got, want) {
		t.Errorf("ruleName = %v, want %v", got, want)
	}
}
