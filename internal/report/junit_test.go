package report

import (
	"bytes"
	"encoding/xml"
	"strconv"
	"strings"
	"testing"

	"github.com/pgadvisor/advisor/internal/rules"
)

// parsedSuites is JUnit XML as a CI test-report reader sees it.
type parsedSuites struct {
	XMLName  xml.Name `xml:"testsuites"`
	Tests    int      `xml:"tests,attr"`
	Failures int      `xml:"failures,attr"`
	Suites   []struct {
		Name     string `xml:"name,attr"`
		Tests    int    `xml:"tests,attr"`
		Failures int    `xml:"failures,attr"`
		Cases    []struct {
			ClassName string `xml:"classname,attr"`
			Name      string `xml:"name,attr"`
			Failure   *struct {
				Message string `xml:"message,attr"`
				Type    string `xml:"type,attr"`
				Body    string `xml:",chardata"`
			} `xml:"failure"`
			SystemOut string `xml:"system-out"`
		} `xml:"testcase"`
	} `xml:"testsuite"`
}

func parseJUnit(t *testing.T, r *Report, opts Options) parsedSuites {
	t.Helper()
	var b bytes.Buffer
	if err := Print(&b, FormatJUnit, r, opts); err != nil {
		t.Fatal(err)
	}
	var s parsedSuites
	dec := xml.NewDecoder(&b)
	dec.Strict = true
	if err := dec.Decode(&s); err != nil {
		t.Fatalf("invalid JUnit XML: %v\n%s", err, b.String())
	}
	return s
}

func TestJUnitThresholds(t *testing.T) {
	for _, tc := range []struct {
		failOn rules.Severity
		// failing rules, sorted as the suite lists them
		want string
	}{
		{0, "app.blocking-io app.inline-work db.missing-index db.n-plus-one"},
		{rules.Critical, "app.blocking-io db.missing-index"},
		{rules.Warning, "app.blocking-io app.inline-work db.missing-index db.n-plus-one"},
		{rules.Info, "app.blocking-io app.inline-work db.missing-index db.n-plus-one db.unused-index probe.unavailable"},
		{rules.Never, ""},
	} {
		opts := fixtureOptions()
		opts.FailOn = tc.failOn
		s := parseJUnit(t, fixtureReport(), opts)
		if len(s.Suites) != 1 || s.Suites[0].Name != "advisor" {
			t.Fatalf("fail-on %s: want one suite advisor", tc.failOn)
		}
		suite := s.Suites[0]
		var failing []string
		notes := 0
		for _, c := range suite.Cases {
			if c.ClassName != family(c.Name) {
				t.Errorf("case %s has classname %s", c.Name, c.ClassName)
			}
			if c.Failure != nil {
				failing = append(failing, c.Name)
				if c.Failure.Message == "" || !strings.Contains(c.Failure.Body, c.Name) {
					t.Errorf("case %s: failure without message or findings: %+v", c.Name, c.Failure)
				}
			}
			if c.SystemOut != "" {
				notes++
			}
		}
		if got := strings.Join(failing, " "); got != tc.want {
			t.Errorf("fail-on %s: failing %q, want %q", tc.failOn, got, tc.want)
		}
		if suite.Tests != 8 || s.Tests != 8 || len(suite.Cases) != 8 {
			t.Errorf("fail-on %s: tests %d/%d with %d cases, want 8", tc.failOn, s.Tests, suite.Tests, len(suite.Cases))
		}
		if suite.Failures != len(failing) || s.Failures != len(failing) {
			t.Errorf("fail-on %s: failures %d/%d, want %d", tc.failOn, s.Failures, suite.Failures, len(failing))
		}
		// Every finding is either in a failure or in a note; the known
		// pool.oversized is always a note.
		if notes == 0 {
			t.Errorf("fail-on %s: no notes, but pool.oversized is known", tc.failOn)
		}
	}
}

func TestJUnitFailureDetail(t *testing.T) {
	s := parseJUnit(t, fixtureReport(), fixtureOptions())
	cases := map[string]int{}
	for i, c := range s.Suites[0].Cases {
		cases[c.Name] = i
	}
	mi := s.Suites[0].Cases[cases["db.missing-index"]]
	if mi.Failure == nil || mi.Failure.Type != "critical" ||
		mi.Failure.Message != "Sequential scans of events filter on user_id: an index would remove them" {
		t.Fatalf("db.missing-index failure = %+v", mi.Failure)
	}
	for _, want := range []string{"mean_ms:", "42.75", "CREATE INDEX CONCURRENTLY", "fix: Create the index"} {
		if !strings.Contains(mi.Failure.Body, want) {
			t.Errorf("failure body lacks %q:\n%s", want, mi.Failure.Body)
		}
	}
	po := s.Suites[0].Cases[cases["pool.oversized"]]
	if po.Failure != nil || !strings.Contains(po.SystemOut, "[known]") {
		t.Errorf("the known pool.oversized finding: failure %+v, system-out %q", po.Failure, po.SystemOut)
	}
	ev := s.Suites[0].Cases[cases["redis.evictions"]]
	if ev.Failure != nil || ev.SystemOut != "" {
		t.Errorf("redis.evictions has no finding but %+v", ev)
	}
}

func TestJUnitManyFindingsAndBadText(t *testing.T) {
	var fs []rules.Finding
	for i := range 3 {
		fs = append(fs, rules.Finding{
			Rule: "db.slow-query", Severity: rules.Critical,
			Title:   "Query is slow \x00\x1b[31m ]]> <b>&",
			Subject: "queryid " + strconv.Itoa(i),
		})
	}
	r := New(fixtureTime, 0, nil, fs, Baseline{})
	s := parseJUnit(t, r, Options{Rules: []RuleInfo{{ID: "db.slow-query", Title: "Slow queries"}}})
	c := s.Suites[0].Cases[0]
	if c.Failure == nil || c.Failure.Message != "Slow queries: 3 findings" {
		t.Fatalf("failure = %+v", c.Failure)
	}
	if !strings.Contains(c.Failure.Body, "]]> <b>&") || strings.Count(c.Failure.Body, "queryid") != 3 {
		t.Errorf("body lost text: %q", c.Failure.Body)
	}
}
