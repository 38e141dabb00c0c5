package rules

import (
	"fmt"
	"net/url"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"text/template"

	"go.yaml.in/yaml/v3"

	advisor "github.com/pgadvisor/advisor"
	"github.com/pgadvisor/advisor/internal/yamlfile"
)

// Error is one problem of a rules file, at a position in it. Where the
// YAML or template parser gives only a line, Column is that of the line's
// first character.
type Error = yamlfile.Error

// Errors is every problem found in a rules file, in file order.
type Errors = yamlfile.Errors

// Source is a rules file: its name, as errors report it, and its content.
type Source struct {
	Name string
	Data []byte
}

// BuiltinName is the name errors give the embedded rules.yaml.
const BuiltinName = "rules.yaml (built-in)"

// Default loads the built-in rules.yaml, with the override file at path
// merged over it when path is not empty. Problems of the file are returned
// as Errors.
func Default(path string) (*Set, error) {
	base := Source{Name: BuiltinName, Data: advisor.DefaultRules}
	if path == "" {
		return Load(base)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read rules: %w", err)
	}
	return Load(base, Source{Name: path, Data: data})
}

// Load parses base, a complete rules file defining every rule of the catalog
// (the built-in rules.yaml), then merges each override over it in turn.
//
// An override file has the same two top-level keys. A rule there is named by
// its id and changes only the fields it gives: severity, enabled, params (each
// keeping the type of its built-in default), title and fix; docs cannot be
// overridden. A wait pattern class of an existing name replaces the built-in
// class in place; a class of a new name is added before the built-in ones, so
// that it takes precedence.
//
// Every problem of a file is reported at once, as Errors with file:line:column.
func Load(base Source, overrides ...Source) (*Set, error) {
	l := loader{yamlfile.Parse(base.Name, base.Data)}
	set := l.base()
	if err := l.Err(); err != nil {
		return nil, err
	}
	for _, o := range overrides {
		l := loader{yamlfile.Parse(o.Name, o.Data)}
		l.override(set)
		if err := l.Err(); err != nil {
			return nil, err
		}
	}
	return set, nil
}

// loader reads one rules file; its File collects the problems.
type loader struct{ *yamlfile.File }

// root returns the top-level mapping of the file, or nil after recording
// why there is none.
func (l *loader) root() *yaml.Node {
	n := l.Root()
	if n == nil {
		if !l.Failed() {
			l.Errorf(nil, "empty rules file")
		}
		return nil
	}
	if n.Kind != yaml.MappingNode {
		l.Errorf(n, "a rules file is a mapping with the keys rules and wait_patterns, not %s", yamlfile.Describe(n))
		return nil
	}
	return n
}

func (l *loader) severity(n *yaml.Node) (Severity, bool) {
	s, ok := l.String(n, "severity")
	if !ok {
		return 0, false
	}
	sev, err := ParseSeverity(s)
	if err != nil {
		l.Errorf(n, "%v", err)
		return 0, false
	}
	return sev, true
}

var templateErrRE = regexp.MustCompile(`^template: [^:]*:(\d+):(?:\d+:)? (.*)$`)

// template checks that n is a template that parses. A parse error is
// reported on the line of the template where it is.
func (l *loader) template(n *yaml.Node, what, name string) (string, bool) {
	src, ok := l.NonEmptyString(n, what)
	if !ok {
		return "", false
	}
	if _, err := parseTemplate(name, src); err != nil {
		at, msg := *n, err.Error()
		if m := templateErrRE.FindStringSubmatch(msg); m != nil {
			line, _ := strconv.Atoi(m[1])
			// An error at the end of the template is on its last line, not
			// after its final newline.
			line = min(line, strings.Count(strings.TrimRight(src, "\n"), "\n")+1)
			msg = m[2]
			if n.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0 {
				// The content of a block scalar starts on the next line.
				at.Line = n.Line + line
				at.Column = l.LineStart(at.Line)
			} else if line > 1 {
				at.Line = n.Line + line - 1
				at.Column = l.LineStart(at.Line)
			}
		}
		l.Errorf(&at, "%s: bad template: %s", what, msg)
		return "", false
	}
	return src, true
}

