package report

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/x/ansi"

	"github.com/pgadvisor/advisor/internal/probe"
	"github.com/pgadvisor/advisor/internal/rules"
)

var update = flag.Bool("update", false, "rewrite the golden files of testdata/")

// checkGolden compares got with testdata/name, or rewrites the file with
// -update.
func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/report -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the printer's output (run with -update after checking the diff):\n%s",
			path, lineDiff(string(want), string(got)))
	}
}

// lineDiff shows the first lines where want and got differ.
func lineDiff(want, got string) string {
	wl, gl := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	shown := 0
	for i := 0; i < max(len(wl), len(gl)) && shown < 10; i++ {
		var w, g string
		if i < len(wl) {
			w = wl[i]
		}
		if i < len(gl) {
			g = gl[i]
		}
		if w != g {
			b.WriteString("line " + strconv.Itoa(i+1) + ":\n  want: " + w + "\n  got:  " + g + "\n")
			shown++
		}
	}
	return b.String()
}

// checkFormatGoldens prints r in each format and compares it to
// testdata/<name>.<extension>.golden.
func checkFormatGoldens(t *testing.T, name string, r *Report, opts Options, formats ...Format) {
	t.Helper()
	ext := map[Format]string{FormatText: "txt", FormatMarkdown: "md", FormatJSON: "json", FormatSARIF: "sarif", FormatJUnit: "junit",
		FormatGitHub: "github", FormatGitLab: "gitlab"}
	for _, f := range formats {
		t.Run(string(f), func(t *testing.T) {
			var b bytes.Buffer
			if err := Print(&b, f, r, opts); err != nil {
				t.Fatal(err)
			}
			checkGolden(t, name+"."+ext[f]+".golden", b.Bytes())
		})
	}
}

func TestGolden(t *testing.T) {
	checkFormatGoldens(t, "report", fixtureReport(), fixtureOptions(), Formats...)
}

func TestGoldenEmpty(t *testing.T) {
	// A report without findings: everything down but metrics, cumulative.
	r := New(fixtureTime, 0, map[string]Source{
		probe.Metrics: {Status: StatusOK, Detail: "http://127.0.0.1:8080/metrics"},
		probe.Pprof:   {Status: StatusError, Detail: "GET /debug/pprof/goroutine?debug=2: unexpected content type text/html"},
	}, nil, Baseline{})
	checkFormatGoldens(t, "empty", r, Options{}, FormatText, FormatMarkdown, FormatJSON, FormatGitHub, FormatGitLab)
}

// TestTextFitsWidth checks that every line but those of code (SQL, Go),
// which are printed verbatim so that they can be copied, fits the width.
func TestTextFitsWidth(t *testing.T) {
	code := map[string]bool{}
	for _, f := range fixtureFindings() {
		for _, l := range strings.Split(f.Fix.SQL+"\n"+f.Fix.Code, "\n") {
			code[strings.TrimSpace(strings.ReplaceAll(l, "\t", "    "))] = true
		}
	}
	for _, width := range []int{0, 50, 60, 100} {
		fs := append(fixtureFindings(), rules.Finding{
			Rule: "db.slow-query", Severity: rules.Warning, Title: "slow",
			Subject: "queryid 8142 SELECT o.id, o.total, o.created_at FROM orders o JOIN users u ON u.id = o.user_id WHERE u.email = $1",
		})
		r := New(fixtureTime, time.Second, fixtureSources(), fs, fixtureBaseline())
		var b bytes.Buffer
		if err := Print(&b, FormatText, r, Options{Width: width}); err != nil {
			t.Fatal(err)
		}
		limit := width
		if limit == 0 {
			limit = DefaultWidth
		}
		for i, line := range strings.Split(b.String(), "\n") {
			if w := ansi.StringWidth(line); w > limit && !code[strings.TrimSpace(line)] {
				t.Errorf("width %d: line %d is %d columns: %q", width, i+1, w, line)
			}
		}
	}
}

func TestTextColor(t *testing.T) {
	var plain, color bytes.Buffer
	if err := Print(&plain, FormatText, fixtureReport(), Options{}); err != nil {
		t.Fatal(err)
	}
	if err := Print(&color, FormatText, fixtureReport(), Options{Color: true}); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(plain.String(), "\x1b[") {
		t.Error("text without Color holds ANSI escapes")
	}
	if !strings.Contains(color.String(), "\x1b[") {
		t.Fatal("text with Color holds no ANSI escape")
	}
	// Colour changes the styling, never the text.
	if got := ansi.Strip(color.String()); got != plain.String() {
		t.Errorf("text with colour, stripped, differs from text without:\n%s", lineDiff(plain.String(), got))
	}
}

func TestTextMarksKnown(t *testing.T) {
	var b bytes.Buffer
	if err := Print(&b, FormatText, fixtureReport(), Options{}); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(b.String(), "\n")
	var known []string
	for _, l := range lines {
		if strings.Contains(l, "[known]") {
			known = append(known, strings.TrimSpace(l))
		}
	}
	if len(known) != 1 || !strings.HasPrefix(known[0], "pool.oversized") {
		t.Errorf("lines marked known = %q, want the pool.oversized finding only", known)
	}
	if !strings.Contains(b.String(), "(1 known from the baseline)") {
		t.Error("summary line does not count the known finding")
	}
}
