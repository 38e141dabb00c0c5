package source

import (
	"strings"
	"testing"
)

func TestRedact(t *testing.T) {
	cases := []struct{ in, secret string }{
		{"postgres://app:s3cret@db:5432/app?sslmode=disable", "s3cret"},
		{"host=db user=app password=s3cret dbname=app", "s3cret"},
		{"host=db password='s3 cret' dbname=app", "s3 cret"},
		{"redis://:s3cret@cache:6379/0", "s3cret"},
		{"connect: failed to connect to `user=app database=app`: postgres://app:s3cret@db/app", "s3cret"},
	}
	for _, c := range cases {
		got := Redact(c.in)
		if strings.Contains(got, c.secret) {
			t.Errorf("Redact(%q) = %q still holds the password", c.in, got)
		}
		if !strings.Contains(got, "xxxxx") {
			t.Errorf("Redact(%q) = %q: no redaction marker", c.in, got)
		}
	}
	if got := Redact("postgres://app@db/app"); got != "postgres://app@db/app" {
		t.Errorf("Redact changed a DSN without password: %q", got)
	}
}

func TestRedactSecret(t *testing.T) {
	got := RedactSecret("auth failed for p@ss/w0rd and p%40ss%2Fw0rd", "p@ss/w0rd")
	if strings.Contains(got, "w0rd") {
		t.Errorf("RedactSecret left the secret: %q", got)
	}
}
