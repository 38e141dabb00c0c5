package rules

import (
	"fmt"
	"math"
	"net/url"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"text/template"

	"gopkg.in/yaml.v3"

	advisor "github.com/pgadvisor/advisor"
)

// Error is one problem of a rules file, at a position in it. Where the
// YAML or template parser gives only a line, Column is that of the line's
// first character.
type Error struct {
	File         string
	Line, Column int
	Msg          string
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Column, e.Msg)
}

// Errors is every problem found in a rules file, in file order.
type Errors []*Error

func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

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
	l := &loader{file: base.Name}
	set := l.base(base.Data)
	if len(l.errs) > 0 {
		return nil, l.sorted()
	}
	for _, o := range overrides {
		l := &loader{file: o.Name}
		l.override(set, o.Data)
		if len(l.errs) > 0 {
			return nil, l.sorted()
		}
	}
	return set, nil
}

// sorted returns the errors in file order; errors at one position keep the
// order they were found in.
func (l *loader) sorted() Errors {
	slices.SortStableFunc(l.errs, func(a, b *Error) int {
		if a.Line != b.Line {
			return a.Line - b.Line
		}
		return a.Column - b.Column
	})
	return l.errs
}

type loader struct {
	file  string
	lines []string
	errs  Errors
}

// lineStart returns the column of the first character of the given line
// of the file that is not a space, for errors that know only their line.
func (l *loader) lineStart(line int) int {
	if line < 1 || line > len(l.lines) {
		return 1
	}
	text := l.lines[line-1]
	return len(text) - len(strings.TrimLeft(text, " \t")) + 1
}

func (l *loader) errorf(n *yaml.Node, format string, args ...any) {
	e := &Error{File: l.file, Line: 1, Column: 1, Msg: fmt.Sprintf(format, args...)}
	if n != nil {
		e.Line, e.Column = n.Line, n.Column
	}
	l.errs = append(l.errs, e)
}

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// root parses data and returns its top-level mapping, or nil after
// recording why there is none.
func (l *loader) root(data []byte) *yaml.Node {
	l.lines = strings.Split(string(data), "\n")
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		msg := err.Error()
		line := 1
		if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
			line, _ = strconv.Atoi(m[1])
			msg = m[2]
		} else {
			msg = strings.TrimPrefix(msg, "yaml: ")
		}
		l.errs = append(l.errs, &Error{File: l.file, Line: line, Column: l.lineStart(line), Msg: msg})
		return nil
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		l.errorf(nil, "empty rules file")
		return nil
	}
	n := doc.Content[0]
	if n.Kind != yaml.MappingNode {
		l.errorf(n, "a rules file is a mapping with the keys rules and wait_patterns, not %s", describe(n))
		return nil
	}
	return n
}

// fields checks that n is a mapping whose keys are all in allowed and
// unique, and returns its values by key.
func (l *loader) fields(n *yaml.Node, what string, allowed ...string) (map[string]*yaml.Node, bool) {
	if n.Kind != yaml.MappingNode {
		l.errorf(n, "%s must be a mapping, not %s", what, describe(n))
		return nil, false
	}
	out := make(map[string]*yaml.Node, len(n.Content)/2)
	keys := make(map[string]*yaml.Node, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			l.errorf(k, "%s: keys must be strings", what)
			continue
		}
		if !slices.Contains(allowed, k.Value) {
			l.errorf(k, "%s: unknown key %q (known: %s)", what, k.Value, strings.Join(allowed, ", "))
			continue
		}
		if prev, dup := keys[k.Value]; dup {
			l.errorf(k, "%s: duplicate key %q (first at line %d)", what, k.Value, prev.Line)
			continue
		}
		keys[k.Value] = k
		out[k.Value] = v
	}
	return out, true
}

