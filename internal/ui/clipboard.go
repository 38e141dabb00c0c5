package ui

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strings"

	"github.com/aymanbagabas/go-osc52/v2"
	tea "github.com/charmbracelet/bubbletea"
)

// Clipboard copies text somewhere a person can paste it from.
type Clipboard interface {
	// Copy copies text and says where it went.
	Copy(text string) (where string, err error)
}

// ErrNoClipboard says that no clipboard was found.
var ErrNoClipboard = errors.New("no clipboard: no wl-copy, xclip, xsel or pbcopy, and the terminal does not take OSC 52; open the finding (enter) and select the fix, or export the report (e)")

// SystemClipboard returns the clipboard of this machine: a clipboard tool
// when one runs in this session (wl-copy under Wayland, xclip or xsel under
// X11, pbcopy on macOS), else the terminal's clipboard through an OSC 52
// escape sequence written to term when it is a terminal that may take it.
// Its Copy fails with ErrNoClipboard when there is neither.
func SystemClipboard(term io.Writer, isTerminal bool) Clipboard {
	return &systemClipboard{term: term, isTerminal: isTerminal, getenv: os.Getenv, lookPath: exec.LookPath}
}

type systemClipboard struct {
	term       io.Writer
	isTerminal bool
	getenv     func(string) string
	lookPath   func(string) (string, error)
}

// tool returns the clipboard command of this session, if any.
func (c *systemClipboard) tool() []string {
	var candidates [][]string
	if c.getenv("WAYLAND_DISPLAY") != "" {
		candidates = append(candidates, []string{"wl-copy"})
	}
	if c.getenv("DISPLAY") != "" {
		candidates = append(candidates, []string{"xclip", "-selection", "clipboard"}, []string{"xsel", "--clipboard", "--input"})
	}
	if runtime.GOOS == "darwin" {
		candidates = append(candidates, []string{"pbcopy"})
	}
	for _, cand := range candidates {
		if _, err := c.lookPath(cand[0]); err == nil {
			return cand
		}
	}
	return nil
}

func (c *systemClipboard) Copy(text string) (string, error) {
	if t := c.tool(); t != nil {
		cmd := exec.Command(t[0], t[1:]...)
		cmd.Stdin = strings.NewReader(text)
		if err := cmd.Run(); err != nil {
			return "", fmt.Errorf("%s: %w", t[0], err)
		}
		return t[0], nil
	}
	term := c.getenv("TERM")
	if !c.isTerminal || c.term == nil || term == "dumb" || term == "linux" || term == "" {
		return "", ErrNoClipboard
	}
	seq := osc52.New(text)
	if c.getenv("TMUX") != "" {
		seq = seq.Tmux()
	} else if strings.HasPrefix(term, "screen") {
		seq = seq.Screen()
	}
	if _, err := seq.WriteTo(c.term); err != nil {
		return "", fmt.Errorf("OSC 52: %w", err)
	}
	return "the terminal's clipboard (OSC 52)", nil
}

// copyCmd copies text in a command and reports in the status line.
func copyCmd(c Clipboard, text string) tea.Cmd {
	return func() tea.Msg {
		if c == nil {
			return StatusMsg(ErrNoClipboard.Error())
		}
		where, err := c.Copy(text)
		if err != nil {
			return StatusMsg("copy failed: " + err.Error())
		}
		return StatusMsg(fmt.Sprintf("fix copied to %s (%d lines)", where, strings.Count(text, "\n")+1))
	}
}
