package report

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"

	"github.com/pgadvisor/advisor/internal/rules"
)

// GitLab prints a report as GitLab's Code Quality report, the file of a job's
// artifacts:reports:codequality: a JSON array with one issue per finding,
// which GitLab shows in the merge request widget (findings new or resolved
// against the target branch) and in the pipeline's Code Quality tab.
//
// Each issue has the fields GitLab reads: description (the SARIF message:
// title, subject, fix), check_name (the rule id), fingerprint (the finding's,
// so that an issue is the same issue from run to run), severity (critical is
// critical, warning major, info info) and location (path and lines.begin,
// placed as SARIF places results: see place). It also has the fields Code
// Climate's specification requires, type "issue" and categories
// ["Performance"], so that Code Climate readers take the file too.
type GitLab struct {
	WorkDir    string
	ModulePath string
	Anchor     string
}

// gitlabIssue is one issue, its fields in the order of GitLab's
// documentation, then Code Climate's.
type gitlabIssue struct {
	Description string         `json:"description"`
	CheckName   string         `json:"check_name"`
	Fingerprint string         `json:"fingerprint"`
	Severity    string         `json:"severity"`
	Location    gitlabLocation `json:"location"`
	Type        string         `json:"type"`
	Categories  []string       `json:"categories"`
}

type gitlabLocation struct {
	Path  string      `json:"path"`
	Lines gitlabLines `json:"lines"`
}

type gitlabLines struct {
	Begin int `json:"begin"`
}

// gitlabSeverity maps a severity to one of GitLab's: info, minor, major,
// critical, blocker. None of advisor's findings stops a service, so none is
// a blocker.
func gitlabSeverity(s rules.Severity) string {
	switch s {
	case rules.Critical:
		return "critical"
	case rules.Warning:
		return "major"
	}
	return "info"
}

// Print writes the report.
func (p *GitLab) Print(w io.Writer, r *Report) error {
	issues := make([]gitlabIssue, 0, len(r.Findings))
	for i := range r.Findings {
		f := &r.Findings[i]
		at := place(f, p.WorkDir, p.ModulePath, p.Anchor)
		issues = append(issues, gitlabIssue{
			Type:        "issue",
			CheckName:   f.Rule,
			Description: inline(sarifMessage(f)),
			Categories:  []string{"Performance"},
			Severity:    gitlabSeverity(f.Severity),
			Fingerprint: f.Fingerprint,
			Location:    gitlabLocation{Path: at.File, Lines: gitlabLines{Begin: at.Line}},
		})
	}
	if c := r.Comparison; c != nil {
		// A regression is an issue too, so that the merge request widget
		// shows it; its fingerprint is the route's and the figure's, the
		// same from run to run while it lasts.
		anchor := p.Anchor
		if anchor == "" {
			anchor = DefaultAnchor
		}
		for _, g := range sortedRegressions(c) {
			sum := sha256.Sum256([]byte("advisor.regression\x00" + g.Method + "\x00" + g.Route + "\x00" + g.Metric))
			issues = append(issues, gitlabIssue{
				Type:        "issue",
				CheckName:   "advisor.regression",
				Description: inline("Regression against " + comparedHead(c) + ": " + regressionText(&g)),
				Categories:  []string{"Performance"},
				Severity:    "major",
				Fingerprint: hex.EncodeToString(sum[:12]),
				Location:    gitlabLocation{Path: filepath.ToSlash(anchor), Lines: gitlabLines{Begin: 1}},
			})
		}
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(issues); err != nil {
		return fmt.Errorf("encode gitlab report: %w", err)
	}
	return flush(w, &b, FormatGitLab)
}
