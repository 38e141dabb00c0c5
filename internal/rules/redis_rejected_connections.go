package rules

import (
	"context"
	"math"
)

// redisRejectedConnections flags connections Redis refused at maxclients:
// min_rejected or more in the window, or since the server started (a
// refusal is a failed request; one that happened before a short window
// still says the clients can exceed maxclients).
var redisRejectedConnections = Def[redisRejectedConnectionsParams]{ID: "redis.rejected-connections", Check: checkRedisRejectedConnections}

type redisRejectedConnectionsParams struct {
	MinRejected float64 `param:"min_rejected"`
}

func checkRedisRejectedConnections(_ context.Context, in *Input, p redisRejectedConnectionsParams) ([]Finding, error) {
	w := redisWindow(in)
	if w == nil {
		return nil, nil
	}
	inWindow := float64(w.RejectedConnections) >= p.MinRejected
	if !inWindow && float64(w.Lifetime.RejectedConnections) < p.MinRejected {
		return nil, nil
	}
	ev := map[string]any{
		"rejected_connections":          w.RejectedConnections,
		"rejected_connections_lifetime": w.Lifetime.RejectedConnections,
		"lifetime":                      redisSince(w),
		"in_window":                     inWindow,
		"connected_clients":             w.Cur.ConnectedClients,
		"maxclients":                    w.Cur.Info.Int("maxclients"),
	}
	impact := 0.0
	switch {
	case inWindow && w.Connections > 0:
		impact = math.Min(float64(w.RejectedConnections)/float64(w.Connections), 1)
	case !inWindow && w.Lifetime.Connections > 0:
		impact = math.Min(float64(w.Lifetime.RejectedConnections)/float64(w.Lifetime.Connections), 1) / 2
	}
	return []Finding{{Subject: redisSubject, Evidence: ev, Impact: impact}}, nil
}
