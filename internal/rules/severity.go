package rules

import (
	"fmt"
	"strings"
)

// Severity ranks a finding. The zero value is not a valid severity; a higher
// value is more severe, so severities compare with the usual operators.
type Severity int8

// The severities of findings, from least to most severe.
const (
	Info     Severity = 1
	Warning  Severity = 2
	Critical Severity = 3
)

// Never is a --fail-on threshold above every severity: no finding reaches it.
// It is not a severity a rule or a finding may carry.
const Never Severity = Critical + 1

// Severities lists the valid severities from the most to the least severe.
var Severities = []Severity{Critical, Warning, Info}

// String returns the severity's name as it is written in rules.yaml and in
// reports.
func (s Severity) String() string {
	switch s {
	case Info:
		return "info"
	case Warning:
		return "warning"
	case Critical:
		return "critical"
	case Never:
		return "never"
	}
	return fmt.Sprintf("severity(%d)", int8(s))
}

// Valid reports whether s is one of Info, Warning and Critical.
func (s Severity) Valid() bool { return s >= Info && s <= Critical }

// AtLeast reports whether s is at or above the threshold min, as --fail-on
// compares: every severity is at least Info, none is at least Never.
func (s Severity) AtLeast(min Severity) bool { return s.Valid() && s >= min }

// ParseSeverity parses "critical", "warning" or "info". "never" is not a
// severity; use ParseThreshold for --fail-on.
func ParseSeverity(s string) (Severity, error) {
	switch s {
	case "critical":
		return Critical, nil
	case "warning":
		return Warning, nil
	case "info":
		return Info, nil
	}
	return 0, fmt.Errorf("invalid severity %q (want critical, warning or info)", s)
}

// ParseThreshold parses a --fail-on value: a severity, or "never" which
// returns Never.
func ParseThreshold(s string) (Severity, error) {
	if s == "never" {
		return Never, nil
	}
	sev, err := ParseSeverity(s)
	if err != nil {
		return 0, fmt.Errorf("invalid threshold %q (want critical, warning, info or never)", s)
	}
	return sev, nil
}

// MarshalText writes the severity's name; it fails for an invalid severity.
func (s Severity) MarshalText() ([]byte, error) {
	if !s.Valid() {
		return nil, fmt.Errorf("invalid severity %d", int8(s))
	}
	return []byte(s.String()), nil
}

// UnmarshalText parses a severity's name, as in a JSON report or baseline.
func (s *Severity) UnmarshalText(b []byte) error {
	v, err := ParseSeverity(strings.TrimSpace(string(b)))
	if err != nil {
		return err
	}
	*s = v
	return nil
}
