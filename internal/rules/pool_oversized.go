package rules

import (
	"context"
	"strconv"

	"github.com/pgadvisor/advisor/internal/probe/metrics"
)

// poolOversized flags PostgreSQL pools whose maximum, over every instance
// of the service, exceeds the connections the server accepts, or the
// core-based formula by max_formula_factor while the database is busy.
var poolOversized = Def[poolOversizedParams]{ID: "pool.oversized", Check: checkPoolOversized}

type poolOversizedParams struct {
	MaxFormulaFactor    float64 `param:"max_formula_factor"`
	ReservedConnections int     `param:"reserved_connections"`
	Spindles            int     `param:"spindles"`
}

func checkPoolOversized(_ context.Context, in *Input, p poolOversizedParams) ([]Finding, error) {
	factor, spindles := p.MaxFormulaFactor, p.Spindles
	base := in.poolServer().withReserved(p.ReservedConnections)
	formula, usable := base.formula(spindles), base.usable()
	var out []Finding
	for _, p := range poolDBPools(in) {
		srv := base.withInstances(p.Gauges[metrics.PoolOpen])
		maxConns := int(p.Gauges[metrics.PoolMax])
		if maxConns <= 0 {
			continue
		}
		total := maxConns * srv.instances
		overLimit := usable > 0 && total > usable
		busy := srv.lockWaits > 0 || (srv.cores > 0 && srv.active > float64(srv.cores))
		overFormula := formula > 0 && float64(total) > factor*float64(formula) && busy
		if !overLimit && !overFormula {
			continue
		}
		suggested := 0
		if formula > 0 {
			suggested = max(1, formula/srv.instances)
		}
		if usable > 0 && (suggested == 0 || usable/srv.instances < suggested) {
			suggested = max(1, usable/srv.instances)
		}
		impact := 0.0
		if total > 0 && suggested > 0 {
			impact = 1 - float64(suggested*srv.instances)/float64(total)
		}
		out = append(out, Finding{
			Subject:    poolName(p),
			Confidence: ConfidenceOf(1, "the pools' and the server's configuration"),
			Evidence: map[string]any{
				"pool":                poolName(p),
				"max_conns":           maxConns,
				"instances":           srv.instances,
				"total_max_conns":     total,
				"max_connections":     srv.maxConnections,
				"reserved":            srv.reserved,
				"usable_connections":  usable,
				"db_cores":            srv.cores,
				"formula_conns":       formula,
				"db_active_backends":  dbRound(srv.active, 2),
				"db_lock_waits":       srv.lockWaits,
				"exceeds_connections": overLimit,
				"suggested_max_conns": suggested,
			},
			Fix:    Fix{Config: map[string]string{"pool_max_conns": strconv.Itoa(suggested)}},
			Impact: impact,
		})
	}
	return out, nil
}
