package rules

import (
	"context"
	"fmt"
	"strings"

	"github.com/pgadvisor/advisor/internal/probe/postgres"
)

// poolBudget flags a server whose sessions, every client's together, come
// close to the connections ordinary roles may open (max_connections less
// the reserved ones), before it refuses the next: the clients by
// application and address, with the arithmetic of their pools.
var poolBudget = Def[poolBudgetParams]{ID: "pool.budget", Check: checkPoolBudget}

type poolBudgetParams struct {
	MinUsedShare float64 `param:"min_used_share"`
	MaxClients   int     `param:"max_clients_listed"`
}

func checkPoolBudget(_ context.Context, in *Input, p poolBudgetParams) ([]Finding, error) {
	w := in.Window
	cur := dbCur(in)
	if w == nil || cur == nil || len(w.Activity) == 0 {
		return nil, nil
	}
	limits, ok := cur.Server.Settings.ConnectionLimits()
	if !ok || limits.Available() <= 0 {
		return nil, nil
	}
	// The most sessions of one reading, every client of every database
	// together (advisor's own are not counted by the probe).
	var peak, sum int
	for _, s := range w.Activity {
		n := 0
		for _, g := range s.Groups {
			n += g.Count
		}
		peak = max(peak, n)
		sum += n
	}
	available := limits.Available()
	used := float64(peak) / float64(available)
	// A fleet read through Prometheus says each instance's pool size: the
	// budget is instances x pool size, whatever the sessions open now.
	instances, perInstance, fleetMax := fleetPools(in)
	budget := float64(fleetMax) / float64(available)
	if used < p.MinUsedShare && budget < p.MinUsedShare {
		return nil, nil
	}
	clients := in.activity()
	var lines []string
	for i, c := range clients {
		if i == p.MaxClients {
			lines = append(lines, fmt.Sprintf("and %d more", len(clients)-i))
			break
		}
		lines = append(lines, fmt.Sprintf("%s: max %d, mean %.1f (%.1f active)", clientName(c),
			c.Sessions.Max, c.Sessions.Mean, c.State(postgres.StateActive).Mean))
	}
	return []Finding{{
		Subject: "max_connections",
		Evidence: map[string]any{
			"sessions_max":                   peak,
			"sessions_mean":                  dbRound(float64(sum)/float64(len(w.Activity)), 1),
			"max_connections":                limits.Max,
			"superuser_reserved_connections": limits.SuperuserReserved,
			"reserved_connections":           limits.Reserved,
			"available_connections":          available,
			"used_share":                     dbRound(used, 3),
			"free_connections":               max(0, available-peak),
			"clients":                        strings.Join(lines, "; "),
			"samples":                        len(w.Activity),
			"instances":                      instances,
			"pool_max_per_instance":          perInstance,
			"fleet_pool_max":                 fleetMax,
			"fleet_pool_share":               dbRound(budget, 3),
		},
	}}, nil
}

// fleetPools is, for a fleet read through Prometheus, the live instances
// whose pool metrics say their size, the largest pool of one instance and
// the sum of them all; zeros otherwise.
func fleetPools(in *Input) (instances, perInstance, total int) {
	if in.Window == nil || in.Window.Fleet == nil {
		return 0, 0, 0
	}
	for _, i := range in.Window.Fleet.Instances {
		if i.Gone || !i.HasPool || i.PoolMax <= 0 {
			continue
		}
		instances++
		perInstance = max(perInstance, int(i.PoolMax))
		total += int(i.PoolMax)
	}
	return instances, perInstance, total
}
