package redis

import (
	"strconv"
	"strings"
	"time"
)

// Memory is what INFO memory says of the memory Redis holds beyond its
// data: fragmentation, as the allocator and the operating system see it.
// Fields a server does not give (allocator_* before Redis 4, the _bytes
// fields before 5) are zero.
type Memory struct {
	Used int64 // used_memory: what Redis allocated
	RSS  int64 // used_memory_rss: what the operating system gives it
	Peak int64 // used_memory_peak
	// Ratio is mem_fragmentation_ratio (RSS / used); below 1, part of
	// Redis is swapped out.
	Ratio float64
	// Bytes is mem_fragmentation_bytes (RSS - used), or computed from
	// them where the server does not give it.
	Bytes int64
	// AllocatorRatio and AllocatorBytes are allocator_frag_ratio and
	// allocator_frag_bytes: the allocator's external fragmentation, pages
	// partly used, the part active defragmentation can give back.
	AllocatorRatio float64
	AllocatorBytes int64
	// Allocator is mem_allocator: "jemalloc-5.3.0", "libc".
	Allocator string
	// DefragRunning is active_defrag_running (its CPU percentage in
	// Redis 7, 1 before).
	DefragRunning bool
}

// Memory reads the fragmentation fields of INFO memory.
func (i *Info) Memory() Memory {
	m := Memory{
		Used: i.Int("used_memory"), RSS: i.Int("used_memory_rss"), Peak: i.Int("used_memory_peak"),
		Ratio: i.Float("mem_fragmentation_ratio"), AllocatorRatio: i.Float("allocator_frag_ratio"),
		AllocatorBytes: i.Int("allocator_frag_bytes"), Allocator: i.String("mem_allocator"),
		DefragRunning: i.Int("active_defrag_running") > 0,
	}
	if v, ok := i.Get("mem_fragmentation_bytes"); ok {
		m.Bytes = atoi(v)
	} else if m.RSS > 0 {
		m.Bytes = m.RSS - m.Used
	}
	return m
}

// Persistence is what INFO persistence says of RDB snapshots and the AOF.
// The statuses are those of the last attempt since the server started,
// whenever it was: a state, not an event of a window.
type Persistence struct {
	// Loading is set while the server loads its data set at start.
	Loading bool
	// LoadingPercent and LoadingETASeconds say how far loading is.
	LoadingPercent    float64
	LoadingETASeconds int64

	// RDBChangesSinceSave is rdb_changes_since_last_save: writes a crash
	// would lose without an AOF.
	RDBChangesSinceSave int64
	// RDBLastSave is rdb_last_save_time: the last successful save, or the
	// server's start.
	RDBLastSave        time.Time
	RDBSaving          bool   // rdb_bgsave_in_progress
	RDBLastBgsaveOK    bool   // rdb_last_bgsave_status:ok
	RDBLastBgsaveState string // "ok", "err"
	RDBSaves           int64  // rdb_saves (7+)

	AOFEnabled             bool
	AOFRewriting           bool   // aof_rewrite_in_progress
	AOFLastRewriteState    string // aof_last_bgrewrite_status
	AOFLastWriteState      string // aof_last_write_status
	AOFConsecutiveFailures int64  // aof_rewrites_consecutive_failures (7+)

	// LatestFork is latest_fork_usec: how long the main thread stopped
	// for the last fork (RDB save, AOF rewrite, full resync).
	LatestFork time.Duration
	// Forks is total_forks since start.
	Forks int64
}

// Persistence reads INFO persistence (and latest_fork_usec, total_forks
// from INFO stats).
func (i *Info) Persistence() Persistence {
	p := Persistence{
		Loading:             i.Int("loading") == 1,
		LoadingPercent:      atof(strings.TrimSuffix(i.String("loading_loaded_perc"), "%")),
		LoadingETASeconds:   i.Int("loading_eta_seconds"),
		RDBChangesSinceSave: i.Int("rdb_changes_since_last_save"),
		RDBSaving:           i.Int("rdb_bgsave_in_progress") == 1,
		RDBLastBgsaveState:  i.String("rdb_last_bgsave_status"),
		RDBSaves:            i.Int("rdb_saves"),
		AOFEnabled:          i.Int("aof_enabled") == 1,
		AOFRewriting:        i.Int("aof_rewrite_in_progress") == 1,
		AOFLastRewriteState: i.String("aof_last_bgrewrite_status"),
		AOFLastWriteState:   i.String("aof_last_write_status"),
		// Before 7 the field does not exist: 0.
		AOFConsecutiveFailures: i.Int("aof_rewrites_consecutive_failures"),
		LatestFork:             time.Duration(i.Int("latest_fork_usec")) * time.Microsecond,
		Forks:                  i.Int("total_forks"),
	}
	p.RDBLastBgsaveOK = p.RDBLastBgsaveState != "err"
	if t := i.Int("rdb_last_save_time"); t > 0 {
		p.RDBLastSave = time.Unix(t, 0)
	}
	return p
}

// SavePoint is one "seconds changes" pair of the save setting: Redis
// snapshots when at least Changes writes are Seconds old.
type SavePoint struct {
	Seconds int64
	Changes int64
}

// ParseSave reads the save setting ("3600 1 300 100 60 10000"); "" is no
// snapshot. Pairs that do not parse are skipped.
func ParseSave(s string) []SavePoint {
	f := strings.Fields(s)
	var out []SavePoint
	for i := 0; i+1 < len(f); i += 2 {
		secs, err1 := strconv.ParseInt(f[i], 10, 64)
		changes, err2 := strconv.ParseInt(f[i+1], 10, 64)
		if err1 != nil || err2 != nil || secs <= 0 {
			continue
		}
		out = append(out, SavePoint{Seconds: secs, Changes: changes})
	}
	return out
}
