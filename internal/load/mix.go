package load

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"

	"go.yaml.in/yaml/v3"

	"github.com/pgadvisor/advisor/internal/yamlfile"
)

// Mix is the content of a mix file: the entries of Config.Mix, the ranges
// of Config.Vars and headers for every request.
//
// A mix file is YAML or JSON:
//
//	headers:                      # optional, sent with every request
//	  Authorization: Bearer t0k3n
//	vars:                         # optional, the ranges of the placeholders
//	  user: {min: 1, max: 20000}
//	entries:
//	  - name: feed                # optional, default "METHOD path"
//	    weight: 6                 # optional, default 1
//	    method: GET               # optional, default GET
//	    path: /users/{user}/feed  # relative to the base URL
//	  - name: order
//	    method: POST
//	    path: /orders
//	    headers: {Content-Type: application/json}
//	    body: '{"user_id": {user}, "items": [{"sku": 1, "qty": 2}]}'
//
// A header's value is a string or a list of strings. Unknown keys and
// values of the wrong type are errors that name the file, line and column.
type Mix struct {
	Entries []Entry
	Vars    map[string]Range
	Header  http.Header
}

// LoadMix reads a mix file.
func LoadMix(path string) (*Mix, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load: mix file: %w", err)
	}
	return ParseMix(filepath.Base(path), data)
}

// ParseMix parses the content of a mix file; name prefixes the errors. Every
// problem of the file is reported at once, as yamlfile.Errors.
func ParseMix(name string, data []byte) (*Mix, error) {
	f := yamlfile.Parse(name, data)
	root := f.Root()
	if root == nil {
		if !f.Failed() {
			f.Errorf(nil, "the mix file is empty")
		}
		return nil, f.Err()
	}
	m := mixParser{f}.mix(root)
	if err := f.Err(); err != nil {
		return nil, err
	}
	return m, nil
}

// mixParser reads a mix file; its File collects the problems.
type mixParser struct{ *yamlfile.File }

func (p mixParser) mix(n *yaml.Node) *Mix {
	m := &Mix{Vars: map[string]Range{}, Header: http.Header{}}
	top, ok := p.Fields(n, "the mix", "headers", "vars", "entries")
	if !ok {
		return m
	}
	if v := top["headers"]; v != nil {
		p.headers(v, m.Header)
	}
	varsOK := true
	if v := top["vars"]; v != nil {
		varsOK = p.vars(v, m.Vars)
	}
	var entryNodes []*yaml.Node
	if v := top["entries"]; v != nil {
		entryNodes = p.List(v, "entries")
	}
	if len(entryNodes) == 0 && (top["entries"] == nil || yamlfile.IsNull(top["entries"]) || top["entries"].Kind == yaml.SequenceNode) {
		p.Errorf(n, "the mix has no entries")
	}
	for _, en := range entryNodes {
		e, ok := p.entry(en)
		if !ok {
			continue
		}
		m.Entries = append(m.Entries, e)
		if !varsOK {
			continue
		}
		// Every placeholder needs a var; vars may come after the entries.
		for _, field := range []string{"path", "body"} {
			text := e.Path
			if field == "body" {
				text = e.Body
			}
			if _, err := parseTemplate(text, m.Vars, map[string]int{}); err != nil {
				p.Errorf(yamlfile.ValueNode(en, field), "%s: %v", field, err)
			}
		}
	}
	return m
}

func (p mixParser) vars(n *yaml.Node, vars map[string]Range) bool {
	pairs, ok := p.Pairs(n, "vars")
	for _, kv := range pairs {
		name := kv.Key.Value
		if !isIdent(name) {
			p.Errorf(kv.Value, "var %q: a name is letters, digits and underscores", name)
			ok = false
			continue
		}
		r, good := p.rangeOf(kv.Value, name)
		vars[name] = r
		ok = ok && good
	}
	return ok
}

func (p mixParser) headers(n *yaml.Node, h http.Header) {
	pairs, _ := p.Pairs(n, "headers")
	for _, kv := range pairs {
		key, v := kv.Key.Value, kv.Value
		if !isToken(key) {
			p.Errorf(v, "header name %q is not valid", key)
			continue
		}
		switch v.Kind {
		case yaml.ScalarNode:
			h.Add(key, v.Value)
		case yaml.SequenceNode:
			for _, item := range v.Content {
				if s, ok := p.Text(item, "header "+key); ok {
					h.Add(key, s)
				}
			}
		default:
			p.Errorf(v, "header %s must be a string or a list of strings, not %s", key, yamlfile.Describe(v))
		}
	}
}

func (p mixParser) rangeOf(n *yaml.Node, name string) (Range, bool) {
	var r Range
	f, ok := p.Fields(n, "var "+name, "min", "max")
	if !ok {
		return r, false
	}
	minN, maxN := f["min"], f["max"]
	if minN == nil || maxN == nil {
		p.Errorf(n, "var %s needs min and max", name)
		return r, false
	}
	lo, okMin := p.Int(minN, "min")
	hi, okMax := p.Int(maxN, "max")
	r = Range{Min: int64(lo), Max: int64(hi)}
	if okMin && okMax && r.Min > r.Max {
		p.Errorf(n, "var %s: min %d is above max %d", name, r.Min, r.Max)
		return r, false
	}
	return r, okMin && okMax
}

var entryKeys = []string{"name", "weight", "method", "path", "body", "headers"}

// entry reads an entry of the mix; it reports false when the entry has a
// problem.
func (p mixParser) entry(n *yaml.Node) (Entry, bool) {
	var e Entry
	f, ok := p.Fields(n, "an entry", entryKeys...)
	if !ok {
		return e, false
	}
	good := true
	text := func(key string, dst *string) {
		if v := f[key]; v != nil {
			s, ok := p.Text(v, key)
			*dst, good = s, good && ok
		}
	}
	text("name", &e.Name)
	text("method", &e.Method)
	text("path", &e.Path)
	if v := f["weight"]; v != nil {
		w, ok := p.Int(v, "weight")
		if ok && (w < 1 || w > 1_000_000) {
			p.Errorf(v, "weight must be between 1 and 1000000")
			ok = false
		}
		e.Weight, good = w, good && ok
	}
	if v := f["method"]; v != nil && e.Method != "" && !isToken(e.Method) {
		p.Errorf(v, "method %q is not valid", e.Method)
		good = false
	}
	if v := f["body"]; v != nil {
		if v.Kind == yaml.MappingNode || v.Kind == yaml.SequenceNode {
			p.Errorf(v, "body must be a string: quote a JSON body, e.g. body: '{\"id\": {user}}'")
			good = false
		} else {
			text("body", &e.Body)
		}
	}
	if v := f["headers"]; v != nil {
		e.Header = http.Header{}
		p.headers(v, e.Header)
	}
	if f["path"] == nil {
		p.Errorf(n, "an entry needs a path")
		good = false
	}
	return e, good
}
