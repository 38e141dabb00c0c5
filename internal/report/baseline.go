package report

import (
	"cmp"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/pgadvisor/advisor/internal/rules"
)

// BaselineSchemaID is the value of a baseline file's "schema" field.
const BaselineSchemaID = "advisor.baseline/v1"

// Baseline is a set of accepted findings, matched by fingerprint (rule id and
// subject, never the numbers). The zero value is an empty baseline that
// holds nothing.
type Baseline struct {
	// Entries are the baseline's findings, sorted by rule, subject and
	// fingerprint.
	Entries []BaselineEntry
}

// BaselineEntry is one accepted finding. Rule and Subject are there for the
// person who reads or edits the file; only Fingerprint is matched.
type BaselineEntry struct {
	Fingerprint string `json:"fingerprint"`
	Rule        string `json:"rule"`
	Subject     string `json:"subject"`
}

// baselineFile is the JSON form of a baseline.
type baselineFile struct {
	Schema   string          `json:"schema"`
	Findings []BaselineEntry `json:"findings"`
}

// NewBaseline returns the baseline that holds the given findings.
func NewBaseline(findings []rules.Finding) Baseline {
	var b Baseline
	for i := range findings {
		f := &findings[i]
		e := BaselineEntry{Fingerprint: f.Fingerprint(), Rule: f.Rule, Subject: f.Subject}
		if !b.Has(e.Fingerprint) {
			b.Entries = append(b.Entries, e)
		}
	}
	sortEntries(b.Entries)
	return b
}

func sortEntries(es []BaselineEntry) {
	slices.SortFunc(es, func(a, b BaselineEntry) int {
		if c := cmp.Compare(a.Rule, b.Rule); c != 0 {
			return c
		}
		if c := cmp.Compare(a.Subject, b.Subject); c != 0 {
			return c
		}
		return cmp.Compare(a.Fingerprint, b.Fingerprint)
	})
}

// Has reports whether the baseline holds the fingerprint.
func (b Baseline) Has(fingerprint string) bool {
	for _, e := range b.Entries {
		if e.Fingerprint == fingerprint {
			return true
		}
	}
	return false
}

// Split separates findings the baseline does not hold (fresh) from those it
// holds (known), keeping their order.
func (b Baseline) Split(findings []rules.Finding) (fresh, known []rules.Finding) {
	for i := range findings {
		if b.Has(findings[i].Fingerprint()) {
			known = append(known, findings[i])
		} else {
			fresh = append(fresh, findings[i])
		}
	}
	return fresh, known
}

// WriteBaseline writes the baseline of the given findings as indented JSON,
// one entry per distinct fingerprint, sorted by rule and subject so that the
// file diffs well under version control.
func WriteBaseline(w io.Writer, findings []rules.Finding) error {
	b := NewBaseline(findings)
	file := baselineFile{Schema: BaselineSchemaID, Findings: b.Entries}
	if file.Findings == nil {
		file.Findings = []BaselineEntry{}
	}
	data, err := json.MarshalIndent(file, "", "  ")
	if err != nil {
		return fmt.Errorf("encode baseline: %w", err)
	}
	data = append(data, '\n')
	if _, err := w.Write(data); err != nil {
		return fmt.Errorf("write baseline: %w", err)
	}
	return nil
}

// fingerprintLen is the length in hex digits of rules.(*Finding).Fingerprint.
const fingerprintLen = 24

// ReadBaseline reads a baseline written by WriteBaseline. It rejects a file
// of another schema, unknown fields, and entries whose fingerprint is not a
// fingerprint.
func ReadBaseline(r io.Reader) (Baseline, error) {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	var file baselineFile
	if err := dec.Decode(&file); err != nil {
		return Baseline{}, fmt.Errorf("read baseline: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return Baseline{}, errors.New("read baseline: trailing data after the JSON object")
	}
	if file.Schema != BaselineSchemaID {
		return Baseline{}, fmt.Errorf("read baseline: schema is %q, want %q", file.Schema, BaselineSchemaID)
	}
	for i, e := range file.Findings {
		if len(e.Fingerprint) != fingerprintLen {
			return Baseline{}, fmt.Errorf("read baseline: finding %d (%s %s): fingerprint %q is not %d hex digits", i, e.Rule, e.Subject, e.Fingerprint, fingerprintLen)
		}
		if _, err := hex.DecodeString(e.Fingerprint); err != nil {
			return Baseline{}, fmt.Errorf("read baseline: finding %d (%s %s): fingerprint %q is not hex", i, e.Rule, e.Subject, e.Fingerprint)
		}
	}
	b := Baseline{Entries: file.Findings}
	sortEntries(b.Entries)
	return b, nil
}
