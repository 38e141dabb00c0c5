// Package rules loads and validates rules.yaml, runs the detectors of the
// rules over a probe.Window, and returns findings in the report schema of
// docs/design.md.
//
// The catalog of rule ids is that of the built-in rules.yaml (embedded by the
// root package advisor), which defines each rule once, with its severity,
// thresholds, templates and docs, and is the schema for override files given
// with --rules. A rule is that entry, one detector file named after it (a
// Def with its typed params, e.g. db_missing_index.go) and one fixture,
// testdata/evidence/<id>.yaml. builtin() lists the detectors; Run executes
// those of enabled rules, completes their findings from the rules'
// templates and sorts them.
package rules