var ruleKeys = []string{"id", "severity", "enabled", "params", "title", "fix", "docs"}

func (l *loader) base() *Set {
	root := l.root()
	if root == nil {
		return nil
	}
	top, _ := l.Fields(root, "the rules file", "rules", "wait_patterns")
	set := &Set{Patterns: &Patterns{}}
	byID := map[string]*Rule{}
	firstLine := map[string]int{}
	rulesNode := top["rules"]
	if rulesNode == nil {
		l.Errorf(root, "rules file: missing key \"rules\"")
	} else if rulesNode.Kind != yaml.SequenceNode {
		l.Errorf(rulesNode, "rules must be a list, not %s", yamlfile.Describe(rulesNode))
	} else {
		for _, rn := range rulesNode.Content {
			r, valid := l.baseRule(rn)
			if r == nil {
				continue
			}
			if line, dup := firstLine[r.ID]; dup {
				l.Errorf(rn, "duplicate rule id %q (first at line %d)", r.ID, line)
				continue
			}
			firstLine[r.ID] = rn.Line
			// The params are checked against the detector once the rule is
			// known not to be a duplicate, whose params would only repeat
			// the error.
			if valid && l.checkParams(r) {
				r.compile()
				byID[r.ID] = r
			}
		}
		for _, id := range catalog() {
			if _, seen := firstLine[id]; !seen {
				l.Errorf(yamlfile.KeyNode(root, "rules"), "rule %q of the catalog is missing", id)
				continue
			}
			if r, ok := byID[id]; ok {
				set.Rules = append(set.Rules, r)
			}
		}
	}
	if wp := top["wait_patterns"]; wp != nil {
		set.Patterns.Classes = l.patterns(wp)
	} else {
		l.Errorf(root, "rules file: missing key \"wait_patterns\"")
	}
	return set
}

// ruleID reads and checks the id of a rule entry.
func (l *loader) ruleID(rn *yaml.Node, f map[string]*yaml.Node) (string, bool) {
	idn := f["id"]
	if idn == nil {
		l.Errorf(rn, "rule without an id")
		return "", false
	}
	id, ok := l.String(idn, "id")
	if !ok {
		return "", false
	}
	if !Known(id) {
		msg := fmt.Sprintf("unknown rule id %q", id)
		if near := Suggest(id); len(near) > 0 {
			msg += fmt.Sprintf(" (did you mean %s?)", strings.Join(near, ", "))
		}
		l.Errorf(idn, "%s", msg)
		return "", false
	}
	return id, true
}

// baseRule reads a rule of the base file. It returns nil when the entry
// has no valid id, and the rule with valid false when something else is
// wrong with it. The caller checks the params against the detector and
// compiles the templates.
func (l *loader) baseRule(rn *yaml.Node) (r *Rule, valid bool) {
	f, ok := l.Fields(rn, "a rule", ruleKeys...)
	if !ok {
		return nil, false
	}
	id, idOK := l.ruleID(rn, f)
	what := func(key string) string {
		if idOK {
			return id + ": " + key
		}
		return key
	}
	r = &Rule{ID: id, Enabled: true, line: rn.Line, col: rn.Column}
	good := idOK
	for _, key := range []string{"severity", "title", "fix", "docs"} {
		if f[key] == nil && idOK {
			l.Errorf(rn, "%s is missing", what(key))
			good = false
		}
	}
	if n := f["severity"]; n != nil {
		sev, ok := l.severity(n)
		r.Severity, r.base, good = sev, sev, good && ok
	}
	if n := f["enabled"]; n != nil {
		b, ok := l.Bool(n, what("enabled"))
		r.Enabled, good = b, good && ok
	}
	if n := f["params"]; n != nil {
		ps, ok := l.baseParams(n, what("params"))
		r.Params, good = ps, good && ok
		k := yamlfile.KeyNode(rn, "params")
		r.line, r.col = k.Line, k.Column
	}
	if n := f["title"]; n != nil {
		s, ok := l.template(n, what("title"), "title")
		r.Title, good = s, good && ok
	}
	if n := f["fix"]; n != nil {
		s, ok := l.template(n, what("fix"), "fix")
		r.Fix, good = s, good && ok
	}
	if n := f["docs"]; n != nil {
		d, ok := l.docs(n, what("docs"))
		r.Docs, good = d, good && ok
	}
	if !idOK {
		return nil, false
	}
	return r, good
}

