package redis

import (
	"os"
	"strings"
	"testing"
	"time"
)

// testdata/info_all.txt is `INFO all` of the test stack's Redis 7 after the
// workload of testdata/capture.sh.
func readCapture(t testing.TB) string {
	t.Helper()
	data, err := os.ReadFile("testdata/info_all.txt")
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func TestParseInfoCapture(t *testing.T) {
	info, err := ParseInfo(readCapture(t))
	if err != nil {
		t.Fatal(err)
	}
	if v := info.String("redis_version"); !strings.HasPrefix(v, "7.") {
		t.Errorf("redis_version = %q", v)
	}
	for _, sec := range []string{"server", "clients", "memory", "stats", "cpu", "commandstats", "errorstats", "keyspace"} {
		if len(info.Sections[sec]) == 0 {
			t.Errorf("section %q missing", sec)
		}
	}
	if len(info.String("run_id")) != 40 || info.Int("uptime_in_seconds") <= 0 {
		t.Errorf("run_id %q, uptime %d", info.String("run_id"), info.Int("uptime_in_seconds"))
	}
	// The capture's workload: 10 SET + 1 SET EX + 10 GET hits + 10 misses.
	db0, ok := info.Keyspace["db0"]
	if !ok || db0.Keys < 12 || db0.Expires < 1 || db0.AvgTTL <= 0 {
		t.Errorf("db0 = %+v", db0)
	}
	get := info.Commands["get"]
	if get.Calls < 20 || get.Usec <= 0 || get.UsecPerCall <= 0 {
		t.Errorf("cmdstat_get = %+v", get)
	}
	if set := info.Commands["set"]; set.Calls < 11 {
		t.Errorf("cmdstat_set = %+v", set)
	}
	if incr := info.Commands["incr"]; incr.FailedCalls < 1 {
		t.Errorf("cmdstat_incr = %+v (the capture's INCR of a string fails)", incr)
	}
	if _, ok := info.Commands["client|list"]; !ok {
		t.Errorf("subcommand client|list missing from %v", keys(info.Commands))
	}
	if info.Errors["ERR"] < 2 {
		t.Errorf("errorstat_ERR = %d", info.Errors["ERR"])
	}
	if info.Int("keyspace_misses") < 10 || info.Float("used_cpu_sys") <= 0 || info.Int("used_memory") <= 0 {
		t.Errorf("stats: misses %d, cpu %f, memory %d", info.Int("keyspace_misses"), info.Float("used_cpu_sys"), info.Int("used_memory"))
	}
	// Latency percentiles are fields too.
	if v := info.String("latency_percentiles_usec_get"); !strings.Contains(v, "p99=") {
		t.Errorf("latency_percentiles_usec_get = %q", v)
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestParseInfoEdges(t *testing.T) {
	for _, bad := range []string{"", "\r\n", "# Server\r\n", "garbage without fields", "-ERR wrong\r\n"} {
		if _, err := ParseInfo(bad); err == nil {
			t.Errorf("ParseInfo(%q) accepted", bad)
		}
	}
	info, err := ParseInfo("# Keyspace\r\ndb12:keys=5,expires=x,avg_ttl=\r\ndbx:keys=1\r\ncmdstat_GET:calls=2,usec=1.5e1\r\nerrorstat_WRONGTYPE:count=3\r\nweird line\r\n:novalue\r\n")
	if err != nil {
		t.Fatal(err)
	}
	if db := info.Keyspace["db12"]; db.Keys != 5 || db.Expires != 0 {
		t.Errorf("db12 = %+v", db)
	}
	if _, ok := info.Keyspace["dbx"]; ok {
		t.Error("dbx taken for a database")
	}
	if c := info.Commands["get"]; c.Calls != 2 || c.Usec != 15 {
		t.Errorf("get = %+v", c)
	}
	if info.Errors["WRONGTYPE"] != 3 {
		t.Errorf("errors = %v", info.Errors)
	}
}

func FuzzParseInfo(f *testing.F) {
	f.Add(readCapture(f))
	f.Add("# Keyspace\r\ndb0:keys=1,expires=0,avg_ttl=0\r\n")
	f.Add("cmdstat_get:calls=1,usec=2,usec_per_call=2.00,rejected_calls=0,failed_calls=0\n")
	f.Add("errorstat_ERR:count=NaN\nused_cpu_sys:+Inf\n")
	f.Fuzz(func(t *testing.T, text string) {
		info, err := ParseInfo(text)
		if err != nil {
			return
		}
		// Whatever parsed can be diffed against itself without a negative.
		s := &Snapshot{Info: info, Time: time.Unix(100, 0)}
		s.fromInfo(info)
		w := Diff(s, s)
		if w.OpsPerS < 0 || w.CPUCores < 0 || w.Hits < 0 {
			t.Fatalf("negative window from %q: %+v", text, w)
		}
		_ = Diff(nil, s)
	})
}
