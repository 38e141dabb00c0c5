package rules

import (
	"context"
	"fmt"
	"strings"

	"github.com/pgadvisor/advisor/internal/probe/postgres"
)

// dbSettings flags server settings that risk the data (fsync or
// full_page_writes off: critical), that stop maintenance or monitoring
// (autovacuum, track_counts, track_activities off) or turn a planner method
// off for every query (warning), and a few left at defaults that measured
// facts contradict (info): shared_buffers at its built-in 128 MB on a host
// with much memory, random_page_cost 4 where reads take well under a
// millisecond, work_mem x max_connections above the host's memory.
var dbSettings = Def[dbSettingsParams]{ID: "db.settings", Check: checkDBSettings}

type dbSettingsParams struct {
	MinMemoryBytes int     `param:"min_memory_bytes"`
	MaxFastReadMS  float64 `param:"max_fast_read_ms"`
	MinBlocksRead  int     `param:"min_blocks_read"`
}

// dbSettingCheck is one on/off setting whose off value is a problem.
type dbSettingCheck struct {
	name     string
	severity Severity
	why      string
}

var dbOnOffChecks = []dbSettingCheck{
	{"fsync", Critical, "with fsync off, an operating system crash or power loss can corrupt the whole cluster, not just lose recent commits"},
	{"full_page_writes", Critical, "with full_page_writes off, a crash during a page write can leave torn pages that WAL replay cannot repair"},
	{"autovacuum", Warning, "without autovacuum, dead tuples accumulate, statistics go stale and nothing freezes old transaction ids before wraparound"},
	{"track_counts", Warning, "without track_counts, autovacuum cannot tell which tables need vacuum or analyze, and the table statistics advisor reads stay empty"},
	{"track_activities", Warning, "without track_activities, pg_stat_activity shows no query or state: long-running and blocking sessions cannot be seen"},
}

func checkDBSettings(_ context.Context, in *Input, p dbSettingsParams) ([]Finding, error) {
	cur := dbCur(in)
	if cur == nil || !cur.Maintenance.Status.Ok() {
		return nil, nil
	}
	m := &cur.Maintenance
	var out []Finding
	add := func(sev Severity, s postgres.SettingInfo, recommended, why string, ev map[string]any) {
		e := map[string]any{
			"setting":     s.Name,
			"value":       dbSettingText(s),
			"boot_value":  s.Boot,
			"source":      s.Source,
			"recommended": recommended,
			"why":         why,
		}
		for k, v := range ev {
			e[k] = v
		}
		out = append(out, Finding{
			Severity:   sev,
			Subject:    "setting " + s.Name,
			Confidence: ConfidenceOf(1, "the server's settings"),
			Evidence:   e,
			Fix:        Fix{Config: map[string]string{s.Name: recommended}},
		})
	}
	for _, c := range dbOnOffChecks {
		if s, ok := m.Setting(c.name); ok && s.Value == "off" {
			add(c.severity, s, "on", c.why, nil)
		}
	}
	// Planner methods on by default and turned off for every query.
	for _, s := range m.Settings {
		if strings.HasPrefix(s.Name, "enable_") && s.Value == "off" && s.Boot == "on" && s.Source != "session" {
			add(Warning, s, "on", "planner methods are meant to be turned off per session to test a plan, not for every query: "+
				"with "+s.Name+" off the planner avoids the method even where it is by far the cheapest", nil)
		}
	}
	// shared_buffers left at its built-in value on a host with much memory.
	if s, ok := m.Setting("shared_buffers"); ok && m.MemoryBytes >= int64(p.MinMemoryBytes) {
		b, ok1 := s.Bytes()
		boot := postgres.SettingInfo{Value: s.Boot, Unit: s.Unit}
		bootBytes, ok2 := boot.Bytes()
		if ok1 && ok2 && b <= bootBytes {
			rec := dbMemSetting(m.MemoryBytes / 4)
			add(Info, s, rec, fmt.Sprintf("shared_buffers is at its built-in %s on a host with %s of memory; "+
				"PostgreSQL's documentation starts a dedicated server at 25%% of memory", dbMemSetting(b), dbMemSetting(m.MemoryBytes)),
				map[string]any{"memory_bytes": m.MemoryBytes, "memory_from": "the local host (the server runs on advisor's host)"})
		}
	}
	// random_page_cost 4 where block reads are fast: SSD-class storage (or
	// a working set the OS cache holds).
	if s, ok := m.Setting("random_page_cost"); ok {
		rpc, _ := s.Float()
		st := cur.Database.Stats
		if rpc >= 4 && cur.Database.Status.Ok() && st.BlksRead >= int64(p.MinBlocksRead) && st.BlkReadTime > 0 {
			mean := st.BlkReadTime / float64(st.BlksRead)
			if mean <= p.MaxFastReadMS {
				add(Info, s, "1.1", fmt.Sprintf("block reads average %.3f ms (%d reads since the statistics were reset): "+
					"storage this fast is better modelled with random_page_cost near seq_page_cost (1.1 is the usual value for SSDs)", mean, st.BlksRead),
					map[string]any{"mean_read_ms": dbRound(mean, 4), "blocks_read": st.BlksRead})
			}
		}
	}
	// work_mem x max_connections above the host's memory.
	if s, ok := m.Setting("work_mem"); ok && m.MemoryBytes > 0 {
		wm, ok1 := s.Bytes()
		conns, ok2 := cur.Server.Settings.Int("max_connections")
		if ok1 && ok2 && wm*conns > m.MemoryBytes {
			add(Info, s, dbMemSetting(max(m.MemoryBytes/conns/4, 1<<20)), fmt.Sprintf("work_mem %s x max_connections %d is %s, above the host's %s: "+
				"each sort or hash of each session may take work_mem, so a busy moment can exhaust memory",
				dbMemSetting(wm), conns, dbMemSetting(wm*conns), dbMemSetting(m.MemoryBytes)),
				map[string]any{"memory_bytes": m.MemoryBytes, "max_connections": conns})
		}
	}
	return out, nil
}

// dbSettingText is a setting's value with its unit.
func dbSettingText(s postgres.SettingInfo) string {
	if b, ok := s.Bytes(); ok {
		return dbMemSetting(b)
	}
	if s.Unit != "" {
		return s.Value + " " + s.Unit
	}
	return s.Value
}
