package yamlfile

import (
	"fmt"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Pair is one key and its value in a mapping.
type Pair struct{ Key, Value *yaml.Node }

// Fields checks that n is a mapping whose keys are all in allowed, each
// once, and returns its values by key. An unknown key is reported with the
// allowed key closest to it, if one is close, and the list of allowed keys;
// a duplicate with the line of the first. It reports false only when n is
// not a mapping; the keys it reports are left out of the result.
//
// what names the mapping in messages ("unknown key "x" in a rule"); it may
// be empty for the top-level mapping of a file.
func (f *File) Fields(n *yaml.Node, what string, allowed ...string) (map[string]*yaml.Node, bool) {
	pairs, ok := f.pairs(n, what, allowed)
	if !ok {
		return nil, false
	}
	out := make(map[string]*yaml.Node, len(pairs))
	for _, p := range pairs {
		out[p.Key.Value] = p.Value
	}
	return out, true
}

// Pairs checks that n is a mapping whose keys are strings, each once, and
// returns its pairs in file order, without the keys it reports. It reports
// false only when n is not a mapping.
func (f *File) Pairs(n *yaml.Node, what string) ([]Pair, bool) {
	return f.pairs(n, what, nil)
}

// pairs is Fields and Pairs; allowed nil allows any key.
func (f *File) pairs(n *yaml.Node, what string, allowed []string) ([]Pair, bool) {
	if n.Kind != yaml.MappingNode {
		f.Errorf(n, "%s must be a mapping, not %s", subject(what), Describe(n))
		return nil, false
	}
	out := make([]Pair, 0, len(n.Content)/2)
	first := make(map[string]int, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			f.Errorf(k, "keys%s must be strings, not %s", in(what), Describe(k))
			continue
		}
		if allowed != nil && !slices.Contains(allowed, k.Value) {
			hint := ""
			if near := Suggest(k.Value, allowed); near != "" {
				hint = fmt.Sprintf(" (did you mean %q?)", near)
			}
			f.Errorf(k, "unknown key %q%s%s (known: %s)", k.Value, in(what), hint, strings.Join(allowed, ", "))
			continue
		}
		if line, dup := first[k.Value]; dup {
			f.Errorf(k, "duplicate key %q%s (first at line %d)", k.Value, in(what), line)
			continue
		}
		first[k.Value] = k.Line
		out = append(out, Pair{k, v})
	}
	return out, true
}

// List returns the entries of a list; null, an absent list, has none.
func (f *File) List(n *yaml.Node, what string) []*yaml.Node {
	if IsNull(n) {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		f.Errorf(n, "%s must be a list, not %s", subject(what), Describe(n))
		return nil
	}
	return n.Content
}

// KeyNode returns the node of key in mapping n, or n when n has no such
// key: where to report a problem of the key's value as a whole.
func KeyNode(n *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i]
		}
	}
	return n
}

// ValueNode returns the value of key in mapping n, or n when n has no such
// key.
func ValueNode(n *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return n
}

// in is " in what", or "" for the top level of a file.
func in(what string) string {
	if what == "" {
		return ""
	}
	return " in " + what
}

// subject is what, or "the document" for the top level of a file.
func subject(what string) string {
	if what == "" {
		return "the document"
	}
	return what
}
