package rules

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"slices"
)

// Finding is one problem found in a window, in the report schema of
// docs/design.md (advisor.report/v1).
type Finding struct {
	Rule     string   `json:"rule"`
	Severity Severity `json:"severity"`
	// Title is the one line a person reads first.
	Title string `json:"title"`
	// Subject is what the finding is about: a table, a query id, a pool, a
	// function, an endpoint. Together with Rule it identifies the finding
	// across runs (see Fingerprint), so it must not contain measurements.
	Subject string `json:"subject"`
	// Evidence holds the measurements, with units in their keys (mean_ms,
	// calls_per_s, size_bytes, share).
	Evidence map[string]any `json:"evidence"`
	Fix      Fix            `json:"fix"`
	// Location is an optional file:line from profile stacks.
	Location string `json:"location,omitempty"`
	// Impact ranks the findings of one severity, in [0, 1]: the share of
	// request time the fix would remove (Saves.Share) where the time split
	// can say, 0 for a finding that costs no request time, else the
	// detector's own estimate (a share of database time, of samples).
	Impact float64 `json:"impact,omitempty"`
	// Saves is the request time the fix would remove, from the window's
	// time split; nil where the split could not say.
	Saves *Saving `json:"saves,omitempty"`
	// Confidence says how sure the finding is, from the amount of evidence
	// it rests on; Run sets it on every finding (the detector's, else one
	// from the evidence's calls or samples, or the window's length).
	Confidence *Confidence `json:"confidence,omitempty"`
}

// Saving is the request time a finding's fix would remove.
type Saving struct {
	// MSPerRequest is the time one request would no longer spend, on
	// average, and Share that time over the mean request latency (0..1).
	MSPerRequest float64 `json:"ms_per_request"`
	Share        float64 `json:"share"`
	// Basis says how it was estimated: which part of the split, from what.
	Basis string `json:"basis"`
	// NotRequestTime is set for a finding whose cost is not request time
	// (an unused index costs writes and disk, a sequence near its end is a
	// risk); MSPerRequest and Share are then 0.
	NotRequestTime bool `json:"not_request_time,omitempty"`
}

// Fix is what to change, with optional DDL, configuration and code.
type Fix struct {
	Summary string            `json:"summary"`
	SQL     string            `json:"sql,omitempty"`
	Config  map[string]string `json:"config,omitempty"`
	Code    string            `json:"code,omitempty"`
}

// Fingerprint identifies the finding across runs: a stable hash of the rule
// id and the subject, never of the numbers, so a baseline still matches when
// the measurements move.
func (f *Finding) Fingerprint() string {
	h := sha256.New()
	h.Write([]byte(f.Rule))
	h.Write([]byte{0})
	h.Write([]byte(f.Subject))
	return hex.EncodeToString(h.Sum(nil)[:12])
}

// SortFindings orders findings by severity (most severe first), then impact
// (largest first), then rule id and subject so that the order is stable.
func SortFindings(fs []Finding) {
	slices.SortStableFunc(fs, func(a, b Finding) int {
		if c := cmp.Compare(b.Severity, a.Severity); c != 0 {
			return c
		}
		if c := cmp.Compare(b.Impact, a.Impact); c != 0 {
			return c
		}
		if c := cmp.Compare(a.Rule, b.Rule); c != 0 {
			return c
		}
		return cmp.Compare(a.Subject, b.Subject)
	})
}