// checkParams decodes the params of a rule into its built-in detector's
// params struct: a param the detector does not read, or one it reads that is
// missing or of another type, is an error at the param (or at the rule's
// params when the param is missing).
func (l *loader) checkParams(r *Rule) bool {
	var d Detector
	for _, c := range builtin() {
		if c.RuleID() == r.ID {
			d = c
		}
	}
	if d == nil || d.paramsType() == nil {
		return true
	}
	v := reflect.New(d.paramsType()).Elem()
	errs := decodeParams(r.Params, v, true)
	for _, e := range errs {
		line, col := r.line, r.col
		if i := slices.IndexFunc(r.Params, func(p Param) bool { return p.Name == e.name }); i >= 0 {
			line, col = r.Params[i].line, r.Params[i].col
		}
		l.ErrorAt(line, col, "%s: params: %s", r.ID, e.msg)
	}
	return len(errs) == 0
}

// compile parses the templates, which loading has already checked.
func (r *Rule) compile() {
	r.title = template.Must(parseTemplate("title", r.Title))
	r.fix = template.Must(parseTemplate("fix", r.Fix))
}

var paramNameRE = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

func (l *loader) baseParams(n *yaml.Node, what string) ([]Param, bool) {
	pairs, good := l.Pairs(n, what)
	var ps []Param
	for _, kv := range pairs {
		k, v := kv.Key, kv.Value
		if !paramNameRE.MatchString(k.Value) {
			l.Errorf(k, "%s: param name %q must be snake_case, with its unit in it", what, k.Value)
			good = false
			continue
		}
		val, ok := l.paramValue(v, what+"."+k.Value)
		if !ok {
			good = false
			continue
		}
		ps = append(ps, Param{Name: k.Value, Value: val, line: k.Line, col: k.Column})
	}
	return ps, good
}

// paramValue decodes a built-in param; its YAML type becomes the param's
// type.
func (l *loader) paramValue(n *yaml.Node, what string) (any, bool) {
	if n.Kind == yaml.SequenceNode {
		return l.Strings(n, what)
	}
	if n.Kind != yaml.ScalarNode {
		l.Errorf(n, "%s must be a number, a boolean, a string or a list of strings, not %s", what, yamlfile.Describe(n))
		return nil, false
	}
	switch n.ShortTag() {
	case "!!int":
		return l.Int(n, what)
	case "!!float":
		return l.Float(n, what)
	case "!!bool":
		return l.Bool(n, what)
	case "!!str":
		return n.Value, true
	}
	l.Errorf(n, "%s must be a number, a boolean, a string or a list of strings, not %s", what, yamlfile.Describe(n))
	return nil, false
}

// overrideParam decodes an override of a param whose built-in value is def;
// it must have the same type (an integer is accepted for a float).
func (l *loader) overrideParam(n *yaml.Node, what string, def any) (any, bool) {
	switch def.(type) {
	case float64:
		return l.Float(n, what)
	case int:
		return l.Int(n, what)
	case bool:
		return l.Bool(n, what)
	case string:
		return l.String(n, what)
	case []string:
		return l.Strings(n, what)
	default:
		l.Errorf(n, "%s has a built-in value of unsupported type %T", what, def)
	}
	return nil, false
}

var docsKeys = []string{"summary", "why", "detection", "fix", "thresholds", "links"}

