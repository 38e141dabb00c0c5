package rules

import (
	"context"
)

// dbLowCacheHit flags a buffer cache hit ratio below the bar, for the user
// tables and for the database, when enough blocks are read to tell.
var dbLowCacheHit = Def[dbLowCacheHitParams]{ID: "db.low-cache-hit", Check: checkDBLowCacheHit}

type dbLowCacheHitParams struct {
	HitRatioBelow     float64 `param:"hit_ratio_below"`
	MinBlockReadsPerS float64 `param:"min_block_reads_per_s"`
}

// cumulativeFloorSeconds turns a rate floor into a volume floor for
// statistics since their last reset: the reads of a default 10 s window.
const cumulativeFloorSeconds = 10

func checkDBLowCacheHit(ctx context.Context, in *Input, p dbLowCacheHitParams) ([]Finding, error) {
	pg := dbPG(in)
	if pg == nil || pg.Cur == nil {
		return nil, nil
	}
	below, minRate := p.HitRatioBelow, p.MinBlockReadsPerS
	sb, _ := pg.Cur.Server.Settings.Bytes("shared_buffers")
	type scope struct {
		name      string
		hit, read int64
		seconds   float64
	}
	var heapHit, heapRead int64
	for _, t := range pg.Tables {
		heapHit += t.HeapHit
		heapRead += t.HeapRead
	}
	scopes := []scope{{"tables", heapHit, heapRead, pg.Seconds}}
	if pg.Database.Seconds > 0 {
		scopes = append(scopes, scope{"database " + pg.Cur.Server.Database, pg.Database.BlksHit, pg.Database.BlksRead, pg.Database.Seconds})
	}
	var out []Finding
	for _, s := range scopes {
		total := s.hit + s.read
		if total <= 0 || s.seconds <= 0 {
			continue
		}
		// Since the last reset (--window 0) the seconds include the idle
		// time before and after the load, which dilutes a rate: the floor
		// is then the reads of a default window at that rate.
		if pg.Cumulative {
			if float64(total) < minRate*cumulativeFloorSeconds {
				continue
			}
		} else if float64(total)/s.seconds < minRate {
			continue
		}
		ratio := float64(s.hit) / float64(total)
		if ratio >= below {
			continue
		}
		out = append(out, Finding{
			Subject: s.name,
			Evidence: map[string]any{
				"scope":                s.name,
				"hit_ratio":            dbRound(ratio, 4),
				"blks_hit_per_s":       dbRound(float64(s.hit)/s.seconds, 1),
				"blks_read_per_s":      dbRound(float64(s.read)/s.seconds, 1),
				"shared_buffers_bytes": sb,
			},
			Impact: 1 - ratio,
		})
	}
	return out, nil
}
