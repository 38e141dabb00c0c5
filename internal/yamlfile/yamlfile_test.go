package yamlfile

import (
	"errors"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// check parses src, runs read on its root and compares every error, one per
// line, to want.
func check(t *testing.T, src string, read func(f *File, root *yaml.Node), want ...string) {
	t.Helper()
	f := Parse("f.yaml", []byte(src))
	if root := f.Root(); root != nil {
		read(f, root)
	}
	got := ""
	if err := f.Err(); err != nil {
		got = err.Error()
	}
	if w := strings.Join(want, "\n"); got != w {
		t.Errorf("errors:\n%s\nwant:\n%s", got, w)
	}
}

func TestScalarReaders(t *testing.T) {
	src := `s: 3
e: "  "
t: [a]
b: "yes"
i: 2.5
big: 99999999999999999999
fl: .inf
fs: fast
l: KEYS
le: [a, 1]
ok_s: text
ok_t: 42
ok_b: false
ok_i: 1_000
ok_f: 7
ok_l: [x, y]
`
	var got []any
	check(t, src, func(f *File, root *yaml.Node) {
		v := func(k string) *yaml.Node { return ValueNode(root, k) }
		f.String(v("s"), "s")
		f.NonEmptyString(v("e"), "e")
		f.Text(v("t"), "t")
		f.Bool(v("b"), "b")
		f.Int(v("i"), "i")
		f.Int(v("big"), "big")
		f.Float(v("fl"), "fl")
		f.Float(v("fs"), "fs")
		f.Strings(v("l"), "l")
		f.Strings(v("le"), "le")
		s, _ := f.String(v("ok_s"), "ok_s")
		txt, _ := f.Text(v("ok_t"), "ok_t")
		b, _ := f.Bool(v("ok_b"), "ok_b")
		i, _ := f.Int(v("ok_i"), "ok_i")
		fl, _ := f.Float(v("ok_f"), "ok_f")
		l, _ := f.Strings(v("ok_l"), "ok_l")
		got = []any{s, txt, b, i, fl, strings.Join(l, ",")}
	},
		`f.yaml:1:4: s must be a string, not the integer 3`,
		`f.yaml:2:4: e must not be empty`,
		`f.yaml:3:4: t must be a string, not a list`,
		`f.yaml:4:4: b must be true or false, not the string "yes"`,
		`f.yaml:5:4: i must be an integer, not the number 2.5`,
		`f.yaml:6:6: big must be an integer, not the number 99999999999999999999`,
		`f.yaml:7:5: fl must be a finite number`,
		`f.yaml:8:5: fs must be a number, not the string "fast"`,
		`f.yaml:9:4: l must be a list of strings, not the string "KEYS"`,
		`f.yaml:10:9: le entry must be a string, not the integer 1`,
	)
	want := []any{"text", "42", false, 1000, 7.0, "x,y"}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("value %d = %v, want %v", i, got[i], want[i])
		}
	}
}

func TestFields(t *testing.T) {
	src := `target: http://x
tagret: http://y
target: again
[a]: b
tls:
  ca: /etc/ca.pem
`
	var got map[string]*yaml.Node
	check(t, src, func(f *File, root *yaml.Node) {
		got, _ = f.Fields(root, "", "target", "tls", "pg")
		f.Fields(got["tls"], "tls", "ca_file", "key_file")
	},
		`f.yaml:2:1: unknown key "tagret" (did you mean "target"?) (known: target, tls, pg)`,
		`f.yaml:3:1: duplicate key "target" (first at line 1)`,
		`f.yaml:4:1: keys must be strings, not a list`,
		`f.yaml:6:3: unknown key "ca" in tls (known: ca_file, key_file)`,
	)
	if got["target"].Value != "http://x" || len(got) != 2 {
		t.Errorf("fields %v", got)
	}
}

func TestPairsAndList(t *testing.T) {
	src := `vars: {b: 1, a: 2, b: 3}
none: ~
entries: {path: /}
scalar: 5
`
	var keys []string
	var none []*yaml.Node
	check(t, src, func(f *File, root *yaml.Node) {
		pairs, _ := f.Pairs(ValueNode(root, "vars"), "vars")
		for _, p := range pairs {
			keys = append(keys, p.Key.Value)
		}
		none = f.List(ValueNode(root, "none"), "none")
		f.List(ValueNode(root, "entries"), "entries")
		f.Pairs(ValueNode(root, "scalar"), "scalar")
	},
		`f.yaml:1:20: duplicate key "b" in vars (first at line 1)`,
		`f.yaml:3:10: entries must be a list, not a mapping`,
		`f.yaml:4:9: scalar must be a mapping, not the integer 5`,
	)
	if strings.Join(keys, ",") != "b,a" || none != nil {
		t.Errorf("pairs %v, null list %v", keys, none)
	}
}

