package report

import (
	"bytes"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/pgadvisor/advisor/internal/rules"
)

// Format is an output format of `advisor report --format`.
type Format string

// The formats.
const (
	FormatText     Format = "text"
	FormatMarkdown Format = "markdown"
	FormatJSON     Format = "json"
	FormatSARIF    Format = "sarif"
	FormatJUnit    Format = "junit"
	// FormatGitHub is GitHub Actions' workflow commands: one ::error,
	// ::warning or ::notice annotation per finding.
	FormatGitHub Format = "github-actions"
	// FormatGitLab is GitLab's Code Quality report (a subset of Code
	// Climate's issues), for artifacts:reports:codequality.
	FormatGitLab Format = "gitlab"
)

// Formats lists the formats in the order help texts name them.
var Formats = []Format{FormatText, FormatMarkdown, FormatJSON, FormatSARIF, FormatJUnit, FormatGitHub, FormatGitLab}

// FormatNames is the formats' names for help texts and errors:
// "text, markdown, ..., gitlab".
func FormatNames() string {
	names := make([]string, len(Formats))
	for i, f := range Formats {
		names[i] = string(f)
	}
	return strings.Join(names, ", ")
}

// ParseFormat parses a --format value, in any case: text, markdown (or md),
// json, sarif, junit, github-actions, or gitlab (or code-climate,
// golangci-lint's name for the same file).
func ParseFormat(s string) (Format, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "text":
		return FormatText, nil
	case "markdown", "md":
		return FormatMarkdown, nil
	case "json":
		return FormatJSON, nil
	case "sarif":
		return FormatSARIF, nil
	case "junit":
		return FormatJUnit, nil
	case "github-actions":
		return FormatGitHub, nil
	case "gitlab", "code-climate":
		return FormatGitLab, nil
	}
	return "", fmt.Errorf("invalid format %q (want %s)", s, FormatNames())
}

// formatSuffixes maps the endings of file names to the formats they name,
// longer endings first. Only endings that name one format are here: a .json
// file is JSON, never GitLab's Code Quality JSON.
var formatSuffixes = []struct {
	suffix string
	format Format
}{
	{".sarif.json", FormatSARIF},
	{".sarif", FormatSARIF},
	{".json", FormatJSON},
	{".md", FormatMarkdown},
	{".markdown", FormatMarkdown},
	{".xml", FormatJUnit},
	{".txt", FormatText},
}

// FormatOfPath returns the format a file name's extension names, in any
// case: .sarif (and .sarif.json) SARIF, .json JSON, .md and .markdown
// Markdown, .xml JUnit, .txt text. ok is false for any other name.
func FormatOfPath(name string) (f Format, ok bool) {
	base := strings.ToLower(filepath.Base(name))
	for _, s := range formatSuffixes {
		if strings.HasSuffix(base, s.suffix) && len(base) > len(s.suffix) {
			return s.format, true
		}
	}
	return "", false
}

// Extension returns the usual extension of a format's files (".sarif",
// ".xml", ...), "" for github-actions, whose annotations are read from the
// job's log.
func Extension(f Format) string {
	switch f {
	case FormatText:
		return ".txt"
	case FormatMarkdown:
		return ".md"
	case FormatJSON, FormatGitLab:
		return ".json"
	case FormatSARIF:
		return ".sarif"
	case FormatJUnit:
		return ".xml"
	}
	return ""
}

// RuleInfo describes one rule to the printers that list rules rather than
// findings: SARIF (one reportingDescriptor per rule, with help text) and
// JUnit (one test case per rule). The caller fills it from the rule set.
type RuleInfo struct {
	ID       string
	Severity rules.Severity
	// Title is one short line saying what the rule flags.
	Title string
	// Why the problem matters, how it is detected and how to fix it, as
	// plain text paragraphs.
	Why, Detection, Fix string
	// Links point to primary documentation.
	Links []string
}