func (l *loader) docs(n *yaml.Node, what string) (Docs, bool) {
	f, ok := l.Fields(n, what, docsKeys...)
	if !ok {
		return Docs{}, false
	}
	var d Docs
	good := true
	text := map[string]*string{"summary": &d.Summary, "why": &d.Why, "detection": &d.Detection, "fix": &d.Fix,
		"thresholds": &d.Thresholds}
	for _, key := range docsKeys {
		v := f[key]
		if v == nil && key == "thresholds" {
			continue // optional
		}
		if v == nil {
			l.Errorf(n, "%s.%s is missing", what, key)
			good = false
			continue
		}
		if key == "links" {
			links, ok := l.Strings(v, what+".links")
			good = good && ok
			if ok && len(links) == 0 {
				l.Errorf(v, "%s.links: at least one link to primary documentation", what)
				good = false
			}
			for i, s := range links {
				if u, err := url.Parse(s); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
					l.Errorf(v.Content[i], "%s.links: %q is not an http(s) URL", what, s)
					good = false
				}
			}
			d.Links = links
			continue
		}
		s, ok := l.NonEmptyString(v, what+"."+key)
		good = good && ok
		*text[key] = strings.TrimSpace(s)
	}
	if strings.Contains(d.Summary, "\n") {
		l.Errorf(f["summary"], "%s.summary must be one line", what)
		good = false
	}
	return d, good
}

var patternKeys = []string{"class", "kind", "inline_work", "description", "functions", "states"}
var classNameRE = regexp.MustCompile(`^[a-z][a-z0-9-]*$`)

func (l *loader) patterns(n *yaml.Node) []*WaitPattern {
	var out []*WaitPattern
	firstLine := map[string]int{}
	for _, pn := range l.List(n, "wait_patterns") {
		w, valid := l.pattern(pn)
		if w == nil {
			continue
		}
		if line, dup := firstLine[w.Class]; dup {
			l.Errorf(pn, "duplicate wait pattern class %q (first at line %d)", w.Class, line)
			continue
		}
		firstLine[w.Class] = pn.Line
		if valid {
			out = append(out, w)
		}
	}
	return out
}

// pattern reads a wait pattern. It returns nil when the entry has no valid
// class name, and the pattern with valid false when something else is wrong.
func (l *loader) pattern(pn *yaml.Node) (w *WaitPattern, valid bool) {
	f, ok := l.Fields(pn, "a wait pattern", patternKeys...)
	if !ok {
		return nil, false
	}
	w = &WaitPattern{}
	good := true
	if cn := f["class"]; cn == nil {
		l.Errorf(pn, "wait pattern without a class")
		good = false
	} else if s, ok := l.String(cn, "class"); !ok {
		good = false
	} else if !classNameRE.MatchString(s) {
		l.Errorf(cn, "class %q: use lower-case words joined by '-'", s)
		good = false
	} else {
		w.Class = s
	}
	if kn := f["kind"]; kn == nil {
		l.Errorf(pn, "wait pattern %s: kind is missing", w.Class)
		good = false
	} else if s, ok := l.String(kn, "kind"); !ok {
		good = false
	} else if !slices.Contains(waitKinds, WaitKind(s)) {
		names := make([]string, len(waitKinds))
		for i, k := range waitKinds {
			names[i] = string(k)
		}
		l.Errorf(kn, "unknown kind %q (known: %s)", s, strings.Join(names, ", "))
		good = false
	} else {
		w.Kind = WaitKind(s)
	}
	if bn := f["inline_work"]; bn != nil {
		b, ok := l.Bool(bn, "inline_work")
		w.InlineWork, good = b, good && ok
	}
	if dn := f["description"]; dn != nil {
		s, ok := l.String(dn, "description")
		w.Description, good = strings.TrimSpace(s), good && ok
	}
	for _, key := range []string{"functions", "states"} {
		v := f[key]
		if v == nil {
			continue
		}
		srcs, ok := l.Strings(v, key)
		good = good && ok
		for i, src := range srcs {
			if !ok {
				break
			}
			re, err := regexp.Compile(src)
			if err != nil {
				l.Errorf(v.Content[i], "%s: bad regular expression: %v", key, err)
				good = false
				continue
			}
			if key == "functions" {
				w.Functions = append(w.Functions, re)
			} else {
				w.States = append(w.States, re)
			}
		}
	}
	if good && len(w.Functions) == 0 && len(w.States) == 0 {
		l.Errorf(pn, "wait pattern %s needs functions or states to match", w.Class)
		good = false
	}
	if w.Class == "" {
		return nil, false
	}
	return w, good
}

