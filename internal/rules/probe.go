package rules

// probeRules are the detectors of the probe rules: what advisor could not
// read, and how to enable it.
var probeRules = []Detector{probeUnavailable}
