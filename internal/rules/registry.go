package rules

// Builtin returns the detectors of this build, keyed by rule id. Each rule
// family has a file of its own (db.go, pool.go, app.go, runtime.go, http.go,
// redis.go, probe.go) with a function returning its detectors; this is the
// one place that lists them. Rules without a detector are listed by `advisor
// rules list` as having none, and Run skips them.
func Builtin() Registry {
	reg := Registry{}
	for _, family := range []Registry{
		// families: one line each
		appDetectors(),
		runtimeDetectors(),
		httpDetectors(),
		redisDetectors(),
		probeDetectors(),
		dbDetectors(),
		poolDetectors(),
	} {
		for id, d := range family {
			reg[id] = d
		}
	}
	return reg
}
