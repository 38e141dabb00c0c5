package redis

import (
	"errors"
	"math"
	"strconv"
	"strings"
)

// Info is the parsed output of INFO (any sections). It does no I/O.
type Info struct {
	// Sections maps a section's name in lower case ("server", "stats",
	// "commandstats") to its fields, as they were written.
	Sections map[string]map[string]string
	// Keyspace by database name ("db0").
	Keyspace map[string]KeyspaceDB
	// Commands by command name in lower case ("get", "client|list").
	Commands map[string]CommandStat
	// Errors counts error replies by error prefix ("ERR", "WRONGTYPE").
	Errors map[string]int64
}

// KeyspaceDB is one line of the keyspace section.
type KeyspaceDB struct {
	Keys    int64
	Expires int64
	// AvgTTL is the mean TTL of the keys with one, in milliseconds.
	AvgTTL int64
}

// CommandStat is one line of the commandstats section.
type CommandStat struct {
	Calls         int64
	Usec          int64
	UsecPerCall   float64
	RejectedCalls int64
	FailedCalls   int64
}

// ParseInfo parses INFO output: "# Section" headers, key:value lines,
// keyspace lines (db0:keys=1,expires=0,avg_ttl=0), commandstats lines
// (cmdstat_get:calls=1,usec=2,...) and errorstats lines
// (errorstat_ERR:count=1). Lines it does not understand are skipped; text
// without a single field is an error.
func ParseInfo(text string) (*Info, error) {
	info := &Info{
		Sections: map[string]map[string]string{},
		Keyspace: map[string]KeyspaceDB{},
		Commands: map[string]CommandStat{},
		Errors:   map[string]int64{},
	}
	section := "default"
	fields := 0
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimRight(line, "\r")
		if line == "" {
			continue
		}
		if name, ok := strings.CutPrefix(line, "#"); ok {
			section = strings.ToLower(strings.TrimSpace(name))
			continue
		}
		key, value, ok := strings.Cut(line, ":")
		if !ok || key == "" {
			continue
		}
		if info.Sections[section] == nil {
			info.Sections[section] = map[string]string{}
		}
		info.Sections[section][key] = value
		fields++
		switch {
		case strings.HasPrefix(key, "db") && isDigits(key[2:]):
			kv := splitPairs(value)
			info.Keyspace[key] = KeyspaceDB{Keys: atoi(kv["keys"]), Expires: atoi(kv["expires"]), AvgTTL: atoi(kv["avg_ttl"])}
		case strings.HasPrefix(key, "cmdstat_"):
			kv := splitPairs(value)
			info.Commands[strings.ToLower(key[len("cmdstat_"):])] = CommandStat{
				Calls: atoi(kv["calls"]), Usec: atoi(kv["usec"]), UsecPerCall: atof(kv["usec_per_call"]),
				RejectedCalls: atoi(kv["rejected_calls"]), FailedCalls: atoi(kv["failed_calls"]),
			}
		case strings.HasPrefix(key, "errorstat_"):
			info.Errors[key[len("errorstat_"):]] = atoi(splitPairs(value)["count"])
		}
	}
	if fields == 0 {
		return nil, errors.New("redis INFO: no field in the reply")
	}
	return info, nil
}

// Get returns a field from whichever section holds it.
func (i *Info) Get(key string) (string, bool) {
	for _, s := range i.Sections {
		if v, ok := s[key]; ok {
			return v, true
		}
	}
	return "", false
}

// Int returns a numeric field; 0 when absent or not a number.
func (i *Info) Int(key string) int64 {
	v, _ := i.Get(key)
	return atoi(v)
}

// Float returns a numeric field; 0 when absent or not a number.
func (i *Info) Float(key string) float64 {
	v, _ := i.Get(key)
	return atof(v)
}

// String returns a field; "" when absent.
func (i *Info) String(key string) string {
	v, _ := i.Get(key)
	return v
}

// splitPairs splits "a=1,b=2".
func splitPairs(s string) map[string]string {
	out := map[string]string{}
	for _, p := range strings.Split(s, ",") {
		if k, v, ok := strings.Cut(p, "="); ok {
			out[k] = v
		}
	}
	return out
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func atoi(s string) int64 {
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil {
		// Some counters are written as floats.
		return int64(atof(s))
	}
	return n
}

func atof(s string) float64 {
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0
	}
	return f
}
