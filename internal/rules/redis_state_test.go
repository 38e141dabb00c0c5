package rules

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/pgadvisor/advisor/internal/probe"
	"github.com/pgadvisor/advisor/internal/probe/redis"
	"github.com/pgadvisor/advisor/internal/probe/source"
)

// redisStateInput is the window of two readings ten seconds apart of the
// Redis whose INFO all is the capture testdata/<name> of the probe (the
// later reading), with cfg as CONFIG GET read it.
func redisStateInput(t *testing.T, name string, cfg redis.Config, edit func(string) string) *Input {
	t.Helper()
	data, err := os.ReadFile("../probe/redis/testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	if edit != nil {
		text = edit(text)
	}
	info, err := redis.ParseInfo(text)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Status = source.Status{State: source.OK}
	cur := &redis.Snapshot{Status: source.Status{State: source.OK}, Info: info, Config: cfg,
		RunID: info.String("run_id"), UptimeSeconds: info.Int("uptime_in_seconds")}
	cur.Time = redisTestNow(info)
	prev := *cur
	prev.Time = cur.Time.Add(-redisStateWindow)
	w := &probe.Window{Seconds: redisStateWindow.Seconds(), Sources: map[string]source.Status{probe.Redis: {State: source.OK}},
		Redis: redis.Diff(&prev, cur)}
	return &Input{Window: w, Patterns: loadBuiltin(t).Patterns}
}

// redisStateWindow is the window of the state rules' tests.
const redisStateWindow = 10 * time.Second

// redisTestNow is when a capture was read: its server_time_usec.
func redisTestNow(info *redis.Info) time.Time {
	return time.UnixMicro(info.Int("server_time_usec"))
}

func TestRedisFragmentationCapture(t *testing.T) {
	fs := appRunRule(t, redisStateInput(t, "info_fragmented.txt", redis.Config{ActiveDefrag: "no"}, nil), "redis.fragmentation", nil)
	if len(fs) != 1 {
		t.Fatalf("%d findings: %v", len(fs), fs)
	}
	f := fs[0]
	ev := f.Evidence
	if ev["kind"] != "fragmentation" || ev["remedy"] != "activedefrag" || f.Fix.Config["activedefrag"] != "yes" || f.Subject != "redis memory" {
		t.Errorf("%v %+v", ev, f.Fix)
	}
	if !strings.HasPrefix(f.Title, "Redis memory fragmented: 320 MB resident for 36.7 MB of data (ratio 8.72) (now, up ") {
		t.Errorf("title %q", f.Title)
	}
	if !strings.Contains(f.Fix.Summary, "activedefrag") || !strings.Contains(f.Fix.Summary, "restart") {
		t.Errorf("fix %q", f.Fix.Summary)
	}
	// activedefrag already on: no setting to give, the thresholds to check.
	fs = appRunRule(t, redisStateInput(t, "info_fragmented.txt", redis.Config{ActiveDefrag: "yes"}, nil), "redis.fragmentation", nil)
	if len(fs) != 1 || fs[0].Evidence["remedy"] != "defrag-on" || fs[0].Fix.Config != nil {
		t.Errorf("defrag on: %v", fs)
	}
	// libc: only a restart gives it back.
	libc := func(s string) string {
		return strings.Replace(s, "mem_allocator:jemalloc-5.3.0", "mem_allocator:libc", 1)
	}
	fs = appRunRule(t, redisStateInput(t, "info_fragmented.txt", redis.Config{ActiveDefrag: "no"}, libc), "redis.fragmentation", nil)
	if len(fs) != 1 || fs[0].Evidence["remedy"] != "restart" || !strings.Contains(fs[0].Fix.Summary, "restart") {
		t.Errorf("libc: %v", fs)
	}
	// A ratio of 6 on a Redis of 1 MB is its fixed overhead: noise.
	if fs := appRunRule(t, redisStateInput(t, "info_all.txt", redis.Config{ActiveDefrag: "no"}, nil), "redis.fragmentation", nil); len(fs) != 0 {
		t.Errorf("small Redis: %v", fs)
	}
}

func TestRedisFragmentationSwap(t *testing.T) {
	swap := func(s string) string {
		s = strings.Replace(s, "used_memory:38467632", "used_memory:1073741824", 1)
		s = strings.Replace(s, "mem_fragmentation_ratio:8.72", "mem_fragmentation_ratio:0.31", 1)
		return s
	}
	fs := appRunRule(t, redisStateInput(t, "info_fragmented.txt", redis.Config{}, swap), "redis.fragmentation", nil)
	if len(fs) != 1 || fs[0].Severity != Critical || fs[0].Evidence["kind"] != "swap" || fs[0].Subject != "redis swap" {
		t.Fatalf("%v", fs)
	}
	if !strings.HasPrefix(fs[0].Title, "Redis is partly swapped out: 704 MB of 1 GB not in RAM") {
		t.Errorf("title %q", fs[0].Title)
	}
}

