package report

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/pgadvisor/advisor/internal/rules"
)

// JUnit prints a report as JUnit XML for CI test-report views: one test
// suite "advisor" with one test case per rule (classname the rule's family,
// name its id). A rule fails when it has findings at or above FailOn that
// the baseline does not hold; the failure lists them. Its other findings
// (below the threshold, or known) are notes in the test case's system-out.
// Where the requests' time goes is the suite's system-out, as the text
// format writes it.
type JUnit struct {
	// Rules are the rules to list, in order; rules with findings but no
	// entry are added.
	Rules []RuleInfo
	// FailOn is the --fail-on threshold; zero means rules.Warning.
	FailOn rules.Severity
	// FailOnRegression makes a comparison's regressions a failure.
	FailOnRegression bool
}

type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Time     string       `xml:"time,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name       string          `xml:"name,attr"`
	Tests      int             `xml:"tests,attr"`
	Failures   int             `xml:"failures,attr"`
	Errors     int             `xml:"errors,attr"`
	Skipped    int             `xml:"skipped,attr"`
	Time       string          `xml:"time,attr"`
	Timestamp  string          `xml:"timestamp,attr"`
	Properties []junitProperty `xml:"properties>property"`
	Cases      []junitCase     `xml:"testcase"`
	SystemOut  *junitText      `xml:"system-out,omitempty"`
}

type junitProperty struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

type junitCase struct {
	ClassName string        `xml:"classname,attr"`
	Name      string        `xml:"name,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *junitFailure `xml:"failure,omitempty"`
	SystemOut *junitText    `xml:"system-out,omitempty"`
}

type junitFailure struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Body    string `xml:",cdata"`
}

type junitText struct {
	Text string `xml:",cdata"`
}

// xmlText replaces the characters XML 1.0 cannot hold, which a CDATA section
// would otherwise carry through, with U+FFFD.
func xmlText(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == '\t' || r == '\n' || r == '\r':
			return r
		case r < 0x20, r >= 0xD800 && r <= 0xDFFF, r == 0xFFFE, r == 0xFFFF:
			return '\uFFFD'
		}
		return r
	}, s)
}

// Print writes the report.
func (p *JUnit) Print(w io.Writer, r *Report) error {
	threshold := p.FailOn
	if threshold == 0 {
		threshold = rules.Warning
	}
	window := strconv.FormatFloat(r.WindowSeconds, 'f', -1, 64)
	suite := junitSuite{
		Name:      "advisor",
		Time:      window,
		Timestamp: r.GeneratedAt.UTC().Format("2006-01-02T15:04:05"),
		Properties: []junitProperty{
			{Name: "schema", Value: r.Schema},
			{Name: "window_seconds", Value: window},
			{Name: "fail_on", Value: threshold.String()},
		},
	}
	for _, name := range r.sourceOrder() {
		s := r.Sources[name]
		suite.Properties = append(suite.Properties, junitProperty{Name: "source." + name, Value: string(s.Status)})
	}

	for _, ri := range ruleInfos(p.Rules, r) {
		tc := junitCase{ClassName: family(ri.ID), Name: ri.ID, Time: "0"}
		var failing, notes []*Finding
		for i := range r.Findings {
			f := &r.Findings[i]
			if f.Rule != ri.ID {
				continue
			}
			if f.Severity.AtLeast(threshold) && !r.Known(f) {
				failing = append(failing, f)
			} else {
				notes = append(notes, f)
			}
		}
		if len(failing) > 0 {
			tc.Failure = &junitFailure{
				Message: failureMessage(ri, failing),
				Type:    highest(failing).String(),
				Body:    xmlText(plainFindings(r, failing)),
			}
			suite.Failures++
		}
		if len(notes) > 0 {
			tc.SystemOut = &junitText{Text: xmlText(fmt.Sprintf("Below --fail-on %s or known from the baseline:\n\n%s",
				threshold, plainFindings(r, notes)))}
		}
		suite.Cases = append(suite.Cases, tc)
	}
	if c := r.Comparison; c != nil {
		// One case for the comparison: a failure with --fail-on-regression
		// when a figure regressed, else the regressions as its output.
		tc := junitCase{ClassName: "comparison", Name: "regressions", Time: "0"}
		if len(c.Regressions) > 0 {
			var lines []string
			for _, g := range sortedRegressions(c) {
				lines = append(lines, regressionText(&g))
			}
			body := xmlText(strings.Join(lines, "\n"))
			if p.FailOnRegression {
				tc.Failure = &junitFailure{Message: fmt.Sprintf("%d regression(s) beyond the thresholds", len(c.Regressions)),
					Type: "regression", Body: body}
				suite.Failures++
			} else {
				tc.SystemOut = &junitText{Text: body}
			}
		}
		suite.Cases = append(suite.Cases, tc)
	}
	suite.Tests = len(suite.Cases)
	if r.Figures != nil || r.Statements != nil || r.Comparison != nil {
		var b bytes.Buffer
		st := newTextStyles(nil, false)
		if r.Figures != nil {
			(&Text{}).figures(&b, r.Figures, st, DefaultWidth)
		}
		if r.Statements != nil {
			if b.Len() > 0 {
				b.WriteString("\n")
			}
			(&Text{}).statements(&b, r.Statements, st, DefaultWidth)
		}
		if r.Comparison != nil {
			if b.Len() > 0 {
				b.WriteString("\n")
			}
			(&Text{}).comparison(&b, r.Comparison, st, DefaultWidth)
		}
		suite.SystemOut = &junitText{Text: xmlText(strings.TrimRight(b.String(), "\n"))}
	}

	doc := junitSuites{
		Name:     "advisor",
		Tests:    suite.Tests,
		Failures: suite.Failures,
		Time:     suite.Time,
		Suites:   []junitSuite{suite},
	}
	var b bytes.Buffer
	b.WriteString(xml.Header)
	enc := xml.NewEncoder(&b)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return fmt.Errorf("encode junit report: %w", err)
	}
	b.WriteString("\n")
	return flush(w, &b, FormatJUnit)
}

// failureMessage is the message of a rule's failure: the finding's title when
// there is one, else the rule's title and the number of findings.
func failureMessage(ri RuleInfo, fs []*Finding) string {
	if len(fs) == 1 {
		return inline(fs[0].Title)
	}
	title := ri.Title
	if title == "" {
		title = ri.ID
	}
	return fmt.Sprintf("%s: %d findings", inline(title), len(fs))
}

// highest returns the highest severity of the findings.
func highest(fs []*Finding) rules.Severity {
	var s rules.Severity
	for _, f := range fs {
		s = max(s, f.Severity)
	}
	return s
}

// plainFindings renders findings as the text format does, without colour.
func plainFindings(r *Report, fs []*Finding) string {
	var b bytes.Buffer
	t := &Text{}
	st := newTextStyles(nil, false)
	for i, f := range fs {
		if i > 0 {
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "[%s]\n", f.Severity)
		t.finding(&b, r, f, st, DefaultWidth)
	}
	return strings.TrimRight(b.String(), "\n")
}
