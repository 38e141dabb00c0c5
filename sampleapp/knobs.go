package sampleapp

import (
	"fmt"
	"sort"
	"strings"
)

// Knob names. Each knob has an antipattern value (the naive profile) and a
// fix (the tuned profile); see Knobs for the allowed values.
const (
	KnobHops       = "hops"
	KnobPool       = "pool"
	KnobNPlusOne   = "nplusone"
	KnobIndex      = "index"
	KnobOverfetch  = "overfetch"
	KnobCache      = "cache"
	KnobInline     = "inline"
	KnobLock       = "lock"
	KnobGOMAXPROCS = "gomaxprocs"
	KnobRateLimit  = "ratelimit"
	KnobJobWorkers = "jobworkers"
)

// Profiles: every knob at its antipattern, or every knob at its fix.
const (
	ProfileNaive = "naive"
	ProfileTuned = "tuned"
)

// Knob describes one switchable behaviour of the service.
type Knob struct {
	Name   string   `json:"name"`
	Values []string `json:"values"`
	Naive  string   `json:"naive"`
	Tuned  string   `json:"tuned"`
	Help   string   `json:"help"`
}

// Knobs lists every knob, in the order they are shown.
var Knobs = []Knob{
	{Name: KnobHops, Values: []string{"http", "inproc"}, Naive: "http", Tuned: "inproc",
		Help: "how the API reaches the identity (token check) and users (profile) services: http = over HTTP to their own listeners on every request; inproc = direct calls"},
	{Name: KnobPool, Values: []string{"per-request", "tiny", "huge", "sized"}, Naive: "per-request", Tuned: "sized",
		Help: "PostgreSQL connections: per-request = pgx.Connect for every request; tiny = a pool of 2; huge = a pool of 400 (far above max_connections); sized = a pool sized for this machine's cores"},
	{Name: KnobNPlusOne, Values: []string{"per-row", "batched"}, Naive: "per-row", Tuned: "batched",
		Help: "related rows of the feed and order lists: per-row = one query per event/order; batched = one join or = ANY($1) query"},
	{Name: KnobIndex, Values: []string{"absent", "present"}, Naive: "absent", Tuned: "present",
		Help: "the index events(user_id, created_at DESC); changing it at run time runs CREATE/DROP INDEX CONCURRENTLY"},
	{Name: KnobOverfetch, Values: []string{"select-star", "columns"}, Naive: "select-star", Tuned: "columns",
		Help: "select-star = SELECT * including the wide events.payload column; columns = only the columns the response needs"},
	{Name: KnobCache, Values: []string{"none", "redis"}, Naive: "none", Tuned: "redis",
		Help: "none = every read goes to PostgreSQL; redis = cache-aside with TTL in Redis for profiles, preferences and feeds, and a short in-process cache of token checks"},
	{Name: KnobInline, Values: []string{"inline", "queued"}, Naive: "inline", Tuned: "queued",
		Help: "POST /orders follow-up work (confirmation e-mail over SMTP, PDF invoice, webhook): inline = inside the request; queued = a river job done by workers, reply 201 at once"},
	{Name: KnobLock, Values: []string{"global", "none"}, Naive: "global", Tuned: "none",
		Help: "the audit log: global = each request writes its audit record while holding a process-wide mutex; none = records are buffered and written in batches, no lock in the request path"},
	{Name: KnobGOMAXPROCS, Values: []string{"1", "default"}, Naive: "1", Tuned: "default",
		Help: "GOMAXPROCS: 1, or the Go runtime's default (the usable CPUs)"},
	{Name: KnobRateLimit, Values: []string{"round-trips", "script", "batched"}, Naive: "round-trips", Tuned: "batched",
		Help: "the per-user rate limiter in Redis on every authenticated request: round-trips = GET, INCR and EXPIRE one after the other; script = one Lua script (EVALSHA), one round trip per request; batched = one EVALSHA per user and window, then counted in the process and added to Redis in one pipeline every 100 ms (Kong's sync_rate)"},
	{Name: KnobJobWorkers, Values: []string{"0", "2", "sized"}, Naive: "0", Tuned: "sized",
		Help: "river workers for the queued order follow-up work (inline=queued): 0 = none, jobs pile up; 2 = too few for the orders; sized = the service's --workers (8 by default)"},
}

