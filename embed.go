// Package advisor holds the files the advisor binary embeds from the root of
// the repository. The program itself is in cmd/advisor.
package advisor

import _ "embed"

// DefaultRules is the built-in rules.yaml: every rule of the catalog with its
// severity, thresholds, templates and docs, and the goroutine wait patterns.
// internal/rules loads and validates it.
//
//go:embed rules.yaml
var DefaultRules []byte
