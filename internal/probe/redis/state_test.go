package redis

import (
	"os"
	"reflect"
	"testing"
	"time"
)

// The captures of testdata/capture_state.sh: a Redis 7 whose BGSAVE failed
// (its dump file's path a directory) and one fragmented by deleting nine
// keys in ten.
func readInfo(t *testing.T, name string) *Info {
	t.Helper()
	data, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	info, err := ParseInfo(string(data))
	if err != nil {
		t.Fatal(err)
	}
	return info
}

func TestPersistenceCapture(t *testing.T) {
	p := readInfo(t, "info_bgsave_err.txt").Persistence()
	if p.RDBLastBgsaveOK || p.RDBLastBgsaveState != "err" {
		t.Errorf("bgsave status %q ok=%v, want err", p.RDBLastBgsaveState, p.RDBLastBgsaveOK)
	}
	if p.RDBChangesSinceSave < 1 || p.RDBLastSave.Before(time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("changes %d, last save %v", p.RDBChangesSinceSave, p.RDBLastSave)
	}
	if p.Loading || p.RDBSaving || p.AOFEnabled || p.AOFLastWriteState != "ok" || p.AOFLastRewriteState != "ok" {
		t.Errorf("%+v", p)
	}
	if p.Forks < 1 || p.LatestFork <= 0 || p.LatestFork > time.Second {
		t.Errorf("forks %d, latest %v", p.Forks, p.LatestFork)
	}
	// Writes were refused while the snapshot failed.
	if n := readInfo(t, "info_bgsave_err.txt").Errors["MISCONF"]; n < 1 {
		t.Errorf("errorstat_MISCONF = %d", n)
	}
	// The ordinary capture: nothing failed.
	ok := readInfo(t, "info_all.txt").Persistence()
	if !ok.RDBLastBgsaveOK || ok.AOFLastWriteState != "ok" || ok.Loading {
		t.Errorf("info_all.txt: %+v", ok)
	}
}

func TestMemoryCapture(t *testing.T) {
	m := readInfo(t, "info_fragmented.txt").Memory()
	// 300,000 values of 900 bytes, nine in ten deleted: the RSS stays.
	// (Redis samples the RSS in its cron: the bytes are near RSS - used.)
	if m.Ratio < 4 || m.Bytes < 200<<20 || abs(m.RSS-m.Used-m.Bytes) > 1<<20 {
		t.Errorf("ratio %.2f, bytes %d (rss %d, used %d)", m.Ratio, m.Bytes, m.RSS, m.Used)
	}
	if m.AllocatorRatio < 1.5 || m.AllocatorBytes < 100<<20 || m.Allocator != "jemalloc-5.3.0" || m.DefragRunning {
		t.Errorf("%+v", m)
	}
	if m.Peak < 250<<20 {
		t.Errorf("peak %d", m.Peak)
	}
	// A Redis with little in it: a high ratio on a few MB.
	small := readInfo(t, "info_all.txt").Memory()
	if small.Ratio < 1.5 || small.Bytes > 20<<20 {
		t.Errorf("info_all.txt: %+v", small)
	}
	// Before Redis 5 there is no mem_fragmentation_bytes.
	old, err := ParseInfo("used_memory:1000\nused_memory_rss:800\nmem_fragmentation_ratio:0.80\n")
	if err != nil {
		t.Fatal(err)
	}
	if m := old.Memory(); m.Bytes != -200 || m.Ratio != 0.8 {
		t.Errorf("old: %+v", m)
	}
}

func TestParseSave(t *testing.T) {
	for in, want := range map[string][]SavePoint{
		"":                        nil,
		"3600 1 300 100 60 10000": {{3600, 1}, {300, 100}, {60, 10000}},
		"900 1 x 2 60":            {{900, 1}},
	} {
		if got := ParseSave(in); !reflect.DeepEqual(got, want) {
			t.Errorf("ParseSave(%q) = %v, want %v", in, got, want)
		}
	}
}

func abs(n int64) int64 { return max(n, -n) }
