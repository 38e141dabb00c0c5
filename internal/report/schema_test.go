package report

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/pgadvisor/advisor/internal/rules"
)

// compileSchema compiles a JSON Schema of schema/, formats asserted.
func compileSchema(t *testing.T, file string) *jsonschema.Schema {
	t.Helper()
	f, err := os.Open(filepath.Join("schema", file))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource(file, doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile(file)
	if err != nil {
		t.Fatalf("compile %s: %v", file, err)
	}
	return sch
}

// validate validates a JSON document against the schema.
func validate(sch *jsonschema.Schema, data []byte) error {
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return err
	}
	return sch.Validate(inst)
}

func printJSON(t *testing.T, r *Report) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := Print(&b, FormatJSON, r, Options{}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestJSONMatchesSchema(t *testing.T) {
	sch := compileSchema(t, "report.schema.json")
	reports := map[string]*Report{
		"fixture": fixtureReport(),
		"empty":   New(fixtureTime, 0, nil, nil, Baseline{}),
		"nil evidence": New(fixtureTime, time.Second, fixtureSources(), []rules.Finding{
			{Rule: "db.slow-query", Severity: rules.Warning, Title: "slow", Subject: "queryid 1"},
		}, Baseline{}),
	}
	for name, r := range reports {
		if err := validate(sch, printJSON(t, r)); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// TestSchemaCatchesDrift checks that the schema test would fail if the
// printer renamed, dropped or retyped a field: each mutation of a valid
// report must be rejected.
func TestSchemaCatchesDrift(t *testing.T) {
	sch := compileSchema(t, "report.schema.json")
	valid := printJSON(t, fixtureReport())
	mutations := []struct {
		name     string
		old, new string
	}{
		{"schema id", `"schema": "advisor.report/v1"`, `"schema": "advisor.report/v2"`},
		{"generated_at renamed", `"generated_at":`, `"generatedAt":`},
		{"generated_at not RFC 3339", `"2026-03-14T09:26:53Z"`, `"14 Mar 2026 09:26"`},
		{"window_seconds renamed", `"window_seconds":`, `"window":`},
		{"finding rule renamed", `"rule": "db.missing-index"`, `"rule_id": "db.missing-index"`},
		{"severity value", `"severity": "critical"`, `"severity": "high"`},
		{"fix summary renamed", `"summary": "Create the index`, `"text": "Create the index`},
		{"optional sql renamed", `"sql": "CREATE`, `"ddl": "CREATE`},
		{"optional version renamed", `"version": "15.8"`, `"server_version": "15.8"`},
		{"optional location renamed", `"location": "/srv`, `"file": "/srv`},
		{"location without line", `"location": "/srv/shop/internal/mail/send.go:41"`, `"location": "/srv/shop/internal/mail/send.go"`},
		{"status value", `"status": "unavailable"`, `"status": "down"`},
		{"summary count renamed", `"critical": 2`, `"crit": 2`},
		{"fingerprint format", `"fingerprint": "9d22553abc710aaceee12127"`, `"fingerprint": "9d22553a"`},
		{"known_fingerprints renamed", `"known_fingerprints":`, `"known":`},
		{"config value type", `"pool_max_conns": "30"`, `"pool_max_conns": 30`},
	}
	for _, m := range mutations {
		if !bytes.Contains(valid, []byte(m.old)) {
			t.Errorf("%s: the fixture's JSON does not contain %s", m.name, m.old)
			continue
		}
		mutated := bytes.Replace(valid, []byte(m.old), []byte(m.new), 1)
		if err := validate(sch, mutated); err == nil {
			t.Errorf("%s: the schema accepts the mutated report", m.name)
		}
	}
	// A source missing altogether.
	var doc map[string]any
	if err := json.Unmarshal(valid, &doc); err != nil {
		t.Fatal(err)
	}
	delete(doc["sources"].(map[string]any), "redis")
	data, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	if err := validate(sch, data); err == nil {
		t.Error("the schema accepts a report without the redis source")
	}
}

// TestJSONRoundTrip checks that a JSON report decodes back into the same
// report: the format loses nothing.
func TestJSONRoundTrip(t *testing.T) {
	r := fixtureReport()
	var got Report
	dec := json.NewDecoder(bytes.NewReader(printJSON(t, r)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&got); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(&got, r) {
		t.Errorf("decoded report differs:\ngot  %+v\nwant %+v", got, *r)
	}
	if !got.Known(&got.Findings[3]) || got.Findings[3].Rule != "pool.oversized" {
		t.Errorf("decoded report lost which finding is known: %v", got.KnownFingerprints)
	}
}

// TestSchemaDocumented checks that docs/report-json.md names every field of
// the schema, so that the page and the schema do not drift apart.
func TestSchemaDocumented(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "report-json.md"))
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join("schema", "report.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	var schema map[string]any
	if err := json.Unmarshal(data, &schema); err != nil {
		t.Fatal(err)
	}
	var names []string
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if props, ok := v["properties"].(map[string]any); ok {
				for name := range props {
					names = append(names, name)
				}
			}
			for _, e := range v {
				walk(e)
			}
		case []any:
			for _, e := range v {
				walk(e)
			}
		}
	}
	walk(schema)
	if len(names) < 20 {
		t.Fatalf("found only %d property names in the schema", len(names))
	}
	for _, name := range names {
		if !strings.Contains(string(doc), "`"+name+"`") {
			t.Errorf("docs/report-json.md does not name the field `%s`", name)
		}
	}
}

// TestDocExamplesValid checks the examples of docs/report-json.md: the
// report against the schema, the baseline with ReadBaseline, and that the
// fingerprints they show are those of their rule and subject.
func TestDocExamplesValid(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "report-json.md"))
	if err != nil {
		t.Fatal(err)
	}
	var blocks []string
	for _, part := range strings.Split(string(doc), "```json\n")[1:] {
		block, _, ok := strings.Cut(part, "```")
		if !ok {
			t.Fatal("unterminated json block")
		}
		blocks = append(blocks, block)
	}
	if len(blocks) != 2 {
		t.Fatalf("%d json blocks, want the report and the baseline", len(blocks))
	}
	if err := validate(compileSchema(t, "report.schema.json"), []byte(blocks[0])); err != nil {
		t.Errorf("the example report: %v", err)
	}
	var r Report
	if err := json.Unmarshal([]byte(blocks[0]), &r); err != nil {
		t.Fatal(err)
	}
	for _, f := range r.Findings {
		if f.Fingerprint != f.Finding.Fingerprint() {
			t.Errorf("example %s: fingerprint %s, want %s", f.Rule, f.Fingerprint, f.Finding.Fingerprint())
		}
	}
	base, err := ReadBaseline(strings.NewReader(blocks[1]))
	if err != nil {
		t.Fatalf("the example baseline: %v", err)
	}
	for _, e := range base.Entries {
		f := rules.Finding{Rule: e.Rule, Subject: e.Subject}
		if e.Fingerprint != f.Fingerprint() {
			t.Errorf("example baseline %s: fingerprint %s, want %s", e.Rule, e.Fingerprint, f.Fingerprint())
		}
	}
}
