package tune

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/exp/teatest"

	"github.com/pgadvisor/advisor/internal/rules"
	"github.com/pgadvisor/advisor/sampleapp/sampletest"
)

func poolProposal() Proposal {
	return Proposal{Step: 1, Finding: poolProblem.finding, Action: Action{"pool", "sized"}, Current: "per-request",
		Ranked: []rules.Finding{poolProblem.finding}}
}

// The program asks about the proposal Decide gives it, with no Proposing
// event; a proposal answered on its Proposing event is not asked again.
func TestModelAsksAboutTheProposalDecideGives(t *testing.T) {
	answers := make(chan Decision, 1)
	tm := teatest.NewTestModel(t, newModel(answers), teatest.WithInitialTermSize(140, 50))
	p := poolProposal()
	tm.Send(askMsg{p})
	teatest.WaitFor(t, tm.Output(), func(b []byte) bool {
		return bytes.Contains(b, []byte("apply pool=sized? [y/n/q]"))
	}, teatest.WithDuration(5*time.Second))
	tm.Send(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("n")})
	if d := <-answers; d != Skip {
		t.Errorf("answer %v, want Skip", d)
	}

	// Answered on the Proposing event before Decide asked: the ask finds
	// the answer given, and a second key is no answer.
	p.Step, p.Action, p.Current = 2, Action{"hops", "inproc"}, "http"
	tm.Send(stateMsg{kind: Proposing, step: 2, proposal: &p})
	tm.Send(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("y")})
	if d := <-answers; d != Apply {
		t.Errorf("answer %v, want Apply", d)
	}
	tm.Send(askMsg{p})
	tm.Send(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("y")})
	tm.Send(doneMsg{})
	tm.WaitFinished(t, teatest.WithFinalTimeout(5*time.Second))
	if len(answers) != 0 {
		t.Error("a proposal already answered was asked again")
	}
}

// UI.Decide shows the proposal it is given, with no event forwarded.
func TestUIDecideShowsTheProposalItIsGiven(t *testing.T) {
	pr, pw := io.Pipe()
	defer pw.Close()
	// The program's renderer writes while the test reads.
	var out sampletest.LockedBuffer
	ui := NewUI(pr, &out, tea.WithoutSignalHandler())
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	go func() {
		for !strings.Contains(out.String(), "apply pool=sized? [y/n/q]") {
			if ctx.Err() != nil {
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
		_, _ = pw.Write([]byte("y"))
	}()
	var d Decision
	_, err := ui.Run(ctx, func(ctx context.Context) (*Result, error) {
		var err error
		d, err = ui.Decide(ctx, poolProposal())
		return &Result{}, err
	})
	if err != nil || d != Apply {
		t.Errorf("decision %v, err %v; want Apply", d, err)
	}
}
