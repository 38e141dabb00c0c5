package rules

import (
	"math"
	"testing"

	"github.com/pgadvisor/advisor/internal/probe"
	"github.com/pgadvisor/advisor/internal/probe/postgres"
)

// TestSavesOfSamples: every rule's sample finding, over a known split,
// either says what its fix saves per request (within the request's time) or
// says that it costs no request time; the figures follow the evidence.
func TestSavesOfSamples(t *testing.T) {
	in := &Input{Window: &probe.Window{Seconds: 10, Postgres: &postgres.Window{Statements: postgres.StatementsWindow{Seconds: 10}}}}
	in.views.split = &TimeSplit{Service: Span{RPS: 200, MeanMS: 100, HasLatency: true, Parts: []Part{
		{Name: PartCPU, MSPerRequest: 20, Share: 0.2},
		{Name: PartDB, MSPerRequest: 50, Share: 0.5},
		{Name: PartDBPool, MSPerRequest: 10, Share: 0.1},
		{Name: PartRedis, MSPerRequest: 5, Share: 0.05},
		{Name: PartOther, MSPerRequest: 15, Share: 0.15},
	}}}
	set := loadBuiltin(t)
	want := map[string]float64{
		// 1520 calls over 10 s x 38.2 ms x 99.7% cut, over 200 requests/s.
		dbMissingIndex.ID:    152 * 38.2 * 0.997 / 200 / 100,
		dbNPlusOne.ID:        1120.0 / 10 * (1 - 1.0/20) / 200 / 100,
		appLockContention.ID: 0.55,
		poolUndersized.ID:    0.1,
		runtimeGCPressure.ID: 0.2 * 0.23,
	}
	notTime := map[string]bool{dbUnusedIndex.ID: true, dbDuplicateIndex.ID: true, probeUnavailable.ID: true,
		dbIdleInTransaction.ID: true, redisMemoryUnbounded.ID: true,
		dbVacuumLag.ID: true, dbTableBloat.ID: true, dbSettings.ID: true, queueBacklog.ID: true}
	for _, r := range set.Rules {
		f := loadSample(t, r.ID)
		f.Rule = r.ID
		s := savesOf(in, &f)
		if s == nil {
			if _, ok := want[r.ID]; ok || notTime[r.ID] {
				t.Errorf("%s: no saving", r.ID)
			}
			continue
		}
		if s.Basis == "" {
			t.Errorf("%s: saving without a basis", r.ID)
		}
		if s.NotRequestTime != notTime[r.ID] {
			t.Errorf("%s: not request time %v", r.ID, s.NotRequestTime)
		}
		if s.Share < 0 || s.Share > 1 || s.MSPerRequest > 100 || math.Abs(s.MSPerRequest-s.Share*100) > 1e-9 {
			t.Errorf("%s: saves %v ms (%v)", r.ID, s.MSPerRequest, s.Share)
		}
		if w, ok := want[r.ID]; ok && math.Abs(s.Share-w) > 1e-9 {
			t.Errorf("%s: share %v, want %v", r.ID, s.Share, w)
		}
	}
}
