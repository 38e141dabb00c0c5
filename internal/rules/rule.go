package rules

import (
	"maps"
	"slices"
	"strings"
	"text/template"
)

// Rule is one rule of the catalog as loaded from rules.yaml and any
// override file.
type Rule struct {
	ID       string
	Severity Severity
	Enabled  bool
	// Params are the rule's thresholds, in the order of the built-in file.
	Params []Param
	// Title and Fix are the sources of the text/template templates that
	// render a finding's title and fix summary.
	Title string
	Fix   string
	Docs  Docs

	title, fix *template.Template
	// base is the severity of the built-in file, against which a
	// detector's own severity is set (see severityOf).
	base Severity
	// line and col are where the rule's params (or, without params, the
	// rule) begin in the base file, for errors about its params.
	line, col int
}

// Param is one threshold of a rule. Value is an int, a float64, a bool, a
// string or a []string: the type of the built-in default, which an override
// must keep (an integer is accepted where a float is expected).
type Param struct {
	Name  string
	Value any
	// line and col are the param's position in the base file.
	line, col int
}

// Docs explains a rule to a person: `advisor rules explain` prints them.
type Docs struct {
	// Summary is one short line, what the rule flags.
	Summary string
	// Why the problem matters.
	Why string
	// Detection says how the rule is detected, in terms of what the probes
	// read.
	Detection string
	// Fix says how to fix it.
	Fix string
	// Thresholds says where the params' defaults come from (optional).
	Thresholds string
	// Links point to primary documentation.
	Links []string
}

// Set is a loaded and validated rule set: every rule of the catalog, in
// catalog order, and the goroutine wait patterns.
type Set struct {
	Rules    []*Rule
	Patterns *Patterns
}

// Rule returns the rule with the given id, or nil.
func (s *Set) Rule(id string) *Rule {
	for _, r := range s.Rules {
		if r.ID == id {
			return r
		}
	}
	return nil
}

// Param returns the value of the named param.
func (r *Rule) Param(name string) (any, bool) {
	for _, p := range r.Params {
		if p.Name == name {
			return p.Value, true
		}
	}
	return nil, false
}

// ParamMap returns the params as a map, as templates see them under .Params.
func (r *Rule) ParamMap() map[string]any {
	m := make(map[string]any, len(r.Params))
	for _, p := range r.Params {
		m[p.Name] = p.Value
	}
	return m
}

// RenderTitle executes the rule's title template over the finding.
// A title is one line: line breaks and runs of spaces become one space.
func (r *Rule) RenderTitle(f *Finding) (string, error) {
	s, err := render(r.title, r, f)
	return strings.Join(strings.Fields(s), " "), err
}

// RenderFix executes the rule's fix template over the finding.
func (r *Rule) RenderFix(f *Finding) (string, error) {
	return render(r.fix, r, f)
}

// templateData is what a title or fix template sees: the finding's evidence
// keys at the top level, plus .Params (the rule's params) and .Subject.
func templateData(r *Rule, f *Finding) map[string]any {
	data := make(map[string]any, len(f.Evidence)+2)
	maps.Copy(data, f.Evidence)
	data["Params"] = r.ParamMap()
	data["Subject"] = f.Subject
	return data
}

func (r *Rule) clone() *Rule {
	c := *r
	c.Params = slices.Clone(r.Params)
	c.Docs.Links = slices.Clone(r.Docs.Links)
	return &c
}
