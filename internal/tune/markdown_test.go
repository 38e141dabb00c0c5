package tune

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/x/exp/golden"

	"github.com/pgadvisor/advisor/internal/rules"
)

// TestWriteMarkdownGolden prints a scripted run (fixes kept and reverted, one
// with evidence, skipped and remaining findings) as Markdown and compares
// it with testdata/TestWriteMarkdownGolden.golden (go test -run
// TestWriteMarkdownGolden -update rewrites it). Each fix is a list item
// with its finding, evidence and fix as nested items, never headings.
func TestWriteMarkdownGolden(t *testing.T) {
	svc := newFake(t, lockProblem, hopsProblem, poolProblem, indexProblem)
	svc.extra = append(svc.extra, finding("db.slow-query", "queryid 7", rules.Warning, 0.1))
	res, err := Run(context.Background(), Config{Measurer: svc, Knobs: svc})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	info := RunInfo{Command: "advisor tune --auto --out tune.md", Target: "sampleapp", Duration: 15 * time.Second, Connections: 64}
	if err := WriteMarkdown(&b, info, res, "tune.svg"); err != nil {
		t.Fatal(err)
	}
	for i, line := range strings.Split(b.String(), "\n") {
		if strings.HasPrefix(line, "#") && !strings.HasPrefix(line, "# advisor tune") && !strings.HasPrefix(line, "## ") ||
			strings.HasPrefix(line, "## ") && strings.HasPrefix(strings.TrimPrefix(line, "## "), " ") {
			t.Errorf("line %d is not a heading of a section: %q", i+1, line)
		}
	}
	golden.RequireEqual(t, b.Bytes())
}