func (l *loader) override(set *Set) {
	root := l.root()
	if root == nil {
		return
	}
	top, _ := l.Fields(root, "the rules file", "rules", "wait_patterns")
	changed := map[string]*Rule{}
	firstLine := map[string]int{}
	if rn := top["rules"]; rn != nil {
		for _, n := range l.List(rn, "rules") {
			f, ok := l.Fields(n, "a rule", ruleKeys...)
			if !ok {
				continue
			}
			if dn := f["docs"]; dn != nil {
				l.Errorf(dn, "docs cannot be overridden")
			}
			id, ok := l.ruleID(n, f)
			if !ok {
				continue
			}
			if line, dup := firstLine[id]; dup {
				l.Errorf(n, "duplicate rule id %q (first at line %d)", id, line)
				continue
			}
			firstLine[id] = n.Line
			if r := l.overrideRule(set.Rule(id), f); r != nil {
				changed[id] = r
			}
		}
	}
	var patterns []*WaitPattern
	if wp := top["wait_patterns"]; wp != nil {
		patterns = l.patterns(wp)
	}
	if l.Failed() {
		return
	}
	for i, r := range set.Rules {
		if c, ok := changed[r.ID]; ok {
			set.Rules[i] = c
		}
	}
	set.Patterns.merge(patterns)
}

func (l *loader) overrideRule(base *Rule, f map[string]*yaml.Node) *Rule {
	r := base.clone()
	good := true
	if n := f["severity"]; n != nil {
		sev, ok := l.severity(n)
		r.Severity, good = sev, good && ok
	}
	if n := f["enabled"]; n != nil {
		b, ok := l.Bool(n, r.ID+": enabled")
		r.Enabled, good = b, good && ok
	}
	if n := f["params"]; n != nil {
		what := r.ID + ": params"
		kvs, ok := l.Pairs(n, what)
		good = good && ok
		for _, kv := range kvs {
			k, v := kv.Key, kv.Value
			i := slices.IndexFunc(r.Params, func(p Param) bool { return p.Name == k.Value })
			if i < 0 {
				msg := fmt.Sprintf("%s: unknown param %q", what, k.Value)
				names := make([]string, len(base.Params))
				for i, p := range base.Params {
					names[i] = p.Name
				}
				if near := yamlfile.Suggest(k.Value, names); near != "" {
					msg += fmt.Sprintf(" (did you mean %q?)", near)
				}
				l.Errorf(k, "%s (known: %s)", msg, paramNames(base))
				good = false
				continue
			}
			val, ok := l.overrideParam(v, what+"."+k.Value, r.Params[i].Value)
			if !ok {
				good = false
				continue
			}
			r.Params[i].Value = val
		}
	}
	if n := f["title"]; n != nil {
		s, ok := l.template(n, r.ID+": title", "title")
		r.Title, good = s, good && ok
	}
	if n := f["fix"]; n != nil {
		s, ok := l.template(n, r.ID+": fix", "fix")
		r.Fix, good = s, good && ok
	}
	if !good {
		return nil
	}
	r.compile()
	return r
}

func paramNames(r *Rule) string {
	if len(r.Params) == 0 {
		return "the rule has none"
	}
	names := make([]string, len(r.Params))
	for i, p := range r.Params {
		names[i] = p.Name
	}
	return strings.Join(names, ", ")
}

func kindName(v any) string {
	switch v.(type) {
	case nil:
		return "missing"
	case int:
		return "an integer"
	case float64:
		return "a number"
	case bool:
		return "a boolean"
	case string:
		return "a string"
	case []string:
		return "a list of strings"
	}
	return fmt.Sprintf("%T", v)
}