// Settings holds one value per knob. The zero value is invalid; use
// ProfileSettings.
type Settings map[string]string

// ProfileSettings returns the knob values of profile (naive or tuned).
func ProfileSettings(profile string) (Settings, error) {
	s := Settings{}
	for _, k := range Knobs {
		switch profile {
		case ProfileNaive:
			s[k.Name] = k.Naive
		case ProfileTuned, "":
			s[k.Name] = k.Tuned
		default:
			return nil, fmt.Errorf("unknown profile %q (want %s or %s)", profile, ProfileNaive, ProfileTuned)
		}
	}
	return s, nil
}

// LookupKnob returns the knob called name.
func LookupKnob(name string) (Knob, bool) {
	for _, k := range Knobs {
		if k.Name == name {
			return k, true
		}
	}
	return Knob{}, false
}

// ValidateKnob checks that value is allowed for the knob name.
func ValidateKnob(name, value string) error {
	k, ok := LookupKnob(name)
	if !ok {
		names := make([]string, len(Knobs))
		for i, k := range Knobs {
			names[i] = k.Name
		}
		return fmt.Errorf("unknown knob %q (knobs: %s)", name, strings.Join(names, ", "))
	}
	for _, v := range k.Values {
		if v == value {
			return nil
		}
	}
	return fmt.Errorf("knob %s: value %q not allowed (values: %s)", name, value, strings.Join(k.Values, ", "))
}

// Clone returns a copy of s.
func (s Settings) Clone() Settings {
	c := make(Settings, len(s))
	for k, v := range s {
		c[k] = v
	}
	return c
}

// String renders s as name=value pairs in knob order.
func (s Settings) String() string {
	keys := make([]string, 0, len(s))
	for k := range s {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, k+"="+s[k])
	}
	return strings.Join(parts, " ")
}

// ParseKnobArg parses "name=value".
func ParseKnobArg(arg string) (name, value string, err error) {
	name, value, ok := strings.Cut(arg, "=")
	if !ok {
		return "", "", fmt.Errorf("knob %q: want name=value", arg)
	}
	name, value = strings.TrimSpace(name), strings.TrimSpace(value)
	if err := ValidateKnob(name, value); err != nil {
		return "", "", err
	}
	return name, value, nil
}

// ParseKnobArgs parses "name=value" arguments (ParseKnobArg) into
// settings, a later argument for a knob overriding an earlier one.
func ParseKnobArgs(args []string) (Settings, error) {
	out := Settings{}
	for _, arg := range args {
		name, value, err := ParseKnobArg(arg)
		if err != nil {
			return nil, err
		}
		out[name] = value
	}
	return out, nil
}

// settings is the immutable snapshot a request reads once.
type settings struct {
	hopsHTTP    bool
	pool        string
	perRow      bool
	index       bool
	selectStar  bool
	cache       bool
	inline      bool
	globalLock  bool
	gomaxprocs1 bool
	rateScript  bool
	rateBatched bool
	raw         Settings
}

func compile(s Settings) *settings {
	return &settings{
		hopsHTTP:    s[KnobHops] == "http",
		pool:        s[KnobPool],
		perRow:      s[KnobNPlusOne] == "per-row",
		index:       s[KnobIndex] == "present",
		selectStar:  s[KnobOverfetch] == "select-star",
		cache:       s[KnobCache] == "redis",
		inline:      s[KnobInline] == "inline",
		globalLock:  s[KnobLock] == "global",
		gomaxprocs1: s[KnobGOMAXPROCS] == "1",
		rateScript:  s[KnobRateLimit] == "script",
		rateBatched: s[KnobRateLimit] == "batched",
		raw:         s.Clone(),
	}
}
