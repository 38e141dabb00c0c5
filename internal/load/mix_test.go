package load

import (
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestLoadMix(t *testing.T) {
	const yamlMix = `# the sample service's mix
headers:
  Authorization: Bearer t0k3n
  X-Multi: [a, b]
vars:
  user: {min: 1, max: 20_000}
entries:
  - name: feed
    weight: 6
    path: /users/{user}/feed
  - name: order
    method: POST
    path: /orders
    headers: {Content-Type: application/json}
    body: '{"user_id": {user}, "items": [{"sku": 1}]}'
  - path: /health
`
	const jsonMix = `{
	"headers": {"Authorization": "Bearer t0k3n", "X-Multi": ["a", "b"]},
	"vars": {"user": {"min": 1, "max": 20000}},
	"entries": [
		{"name": "feed", "weight": 6, "path": "/users/{user}/feed"},
		{"name": "order", "method": "POST", "path": "/orders",
		 "headers": {"Content-Type": "application/json"},
		 "body": "{\"user_id\": {user}, \"items\": [{\"sku\": 1}]}"},
		{"path": "/health"}
	]
}
`
	want := &Mix{
		Header: http.Header{"Authorization": {"Bearer t0k3n"}, "X-Multi": {"a", "b"}},
		Vars:   map[string]Range{"user": {Min: 1, Max: 20000}},
		Entries: []Entry{
			{Name: "feed", Weight: 6, Path: "/users/{user}/feed"},
			{Name: "order", Method: "POST", Path: "/orders", Header: http.Header{"Content-Type": {"application/json"}},
				Body: `{"user_id": {user}, "items": [{"sku": 1}]}`},
			{Path: "/health"},
		},
	}
	dir := t.TempDir()
	for name, content := range map[string]string{"mix.yaml": yamlMix, "mix.json": jsonMix} {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := LoadMix(path)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s:\n got %+v\nwant %+v", name, got, want)
		}
	}
	if _, err := LoadMix(filepath.Join(dir, "absent.yaml")); err == nil {
		t.Error("no error for a missing file")
	}
}

func TestParseMixErrors(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
	}{
		{"unknown top key", "entries: [{path: /}]\nheader: {A: b}\n", "mix.yaml:2:1: unknown key \"header\" in the mix"},
		{"unknown entry key", "entries:\n  - path: /a\n    wieght: 2\n", "mix.yaml:3:5: unknown key \"wieght\" in an entry"},
		{"unknown range key", "vars:\n  id: {min: 1, maks: 2}\nentries: [{path: /}]\n", "mix.yaml:2:16: unknown key \"maks\""},
		{"weight not int", "entries:\n  - path: /a\n    weight: lots\n", "mix.yaml:3:13: weight must be an integer, not the string \"lots\""},
		{"weight zero", "entries:\n  - {path: /a, weight: 0}\n", "mix.yaml:2:24: weight must be between"},
		{"no path", "entries:\n  - name: a\n", "mix.yaml:2:5: an entry needs a path"},
		{"entries not list", "entries: {path: /a}\n", "mix.yaml:1:10: entries must be a list"},
		{"no entries", "vars: {}\n", "mix.yaml:1:1: the mix has no entries"},
		{"body mapping", "entries:\n  - path: /a\n    body: {id: 1}\n", "mix.yaml:3:11: body must be a string: quote a JSON body"},
		{"missing var", "entries:\n  - path: /u/{id}\n", "mix.yaml:2:11: path: placeholder {id} has no range in vars"},
		{"range order", "vars:\n  id: {min: 5, max: 1}\nentries: [{path: /}]\n", "mix.yaml:2:7: var id: min 5 is above max 1"},
		{"range half", "vars:\n  id: {min: 5}\nentries: [{path: /}]\n", "mix.yaml:2:7: var id needs min and max"},
		{"header list of maps", "headers:\n  A: [{b: c}]\nentries: [{path: /}]\n", "mix.yaml:2:7: header A must be a string, not a mapping"},
		{"two documents", "entries: [{path: /}]\n---\nentries: [{path: /}]\n", "mix.yaml:2:1: the file holds more than one YAML document"},
		{"empty", "# nothing\n", "mix.yaml:1:1: the mix file is empty"},
		{"syntax", "entries: [\n", "mix.yaml:1:1: did not find expected node content"},
		{"json unknown key", "{\n\t\"entries\": [{\"path\": \"/\", \"Weight\": 1}]\n}\n", "mix.yaml:2:28: unknown key \"Weight\""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseMix("mix.yaml", []byte(tc.in))
			if err == nil || !slices.ContainsFunc(strings.Split(err.Error(), "\n"), func(line string) bool { return strings.HasPrefix(line, tc.want) }) {
				t.Fatalf("error %v, want one starting with %q", err, tc.want)
			}
		})
	}
}

// TestParseMixEveryError checks that the problems of a mix file are all
// reported at once, in file order, with a did-you-mean for a misspelt key.
func TestParseMixEveryError(t *testing.T) {
	in := `vars:
  id: {min: 5, max: 1}
entries:
  - path: /u/{id}
    wieght: 2
  - path: /a
    method: 5
    weight: many
  - name: no-path
    headers: {A: [x, {b: c}]}
`
	want := `mix.yaml:2:7: var id: min 5 is above max 1
mix.yaml:5:5: unknown key "wieght" in an entry (did you mean "weight"?) (known: name, weight, method, path, body, headers)
mix.yaml:8:13: weight must be an integer, not the string "many"
mix.yaml:9:5: an entry needs a path
mix.yaml:10:22: header A must be a string, not a mapping`
	_, err := ParseMix("mix.yaml", []byte(in))
	if err == nil || err.Error() != want {
		t.Errorf("got:\n%v\nwant:\n%s", err, want)
	}
}
