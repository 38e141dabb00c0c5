package yamlfile

import (
	"math"
	"strings"

	"go.yaml.in/yaml/v3"
)

// String reads a YAML string: a number or a boolean is refused, even where
// its text would do, since the file's author likely meant something else.
func (f *File) String(n *yaml.Node, what string) (string, bool) {
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!str" {
		f.Errorf(n, "%s must be a string, not %s", what, Describe(n))
		return "", false
	}
	return n.Value, true
}

// NonEmptyString reads a YAML string that holds more than white space.
func (f *File) NonEmptyString(n *yaml.Node, what string) (string, bool) {
	s, ok := f.String(n, what)
	if ok && strings.TrimSpace(s) == "" {
		f.Errorf(n, "%s must not be empty", what)
		return "", false
	}
	return s, ok
}

// Text reads any scalar but null as its text, as written: for values such
// as a header's or a name, where 2 and "2" mean the same.
func (f *File) Text(n *yaml.Node, what string) (string, bool) {
	if n.Kind != yaml.ScalarNode || IsNull(n) {
		f.Errorf(n, "%s must be a string, not %s", what, Describe(n))
		return "", false
	}
	return n.Value, true
}

// Bool reads true or false.
func (f *File) Bool(n *yaml.Node, what string) (bool, bool) {
	var b bool
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" || n.Decode(&b) != nil {
		f.Errorf(n, "%s must be true or false, not %s", what, Describe(n))
		return false, false
	}
	return b, true
}

// Int reads an integer, in any notation YAML has for one (1_000, 0x1f).
func (f *File) Int(n *yaml.Node, what string) (int, bool) {
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" {
		f.Errorf(n, "%s must be an integer, not %s", what, Describe(n))
		return 0, false
	}
	var i int
	if err := n.Decode(&i); err != nil {
		f.Errorf(n, "%s: %s is too large an integer", what, n.Value)
		return 0, false
	}
	return i, true
}

// Float reads a finite number, integer or not.
func (f *File) Float(n *yaml.Node, what string) (float64, bool) {
	if n.Kind != yaml.ScalarNode || (n.ShortTag() != "!!float" && n.ShortTag() != "!!int") {
		f.Errorf(n, "%s must be a number, not %s", what, Describe(n))
		return 0, false
	}
	var v float64
	if err := n.Decode(&v); err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		f.Errorf(n, "%s must be a finite number", what)
		return 0, false
	}
	return v, true
}

// Strings reads a list of YAML strings. It reads every entry, reporting
// each that is not a string, and returns the list with "" for those.
func (f *File) Strings(n *yaml.Node, what string) ([]string, bool) {
	if n.Kind != yaml.SequenceNode {
		f.Errorf(n, "%s must be a list of strings, not %s", what, Describe(n))
		return nil, false
	}
	out := make([]string, 0, len(n.Content))
	ok := true
	for _, e := range n.Content {
		s, good := f.String(e, what+" entry")
		ok = ok && good
		out = append(out, s)
	}
	return out, ok
}

// IsNull reports whether n is null: "~", "null" or nothing at all.
func IsNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}
