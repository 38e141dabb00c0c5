package rules

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// sample is a testdata/evidence/<id>.yaml file: what the rule's detector
// returns for a typical case. The samples are the contract for detector
// authors: the keys there are the keys the templates use.
type sample struct {
	Subject  string         `yaml:"subject"`
	Location string         `yaml:"location"`
	Evidence map[string]any `yaml:"evidence"`
	Fix      struct {
		SQL    string            `yaml:"sql"`
		Config map[string]string `yaml:"config"`
		Code   string            `yaml:"code"`
	} `yaml:"fix"`
}

func loadSample(t *testing.T, id string) Finding {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "evidence", id+".yaml"))
	if err != nil {
		t.Fatalf("every rule needs a sample evidence file: %v", err)
	}
	var s sample
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	dec.KnownFields(true)
	if err := dec.Decode(&s); err != nil {
		t.Fatalf("%s sample: %v", id, err)
	}
	if s.Subject == "" || len(s.Evidence) == 0 {
		t.Fatalf("%s sample: subject and evidence are required", id)
	}
	return Finding{
		Subject:  s.Subject,
		Location: s.Location,
		Evidence: s.Evidence,
		Fix:      Fix{SQL: s.Fix.SQL, Config: s.Fix.Config, Code: s.Fix.Code},
	}
}

func loadBuiltin(t testing.TB) *Set {
	t.Helper()
	set, err := Default("")
	if err != nil {
		t.Fatalf("built-in rules.yaml:\n%v", err)
	}
	return set
}

// TestBuiltinWellFormed keeps every built-in rule complete: present once,
// in catalog order, documented, and with templates that execute on the
// rule's sample evidence.
func TestBuiltinWellFormed(t *testing.T) {
	set := loadBuiltin(t)
	var ids []string
	for _, r := range set.Rules {
		ids = append(ids, r.ID)
	}
	if !slices.Equal(ids, catalog()) {
		t.Fatalf("built-in rules %v, want the catalog %v", ids, catalog())
	}
	for _, r := range set.Rules {
		t.Run(r.ID, func(t *testing.T) {
			if !r.Severity.Valid() {
				t.Errorf("severity %v", r.Severity)
			}
			if !r.Enabled {
				t.Errorf("built-in rules are enabled; users disable them")
			}
			d := r.Docs
			for name, text := range map[string]string{"summary": d.Summary, "why": d.Why, "detection": d.Detection, "fix": d.Fix} {
				if len(strings.Fields(text)) < 3 {
					t.Errorf("docs.%s is too short: %q", name, text)
				}
			}
			if n := utf8.RuneCountInString(d.Summary); n > 60 {
				t.Errorf("docs.summary is %d characters; rules list needs at most 60", n)
			}
			if len(d.Links) == 0 {
				t.Errorf("docs.links is empty")
			}
			for _, p := range r.Params {
				if !strings.Contains(d.Detection, p.Name) {
					t.Errorf("docs.detection does not explain param %s", p.Name)
				}
			}

			f := loadSample(t, r.ID)
			title, err := r.RenderTitle(&f)
			if err != nil {
				t.Fatalf("title: %v", err)
			}
			if title == "" || strings.Contains(title, "\n") {
				t.Errorf("title must be one non-empty line, got %q", title)
			}
			if strings.Contains(title, "<no value>") {
				t.Errorf("title has a missing value: %q", title)
			}
			fix, err := r.RenderFix(&f)
			if err != nil {
				t.Fatalf("fix: %v", err)
			}
			if len(strings.Fields(fix)) < 3 || strings.Contains(fix, "<no value>") {
				t.Errorf("fix summary %q", fix)
			}
		})
	}
}

