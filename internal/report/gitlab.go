package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"

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
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(issues); err != nil {
		return fmt.Errorf("encode gitlab report: %w", err)
	}
	return flush(w, &b, FormatGitLab)
}
