package report

import (
	"bytes"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/pgadvisor/advisor/internal/rules"
)

// GitHubActions prints a report as GitHub Actions workflow commands: one
// annotation per finding, which GitHub shows on the run's summary and, when
// the file is part of a pull request's diff, beside its line.
//
//	::error file=advisor.yaml,line=1,title=advisor%3A db.missing-index::Sequential scans...
//
// The command is the severity's: critical is ::error, warning ::warning,
// info ::notice; a finding the baseline knows is a ::notice whatever its
// severity, since it does not fail the run. The file and line are those of
// the other code-host formats (see place): the finding's file:line when it is
// in the repository, else line 1 of Anchor. The title names the rule; the
// message holds the title, the subject, the fix, its SQL, what it saves and,
// for a finding measured on the running service, where.
//
// Values are escaped as GitHub's runner reads them back (see
// escapeGitHubData and escapeGitHubProperty), so that no text from a probed
// system can end a command or start another.
//
// A comparison's regressions are one annotation each on line 1 of Anchor:
// ::error with FailOnRegression, else ::warning.
type GitHubActions struct {
	WorkDir    string
	ModulePath string
	Anchor     string
	// FailOnRegression makes the regressions errors.
	FailOnRegression bool
}

// githubCommand maps a severity to the annotation's command.
func githubCommand(s rules.Severity) string {
	switch s {
	case rules.Critical:
		return "error"
	case rules.Warning:
		return "warning"
	}
	return "notice"
}

// Print writes the report.
func (p *GitHubActions) Print(w io.Writer, r *Report) error {
	var b bytes.Buffer
	for i := range r.Findings {
		f := &r.Findings[i]
		at := place(f, p.WorkDir, p.ModulePath, p.Anchor)
		cmd := githubCommand(f.Severity)
		title := "advisor: " + f.Rule
		if r.Known(f) {
			cmd = "notice"
			title += " (known)"
		}
		fmt.Fprintf(&b, "::%s file=%s,line=%d,title=%s::%s\n", cmd,
			escapeGitHubProperty(at.File), at.Line, escapeGitHubProperty(title),
			escapeGitHubData(githubMessage(r, f, at)))
	}
	if c := r.Comparison; c != nil {
		cmd := "warning"
		if p.FailOnRegression {
			cmd = "error"
		}
		anchor := p.Anchor
		if anchor == "" {
			anchor = DefaultAnchor
		}
		for _, g := range sortedRegressions(c) {
			fmt.Fprintf(&b, "::%s file=%s,line=1,title=%s::%s\n", cmd, escapeGitHubProperty(filepath.ToSlash(anchor)),
				escapeGitHubProperty("advisor: regression of "+g.Metric),
				escapeGitHubData(sanitize("Regression against "+comparedHead(c)+": "+regressionText(&g))))
		}
	}
	return flush(w, &b, FormatGitHub)
}

// githubMessage is an annotation's text: the SARIF message (title, subject,
// fix), then the fix's SQL, what the fix saves, and the notes on where the
// finding was measured and whether the baseline knows it.
func githubMessage(r *Report, f *Finding, at placement) string {
	parts := []string{sarifMessage(f)}
	if sql := strings.TrimSpace(f.Fix.SQL); sql != "" {
		parts = append(parts, sql)
	}
	var notes []string
	if s := savingText(f.Saves); s != "" {
		s = strings.ToUpper(s[:1]) + s[1:]
		if basis := inline(f.Saves.Basis); basis != "" {
			s += ": " + basis
		}
		notes = append(notes, s+".")
	}
	if !at.InRepo {
		note := "Measured on the running service"
		if f.Location != "" {
			note += " at " + f.Location
		}
		notes = append(notes, note+", not at a line of this repository. More: advisor rules explain "+f.Rule)
	}
	if r.Known(f) {
		notes = append(notes, "Known from the baseline: it does not fail the run.")
	}
	if len(notes) > 0 {
		parts = append(parts, strings.Join(notes, "\n"))
	}
	return sanitize(strings.Join(parts, "\n\n"))
}

// escapeGitHubData escapes a workflow command's message as the Actions
// runner unescapes it: % first, then carriage return and line feed, so that
// a message of several lines stays one command.
func escapeGitHubData(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A").Replace(s)
}

// escapeGitHubProperty escapes a property value (file, title): as a message,
// and also the colon and comma that end a value.
func escapeGitHubProperty(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A", ":", "%3A", ",", "%2C").Replace(s)
}
