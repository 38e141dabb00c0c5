package rules

import (
	"context"
)

// dbReplication flags replication that is falling behind or holding WAL:
// a replication slot nobody consumes, which keeps every WAL segment since
// its restart point until the disk fills; a slot already lost; a replica
// whose replay lags in bytes or time, seen from the primary
// (pg_stat_replication) or on the standby itself.
var dbReplication = Def[dbReplicationParams]{ID: "db.replication", Check: checkDBReplication}

type dbReplicationParams struct {
	MinSlotRetainedBytes      int     `param:"min_slot_retained_bytes"`
	CriticalSlotRetainedBytes int     `param:"critical_slot_retained_bytes"`
	MinLagSeconds             float64 `param:"min_lag_seconds"`
	CriticalLagSeconds        float64 `param:"critical_lag_seconds"`
	MinLagBytes               int     `param:"min_lag_bytes"`
	CriticalLagBytes          int     `param:"critical_lag_bytes"`
}

func checkDBReplication(_ context.Context, in *Input, p dbReplicationParams) ([]Finding, error) {
	h := dbHealth(in)
	if h == nil {
		return nil, nil
	}
	risk := dbRisk("replication lag and retained WAL cost no request time on the primary")
	var out []Finding
	for _, s := range h.Slots {
		lost := s.WALStatus == "lost" || s.Conflicting
		// An active slot's consumer is there: its lag is the replica's.
		if s.Active || s.Temporary || (!lost && s.RetainedBytes < int64(p.MinSlotRetainedBytes)) {
			continue
		}
		critical := lost || s.WALStatus == "unreserved" || s.RetainedBytes >= int64(p.CriticalSlotRetainedBytes)
		out = append(out, Finding{
			Subject:    "replication slot " + s.Name,
			Confidence: ConfidenceOf(1, "the server's replication state"),
			Severity:   dbEscalate(critical),
			Evidence: map[string]any{
				"kind":                    "inactive slot",
				"slot":                    s.Name,
				"slot_type":               s.Type,
				"database":                s.Database,
				"retained_bytes":          s.RetainedBytes,
				"wal_status":              s.WALStatus,
				"safe_wal_bytes":          s.SafeWALBytes,
				"max_slot_wal_keep_bytes": h.MaxSlotWALKeepBytes,
				"inactive_seconds":        dbRound(s.InactiveSeconds, 0),
				"lost":                    lost,
			},
			Fix:   Fix{SQL: "SELECT pg_drop_replication_slot(" + dbLiteral(s.Name) + ");  -- once its consumer is gone for good"},
			Saves: risk,
		})
	}
	lagging := func(bytes int64, seconds float64) (bool, bool) {
		warn := bytes >= int64(p.MinLagBytes) || seconds >= p.MinLagSeconds
		crit := bytes >= int64(p.CriticalLagBytes) || seconds >= p.CriticalLagSeconds
		return warn || crit, crit
	}
	for _, r := range h.Replicas {
		fire, crit := lagging(r.LagBytes, r.ReplayLagSeconds)
		if !fire {
			continue
		}
		name := dbApp(r.Application)
		if r.ClientAddr != "" {
			name += " (" + r.ClientAddr + ")"
		}
		out = append(out, Finding{
			Subject:    "replica " + name,
			Confidence: ConfidenceOf(1, "the server's replication state"),
			Severity:   dbEscalate(crit),
			Evidence:   dbLagEvidence("replica", name, r.State, r.LagBytes, r.ReplayLagSeconds, false),
			Saves:      risk,
		})
	}
	if sb := h.Standby; sb != nil {
		if fire, crit := lagging(sb.LagBytes, sb.LagSeconds); fire {
			out = append(out, Finding{
				Subject:    "standby " + dbCur(in).Server.Database,
				Confidence: ConfidenceOf(1, "the server's replication state"),
				Severity:   dbEscalate(crit),
				Evidence:   dbLagEvidence("standby", "this server", "", sb.LagBytes, sb.LagSeconds, sb.Paused),
				Saves:      risk,
			})
		}
	}
	return out, nil
}

// dbLagEvidence is the evidence of a lagging replica, seen from the
// primary ("replica") or on the standby itself ("standby").
func dbLagEvidence(kind, name, state string, bytes int64, seconds float64, paused bool) map[string]any {
	return map[string]any{
		"kind":          kind,
		"replica":       name,
		"state":         state,
		"lag_bytes":     bytes,
		"lag_seconds":   dbRound(seconds, 1),
		"replay_paused": paused,
	}
}
