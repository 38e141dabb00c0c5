package rules

import (
	"context"
	"math"
	"regexp"
	"sort"
)

// poolConnectRe recognises the frames that open a PostgreSQL connection.
var poolConnectRe = regexp.MustCompile(`^github\.com/jackc/pgx/v[0-9]+\.Connect(Config)?$|^github\.com/jackc/pgx/v[0-9]+/pgconn\.(Connect|ConnectConfig|connectOne)$|^github\.com/lib/pq\.(Open|DialOpen|NewConnector)$`)

// poolNoPooling flags a service that opens about one database session per
// request (or, without its request rate, whose backends are short-lived):
// no pool, or a pool opened per request.
var poolNoPooling = Def[poolNoPoolingParams]{ID: "pool.no-pooling", Check: checkPoolNoPooling}

type poolNoPoolingParams struct {
	MinSessionsPerRequest float64 `param:"min_sessions_per_request"`
	MinSessionsPerS       float64 `param:"min_sessions_per_s"`
	MaxBackendAgeS        float64 `param:"max_backend_age_s"`
}

func checkPoolNoPooling(_ context.Context, in *Input, p poolNoPoolingParams) ([]Finding, error) {
	pg := dbPG(in)
	if pg == nil || pg.Cur == nil || pg.Database.Seconds <= 0 || !pg.Cur.Database.Stats.HasSessions {
		return nil, nil
	}
	minPerReq, minRate := p.MinSessionsPerRequest, p.MinSessionsPerS
	sessions := pg.Database.SessionsPerS
	if sessions < minRate {
		return nil, nil
	}
	rps := 0.0
	if m := in.Window.Metrics; m != nil {
		rps = m.RPS
	}
	perReq := 0.0
	if rps > 0 {
		perReq = sessions / rps
	}
	if rps > 0 && perReq < minPerReq {
		return nil, nil
	}
	perXact := 0.0
	if pg.Database.CommitsPerS > 0 {
		perXact = sessions / pg.Database.CommitsPerS
	}
	// The ages of the database's backends: short under churn.
	var ages []float64
	for _, g := range pg.Cur.Activity.Groups {
		if g.Database == pg.Cur.Server.Database {
			for i := 0; i < g.Count; i++ {
				ages = append(ages, g.MeanBackendAge)
			}
		}
	}
	median := 0.0
	if len(ages) > 0 {
		sort.Float64s(ages)
		median = ages[len(ages)/2]
	}
	// Without a request rate, short-lived backends tell the churn.
	if rps == 0 && (len(ages) == 0 || median > p.MaxBackendAgeS) {
		return nil, nil
	}
	// The share of requests (else of transactions) that pay a connection.
	impact := math.Min(1, perReq)
	if rps == 0 {
		impact = math.Min(1, perXact)
	}
	connectFrames := 0
	var site string
	for _, g := range in.Window.Goroutines {
		if g == nil {
			continue
		}
		for _, gr := range g.Goroutines {
			for i, f := range gr.Frames {
				if poolConnectRe.MatchString(f.Func) {
					connectFrames++
					// The caller outside the driver opens it.
					for _, c := range gr.Frames[i+1:] {
						if !dbDriverRe.MatchString(c.Func) {
							site = dbLocation(dbFrame{fn: c.Func, file: c.File, line: int64(c.Line)})
							break
						}
					}
					break
				}
			}
		}
	}
	f := Finding{
		Subject: "database " + pg.Cur.Server.Database,
		Evidence: map[string]any{
			"database":                  pg.Cur.Server.Database,
			"sessions_per_s":            dbRound(sessions, 1),
			"requests_per_s":            dbRound(rps, 1),
			"sessions_per_request":      dbRound(perReq, 2),
			"sessions_per_transaction":  dbRound(perXact, 2),
			"median_backend_age_s":      dbRound(median, 3),
			"connect_frames_in_dumps":   connectFrames,
			"session_time_ms_per_s":     dbRound(pg.Database.SessionTime/pg.Database.Seconds, 1),
			"active_time_ms_per_s":      dbRound(pg.Database.ActiveTime/pg.Database.Seconds, 1),
			"transactions_per_s":        dbRound(pg.Database.CommitsPerS, 1),
			"request_rate_from_metrics": rps > 0,
		},
		Location: site,
		Impact:   impact,
	}
	return []Finding{f}, nil
}
