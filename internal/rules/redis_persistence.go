package rules

import (
	"context"
	"fmt"
	"time"

	"github.com/pgadvisor/advisor/internal/probe/redis"
)

// redisPersistence flags persistence that fails or stalls: the last
// snapshot (BGSAVE) or AOF rewrite failed, AOF writes fail, writes older
// than a save point that no snapshot took (save_grace_s past it), a fork
// that stopped the main thread min_fork_ms or more, a server still loading
// its data. The statuses are the last attempt's since the server started,
// whenever it was: each finding says so, and whether a fork ran in the
// window.
var redisPersistence = Def[redisPersistenceParams]{ID: "redis.persistence", Check: checkRedisPersistence}

type redisPersistenceParams struct {
	SaveGraceS float64 `param:"save_grace_s"`
	MinForkMS  float64 `param:"min_fork_ms"`
}

func checkRedisPersistence(_ context.Context, in *Input, p redisPersistenceParams) ([]Finding, error) {
	w := redisWindow(in)
	if w == nil {
		return nil, nil
	}
	ps := w.Cur.Info.Persistence()
	cfg := w.Cur.Config
	save := "unknown"
	var points []redis.SavePoint
	if cfg.Status.Ok() {
		save = cfg.Save
		points = redis.ParseSave(cfg.Save)
	}
	now := w.Cur.Time
	lastSaveAge := -1.0
	lastSave := "never"
	if !ps.RDBLastSave.IsZero() {
		lastSaveAge = max(now.Sub(ps.RDBLastSave).Seconds(), 0)
		lastSave = ps.RDBLastSave.UTC().Format(time.RFC3339)
	}
	since := "since start, up " + humanSeconds(float64(w.Lifetime.UptimeSeconds))
	// A fork in the window: the failed save or rewrite, or the slow fork,
	// may be this window's; otherwise the state stands from before it.
	inWindow := !w.Cumulative && w.Forks > 0
	conf := ConfidenceOf(1, "the server's persistence state")
	risk := &Saving{NotRequestTime: true, Basis: "a risk: data lost at a restart, or writes refused"}
	misconf := w.Cur.Info.Errors["MISCONF"]

	base := func(kind, problem string) map[string]any {
		return map[string]any{
			"kind":                 kind,
			"problem":              problem,
			"lifetime":             since,
			"in_window":            inWindow,
			"forks_in_window":      w.Forks,
			"changes_since_save":   ps.RDBChangesSinceSave,
			"last_save":            lastSave,
			"last_save_age_s":      appRound(lastSaveAge),
			"save_points":          save,
			"misconf_errors":       misconf,
			"aof_enabled":          ps.AOFEnabled,
			"writes_refused":       false,
			"latest_fork_ms":       appRound(float64(ps.LatestFork.Microseconds()) / 1000),
			"consecutive_failures": ps.AOFConsecutiveFailures,
		}
	}
	var out []Finding
	add := func(subject string, ev map[string]any, critical bool, saves *Saving) {
		f := Finding{Subject: redisSubject + " " + subject, Evidence: ev, Confidence: conf, Saves: saves, Impact: 0.5}
		if critical {
			f.Severity, f.Impact = Critical, 1
		}
		out = append(out, f)
	}

	if ps.Loading {
		ev := base("loading", fmt.Sprintf("is loading its data set (%.0f%% done)", ps.LoadingPercent))
		ev["loading_percent"] = appRound(ps.LoadingPercent)
		ev["loading_eta_s"] = ps.LoadingETASeconds
		add("loading", ev, false, nil)
	}

	switch {
	case !ps.RDBLastBgsaveOK:
		// Redis refuses writes while the last snapshot failed, save
		// points are set and stop-writes-on-bgsave-error is yes.
		refused := cfg.Status.Ok() && cfg.StopWritesOnBgsaveError && len(points) > 0
		ev := base("bgsave-failed", fmt.Sprintf("snapshots fail: the last BGSAVE failed, %d writes unsaved since %s",
			ps.RDBChangesSinceSave, lastSave))
		ev["writes_refused"] = refused
		add("rdb", ev, refused, risk)
	case len(points) > 0 && !ps.RDBSaving && lastSaveAge >= 0:
		for _, pt := range points {
			if ps.RDBChangesSinceSave < max(pt.Changes, 1) || lastSaveAge < float64(pt.Seconds)+p.SaveGraceS {
				continue
			}
			ev := base("save-overdue", fmt.Sprintf("took no snapshot for %s with %d writes unsaved (save point %d s, %d writes)",
				humanSeconds(lastSaveAge), ps.RDBChangesSinceSave, pt.Seconds, pt.Changes))
			ev["save_point"] = fmt.Sprintf("%d %d", pt.Seconds, pt.Changes)
			add("rdb", ev, false, risk)
			break
		}
	}

	if ps.AOFEnabled && ps.AOFLastWriteState == "err" {
		ev := base("aof-write-failed", "cannot write its AOF: writes are refused")
		ev["writes_refused"] = true
		add("aof write", ev, true, risk)
	}
	if ps.AOFLastRewriteState == "err" {
		add("aof rewrite", base("aof-rewrite-failed", "AOF rewrite failed: the AOF grows without bound"), false, risk)
	}

	if fork := float64(ps.LatestFork.Microseconds()) / 1000; fork >= p.MinForkMS {
		ev := base("fork-slow", fmt.Sprintf("stopped for %.0f ms in its last fork", fork))
		// Request time: every client waits for the fork.
		add("fork", ev, false, nil)
	}
	return out, nil
}
