// Package source holds what every probe shares: the status of a source and
// the redaction of secrets from anything a probe prints.
package source

import (
	"errors"
	"net"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// State is whether a source could be read.
type State string

// States of a source, as in the report schema (sources.<name>.status).
const (
	// OK: the source was read.
	OK State = "ok"
	// Unavailable: the source is not configured, not reachable, or lacks a
	// feature (pg_stat_statements, a pprof endpoint); Detail says how to
	// enable it.
	Unavailable State = "unavailable"
	// Error: the source answered but what it said could not be used.
	Error State = "error"
)

// Status of one source in one snapshot.
type Status struct {
	State State `json:"status"`
	// Detail is a sentence a person can act on; never holds a password.
	Detail string `json:"detail,omitempty"`
	// Version of the server, where one is known.
	Version string `json:"version,omitempty"`
	// Took is how long the probe ran.
	Took time.Duration `json:"-"`
}

// Ok reports whether the source was read.
func (s Status) Ok() bool { return s.State == OK }

var (
	// userinfo in URLs: scheme://user:password@host
	urlPassword = regexp.MustCompile(`([a-zA-Z][a-zA-Z0-9+.-]*://[^:/@\s]*):([^@\s]*)@`)
	// key=value DSNs and query parameters: password=secret, password='a b'
	kvPassword = regexp.MustCompile(`(?i)((?:password|passwd|pwd|requirepass|auth)\s*[=:]\s*)('[^']*'|"[^"]*"|[^\s&;,]+)`)
)

// Redact removes passwords from text that may hold a DSN or URL: the password
// in scheme://user:password@host, and password=... pairs.
func Redact(text string) string {
	text = urlPassword.ReplaceAllString(text, "$1:xxxxx@")
	text = kvPassword.ReplaceAllString(text, "${1}xxxxx")
	return text
}

// RedactSecret removes every occurrence of a known secret from text, for
// errors from drivers that may quote it in ways Redact cannot see.
func RedactSecret(text, secret string) string {
	if secret == "" {
		return Redact(text)
	}
	text = strings.ReplaceAll(text, secret, "xxxxx")
	if esc := url.QueryEscape(secret); esc != secret {
		text = strings.ReplaceAll(text, esc, "xxxxx")
	}
	if esc := url.PathEscape(secret); esc != secret {
		text = strings.ReplaceAll(text, esc, "xxxxx")
	}
	return Redact(text)
}

// StatusError is a failed read of a source with a message a person can act
// on; the probes that fetch over HTTP (metrics, pprof) return it. It never
// holds a password or a header value.
type StatusError struct {
	// State is the state the failure leaves the source in.
	State State
	// Reason classifies the failure in a word, for a probe whose callers
	// tell failures apart (pprof: "not-served", "timeout", ...); it may be
	// empty.
	Reason string
	// Detail is the message; Error returns it.
	Detail string
	// Err is the underlying error, if any.
	Err error
}

func (e *StatusError) Error() string { return e.Detail }

// Unwrap returns the underlying error.
func (e *StatusError) Unwrap() error { return e.Err }

// StatusOf turns the error of a probe into the status of its source: nil
// is OK; a StatusError keeps its state and its message (already free of
// secrets); any other error is an Error with its message redacted.
func StatusOf(err error, took time.Duration) Status {
	if err == nil {
		return Status{State: OK, Took: took}
	}
	var se *StatusError
	if errors.As(err, &se) {
		return Status{State: se.State, Detail: se.Error(), Took: took}
	}
	return Status{State: Error, Detail: Redact(err.Error()), Took: took}
}

// LocalHost reports whether a server's host is advisor's own machine: a
// loopback address, localhost (in any case: host names are
// case-insensitive), or a Unix socket's directory (a path). A server there
// shares advisor's CPUs.
func LocalHost(host string) bool {
	if strings.EqualFold(host, "localhost") || strings.HasPrefix(host, "/") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
