package main

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/pgadvisor/advisor/internal/probe/probetest"
	"github.com/pgadvisor/advisor/internal/report"
)

func TestParseOutputs(t *testing.T) {
	for _, tc := range []struct {
		name    string
		formats []string
		outs    []string
		want    []output
	}{
		{"nothing: text on stdout", nil, nil, []output{{report.FormatText, ""}}},
		{"a format on stdout", []string{"json"}, nil, []output{{report.FormatJSON, ""}}},
		{"FORMAT:PATH repeated", []string{"sarif:a.sarif", "markdown:a.md", "text"}, nil,
			[]output{{report.FormatSARIF, "a.sarif"}, {report.FormatMarkdown, "a.md"}, {report.FormatText, ""}}},
		{"- and an empty path are stdout", []string{"sarif:-", "gitlab:cq.json"}, nil,
			[]output{{report.FormatSARIF, ""}, {report.FormatGitLab, "cq.json"}}},
		{"empty path", []string{"json:"}, nil, []output{{report.FormatJSON, ""}}},
		{"a path with a colon", []string{"json:out/a:b.json"}, nil, []output{{report.FormatJSON, "out/a:b.json"}}},
		{"--out alone: format from the extension", nil, []string{"x.sarif"}, []output{{report.FormatSARIF, "x.sarif"}}},
		{"several --out alone", nil, []string{"r.json", "r.md", "junit.xml", "r.txt", "r.sarif.json"},
			[]output{{report.FormatJSON, "r.json"}, {report.FormatMarkdown, "r.md"}, {report.FormatJUnit, "junit.xml"},
				{report.FormatText, "r.txt"}, {report.FormatSARIF, "r.sarif.json"}}},
		{"one --format, one --out", []string{"gitlab"}, []string{"gl-code-quality-report.json"},
			[]output{{report.FormatGitLab, "gl-code-quality-report.json"}}},
		{"one --format, one --out, the format wins", []string{"sarif"}, []string{"a.md"}, []output{{report.FormatSARIF, "a.md"}}},
		{"one --format, --out -", []string{"json"}, []string{"-"}, []output{{report.FormatJSON, ""}}},
	} {
		got, err := parseOutputs(tc.formats, tc.outs)
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: parseOutputs(%q, %q) = %v, %v; want %v", tc.name, tc.formats, tc.outs, got, err, tc.want)
		}
	}
}

func TestParseOutputsErrors(t *testing.T) {
	for _, tc := range []struct {
		name    string
		formats []string
		outs    []string
		want    string
	}{
		// Issue 19: this wrote SARIF into a.md.
		{"two formats, one --out", []string{"sarif", "markdown"}, []string{"a.md"},
			"name each file in its --format instead: --format sarif:a.sarif --format markdown:a.md"},
		{"two of each, positional", []string{"json", "sarif"}, []string{"r", "s"}, "instead: --format json:r --format sarif:s"},
		{"text stays on stdout", []string{"text", "json"}, []string{"r.json"}, "instead: --format text --format json:r.json"},
		{"annotations stay on stdout", []string{"github-actions", "sarif"}, []string{"a.sarif"},
			"instead: --format github-actions --format sarif:a.sarif"},
		{"invented names do not collide", []string{"json", "gitlab"}, []string{"r.json", "r.md"},
			"instead: --format json:r.json --format gitlab:r-gitlab.json --format markdown:r.md"},
		{"a format with its path and an --out", []string{"sarif:a.sarif"}, []string{"b.md"},
			"instead: --format sarif:a.sarif --format markdown:b.md"},
		{"more --out than formats", []string{"json"}, []string{"a", "b"}, "instead: --format json:a --format FORMAT:b"},
		{"quoted", []string{"json", "sarif"}, []string{"my report.json"},
			"instead: --format json:'my report.json' --format sarif:'my report.sarif'"},
		{"--out without a known extension", nil, []string{"report"}, "--out report: its extension names no format"},
		{"--out alone, one unknown", nil, []string{"a.json", "b.html"}, "--format FORMAT:b.html"},
		{"two on stdout", []string{"json", "text"}, nil, "json, text all print to standard output: give all but one a file, e.g. --format json:advisor.json"},
		{"two on stdout, named", []string{"github-actions", "sarif:-"}, nil, "github-actions, sarif all print to standard output"},
		{"one file twice", []string{"json:a.json", "sarif:./a.json"}, nil, "a.json is the file of two outputs"},
		{"one file twice, --out alone", nil, []string{"a.json", "a.json"}, "a.json is the file of two outputs"},
		{"unknown format", []string{"yaml:r.yaml"}, nil, `--format yaml:r.yaml: invalid format "yaml" (want text, markdown, json, sarif, junit, github-actions, gitlab)`},
		{"empty --out", nil, []string{""}, "--out: empty file name"},
	} {
		_, err := parseOutputs(tc.formats, tc.outs)
		var ue usageError
		if !errors.As(err, &ue) {
			t.Errorf("%s: parseOutputs(%q, %q) = %v, want a usage error", tc.name, tc.formats, tc.outs, err)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %q lacks %q", tc.name, err, tc.want)
		}
	}
}

