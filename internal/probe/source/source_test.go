package source

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
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

func TestStatusOf(t *testing.T) {
	cause := errors.New("dial tcp: connection refused")
	err := fmt.Errorf("wrapped: %w", &StatusError{State: Unavailable, Reason: "unreachable", Detail: "metrics: cannot reach http://x", Err: cause})
	if st := StatusOf(err, time.Second); st.State != Unavailable || st.Detail != "metrics: cannot reach http://x" || st.Took != time.Second {
		t.Errorf("StatusOf(StatusError) = %+v", st)
	}
	if !errors.Is(err, cause) {
		t.Error("StatusError does not unwrap to its cause")
	}
	if st := StatusOf(errors.New("open postgres://u:s3cret@db/app"), 0); st.State != Error || strings.Contains(st.Detail, "s3cret") {
		t.Errorf("StatusOf(other) = %+v", st)
	}
	if st := StatusOf(nil, time.Millisecond); !st.Ok() || st.Took != time.Millisecond {
		t.Errorf("StatusOf(nil) = %+v", st)
	}
}

func TestLocalHost(t *testing.T) {
	for host, want := range map[string]bool{
		"127.0.0.1":           true,
		"::1":                 true,
		"localhost":           true,
		"LocalHost":           true,
		"/var/run/postgresql": true,
		"10.0.0.5":            false,
		"db.internal":         false,
		"":                    false,
	} {
		if got := LocalHost(host); got != want {
			t.Errorf("LocalHost(%q) = %v, want %v", host, got, want)
		}
	}
}
