package rules

import (
	"slices"
	"strings"
	"sync"

	"go.yaml.in/yaml/v3"

	"github.com/pgadvisor/advisor/internal/yamlfile"

	advisor "github.com/pgadvisor/advisor"
)

// builtin lists the detector of every rule, one family a line. A rule is its
// entry in rules.yaml, its detector file (named after the rule) and its
// fixture; this list is the one place that names the detectors.
func builtin() []Detector {
	return slices.Concat(
		appRules,
		runtimeRules,
		httpRules,
		serviceRules,
		redisRules,
		queueRules,
		probeRules,
		dbRules,
		poolRules,
	)
}

// Builtin returns the detectors of this build, keyed by rule id.
func Builtin() Registry { return NewRegistry(builtin()...) }

// catalog returns the stable rule ids: those of the built-in rules.yaml, in
// its order, which is the order rules are listed and explained in. An
// override file may only name these.
var catalog = sync.OnceValue(func() []string {
	var file struct {
		Rules []struct {
			ID string `yaml:"id"`
		} `yaml:"rules"`
	}
	// The built-in file is checked whole by Load and by the tests; here
	// only its ids are read, and a file that does not parse has none.
	_ = yaml.Unmarshal(advisor.DefaultRules, &file)
	ids := make([]string, 0, len(file.Rules))
	for _, r := range file.Rules {
		if r.ID != "" && !slices.Contains(ids, r.ID) {
			ids = append(ids, r.ID)
		}
	}
	return ids
})

// Catalog returns the stable rule ids, in catalog order.
func Catalog() []string { return slices.Clone(catalog()) }

// Known reports whether id is a rule id of the catalog.
func Known(id string) bool { return slices.Contains(catalog(), id) }

// Suggest returns the catalog ids close to id: ids within a small edit
// distance of it (or whose beginning is), ids it is a part of, and the ids
// of a family when id is a family name ("db", "redis.").
func Suggest(id string) []string {
	var out []string
	id = strings.ToLower(strings.TrimSpace(id))
	if id == "" {
		return nil
	}
	for _, c := range catalog() {
		family, name, _ := strings.Cut(c, ".")
		switch {
		case yamlfile.EditDistance(id, c) <= 3,
			len(id) >= 3 && strings.Contains(c, id),
			strings.TrimSuffix(id, ".") == family,
			len(id) >= 4 && yamlfile.EditDistance(id, name) <= 2,
			len(id) >= 6 && len(id) < len(c) && yamlfile.EditDistance(id, c[:len(id)]) <= 2:
			out = append(out, c)
		}
	}
	return out
}
