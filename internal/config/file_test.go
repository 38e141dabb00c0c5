package config

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// testChecks accept the formats and thresholds advisor report knows in
// these tests.
var testChecks = Checks{
	Format: func(name string) error {
		if !slices.Contains([]string{"text", "markdown", "json", "sarif", "junit"}, name) {
			return errors.New("unknown format " + name)
		}
		return nil
	},
	FailOn: func(s string) error {
		if !slices.Contains([]string{"critical", "warning", "info", "never"}, s) {
			return errors.New("want critical, warning, info or never")
		}
		return nil
	},
	MinConfidence: func(s string) error {
		if !slices.Contains([]string{"low", "medium", "high", "0.7"}, s) {
			return errors.New("want low, medium, high or a number from 0 to 1")
		}
		return nil
	},
}

func TestParseReportSection(t *testing.T) {
	src := `target: http://127.0.0.1:6060
rules: ci/rules.yaml
tls:
  ca_file: /etc/ssl/ca.pem
  cert_file: certs/client.pem
report:
  formats: [text, "sarif:out/advisor.sarif", "json:-", "junit:/tmp/advisor.xml"]
  fail_on: info
  baseline: .advisor/baseline.json
  window: 0
  profile_seconds: 3
  min_confidence: medium
`
	// The paths in the file are relative to its directory.
	_, err := Parse(filepath.Join("repo", ".advisor.yaml"), []byte(src), testChecks)
	if err == nil || !strings.Contains(err.Error(), `repo/.advisor.yaml:7:46: report.formats: "json:-" and "text" (line 7) both print to standard output`) {
		t.Errorf("two formats on standard output: %v", err)
	}
	src = strings.Replace(src, `"json:-", `, "", 1)
	c, err := Parse(filepath.Join("repo", ".advisor.yaml"), []byte(src), testChecks)
	if err != nil {
		t.Fatal(err)
	}
	want := Report{
		Formats:  []string{"text", "sarif:" + filepath.Join("repo", "out", "advisor.sarif"), "junit:/tmp/advisor.xml"},
		FailOn:   "info",
		Baseline: filepath.Join("repo", ".advisor", "baseline.json"),
	}
	r := c.Report
	if !slices.Equal(r.Formats, want.Formats) || r.FailOn != want.FailOn || r.Baseline != want.Baseline {
		t.Errorf("report %+v, want %+v", r, want)
	}
	if r.MinConfidence != "medium" {
		t.Errorf("min_confidence %q, want medium", r.MinConfidence)
	}
	if r.Window == nil || *r.Window != 0 || r.ProfileSeconds == nil || *r.ProfileSeconds != 3 {
		t.Errorf("window %v, profile seconds %v: want 0 and 3 set", r.Window, r.ProfileSeconds)
	}
	if c.Rules != filepath.Join("repo", "ci", "rules.yaml") {
		t.Errorf("rules %q", c.Rules)
	}
	if c.Sources.TLS.CAFile != "/etc/ssl/ca.pem" || c.Sources.TLS.CertFile != filepath.Join("repo", "certs", "client.pem") {
		t.Errorf("tls %+v", c.Sources.TLS)
	}

	// Unset options stay unset: the command's defaults apply.
	c, err = Parse("advisor.yaml", []byte("report:\n  window: 1m30s\n  formats: sarif:advisor.sarif\n"), testChecks)
	if err != nil {
		t.Fatal(err)
	}
	if r := c.Report; r.Window == nil || *r.Window != 90*time.Second || r.ProfileSeconds != nil || r.FailOn != "" ||
		!slices.Equal(r.Formats, []string{"sarif:advisor.sarif"}) {
		t.Errorf("report %+v", r)
	}
}

