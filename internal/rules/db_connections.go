package rules

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
)

// dbConnections flags a server whose client sessions, read at the
// snapshot, come close to the slots ordinary roles may take
// (max_connections less the reserved ones), or are so many that each
// backend's memory and the scheduling of hundreds of processes cost more
// than a pooler would.
var dbConnections = Def[dbConnectionsParams]{ID: "db.connections", Check: checkDBConnections}

type dbConnectionsParams struct {
	MinUsedShare        float64 `param:"min_used_share"`
	CriticalUsedShare   float64 `param:"critical_used_share"`
	MaxTotalConnections int     `param:"max_total_connections"`
	MaxClientsListed    int     `param:"max_clients_listed"`
}

func checkDBConnections(_ context.Context, in *Input, p dbConnectionsParams) ([]Finding, error) {
	h := dbHealth(in)
	if h == nil {
		return nil, nil
	}
	cur := dbCur(in)
	limits, ok := cur.Server.Settings.ConnectionLimits()
	if !ok || limits.Available() <= 0 {
		return nil, nil
	}
	c := h.Connections
	available := limits.Available()
	used := float64(c.Total) / float64(available)
	many := p.MaxTotalConnections > 0 && c.Total >= p.MaxTotalConnections
	if used < p.MinUsedShare && !many {
		return nil, nil
	}
	// Who holds them, from the activity part (advisor's sessions aside).
	type client struct {
		name string
		n    int
	}
	byClient := map[string]int{}
	for _, g := range cur.Activity.Groups {
		byClient[fmt.Sprintf("%s (%s on %s)", dbApp(g.Application), g.User, g.Database)] += g.Count
	}
	var clients []client
	for name, n := range byClient {
		clients = append(clients, client{name, n})
	}
	slices.SortFunc(clients, func(a, b client) int {
		if d := cmp.Compare(b.n, a.n); d != 0 {
			return d
		}
		return cmp.Compare(a.name, b.name)
	})
	var lines []string
	for i, cl := range clients {
		if i == p.MaxClientsListed {
			lines = append(lines, fmt.Sprintf("and %d more", len(clients)-i))
			break
		}
		lines = append(lines, fmt.Sprintf("%s: %d", cl.name, cl.n))
	}
	return []Finding{{
		Subject:    "max_connections",
		Confidence: ConfidenceOf(1, "the server's sessions and settings"),
		Severity:   dbEscalate(used >= p.CriticalUsedShare),
		Evidence: map[string]any{
			"connections":                    c.Total,
			"active":                         c.Active,
			"idle":                           c.Idle,
			"idle_in_transaction":            c.IdleInTransaction,
			"superuser":                      c.Superuser,
			"max_connections":                limits.Max,
			"superuser_reserved_connections": limits.SuperuserReserved,
			"reserved_connections":           limits.Reserved,
			"available_connections":          available,
			"used_share":                     dbRound(used, 3),
			"free_connections":               max(0, available-c.Total),
			"over_total":                     many && used < p.MinUsedShare,
			"clients":                        strings.Join(lines, "; "),
		},
		Saves: dbRisk("connection slots cost no request time until the server refuses a session"),
	}}, nil
}
