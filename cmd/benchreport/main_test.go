package main

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pgadvisor/advisor/internal/benchreport"
)

// docCopy copies docs/benchmarks.md into a temporary directory and returns
// its path and text; the test's directory becomes the repository's root.
func docCopy(t *testing.T) (string, string) {
	t.Helper()
	t.Chdir("../..")
	data, err := os.ReadFile("docs/benchmarks.md")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "benchmarks.md")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path, string(data)
}

func rowLines(t *testing.T, doc string) map[string]string {
	t.Helper()
	lines, err := benchreport.DocRows([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	return lines
}

// The real thing on its cheapest row: the UI benchmark runs, its figure
// replaces the old one with today's date, and every other row stays as it
// was.
func TestOnlyUIViewEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the UI benchmark: not with -short")
	}
	doc, before := docCopy(t)
	logs := t.TempDir()
	var stdout, stderr strings.Builder
	code := run(context.Background(), []string{"--only", "ui-view", "--doc", doc, "--log-dir", logs}, benchreport.All, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, stderr.String())
	}
	data, err := os.ReadFile(doc)
	if err != nil {
		t.Fatal(err)
	}
	old, cur := rowLines(t, before), rowLines(t, string(data))
	line := cur["ui-view"]
	want := regexp.MustCompile(`^\| attach frame .* \| \d+\.\d\d / \d+\.\d\d ms \(mean \d+\.\d\d / \d+\.\d\d ms\), \d+-\d+ MB RSS \| ` +
		"`" + regexp.QuoteMeta("go test -run '^$' -bench View -benchtime 200x ./internal/ui") + "`" +
		` \| ` + time.Now().UTC().Format("2006-01-02") + `, took \d+ (s|min)(, load [0-9.]+ on \d+ cores)? \| ` + "`ui-view`" + ` \|$`)
	if !want.MatchString(line) {
		t.Errorf("ui-view row:\n%s\nwant it to match %s", line, want)
	}
	for id, l := range old {
		if id != "ui-view" && cur[id] != l {
			t.Errorf("row %s changed:\n%s\n%s", id, l, cur[id])
		}
	}
	// Outside the table, nothing changed.
	strip := func(s string) string {
		return s[:strings.Index(s, benchreport.BeginMarker)] + s[strings.Index(s, benchreport.EndMarker):]
	}
	if strip(string(data)) != strip(before) {
		t.Error("the document changed outside its table")
	}
	entries, err := os.ReadDir(logs)
	if err != nil || len(entries) != 1 {
		t.Errorf("logs kept: %v, %v", entries, err)
	}
}

// A failing job: its row stays as it was, and the exit status and the
// message name the job.
func TestFailingJobKeepsRow(t *testing.T) {
	doc, before := docCopy(t)
	rows := append([]benchreport.Row(nil), benchreport.All...)
	for i, r := range rows {
		if r.ID == "probe-round" {
			rows[i].Job = benchreport.Job{Command: "echo no database here; exit 7"}
		}
	}
	var stdout, stderr strings.Builder
	code := run(context.Background(), []string{"--only", "probe-round", "--doc", doc, "--log-dir", t.TempDir()}, rows, &stdout, &stderr)
	if code == 0 {
		t.Fatal("exit 0 after a failed job")
	}
	if !strings.Contains(stderr.String(), "job `echo no database here; exit 7` (rows probe-round)") || !strings.Contains(stderr.String(), "no database here") {
		t.Errorf("stderr does not name the job and its output:\n%s", stderr.String())
	}
	if data, _ := os.ReadFile(doc); string(data) != before {
		t.Error("the document changed although nothing was measured")
	}
}

func TestUsage(t *testing.T) {
	doc, before := docCopy(t)
	var stdout, stderr strings.Builder
	if code := run(context.Background(), []string{"--list"}, benchreport.All, &stdout, &stderr); code != 0 {
		t.Errorf("--list: exit %d", code)
	}
	for _, r := range benchreport.All {
		if !strings.Contains(stdout.String(), r.ID+" ") || !strings.Contains(stdout.String(), r.Job.Command) {
			t.Errorf("--list lacks %s", r.ID)
		}
	}
	if code := run(context.Background(), []string{"--only", "nope", "--doc", doc}, benchreport.All, &stdout, &stderr); code != 2 || !strings.Contains(stderr.String(), `"nope"`) {
		t.Errorf("--only nope: exit %d, %s", code, stderr.String())
	}
	// A document without markers is refused before any benchmark runs.
	bare := filepath.Join(t.TempDir(), "bare.md")
	if err := os.WriteFile(bare, []byte("# nothing\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	stderr.Reset()
	if code := run(context.Background(), []string{"--only", "ui-view", "--doc", bare}, benchreport.All, &stdout, &stderr); code != 1 || !strings.Contains(stderr.String(), benchreport.BeginMarker) || strings.Contains(stderr.String(), "job 1/") {
		t.Errorf("no markers: exit %d, %s", code, stderr.String())
	}
	if data, _ := os.ReadFile(doc); string(data) != before {
		t.Error("the document changed")
	}
}

// --no-run adds a row new to the list as not measured yet and keeps the
// others, without running anything.
func TestNoRunAddsNewRow(t *testing.T) {
	doc, before := docCopy(t)
	rows := append(append([]benchreport.Row(nil), benchreport.All...), benchreport.Row{
		ID: "new-row", What: "something new", Job: benchreport.Job{Command: "exit 9"},
		Figure: func(*benchreport.Output) (string, error) { return "", nil },
	})
	var stdout, stderr strings.Builder
	if code := run(context.Background(), []string{"--no-run", "--doc", doc}, rows, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	data, err := os.ReadFile(doc)
	if err != nil {
		t.Fatal(err)
	}
	old, cur := rowLines(t, before), rowLines(t, string(data))
	if got, want := cur["new-row"], "| something new | not measured yet | `exit 9` | — | `new-row` |"; got != want {
		t.Errorf("new row %q, want %q", got, want)
	}
	for id, l := range old {
		if cur[id] != l {
			t.Errorf("row %s changed:\n%s\n%s", id, l, cur[id])
		}
	}
}