func TestRedisPersistenceCapture(t *testing.T) {
	cfg := redis.Config{Save: "3600 1 300 100 60 10000", StopWritesOnBgsaveError: true}
	fs := appRunRule(t, redisStateInput(t, "info_bgsave_err.txt", cfg, nil), "redis.persistence", nil)
	if len(fs) != 1 {
		t.Fatalf("%d findings: %v", len(fs), fs)
	}
	f := fs[0]
	if f.Subject != "redis rdb" || f.Severity != Critical || f.Evidence["writes_refused"] != true || f.Evidence["misconf_errors"] != int64(3) {
		t.Errorf("%s %v %v", f.Subject, f.Severity, f.Evidence)
	}
	if !strings.HasPrefix(f.Title, "Redis snapshots fail: the last BGSAVE failed, 1 writes unsaved since ") ||
		!strings.Contains(f.Title, "(since start, up ") {
		t.Errorf("title %q", f.Title)
	}
	if !strings.Contains(f.Fix.Summary, "MISCONF") || !strings.Contains(f.Fix.Summary, "vm.overcommit_memory") {
		t.Errorf("fix %q", f.Fix.Summary)
	}
	// No save points: a failed manual BGSAVE refuses no write.
	fs = appRunRule(t, redisStateInput(t, "info_bgsave_err.txt", redis.Config{StopWritesOnBgsaveError: true}, nil), "redis.persistence", nil)
	if len(fs) != 1 || fs[0].Severity == Critical || fs[0].Evidence["writes_refused"] != false {
		t.Errorf("no save points: %v", fs)
	}
	// All well.
	if fs := appRunRule(t, redisStateInput(t, "info_all.txt", cfg, nil), "redis.persistence", nil); len(fs) != 0 {
		t.Errorf("info_all.txt: %v", fs)
	}
}

func TestRedisPersistenceStates(t *testing.T) {
	cfg := redis.Config{Save: "3600 1 300 100 60 10000", StopWritesOnBgsaveError: true}
	run := func(edit func(string) string) []Finding {
		return appRunRule(t, redisStateInput(t, "info_all.txt", cfg, edit), "redis.persistence", nil)
	}
	set := func(pairs ...string) func(string) string {
		return func(s string) string {
			for i := 0; i+1 < len(pairs); i += 2 {
				key := pairs[i] + ":"
				start := strings.Index(s, "\n"+key)
				if start < 0 {
					t.Fatalf("no %s in the capture", pairs[i])
				}
				end := strings.Index(s[start+1:], "\n")
				s = s[:start+1] + key + pairs[i+1] + s[start+1+end:]
			}
			return s
		}
	}
	kinds := func(fs []Finding) string {
		var out []string
		for _, f := range fs {
			out = append(out, f.Subject+"="+f.Evidence["kind"].(string)+"/"+f.Severity.String())
		}
		return strings.Join(out, " ")
	}
	cases := []struct {
		name string
		edit func(string) string
		want string
	}{
		// 20,000 writes, the last save two hours before the reading.
		{"overdue", set("rdb_changes_since_last_save", "20000", "rdb_last_save_time", "1795296355"),
			"redis rdb=save-overdue/warning"},
		{"saving now", set("rdb_changes_since_last_save", "20000", "rdb_last_save_time", "1795296355", "rdb_bgsave_in_progress", "1"), ""},
		{"aof write", set("aof_enabled", "1", "aof_last_write_status", "err"), "redis aof write=aof-write-failed/critical"},
		{"aof rewrite", set("aof_last_bgrewrite_status", "err", "aof_rewrites_consecutive_failures", "4"),
			"redis aof rewrite=aof-rewrite-failed/warning"},
		{"slow fork", set("latest_fork_usec", "450000"), "redis fork=fork-slow/warning"},
		{"loading", set("loading", "1"), "redis loading=loading/warning"},
	}
	for _, c := range cases {
		fs := run(c.edit)
		if got := kinds(fs); got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
		for _, f := range fs {
			if !strings.Contains(f.Title, "since start, up ") {
				t.Errorf("%s: title %q not marked since start", c.name, f.Title)
			}
		}
	}
}
