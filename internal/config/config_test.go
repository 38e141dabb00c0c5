package config

import (
	"errors"
	"strings"
	"testing"
)

func TestParseValid(t *testing.T) {
	src := `
target: http://127.0.0.1:8080
pg: postgres://app@db:5432/app
redis: redis://cache:6379/0
headers:
  Authorization: Bearer abc
tls:
  insecure_skip_verify: true
internal_hosts: [identity.internal, users.internal]
db_cores: 8
queues: [emails, reports]
`
	c, err := Parse("advisor.yaml", []byte(src), Checks{})
	if err != nil {
		t.Fatal(err)
	}
	s := c.Sources
	if s.MetricsURL() != "http://127.0.0.1:8080/metrics" || s.PprofURL() != "http://127.0.0.1:8080" {
		t.Errorf("derived URLs: %q %q", s.MetricsURL(), s.PprofURL())
	}
	if !s.TLS.InsecureSkipVerify || s.DBCores != 8 || len(s.InternalHosts) != 2 || s.Headers["Authorization"] != "Bearer abc" ||
		strings.Join(s.Queues, ",") != "emails,reports" {
		t.Errorf("parsed %+v", s)
	}
}

func TestParseReportsEveryErrorWithPosition(t *testing.T) {
	src := `target: http://127.0.0.1:8080
tagret: http://x
db_cores: many
pg: 5432
tls:
  ca: /etc/ca.pem
  insecure_skip_verify: maybe
metrics: ftp://example
`
	_, err := Parse("advisor.yaml", []byte(src), Checks{})
	if err == nil {
		t.Fatal("no error")
	}
	want := []string{
		`advisor.yaml:2:1: unknown key "tagret" (did you mean "target"?)`,
		`advisor.yaml:3:11: db_cores must be an integer, not the string "many"`,
		`advisor.yaml:4:5: pg must be a string, not the integer 5432`,
		`advisor.yaml:6:3: unknown key "ca" in tls`,
		`advisor.yaml:7:25: tls.insecure_skip_verify must be true or false, not the string "maybe"`,
		`metrics: "ftp://example" is not an http(s) URL`,
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error lacks %q; got:\n%v", w, err)
		}
	}
	var pe *PositionError
	if !errors.As(err, &pe) {
		t.Errorf("errors are not PositionErrors: %T", err)
	}
}

func TestParseEmptyAndNotAMapping(t *testing.T) {
	if _, err := Parse("a.yaml", nil, Checks{}); err != nil {
		t.Errorf("empty file: %v", err)
	}
	_, err := Parse("a.yaml", []byte("- target\n"), Checks{})
	if err == nil || !strings.Contains(err.Error(), "a.yaml:1:1:") {
		t.Errorf("a list: %v", err)
	}
	_, err = Parse("a.yaml", []byte("target: [unclosed\n"), Checks{})
	if err == nil || !strings.Contains(err.Error(), "a.yaml") {
		t.Errorf("bad YAML: %v", err)
	}
}

func TestParseNullDuplicatesAndSyntax(t *testing.T) {
	c, err := Parse("a.yaml", []byte("target: http://x:1\nheaders:\ninternal_hosts: ~\ntls:\nreport:\n"), Checks{})
	s := c.Sources
	if err != nil || s.Target != "http://x:1" || s.Headers != nil || s.InternalHosts != nil {
		t.Errorf("keys without a value: %+v, %v", s, err)
	}
	_, err = Parse("a.yaml", []byte("pg: postgres://a@b/c\nheaders: {X-Version: 2, X-Id: [1]}\npg: postgres://d@e/f\n"), Checks{})
	want := "a.yaml:2:31: headers.X-Id must be a string, not a list\n" +
		"a.yaml:3:1: duplicate key \"pg\" (first at line 1)"
	if err == nil || err.Error() != want {
		t.Errorf("got:\n%v\nwant:\n%s", err, want)
	}
	_, err = Parse("a.yaml", []byte("target: http://x:1\nheaders:\n  a: b: c\n"), Checks{})
	if err == nil || !strings.HasPrefix(err.Error(), "a.yaml:3:3: ") {
		t.Errorf("a syntax error is not at its line: %v", err)
	}
}

func TestPGFromEnvironment(t *testing.T) {
	s := FromEnv(func(k string) string {
		if k == "PGHOST" {
			return "db.internal"
		}
		return ""
	})
	if !s.HasPG() || s.PG != "" {
		t.Errorf("PG* variables: %+v", s)
	}
	if got := Merge(s, Sources{PG: "postgres://flag/db"}); got.PGFromEnv {
		t.Errorf("an explicit DSN must replace the PG* environment: %+v", got)
	}
}

func TestValidateHidesPasswords(t *testing.T) {
	err := Sources{Redis: "http://user:hunter2@cache:6379", Target: "postgres://u:hunter2@x/"}.Validate()
	if err == nil {
		t.Fatal("no error")
	}
	if strings.Contains(err.Error(), "hunter2") {
		t.Errorf("password in error: %v", err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("target: http://127.0.0.1:8080\npg: postgres://a@b/c\n"))
	f.Add([]byte("tls:\n  ca_file: x\nheaders: {a: b}\n"))
	f.Add([]byte("- 1\n"))
	f.Add([]byte("rules: r.yaml\nreport: {formats: [text, \"sarif:a.sarif\"], fail_on: info, window: 0, profile_seconds: 2}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse("fuzz.yaml", data, Checks{})
		if err == nil {
			if verr := c.Sources.Validate(); verr != nil {
				t.Errorf("Parse accepted a config that Validate rejects: %v", verr)
			}
		}
	})
}
