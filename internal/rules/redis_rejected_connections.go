package rules

import (
	"context"
	"math"
)

// redisRejectedConnections flags connections Redis refused at maxclients.
var redisRejectedConnections = Def[redisRejectedConnectionsParams]{ID: "redis.rejected-connections", Check: checkRedisRejectedConnections}

type redisRejectedConnectionsParams struct {
	MinRejected float64 `param:"min_rejected"`
}

func checkRedisRejectedConnections(_ context.Context, in *Input, p redisRejectedConnectionsParams) ([]Finding, error) {
	w := redisWindow(in)
	if w == nil || float64(w.RejectedConnections) < p.MinRejected {
		return nil, nil
	}
	ev := map[string]any{
		"rejected_connections": w.RejectedConnections,
		"connected_clients":    w.Cur.ConnectedClients,
		"maxclients":           w.Cur.Info.Int("maxclients"),
	}
	impact := 0.0
	if w.Connections > 0 {
		impact = math.Min(float64(w.RejectedConnections)/float64(w.Connections), 1)
	}
	return []Finding{{Subject: redisSubject, Evidence: ev, Impact: impact}}, nil
}