// Options configure the printers. The zero value prints plain text 80
// columns wide, no rule documentation, JUnit failures from warning up, and
// SARIF results anchored on DefaultAnchor.
type Options struct {
	// Color turns on ANSI styles in the text format. Set it from
	// ColorEnabled(os.Stdout) when printing to standard output, never when
	// writing a file.
	Color bool
	// Width is the text format's line width; 0 means 80.
	Width int
	// Rules documents the rules for SARIF and JUnit, in the order to list
	// them. Rules with findings but no entry here are added from the
	// findings.
	Rules []RuleInfo
	// FailOn is the --fail-on threshold: in JUnit, findings at or above it
	// (and not known to the baseline) are failures, the others notes. Zero
	// means rules.Warning.
	FailOn rules.Severity
	// ToolVersion is advisor's version, for SARIF's tool driver.
	ToolVersion string
	// WorkDir is the absolute directory the locations of SARIF, GitHub
	// annotations and GitLab Code Quality are made relative to: a
	// file:line under it becomes a file of the repository.
	WorkDir string
	// ModulePath is the Go module path of the service under analysis, when
	// known: a location written module-relative (a binary built with
	// -trimpath) loses it and becomes relative to WorkDir.
	ModulePath string
	// Anchor is the repository file, relative to WorkDir, that SARIF
	// results, GitHub annotations and GitLab issues without a file of the
	// repository point at (GitHub code scanning rejects results without a
	// physical location, GitLab issues without a path). Empty means
	// DefaultAnchor.
	Anchor string
	// FailOnRegression is --fail-on-regression: a comparison's regressions
	// fail the run, so JUnit makes them a failure and GitHub an ::error
	// (else a system-out and a ::warning).
	FailOnRegression bool
}

// Printer writes a report in one format.
type Printer interface {
	Print(w io.Writer, r *Report) error
}

// NewPrinter returns the printer of the format, configured by opts.
func NewPrinter(f Format, opts Options) (Printer, error) {
	switch f {
	case FormatText:
		return &Text{Color: opts.Color, Width: opts.Width}, nil
	case FormatMarkdown:
		return &Markdown{}, nil
	case FormatJSON:
		return &JSON{}, nil
	case FormatSARIF:
		return &SARIF{
			Rules:       opts.Rules,
			ToolVersion: opts.ToolVersion,
			WorkDir:     opts.WorkDir,
			ModulePath:  opts.ModulePath,
			Anchor:      opts.Anchor,
		}, nil
	case FormatJUnit:
		return &JUnit{Rules: opts.Rules, FailOn: opts.FailOn, FailOnRegression: opts.FailOnRegression}, nil
	case FormatGitHub:
		return &GitHubActions{WorkDir: opts.WorkDir, ModulePath: opts.ModulePath, Anchor: opts.Anchor, FailOnRegression: opts.FailOnRegression}, nil
	case FormatGitLab:
		return &GitLab{WorkDir: opts.WorkDir, ModulePath: opts.ModulePath, Anchor: opts.Anchor}, nil
	}
	return nil, fmt.Errorf("invalid format %q", string(f))
}

// Print writes the report to w in the format f.
func Print(w io.Writer, f Format, r *Report, opts Options) error {
	p, err := NewPrinter(f, opts)
	if err != nil {
		return err
	}
	return p.Print(w, r)
}

// flush writes a printer's buffered output in one call.
func flush(w io.Writer, buf *bytes.Buffer, format Format) error {
	if _, err := w.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("write %s report: %w", format, err)
	}
	return nil
}

// ruleInfos returns the rules to list: opts' rules in their order, then, for
// every rule with findings that has no entry, one named by its id with the
// severity of its first finding.
func ruleInfos(given []RuleInfo, r *Report) []RuleInfo {
	out := append([]RuleInfo(nil), given...)
	have := make(map[string]bool, len(out))
	for _, ri := range out {
		have[ri.ID] = true
	}
	for _, f := range r.Findings {
		if have[f.Rule] {
			continue
		}
		have[f.Rule] = true
		out = append(out, RuleInfo{ID: f.Rule, Severity: f.Severity, Title: f.Rule})
	}
	return out
}

// family returns the family of a rule id: the part before the first dot.
func family(id string) string {
	fam, _, _ := strings.Cut(id, ".")
	return fam
}
