package report

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pgadvisor/advisor/internal/rules"
)

func printSARIF(t *testing.T, r *Report, opts Options) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := Print(&b, FormatSARIF, r, opts); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestSARIFMatchesSchema(t *testing.T) {
	sch := compileSchema(t, "sarif-2.1.0.json")
	cases := map[string][]byte{
		"fixture":        printSARIF(t, fixtureReport(), fixtureOptions()),
		"no options":     printSARIF(t, fixtureReport(), Options{}),
		"empty":          printSARIF(t, New(fixtureTime, 0, nil, nil, Baseline{}), fixtureOptions()),
		"empty no rules": printSARIF(t, New(fixtureTime, 0, nil, nil, Baseline{}), Options{}),
	}
	for name, data := range cases {
		if err := validate(sch, data); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	// The validation is live: a result without its message is rejected.
	var doc map[string]any
	if err := json.Unmarshal(cases["fixture"], &doc); err != nil {
		t.Fatal(err)
	}
	res := doc["runs"].([]any)[0].(map[string]any)["results"].([]any)[0].(map[string]any)
	delete(res, "message")
	data, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	if err := validate(sch, data); err == nil {
		t.Error("the SARIF schema accepts a result without a message")
	}
	level := bytes.Replace(cases["fixture"], []byte(`"level": "error"`), []byte(`"level": "critical"`), 1)
	if err := validate(sch, level); err == nil {
		t.Error("the SARIF schema accepts the level critical")
	}
}

// sarifLog is the part of a SARIF log the GitHub checks read.
type sarifLog struct {
	Runs []struct {
		Tool struct {
			Driver struct {
				Name           string `json:"name"`
				Version        string `json:"version"`
				InformationURI string `json:"informationUri"`
				Rules          []struct {
					ID                   string `json:"id"`
					ShortDescription     struct{ Text string }
					FullDescription      struct{ Text string }
					Help                 struct{ Text, Markdown string }
					DefaultConfiguration struct{ Level string }
					Properties           struct{ Tags []string }
				} `json:"rules"`
			} `json:"driver"`
		} `json:"tool"`
		Results []struct {
			RuleID              string `json:"ruleId"`
			RuleIndex           *int   `json:"ruleIndex"`
			Level               string `json:"level"`
			Message             struct{ Text string }
			PartialFingerprints map[string]string `json:"partialFingerprints"`
			Locations           []struct {
				PhysicalLocation *struct {
					ArtifactLocation struct {
						URI string `json:"uri"`
					} `json:"artifactLocation"`
					Region *struct {
						StartLine int `json:"startLine"`
					} `json:"region"`
				} `json:"physicalLocation"`
				LogicalLocations []struct {
					Name string `json:"name"`
				} `json:"logicalLocations"`
			} `json:"locations"`
		} `json:"results"`
	} `json:"runs"`
}

// TestSARIFGitHubRules checks what GitHub code scanning requires beyond the
// schema (it rejects the whole file otherwise): every result has a physical
// location with a relative URI and a start line, a rule the driver lists,
// and stable fingerprints; and what advisor promises: levels, tags, help.
func TestSARIFGitHubRules(t *testing.T) {
	r := fixtureReport()
	var log sarifLog
	if err := json.Unmarshal(printSARIF(t, r, fixtureOptions()), &log); err != nil {
		t.Fatal(err)
	}
	if len(log.Runs) != 1 {
		t.Fatalf("%d runs, want 1", len(log.Runs))
	}
	run := log.Runs[0]
	d := run.Tool.Driver
	if d.Name != "advisor" || d.Version != "0.1.0" || d.InformationURI != InformationURI {
		t.Errorf("driver = %q %q %q", d.Name, d.Version, d.InformationURI)
	}
	// Every given rule, then the rules with findings but no entry.
	var ids []string
	for _, rule := range d.Rules {
		ids = append(ids, rule.ID)
		if rule.ShortDescription.Text == "" || rule.FullDescription.Text == "" ||
			rule.Help.Text == "" || rule.Help.Markdown == "" {
			t.Errorf("rule %s lacks a description or help", rule.ID)
		}
		if !strings.Contains(strings.Join(rule.Properties.Tags, " "), family(rule.ID)) {
			t.Errorf("rule %s tags %v lack its family", rule.ID, rule.Properties.Tags)
		}
	}
	want := "app.blocking-io app.inline-work db.missing-index pool.oversized redis.evictions db.n-plus-one db.unused-index probe.unavailable"
	if got := strings.Join(ids, " "); got != want {
		t.Errorf("rules = %s\nwant    %s", got, want)
	}
	if got := d.Rules[2].DefaultConfiguration.Level; got != "error" {
		t.Errorf("db.missing-index default level = %q, want error", got)
	}
	if !strings.Contains(d.Rules[2].Help.Markdown, "hypopg") {
		t.Errorf("db.missing-index help lacks its detection: %q", d.Rules[2].Help.Markdown)
	}

	if len(run.Results) != len(r.Findings) {
		t.Fatalf("%d results for %d findings", len(run.Results), len(r.Findings))
	}
	levels := map[rules.Severity]string{rules.Critical: "error", rules.Warning: "warning", rules.Info: "note"}
	seen := map[string]bool{}
	for i, res := range run.Results {
		f := r.Findings[i]
		if res.RuleID != f.Rule || res.RuleIndex == nil || d.Rules[*res.RuleIndex].ID != f.Rule {
			t.Errorf("result %d: ruleId %q index %v for rule %s", i, res.RuleID, res.RuleIndex, f.Rule)
		}
		if res.Level != levels[f.Severity] {
			t.Errorf("result %d: level %q for %s", i, res.Level, f.Severity)
		}
		if !strings.Contains(res.Message.Text, f.Title) || !strings.Contains(res.Message.Text, f.Fix.Summary) {
			t.Errorf("result %d: message %q lacks the title or the fix", i, res.Message.Text)
		}
		if fp := res.PartialFingerprints[fingerprintKey]; fp != f.Fingerprint || seen[fp] {
			t.Errorf("result %d: fingerprint %q (want %q, unique)", i, fp, f.Fingerprint)
		}
		seen[res.PartialFingerprints[fingerprintKey]] = true
		if len(res.Locations) != 1 {
			t.Fatalf("result %d: %d locations, GitHub needs one", i, len(res.Locations))
		}
		pl := res.Locations[0].PhysicalLocation
		if pl == nil || pl.ArtifactLocation.URI == "" || pl.Region == nil || pl.Region.StartLine < 1 {
			t.Fatalf("result %d: physical location %+v, GitHub needs a uri and a start line", i, pl)
		}
		if filepath.IsAbs(pl.ArtifactLocation.URI) || strings.Contains(pl.ArtifactLocation.URI, "..") {
			t.Errorf("result %d: uri %q is not repository-relative", i, pl.ArtifactLocation.URI)
		}
		if ll := res.Locations[0].LogicalLocations; len(ll) != 1 || ll[0].Name != f.Subject {
			t.Errorf("result %d: logical locations %+v, want the subject %q", i, ll, f.Subject)
		}
	}
	// The located findings point at their files, the others at the anchor.
	uris := map[string]string{}
	for i, res := range run.Results {
		pl := res.Locations[0].PhysicalLocation
		uris[r.Findings[i].Rule] = pl.ArtifactLocation.URI + ":" + strconv.Itoa(pl.Region.StartLine)
	}
	for rule, want := range map[string]string{
		"app.blocking-io":  "internal/orders/handler.go:87",
		"app.inline-work":  "internal/mail/send.go:41",
		"db.missing-index": "advisor.yaml:1",
	} {
		if uris[rule] != want {
			t.Errorf("%s located at %s, want %s", rule, uris[rule], want)
		}
	}
}

func TestSARIFRepoFile(t *testing.T) {
	p := &SARIF{WorkDir: "/srv/shop", ModulePath: "github.com/acme/shop"}
	for _, tc := range []struct {
		location string
		uri      string
		line     int
	}{
		{"/srv/shop/internal/x.go:12", "internal/x.go", 12},
		{"/srv/shop/main.go:1", "main.go", 1},
		{"github.com/acme/shop/cmd/api/main.go:7", "cmd/api/main.go", 7},
		{"/srv/shopping/x.go:3", "", 0},
		{"/srv/other/x.go:3", "", 0},
		{"/usr/lib/go/src/net/fd_posix.go:55", "", 0},
		{"github.com/acme/shopping/x.go:3", "", 0},
		{"github.com/acme/shop/../x.go:3", "", 0},
		{"net/http/server.go:2220", "", 0},
		{"/srv/shop/internal/x.go", "", 0},
		{"/srv/shop/internal/x.go:0", "", 0},
		{"/srv/shop/internal/x.go:abc", "", 0},
		{"", "", 0},
	} {
		uri, line, ok := p.repoFile(tc.location)
		if uri != tc.uri || line != tc.line || ok != (tc.uri != "") {
			t.Errorf("repoFile(%q) = %q, %d, %v; want %q, %d", tc.location, uri, line, ok, tc.uri, tc.line)
		}
	}
	// Without a work directory or module path nothing maps.
	if _, _, ok := (&SARIF{}).repoFile("/srv/shop/internal/x.go:12"); ok {
		t.Error("an absolute location mapped without a work directory")
	}
}

func TestFindAnchor(t *testing.T) {
	dir := t.TempDir()
	if got := FindAnchor(dir); got != DefaultAnchor {
		t.Errorf("empty dir: %q, want %q", got, DefaultAnchor)
	}
	write := func(name string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("x\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("README.md")
	if got := FindAnchor(dir); got != "README.md" {
		t.Errorf("got %q, want README.md", got)
	}
	write("go.mod")
	if got := FindAnchor(dir); got != "go.mod" {
		t.Errorf("got %q, want go.mod", got)
	}
	if err := os.Mkdir(filepath.Join(dir, "advisor.yaml"), 0o755); err != nil {
		t.Fatal(err)
	}
	if got := FindAnchor(dir); got != "go.mod" {
		t.Errorf("a directory named advisor.yaml: got %q, want go.mod", got)
	}
}

func TestSARIFNoFindings(t *testing.T) {
	r := New(time.Unix(0, 0), time.Second, nil, nil, Baseline{})
	var log sarifLog
	if err := json.Unmarshal(printSARIF(t, r, Options{}), &log); err != nil {
		t.Fatal(err)
	}
	if n := len(log.Runs[0].Results); n != 0 {
		t.Errorf("%d results for no findings", n)
	}
	if !bytes.Contains(printSARIF(t, r, Options{}), []byte(`"results": []`)) {
		t.Error("results is not an empty array: SARIF consumers read a missing one as 'not run'")
	}
}