// TestReportOutputs runs advisor report against a Redis that is down (exit
// 3, but the report is written) and checks that each output holds its
// format, and that an ambiguous command line writes nothing.
func TestReportOutputs(t *testing.T) {
	down := probetest.ClosedAddr(t)
	dir := t.TempDir()
	at := func(name string) string { return filepath.Join(dir, name) }
	common := []string{"report", "--window", "0", "--probe-timeout", "2s", "--redis", down}

	// --out alone with a known extension: SARIF, not text.
	code, _, stderr := runCaptured(t, append(common, "--out", at("x.sarif"))...)
	if code != exitNoSource {
		t.Fatalf("exit %d, want %d: %s", code, exitNoSource, stderr)
	}
	var sarif struct {
		Version string `json:"version"`
	}
	data, err := os.ReadFile(at("x.sarif"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &sarif); err != nil || sarif.Version != "2.1.0" {
		t.Errorf("--out x.sarif wrote %v %q:\n%s", err, sarif.Version, data)
	}

	// FORMAT:PATH, repeated, and annotations on standard output.
	code, stdout, stderr := runCaptured(t, append(common, "--format", "markdown:"+at("a.md"), "--format", "gitlab:"+at("cq.json"),
		"--format", "github-actions")...)
	if code != exitNoSource {
		t.Fatalf("exit %d, want %d: %s", code, exitNoSource, stderr)
	}
	if md, err := os.ReadFile(at("a.md")); err != nil || !strings.HasPrefix(string(md), "# advisor report\n") {
		t.Errorf("a.md: %v\n%s", err, md)
	}
	var issues []map[string]any
	if data, err := os.ReadFile(at("cq.json")); err != nil || json.Unmarshal(data, &issues) != nil || len(issues) == 0 ||
		issues[0]["check_name"] != "probe.unavailable" {
		t.Errorf("cq.json: %v\n%s", err, data)
	}
	if !strings.HasPrefix(stdout, "::notice file=") || !strings.Contains(stdout, "title=advisor%3A probe.unavailable::") {
		t.Errorf("stdout holds no annotation:\n%s", stdout)
	}

	// The case of issue 19: a usage error, and no SARIF in a.md.
	code, _, stderr = runCaptured(t, append(common, "--format", "sarif", "--format", "markdown", "--out", at("b.md"))...)
	if code != exitUsage || !strings.Contains(stderr, "--format sarif:") || !strings.Contains(stderr, "--format markdown:"+at("b.md")) {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
	if _, err := os.Stat(at("b.md")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("an ambiguous command line wrote b.md: %v", err)
	}
}

func TestCompleteFormat(t *testing.T) {
	code, stdout, _ := runCaptured(t, "__complete", "report", "--format", "")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, f := range report.Formats {
		if !strings.Contains(stdout, string(f)+"\n") {
			t.Errorf("completion lacks %s:\n%s", f, stdout)
		}
	}
}
