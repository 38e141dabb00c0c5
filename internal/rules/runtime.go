package rules

// runtimeRules are the detectors of the runtime rules (Go's, and the
// workers of single-threaded runtimes), read from the runtime and process
// metrics the service exports.
var runtimeRules = []Detector{runtimeGOMAXPROCS, runtimeGCPressure, runtimeWorkers}