func (l *loader) str(n *yaml.Node, what string) (string, bool) {
	if n.Kind != yaml.ScalarNode || n.Tag != "!!str" {
		l.errorf(n, "%s must be a string, not %s", what, describe(n))
		return "", false
	}
	return n.Value, true
}

func (l *loader) nonEmptyStr(n *yaml.Node, what string) (string, bool) {
	s, ok := l.str(n, what)
	if ok && strings.TrimSpace(s) == "" {
		l.errorf(n, "%s must not be empty", what)
		return "", false
	}
	return s, ok
}

func (l *loader) boolean(n *yaml.Node, what string) (bool, bool) {
	if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" {
		l.errorf(n, "%s must be true or false, not %s", what, describe(n))
		return false, false
	}
	var b bool
	if err := n.Decode(&b); err != nil {
		l.errorf(n, "%s: %v", what, err)
		return false, false
	}
	return b, true
}

func (l *loader) severity(n *yaml.Node) (Severity, bool) {
	s, ok := l.str(n, "severity")
	if !ok {
		return 0, false
	}
	sev, err := ParseSeverity(s)
	if err != nil {
		l.errorf(n, "%v", err)
		return 0, false
	}
	return sev, true
}

func (l *loader) strList(n *yaml.Node, what string) ([]string, bool) {
	if n.Kind != yaml.SequenceNode {
		l.errorf(n, "%s must be a list of strings, not %s", what, describe(n))
		return nil, false
	}
	out := make([]string, 0, len(n.Content))
	ok := true
	for _, e := range n.Content {
		s, good := l.str(e, what+" entry")
		ok = ok && good
		out = append(out, s)
	}
	return out, ok
}

var templateErrRE = regexp.MustCompile(`^template: [^:]*:(\d+):(?:\d+:)? (.*)$`)

// template checks that n is a template that parses. A parse error is
// reported on the line of the template where it is.
func (l *loader) template(n *yaml.Node, what, name string) (string, bool) {
	src, ok := l.nonEmptyStr(n, what)
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
				at.Column = l.lineStart(at.Line)
			} else if line > 1 {
				at.Line = n.Line + line - 1
				at.Column = l.lineStart(at.Line)
			}
		}
		l.errorf(&at, "%s: bad template: %s", what, msg)
		return "", false
	}
	return src, true
}

// list returns the entries of a top-level list.
func (l *loader) list(n *yaml.Node, what string) []*yaml.Node {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		l.errorf(n, "%s must be a list, not %s", what, describe(n))
		return nil
	}
	return n.Content
}

var ruleKeys = []string{"id", "severity", "enabled", "params", "title", "fix", "docs"}