// TestEvidenceSamplesMatchCatalog keeps testdata/evidence to one file per
// rule id, so that a renamed rule does not leave a stale contract behind.
func TestEvidenceSamplesMatchCatalog(t *testing.T) {
	entries, err := os.ReadDir(filepath.Join("testdata", "evidence"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		id := strings.TrimSuffix(e.Name(), ".yaml")
		if !Known(id) {
			t.Errorf("testdata/evidence/%s: not a rule id of the catalog", e.Name())
		}
	}
	if len(entries) != len(catalog()) {
		t.Errorf("%d sample files for %d rules", len(entries), len(catalog()))
	}
}

// TestBuiltinSamplesThroughEngine runs every rule with a detector that
// returns the rule's sample: the engine must complete each finding without
// error.
func TestBuiltinSamplesThroughEngine(t *testing.T) {
	set := loadBuiltin(t)
	reg := Registry{}
	for _, r := range set.Rules {
		f := loadSample(t, r.ID)
		reg[r.ID] = testDetector(func(context.Context, *Input, *Rule) ([]Finding, error) { return []Finding{f}, nil })
	}
	fs, errs := Run(context.Background(), &Input{Patterns: set.Patterns}, set.Rules, reg)
	if len(errs) > 0 {
		t.Fatalf("errors: %v", errs)
	}
	if len(fs) != len(set.Rules) {
		t.Fatalf("%d findings for %d rules", len(fs), len(set.Rules))
	}
	for _, f := range fs {
		if f.Title == "" || f.Fix.Summary == "" || !f.Severity.Valid() {
			t.Errorf("%s: incomplete finding %+v", f.Rule, f)
		}
	}
}

// TestBuiltinRegistry keeps the registry to catalog ids.
func TestBuiltinRegistry(t *testing.T) {
	for id, d := range Builtin() {
		if !Known(id) {
			t.Errorf("detector registered for unknown rule id %q", id)
		}
		if d == nil {
			t.Errorf("nil detector registered for %q", id)
		}
	}
}

func TestWaitPatternsClassify(t *testing.T) {
	p := loadBuiltin(t).Patterns
	tests := []struct {
		name      string
		state     string
		functions []string
		want      string
	}{
		{"pgxpool acquire", "select", []string{
			"golang.org/x/sync/semaphore.(*Weighted).Acquire",
			"github.com/jackc/puddle/v2.(*Pool[...]).Acquire",
			"github.com/jackc/pgx/v5/pgxpool.(*Pool).Acquire",
			"github.com/jackc/pgx/v5/pgxpool.(*Pool).Query",
			"main.listOrders",
		}, "pool-acquire"},
		{"database/sql wait", "select", []string{
			"database/sql.(*DB).conn",
			"database/sql.(*DB).query",
			"database/sql.(*DB).QueryContext",
		}, "pool-acquire"},
		{"pgx round trip", "IO wait", []string{
			"internal/poll.(*FD).Read",
			"net.(*conn).Read",
			"github.com/jackc/pgx/v5/pgconn.(*PgConn).receiveMessage",
			"github.com/jackc/pgx/v5/pgxpool.(*Pool).Query",
		}, "database"},
		{"outbound http", "select", []string{
			"net/http.(*persistConn).roundTrip",
			"net/http.(*Transport).roundTrip",
			"net/http.send",
			"net/http.(*Client).do",
			"net/http.(*Client).Do",
			"main.fetchRates",
		}, "outbound-http"},
		{"smtp before http", "IO wait", []string{
			"net.(*conn).Read",
			"net/textproto.(*Reader).ReadResponse",
			"net/smtp.(*Client).cmd",
			"net/smtp.SendMail",
		}, "smtp"},
		{"mutex", "sync.Mutex.Lock", []string{
			"sync.runtime_SemacquireMutex",
			"sync.(*Mutex).lockSlow",
			"sync.(*Mutex).Lock",
			"main.(*stats).record",
		}, "mutex"},
		{"sleep", "sleep", []string{"time.Sleep", "main.handler"}, "sleep"},
		{"running", "running", []string{"crypto/sha256.block", "main.handler"}, "cpu"},
		{"bcrypt", "running", []string{"golang.org/x/crypto/blowfish.encryptBlock", "golang.org/x/crypto/bcrypt.GenerateFromPassword"}, "hashing"},
		{"raw socket", "IO wait", []string{"net.(*conn).Read", "main.proxy"}, "network-io"},
		{"channel", "chan receive", []string{"main.waitDone"}, "channel"},
		{"nothing", "syscall", []string{"syscall.Syscall"}, ""},
	}
	for _, tt := range tests {
		got := p.Classify(tt.state, tt.functions)
		name := ""
		if got != nil {
			name = got.Class
		}
		if name != tt.want {
			t.Errorf("%s: class %q, want %q", tt.name, name, tt.want)
		}
	}
	if c := p.Class("smtp"); c == nil || !c.InlineWork || c.Kind != WaitNetwork {
		t.Errorf("smtp class %+v", c)
	}
}
