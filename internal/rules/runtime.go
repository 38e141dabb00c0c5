package rules

// runtimeRules are the detectors of the Go runtime rules, read from the
// runtime and process metrics the service exports.
var runtimeRules = []Detector{runtimeGOMAXPROCS, runtimeGCPressure}