func TestParseReportErrors(t *testing.T) {
	src := `report:
  formats: [text, "sarf:a.sarif", 3, ""]
  fail_on: sometimes
  window: 10
  profile_seconds: -1
  baseline: [a]
  fial_on: warning
  min_confidence: sure
rules: 5
---
`
	_, err := Parse("advisor.yaml", []byte(src), testChecks)
	if err == nil {
		t.Fatal("no error")
	}
	want := "advisor.yaml:2:19: report.formats: unknown format sarf\n" +
		"advisor.yaml:2:35: report.formats entry must be a string, not the integer 3\n" +
		"advisor.yaml:2:38: report.formats entry must not be empty\n" +
		"advisor.yaml:3:12: report.fail_on: want critical, warning, info or never\n" +
		"advisor.yaml:4:11: report.window must be a duration such as 10s or 0, not the integer 10\n" +
		"advisor.yaml:5:20: report.profile_seconds must not be negative\n" +
		"advisor.yaml:6:13: report.baseline must be a string, not a list\n" +
		`advisor.yaml:7:3: unknown key "fial_on" in report (did you mean "fail_on"?) (known: baseline, fail_on, fail_on_regression, formats, min_confidence, profile_seconds, thresholds, window)` + "\n" +
		"advisor.yaml:8:19: report.min_confidence: want low, medium, high or a number from 0 to 1\n" +
		"advisor.yaml:9:8: rules must be a string, not the integer 5\n" +
		"advisor.yaml:10:1: the file holds more than one YAML document"
	if err.Error() != want {
		t.Errorf("got:\n%v\nwant:\n%s", err, want)
	}
	var pe *PositionError
	if !errors.As(err, &pe) {
		t.Errorf("errors are not PositionErrors: %T", err)
	}
	// A number is a score: YAML reads it as a float, advisor as text.
	c, err := Parse("advisor.yaml", []byte("report:\n  min_confidence: 0.7\n"), testChecks)
	if err != nil || c.Report.MinConfidence != "0.7" {
		t.Errorf("min_confidence 0.7: %q, %v", c.Report.MinConfidence, err)
	}
	_, err = Parse("advisor.yaml", []byte("report:\n  window: soon\n"), testChecks)
	if err == nil || err.Error() != `advisor.yaml:2:11: report.window must be a duration such as 10s or 0, not "soon"` {
		t.Errorf("window soon: %v", err)
	}
}

func TestLoadFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "advisor.yaml")
	if err := os.WriteFile(path, []byte("redis: 127.0.0.1:6379\nreport: {baseline: b.json}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := LoadFile(path, testChecks)
	if err != nil {
		t.Fatal(err)
	}
	if c.Path != path || c.Sources.Redis != "127.0.0.1:6379" || c.Report.Baseline != filepath.Join(dir, "b.json") {
		t.Errorf("loaded %+v", c)
	}
	if _, err := LoadFile(filepath.Join(dir, "missing.yaml"), testChecks); err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

func TestParseReportThresholds(t *testing.T) {
	checks := testChecks
	checks.Threshold = func(spec string) error {
		if strings.HasPrefix(spec, "p95_ms=") || strings.HasPrefix(spec, "min_requests=") {
			return nil
		}
		return errors.New("unknown figure")
	}
	src := "report:\n  fail_on_regression: true\n  thresholds:\n    p95_ms: 20%,5\n    min_requests: 50\n"
	c, err := Parse("advisor.yaml", []byte(src), checks)
	if err != nil {
		t.Fatal(err)
	}
	r := c.Report
	if r.FailOnRegression == nil || !*r.FailOnRegression || !slices.Equal(r.Thresholds, []string{"p95_ms=20%,5", "min_requests=50"}) {
		t.Errorf("report %+v", r)
	}
	_, err = Parse("advisor.yaml", []byte("report:\n  thresholds:\n    p95: 20%\n  fail_on_regression: maybe\n"), checks)
	for _, want := range []string{"advisor.yaml:3:10: report.thresholds: unknown figure", "report.fail_on_regression"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v lacks %q", err, want)
		}
	}
}