func (l *loader) base(data []byte) *Set {
	root := l.root(data)
	if root == nil {
		return nil
	}
	top, _ := l.fields(root, "rules file", "rules", "wait_patterns")
	set := &Set{Patterns: &Patterns{}}
	byID := map[string]*Rule{}
	firstLine := map[string]int{}
	rulesNode := top["rules"]
	if rulesNode == nil {
		l.errorf(root, "rules file: missing key \"rules\"")
	} else if rulesNode.Kind != yaml.SequenceNode {
		l.errorf(rulesNode, "rules must be a list, not %s", describe(rulesNode))
	} else {
		for _, rn := range rulesNode.Content {
			r, valid := l.baseRule(rn)
			if r == nil {
				continue
			}
			if line, dup := firstLine[r.ID]; dup {
				l.errorf(rn, "duplicate rule id %q (first at line %d)", r.ID, line)
				continue
			}
			firstLine[r.ID] = rn.Line
			if valid {
				byID[r.ID] = r
			}
		}
		for _, id := range catalog() {
			if _, seen := firstLine[id]; !seen {
				l.errorf(keyNode(root, "rules"), "rule %q of the catalog is missing", id)
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
		l.errorf(root, "rules file: missing key \"wait_patterns\"")
	}
	return set
}

// ruleID reads and checks the id of a rule entry.
func (l *loader) ruleID(rn *yaml.Node, f map[string]*yaml.Node) (string, bool) {
	idn := f["id"]
	if idn == nil {
		l.errorf(rn, "rule without an id")
		return "", false
	}
	id, ok := l.str(idn, "id")
	if !ok {
		return "", false
	}
	if !Known(id) {
		msg := fmt.Sprintf("unknown rule id %q", id)
		if near := Suggest(id); len(near) > 0 {
			msg += fmt.Sprintf(" (did you mean %s?)", strings.Join(near, ", "))
		}
		l.errorf(idn, "%s", msg)
		return "", false
	}
	return id, true
}

// baseRule reads a rule of the base file. It returns nil when the entry
// has no valid id, and the rule with valid false when something else is
// wrong with it.
func (l *loader) baseRule(rn *yaml.Node) (r *Rule, valid bool) {
	f, ok := l.fields(rn, "rule", ruleKeys...)
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
			l.errorf(rn, "%s is missing", what(key))
			good = false
		}
	}
	if n := f["severity"]; n != nil {
		sev, ok := l.severity(n)
		r.Severity, good = sev, good && ok
	}
	if n := f["enabled"]; n != nil {
		b, ok := l.boolean(n, what("enabled"))
		r.Enabled, good = b, good && ok
	}
	if n := f["params"]; n != nil {
		ps, ok := l.baseParams(n, what("params"))
		r.Params, good = ps, good && ok
		k := keyNode(rn, "params")
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
	if !good {
		return r, false
	}
	if !l.checkParams(r) {
		return r, false
	}
	r.compile()
	return r, true
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
		at := &yaml.Node{Line: r.line, Column: r.col}
		if i := slices.IndexFunc(r.Params, func(p Param) bool { return p.Name == e.name }); i >= 0 {
			at.Line, at.Column = r.Params[i].line, r.Params[i].col
		}
		l.errorf(at, "%s: params: %s", r.ID, e.msg)
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
	f, ok := l.mapping(n, what)
	if !ok {
		return nil, false
	}
	var ps []Param
	good := true
	for _, kv := range f {
		k, v := kv[0], kv[1]
		if !paramNameRE.MatchString(k.Value) {
			l.errorf(k, "%s: param name %q must be snake_case, with its unit in it", what, k.Value)
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

// mapping returns the key/value pairs of a mapping with string keys, in
// order, reporting duplicates.
func (l *loader) mapping(n *yaml.Node, what string) ([][2]*yaml.Node, bool) {
	if n.Kind != yaml.MappingNode {
		l.errorf(n, "%s must be a mapping, not %s", what, describe(n))
		return nil, false
	}
	var out [][2]*yaml.Node
	seen := map[string]int{}
	good := true
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			l.errorf(k, "%s: keys must be strings", what)
			good = false
			continue
		}
		if line, dup := seen[k.Value]; dup {
			l.errorf(k, "%s: duplicate key %q (first at line %d)", what, k.Value, line)
			good = false
			continue
		}
		seen[k.Value] = k.Line
		out = append(out, [2]*yaml.Node{k, v})
	}
	return out, good
}

// paramValue decodes a built-in param; its YAML type becomes the param's
// type.
func (l *loader) paramValue(n *yaml.Node, what string) (any, bool) {
	if n.Kind == yaml.SequenceNode {
		return l.strList(n, what)
	}
	if n.Kind != yaml.ScalarNode {
		l.errorf(n, "%s must be a number, a boolean, a string or a list of strings, not %s", what, describe(n))
		return nil, false
	}
	switch n.Tag {
	case "!!int":
		var v int
		if err := n.Decode(&v); err != nil {
			l.errorf(n, "%s: %v", what, err)
			return nil, false
		}
		return v, true
	case "!!float":
		return l.float(n, what)
	case "!!bool":
		return l.boolean(n, what)
	case "!!str":
		return n.Value, true
	}
	l.errorf(n, "%s must be a number, a boolean, a string or a list of strings, not %s", what, describe(n))
	return nil, false
}

func (l *loader) float(n *yaml.Node, what string) (float64, bool) {
	var v float64
	if err := n.Decode(&v); err != nil {
		l.errorf(n, "%s: %v", what, err)
		return 0, false
	}
	if math.IsNaN(v) || math.IsInf(v, 0) {
		l.errorf(n, "%s must be a finite number", what)
		return 0, false
	}
	return v, true
}

// overrideParam decodes an override of a param whose built-in value is def;
// it must have the same type (an integer is accepted for a float).
func (l *loader) overrideParam(n *yaml.Node, what string, def any) (any, bool) {
	switch def.(type) {
	case float64:
		if n.Kind == yaml.ScalarNode && (n.Tag == "!!float" || n.Tag == "!!int") {
			return l.float(n, what)
		}
		l.errorf(n, "%s must be a number, not %s", what, describe(n))
	case int:
		if n.Kind == yaml.ScalarNode && n.Tag == "!!int" {
			return l.paramValue(n, what)
		}
		l.errorf(n, "%s must be an integer, not %s", what, describe(n))
	case bool:
		return l.boolean(n, what)
	case string:
		return l.str(n, what)
	case []string:
		return l.strList(n, what)
	default:
		l.errorf(n, "%s has a built-in value of unsupported type %T", what, def)
	}
	return nil, false
}

var docsKeys = []string{"summary", "why", "detection", "fix", "links"}

func (l *loader) docs(n *yaml.Node, what string) (Docs, bool) {
	f, ok := l.fields(n, what, docsKeys...)
	if !ok {
		return Docs{}, false
	}
	var d Docs
	good := true
	text := map[string]*string{"summary": &d.Summary, "why": &d.Why, "detection": &d.Detection, "fix": &d.Fix}
	for _, key := range docsKeys {
		v := f[key]
		if v == nil {
			l.errorf(n, "%s.%s is missing", what, key)
			good = false
			continue
		}
		if key == "links" {
			links, ok := l.strList(v, what+".links")
			good = good && ok
			if ok && len(links) == 0 {
				l.errorf(v, "%s.links: at least one link to primary documentation", what)
				good = false
			}
			for i, s := range links {
				if u, err := url.Parse(s); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
					l.errorf(v.Content[i], "%s.links: %q is not an http(s) URL", what, s)
					good = false
				}
			}
			d.Links = links
			continue
		}
		s, ok := l.nonEmptyStr(v, what+"."+key)
		good = good && ok
		*text[key] = strings.TrimSpace(s)
	}
	if strings.Contains(d.Summary, "\n") {
		l.errorf(f["summary"], "%s.summary must be one line", what)
		good = false
	}
	return d, good
}

var patternKeys = []string{"class", "kind", "inline_work", "description", "functions", "states"}
var classNameRE = regexp.MustCompile(`^[a-z][a-z0-9-]*$`)

func (l *loader) patterns(n *yaml.Node) []*WaitPattern {
	var out []*WaitPattern
	firstLine := map[string]int{}
	for _, pn := range l.list(n, "wait_patterns") {
		w, valid := l.pattern(pn)
		if w == nil {
			continue
		}
		if line, dup := firstLine[w.Class]; dup {
			l.errorf(pn, "duplicate wait pattern class %q (first at line %d)", w.Class, line)
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
	f, ok := l.fields(pn, "wait pattern", patternKeys...)
	if !ok {
		return nil, false
	}
	w = &WaitPattern{}
	good := true
	if cn := f["class"]; cn == nil {
		l.errorf(pn, "wait pattern without a class")
		good = false
	} else if s, ok := l.str(cn, "class"); !ok {
		good = false
	} else if !classNameRE.MatchString(s) {
		l.errorf(cn, "class %q: use lower-case words joined by '-'", s)
		good = false
	} else {
		w.Class = s
	}
	if kn := f["kind"]; kn == nil {
		l.errorf(pn, "wait pattern %s: kind is missing", w.Class)
		good = false
	} else if s, ok := l.str(kn, "kind"); !ok {
		good = false
	} else if !slices.Contains(waitKinds, WaitKind(s)) {
		names := make([]string, len(waitKinds))
		for i, k := range waitKinds {
			names[i] = string(k)
		}
		l.errorf(kn, "unknown kind %q (known: %s)", s, strings.Join(names, ", "))
		good = false
	} else {
		w.Kind = WaitKind(s)
	}
	if bn := f["inline_work"]; bn != nil {
		b, ok := l.boolean(bn, "inline_work")
		w.InlineWork, good = b, good && ok
	}
	if dn := f["description"]; dn != nil {
		s, ok := l.str(dn, "description")
		w.Description, good = strings.TrimSpace(s), good && ok
	}
	for _, key := range []string{"functions", "states"} {
		v := f[key]
		if v == nil {
			continue
		}
		srcs, ok := l.strList(v, key)
		good = good && ok
		for i, src := range srcs {
			if !ok {
				break
			}
			re, err := regexp.Compile(src)
			if err != nil {
				l.errorf(v.Content[i], "%s: bad regular expression: %v", key, err)
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
		l.errorf(pn, "wait pattern %s needs functions or states to match", w.Class)
		good = false
	}
	if w.Class == "" {
		return nil, false
	}
	return w, good
}

func (l *loader) override(set *Set, data []byte) {
	root := l.root(data)
	if root == nil {
		return
	}
	top, _ := l.fields(root, "rules file", "rules", "wait_patterns")
	changed := map[string]*Rule{}
	firstLine := map[string]int{}
	if rn := top["rules"]; rn != nil {
		for _, n := range l.list(rn, "rules") {
			f, ok := l.fields(n, "rule", ruleKeys...)
			if !ok {
				continue
			}
			if dn := f["docs"]; dn != nil {
				l.errorf(dn, "docs cannot be overridden")
			}
			id, ok := l.ruleID(n, f)
			if !ok {
				continue
			}
			if line, dup := firstLine[id]; dup {
				l.errorf(n, "duplicate rule id %q (first at line %d)", id, line)
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
	if len(l.errs) > 0 {
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
		b, ok := l.boolean(n, r.ID+": enabled")
		r.Enabled, good = b, good && ok
	}
	if n := f["params"]; n != nil {
		what := r.ID + ": params"
		kvs, ok := l.mapping(n, what)
		good = good && ok
		for _, kv := range kvs {
			k, v := kv[0], kv[1]
			i := slices.IndexFunc(r.Params, func(p Param) bool { return p.Name == k.Value })
			if i < 0 {
				msg := fmt.Sprintf("%s: unknown param %q", what, k.Value)
				names := make([]string, len(base.Params))
				for i, p := range base.Params {
					names[i] = p.Name
				}
				if near := nearest(k.Value, names); near != "" {
					msg += fmt.Sprintf(" (did you mean %q?)", near)
				}
				l.errorf(k, "%s (known: %s)", msg, paramNames(base))
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

// keyNode returns the node of the key name in mapping n, or n.
func keyNode(n *yaml.Node, name string) *yaml.Node {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == name {
			return n.Content[i]
		}
	}
	return n
}

// describe names a node's type for error messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	case yaml.ScalarNode:
		switch n.Tag {
		case "!!str":
			return fmt.Sprintf("the string %q", n.Value)
		case "!!int":
			return "the integer " + n.Value
		case "!!float":
			return "the number " + n.Value
		case "!!bool":
			return "the boolean " + n.Value
		case "!!null":
			return "nothing"
		}
		return fmt.Sprintf("%s %q", n.Tag, n.Value)
	}
	return "an empty document"
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
