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
	if used < p.MinUsedShare {
		return nil, nil
	}
	clients := w.ActivityByClient()
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
		},
	}}, nil
}
