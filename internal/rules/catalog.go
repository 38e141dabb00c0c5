package rules

import (
	"slices"
	"strings"
)

// catalog is the list of stable rule ids of DESIGN.md, in the order rules
// are listed and explained. rules.yaml must define each exactly once, and an
// override file may only name these.
var catalog = []string{
	"app.blocking-io",
	"app.inline-work",
	"app.lock-contention",
	"app.internal-hops",
	"runtime.gomaxprocs",
	"runtime.gc-pressure",
	"http.saturation",
	"db.n-plus-one",
	"db.missing-index",
	"db.overfetch",
	"db.slow-query",
	"db.cache-candidate",
	"db.unused-index",
	"db.duplicate-index",
	"db.blocked-queries",
	"db.idle-in-transaction",
	"db.long-running",
	"db.low-cache-hit",
	"pool.undersized",
	"pool.oversized",
	"pool.no-pooling",
	"redis.low-hit-ratio",
	"redis.evictions",
	"redis.slow-commands",
	"redis.cpu-saturation",
	"redis.rejected-connections",
	"redis.memory-unbounded",
	"probe.unavailable",
}

// Catalog returns the stable rule ids, in catalog order.
func Catalog() []string { return slices.Clone(catalog) }

// Known reports whether id is a rule id of the catalog.
func Known(id string) bool { return slices.Contains(catalog, id) }

// Suggest returns the catalog ids close to id: ids within a small edit
// distance of it (or whose beginning is), ids it is a part of, and the ids
// of a family when id is a family name ("db", "redis.").
func Suggest(id string) []string {
	var out []string
	id = strings.ToLower(strings.TrimSpace(id))
	if id == "" {
		return nil
	}
	for _, c := range catalog {
		family, name, _ := strings.Cut(c, ".")
		switch {
		case editDistance(id, c) <= 3,
			len(id) >= 3 && strings.Contains(c, id),
			strings.TrimSuffix(id, ".") == family,
			len(id) >= 4 && editDistance(id, name) <= 2,
			len(id) >= 6 && len(id) < len(c) && editDistance(id, c[:len(id)]) <= 2:
			out = append(out, c)
		}
	}
	return out
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}
