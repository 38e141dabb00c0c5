package tune

import (
	"bytes"
	"context"
	"encoding/xml"
	"io"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/exp/teatest"

	"github.com/pgadvisor/advisor/internal/rules"
)

// scriptedRun is a run with a kept fix, a reverted one and a skipped
// finding, from the scripted service.
func scriptedRun(t *testing.T) *Result {
	t.Helper()
	svc := newFake(t, lockProblem, hopsProblem, poolProblem)
	svc.extra = append(svc.extra, finding("db.slow-query", "queryid 7", rules.Warning, 0.1))
	res, err := Run(context.Background(), Config{Measurer: svc, Knobs: svc})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestWriteText(t *testing.T) {
	res := scriptedRun(t)
	var b bytes.Buffer
	if err := WriteText(&b, res); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"step  fix applied", "(start)", "pool.no-pooling -> pool=sized", "app.lock-contention -> lock=none (reverted)",
		"Fixes, in the order tune chose them", "made things worse (RPS fell", "Findings shown and not applied",
		"no sampleapp knob applies the fix of db.slow-query", "Before / after", "RPS per step", "p95 per step",
		"x6.0", "÷6.0", "Stopped: ",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("text output lacks %q:\n%s", want, out)
		}
	}
}

func TestWriteMarkdownAndSVG(t *testing.T) {
	res := scriptedRun(t)
	var md bytes.Buffer
	info := RunInfo{Command: "advisor tune --auto", Target: "sampleapp", Duration: 15 * time.Second, Connections: 64}
	if err := WriteMarkdown(&md, info, res, "tune.svg"); err != nil {
		t.Fatal(err)
	}
	out := md.String()
	for _, want := range []string{
		"# advisor tune", "```sh\nadvisor tune --auto\n```", "## Steps", "| step | fix applied | RPS |",
		"| 2 | app.lock-contention -> lock=none (reverted) |", "## Before / after", "| RPS | 100.0 | 600.0 | x6.0 |",
		"![RPS and p95 per step](tune.svg)", "## Fixes, in the order tune chose them", "- step 1: `pool.no-pooling`",
		"## Findings of each step", "| 0 | warning | `pool.no-pooling` | 60% |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("markdown lacks %q:\n%s", want, out)
		}
	}
	var svg bytes.Buffer
	if err := WriteSVG(&svg, res.Steps); err != nil {
		t.Fatal(err)
	}
	// Well-formed XML with one point per step and metric, the reverted ones
	// hollow.
	dec := xml.NewDecoder(bytes.NewReader(svg.Bytes()))
	circles, hollow := 0, 0
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("SVG is not well-formed: %v\n%s", err, svg.String())
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "circle" {
			circles++
			for _, a := range se.Attr {
				if a.Name.Local == "fill" && a.Value == "white" {
					hollow++
				}
			}
		}
	}
	reverted := 0
	for _, s := range res.Steps {
		if s.Outcome == Reverted {
			reverted++
		}
	}
	if circles != 2*len(res.Steps) || hollow != 2*reverted {
		t.Errorf("%d points (%d hollow), want %d (%d)", circles, hollow, 2*len(res.Steps), 2*reverted)
	}
	if SVGPath("out/tune.md") != "out/tune.svg" || SVGPath("report") != "report.svg" {
		t.Errorf("SVGPath: %s %s", SVGPath("out/tune.md"), SVGPath("report"))
	}
}

func TestChartScalesToTheLargestStep(t *testing.T) {
	steps := []Step{
		{N: 0, Metrics: Metrics{RPS: 100, P95: 800 * time.Millisecond}},
		{N: 1, Metrics: Metrics{RPS: 400, P95: 200 * time.Millisecond}},
		{N: 2, Metrics: Metrics{RPS: 800, P95: 20 * time.Millisecond}},
	}
	c := Chart(steps, 30, 4)
	lines := strings.Split(c, "\n")
	// RPS: the top row holds only the last step's bar; p95: only the first.
	if !strings.HasPrefix(lines[1], "800 │") || strings.Count(lines[1], "█") != 7 || !strings.HasSuffix(lines[1], "███████") ||
		!strings.Contains(lines[4], "▄▄▄▄▄▄▄ ███████ ███████") {
		t.Errorf("RPS chart:\n%s", c)
	}
	if !strings.Contains(c, "p95 per step (ms)") || !strings.Contains(c, "800 │ ████") {
		t.Errorf("p95 chart:\n%s", c)
	}
}

func TestModelAsksAndAnswers(t *testing.T) {
	answers := make(chan Decision, 1)
	tm := teatest.NewTestModel(t, newModel(answers), teatest.WithInitialTermSize(140, 50))
	res := scriptedRun(t)
	p := &Proposal{Step: 1, Finding: poolProblem.finding, Action: Action{"pool", "sized"}, Current: "per-request",
		Ranked: Rank(res.Steps[0].All, rules.Warning)}
	tm.Send(stateMsg{kind: Proposing, step: 1, proposal: p, steps: res.Steps[:1]})
	teatest.WaitFor(t, tm.Output(), func(b []byte) bool {
		return bytes.Contains(b, []byte("apply pool=sized? [y/n/q]")) && bytes.Contains(b, []byte("on sampleapp: set pool=sized (now per-request)"))
	}, teatest.WithDuration(5*time.Second))
	tm.Send(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("y")})
	select {
	case d := <-answers:
		if d != Apply {
			t.Errorf("answer %v, want Apply", d)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no answer")
	}
	// Keys with nothing proposed do nothing.
	tm.Send(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("n")})
	tm.Send(doneMsg{})
	tm.WaitFinished(t, teatest.WithFinalTimeout(5*time.Second))
	if len(answers) != 0 {
		t.Error("a key with nothing proposed was taken as an answer")
	}
}

// The interactive program drives the loop: y applies, n skips, q quits.
func TestUIRunsTheLoop(t *testing.T) {
	svc := newFake(t, hopsProblem, poolProblem, indexProblem)
	pr, pw := io.Pipe()
	defer pw.Close()
	var out bytes.Buffer
	ui := NewUI(pr, &out, tea.WithoutSignalHandler())
	keys := []string{"n", "y", "q"}
	cfg := Config{Measurer: svc, Knobs: svc, Decider: ui, Events: func(e Event) {
		ui.Event(e)
		if e.Kind == Proposing {
			k := keys[0]
			keys = keys[1:]
			go func() { _, _ = pw.Write([]byte(k)) }()
		}
	}}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := ui.Run(ctx, func(ctx context.Context) (*Result, error) { return Run(ctx, cfg) })
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(stepFixes(res), " "); got != "hops=inproc:kept" {
		t.Errorf("steps %s: want pool declined, hops applied, then quit", got)
	}
	if !strings.Contains(res.Stop, "asked to stop") {
		t.Errorf("stop %q", res.Stop)
	}
}
