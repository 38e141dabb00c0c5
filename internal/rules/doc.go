// Package rules loads and validates rules.yaml, runs the detectors of the
// rules over a probe.Window, and returns findings in the report schema of
// DESIGN.md.
//
// The catalog of rule ids is the explicit slice in catalog.go; the built-in
// rules.yaml (embedded by the root package advisor) defines each of them
// once, with its severity, thresholds, templates and docs, and is the schema
// for override files given with --rules. Detectors are plain functions in the
// explicit Registry returned by Builtin; Run executes those of enabled rules,
// completes their findings from the rules' templates and sorts them.
package rules
