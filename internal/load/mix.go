package load

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
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

// ParseMix parses the content of a mix file; name prefixes the errors.
func ParseMix(name string, data []byte) (*Mix, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s: the mix file is empty", name)
		}
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		return nil, fmt.Errorf("%s:%d:%d: a mix file holds one document", name, extra.Line, extra.Column)
	}
	if len(doc.Content) == 0 {
		return nil, fmt.Errorf("%s: the mix file is empty", name)
	}
	p := mixParser{name: name}
	m, err := p.mix(doc.Content[0])
	if err != nil {
		return nil, err
	}
	return m, nil
}

type mixParser struct{ name string }

func (p mixParser) errorf(n *yaml.Node, format string, args ...any) error {
	return fmt.Errorf("%s:%d:%d: %s", p.name, n.Line, n.Column, fmt.Sprintf(format, args...))
}

// fields calls f for each key of a mapping, refusing keys not in known.
func (p mixParser) fields(n *yaml.Node, what string, known []string, f func(key string, value *yaml.Node) error) error {
	if n.Kind != yaml.MappingNode {
		return p.errorf(n, "%s must be a mapping, not %s", what, kindName(n))
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			return p.errorf(k, "%s: keys must be strings", what)
		}
		if known != nil && !slices.Contains(known, k.Value) {
			return p.errorf(k, "unknown key %q in %s (known: %s)", k.Value, what, strings.Join(known, ", "))
		}
		if err := f(k.Value, v); err != nil {
			return err
		}
	}
	return nil
}

func (p mixParser) mix(n *yaml.Node) (*Mix, error) {
	m := &Mix{Vars: map[string]Range{}, Header: http.Header{}}
	var entries *yaml.Node
	var entryNodes []*yaml.Node
	err := p.fields(n, "the mix", []string{"headers", "vars", "entries"}, func(key string, v *yaml.Node) error {
		switch key {
		case "headers":
			return p.headers(v, m.Header)
		case "vars":
			return p.fields(v, "vars", nil, func(name string, v *yaml.Node) error {
				if !isIdent(name) {
					return p.errorf(v, "var %q: a name is letters, digits and underscores", name)
				}
				r, err := p.rangeOf(v, name)
				m.Vars[name] = r
				return err
			})
		default:
			entries = v
			if v.Kind != yaml.SequenceNode {
				return p.errorf(v, "entries must be a list, not %s", kindName(v))
			}
			for _, en := range v.Content {
				e, err := p.entry(en)
				if err != nil {
					return err
				}
				m.Entries = append(m.Entries, e)
				entryNodes = append(entryNodes, en)
			}
			return nil
		}
	})
	if err != nil {
		return nil, err
	}
	if entries == nil || len(m.Entries) == 0 {
		return nil, p.errorf(n, "the mix has no entries")
	}
	// Every placeholder needs a var; vars may come after the entries.
	for i, e := range m.Entries {
		for _, field := range []string{"path", "body"} {
			text := e.Path
			if field == "body" {
				text = e.Body
			}
			if _, err := parseTemplate(text, m.Vars, map[string]int{}); err != nil {
				return nil, p.errorf(valueOf(entryNodes[i], field), "%s: %v", field, err)
			}
		}
	}
	return m, nil
}

func (p mixParser) headers(n *yaml.Node, h http.Header) error {
	return p.fields(n, "headers", nil, func(key string, v *yaml.Node) error {
		if !isToken(key) {
			return p.errorf(v, "header name %q is not valid", key)
		}
		switch v.Kind {
		case yaml.ScalarNode:
			h.Add(key, v.Value)
		case yaml.SequenceNode:
			for _, item := range v.Content {
				s, err := p.str(item, "header "+key)
				if err != nil {
					return err
				}
				h.Add(key, s)
			}
		default:
			return p.errorf(v, "header %s must be a string or a list of strings", key)
		}
		return nil
	})
}

func (p mixParser) rangeOf(n *yaml.Node, name string) (Range, error) {
	var r Range
	var haveMin, haveMax bool
	err := p.fields(n, "var "+name, []string{"min", "max"}, func(key string, v *yaml.Node) error {
		i, err := p.int(v, key)
		if key == "min" {
			r.Min, haveMin = i, true
		} else {
			r.Max, haveMax = i, true
		}
		return err
	})
	switch {
	case err != nil:
		return r, err
	case !haveMin || !haveMax:
		return r, p.errorf(n, "var %s needs min and max", name)
	case r.Min > r.Max:
		return r, p.errorf(n, "var %s: min %d is above max %d", name, r.Min, r.Max)
	}
	return r, nil
}

func (p mixParser) entry(n *yaml.Node) (Entry, error) {
	var e Entry
	var havePath bool
	known := []string{"name", "weight", "method", "path", "body", "headers"}
	err := p.fields(n, "an entry", known, func(key string, v *yaml.Node) error {
		var err error
		switch key {
		case "name":
			e.Name, err = p.str(v, key)
		case "weight":
			var w int64
			w, err = p.int(v, key)
			if err == nil && (w < 1 || w > 1_000_000) {
				err = p.errorf(v, "weight must be between 1 and 1000000")
			}
			e.Weight = int(w)
		case "method":
			e.Method, err = p.str(v, key)
			if err == nil && !isToken(e.Method) {
				err = p.errorf(v, "method %q is not valid", e.Method)
			}
		case "path":
			e.Path, err = p.str(v, key)
			havePath = true
		case "body":
			if v.Kind == yaml.MappingNode || v.Kind == yaml.SequenceNode {
				return p.errorf(v, "body must be a string: quote a JSON body, e.g. body: '{\"id\": {user}}'")
			}
			e.Body, err = p.str(v, key)
		case "headers":
			e.Header = http.Header{}
			err = p.headers(v, e.Header)
		}
		return err
	})
	if err != nil {
		return e, err
	}
	if !havePath {
		return e, p.errorf(n, "an entry needs a path")
	}
	return e, nil
}

func (p mixParser) str(n *yaml.Node, what string) (string, error) {
	if n.Kind != yaml.ScalarNode || n.ShortTag() == "!!null" {
		return "", p.errorf(n, "%s must be a string, not %s", what, kindName(n))
	}
	return n.Value, nil
}

func (p mixParser) int(n *yaml.Node, what string) (int64, error) {
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" {
		return 0, p.errorf(n, "%s must be an integer, not %s", what, kindName(n))
	}
	i, err := strconv.ParseInt(strings.ReplaceAll(n.Value, "_", ""), 0, 64)
	if err != nil {
		return 0, p.errorf(n, "%s: %q is not a 64-bit integer", what, n.Value)
	}
	return i, nil
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	}
	switch n.ShortTag() {
	case "!!null":
		return "null"
	case "!!int", "!!float":
		return "the number " + n.Value
	case "!!bool":
		return "the boolean " + n.Value
	}
	return fmt.Sprintf("%q", n.Value)
}

// valueOf returns the value of key in mapping n, or n itself.
func valueOf(n *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return n
}
