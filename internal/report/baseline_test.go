package report

import (
	"bytes"
	"reflect"
	"strings"
	"testing"

	"github.com/pgadvisor/advisor/internal/rules"
)

func TestBaselineRoundTrip(t *testing.T) {
	fs := fixtureFindings()
	fs = append(fs, fs[0]) // a duplicate is written once
	var b bytes.Buffer
	if err := WriteBaseline(&b, fs); err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "baseline.golden", b.Bytes())

	base, err := ReadBaseline(bytes.NewReader(b.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if len(base.Entries) != len(fixtureFindings()) {
		t.Fatalf("%d entries, want %d", len(base.Entries), len(fixtureFindings()))
	}
	if !reflect.DeepEqual(base, NewBaseline(fs)) {
		t.Errorf("read baseline differs from the written one:\n%+v\n%+v", base, NewBaseline(fs))
	}
	fresh, known := base.Split(fixtureFindings())
	if len(fresh) != 0 || len(known) != len(fixtureFindings()) {
		t.Errorf("split against its own baseline: %d fresh, %d known", len(fresh), len(known))
	}

	// Writing what was read gives the same bytes.
	var again bytes.Buffer
	var back []rules.Finding
	for _, e := range base.Entries {
		back = append(back, rules.Finding{Rule: e.Rule, Subject: e.Subject})
	}
	if err := WriteBaseline(&again, back); err != nil {
		t.Fatal(err)
	}
	if again.String() != b.String() {
		t.Errorf("rewriting a baseline changed it:\n%s\n%s", again.String(), b.String())
	}
}

func TestBaselineEmpty(t *testing.T) {
	var b bytes.Buffer
	if err := WriteBaseline(&b, nil); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), `"findings": []`) {
		t.Errorf("empty baseline: %s", b.String())
	}
	base, err := ReadBaseline(&b)
	if err != nil {
		t.Fatal(err)
	}
	fresh, known := base.Split(fixtureFindings())
	if len(fresh) != len(fixtureFindings()) || len(known) != 0 {
		t.Errorf("empty baseline split: %d fresh, %d known", len(fresh), len(known))
	}
	// The zero Baseline holds nothing either.
	if (Baseline{}).Has(fixtureFindings()[0].Fingerprint()) {
		t.Error("the zero baseline holds a finding")
	}
}

// TestFingerprintStable checks that a baseline keeps matching a finding
// whose numbers, title, severity, fix and location moved, and stops
// matching when the rule or the subject changes.
func TestFingerprintStable(t *testing.T) {
	old := fixtureFindings()[1] // db.missing-index on public.events
	base := NewBaseline([]rules.Finding{old})

	moved := old
	moved.Severity = rules.Warning
	moved.Title = "Sequential scans of events filter on user_id (now 3x more)"
	moved.Evidence = map[string]any{"calls_per_s": 355.2, "mean_ms": 61.0}
	moved.Fix = rules.Fix{Summary: "another fix"}
	moved.Location = "x.go:1"
	moved.Impact = 0.9
	if moved.Fingerprint() != old.Fingerprint() {
		t.Errorf("fingerprint changed with the numbers: %s -> %s", old.Fingerprint(), moved.Fingerprint())
	}
	otherSubject := old
	otherSubject.Subject = "public.orders"
	otherRule := old
	otherRule.Rule = "db.slow-query"
	fresh, known := base.Split([]rules.Finding{moved, otherSubject, otherRule})
	if len(known) != 1 || known[0].Title != moved.Title {
		t.Errorf("known = %+v, want the moved finding", known)
	}
	if len(fresh) != 2 {
		t.Errorf("fresh = %+v, want the other subject and the other rule", fresh)
	}
	// Rule and subject are separated: "a.b"+"c" is not "a.bc"+"".
	x := rules.Finding{Rule: "db.slow-query", Subject: "ab"}
	y := rules.Finding{Rule: "db.slow-querya", Subject: "b"}
	if x.Fingerprint() == y.Fingerprint() {
		t.Error("fingerprints of different rule/subject splits collide")
	}

	// The report built with that baseline marks the moved finding known.
	r := New(fixtureTime, 0, nil, []rules.Finding{moved, otherSubject}, base)
	if len(r.KnownFingerprints) != 1 || r.KnownFingerprints[0] != old.Fingerprint() {
		t.Errorf("known fingerprints %v", r.KnownFingerprints)
	}
}

func TestReadBaselineRejects(t *testing.T) {
	for name, text := range map[string]string{
		"not json":          `schema: advisor.baseline/v1`,
		"other schema":      `{"schema": "advisor.report/v1", "findings": []}`,
		"no schema":         `{"findings": []}`,
		"unknown field":     `{"schema": "advisor.baseline/v1", "findings": [], "extra": 1}`,
		"short fingerprint": `{"schema": "advisor.baseline/v1", "findings": [{"fingerprint": "abc", "rule": "db.x", "subject": "t"}]}`,
		"not hex":           `{"schema": "advisor.baseline/v1", "findings": [{"fingerprint": "zzzzzzzzzzzzzzzzzzzzzzzz", "rule": "db.x", "subject": "t"}]}`,
		"trailing data":     `{"schema": "advisor.baseline/v1", "findings": []} {}`,
		"empty":             ``,
	} {
		if _, err := ReadBaseline(strings.NewReader(text)); err == nil {
			t.Errorf("%s: read without error", name)
		}
	}
}