// TestEveryErrorSorted checks that problems found out of order are all
// reported, sorted by line then column, those at one position in the order
// they were found.
func TestEveryErrorSorted(t *testing.T) {
	f := Parse("f.yaml", []byte("a: 1\nb: 2\n"))
	f.ErrorAt(2, 4, "late")
	f.ErrorAt(1, 4, "second at 1:4")
	f.Errorf(nil, "start")
	f.ErrorAt(1, 4, "third at 1:4")
	err := f.Err()
	want := "f.yaml:1:1: start\nf.yaml:1:4: second at 1:4\nf.yaml:1:4: third at 1:4\nf.yaml:2:4: late"
	if err == nil || err.Error() != want {
		t.Fatalf("got:\n%v\nwant:\n%s", err, want)
	}
	var es Errors
	var e *Error
	if !errors.As(err, &es) || len(es) != 4 || !errors.As(err, &e) || e.Line != 1 || e.Column != 1 {
		t.Errorf("errors.As: %#v, %#v", es, e)
	}
	if !f.Failed() {
		t.Error("Failed is false")
	}
}

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		name, src, want string
		root            bool
	}{
		{"mapping", "a: 1\n", "", true},
		{"empty", "", "", false},
		{"comment only", "# nothing\n", "", false},
		{"syntax", "a: [\n", "f.yaml:1:1: did not find expected node content", false},
		{"syntax on a later line", "a:\n  b: 1\n  c: d: e\n", "f.yaml:3:3: mapping values are not allowed in this context", false},
		{"two documents", "a: 1\n---\nb: 2\n", "f.yaml:2:1: the file holds more than one YAML document", true},
		{"bad second document", "a: 1\n---\nb: [\n", "f.yaml:3:1: did not find expected node content", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := Parse("f.yaml", []byte(tc.src))
			got := ""
			if err := f.Err(); err != nil {
				got = err.Error()
			}
			if got != tc.want || (f.Root() != nil) != tc.root {
				t.Errorf("errors %q, root %v; want %q, root %v", got, f.Root(), tc.want, tc.root)
			}
		})
	}
}

func TestDescribe(t *testing.T) {
	f := Parse("f.yaml", []byte(`[{a: 1}, [1], "s", 3, 2.5, true, ~, 2024-01-02, *x]`))
	if f.Root() != nil {
		t.Fatalf("an unknown anchor parsed: %v", f.Root())
	}
	f = Parse("f.yaml", []byte(`[{a: 1}, [1], &x "s", 3, 2.5, true, ~, 2024-01-02, *x]`))
	want := []string{"a mapping", "a list", `the string "s"`, "the integer 3", "the number 2.5",
		"the boolean true", "nothing", `!!timestamp "2024-01-02"`, "an alias"}
	for i, n := range f.Root().Content {
		if got := Describe(n); got != want[i] {
			t.Errorf("Describe(%s) = %q, want %q", n.Value, got, want[i])
		}
	}
	if got := Describe(&yaml.Node{}); got != "an empty document" {
		t.Errorf("Describe(empty) = %q", got)
	}
}

func TestKeyNode(t *testing.T) {
	root := Parse("f.yaml", []byte("a: 1\nparams:\n  x: 2\n")).Root()
	if k := KeyNode(root, "params"); k.Line != 2 || k.Column != 1 || k.Value != "params" {
		t.Errorf("KeyNode = %+v", k)
	}
	if k := KeyNode(root, "absent"); k != root {
		t.Errorf("KeyNode of an absent key = %+v, want the mapping", k)
	}
	if v := ValueNode(root, "params"); v.Kind != yaml.MappingNode || v.Line != 3 {
		t.Errorf("ValueNode = %+v", v)
	}
}

func TestSuggest(t *testing.T) {
	keys := []string{"name", "weight", "method", "path", "body", "headers"}
	for in, want := range map[string]string{
		"wieght":  "weight",
		"Weight":  "weight",
		"header":  "headers",
		"paht":    "path",
		"colour":  "",
		"x":       "",
		"methods": "method",
	} {
		if got := Suggest(in, keys); got != want {
			t.Errorf("Suggest(%q) = %q, want %q", in, got, want)
		}
	}
	for _, tc := range []struct {
		a, b string
		d    int
	}{{"", "abc", 3}, {"kitten", "sitting", 3}, {"héllo", "hello", 1}, {"same", "same", 0}} {
		if d := EditDistance(tc.a, tc.b); d != tc.d {
			t.Errorf("EditDistance(%q, %q) = %d, want %d", tc.a, tc.b, d, tc.d)
		}
	}
}
