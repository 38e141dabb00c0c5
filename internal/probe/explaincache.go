package probe

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/pgadvisor/advisor/internal/probe/postgres"
)

// explainTTL is how long a plan stays cached: attach analyses every few
// seconds, and the candidates of db.missing-index rarely change in between;
// planning them again each time would be load advisor adds to the server.
const explainTTL = 5 * time.Minute

// cachedExplainer remembers plans and hypothetical costs (and the reasons a
// statement was skipped) for explainTTL. Errors other than skips are not
// cached: a timeout may pass.
type cachedExplainer struct {
	next postgres.Explainer
	now  func() time.Time

	mu    sync.Mutex
	plans map[string]explainEntry
	hypos map[[2]string]hypoEntry
}

type explainEntry struct {
	plan *postgres.Plan
	err  error
	at   time.Time
}

type hypoEntry struct {
	res postgres.HypoResult
	err error
	at  time.Time
}

func newCachedExplainer(next postgres.Explainer) *cachedExplainer {
	return &cachedExplainer{next: next, now: time.Now, plans: map[string]explainEntry{}, hypos: map[[2]string]hypoEntry{}}
}

// cacheable reports whether a result may be remembered.
func cacheable(err error) bool {
	if err == nil {
		return true
	}
	var skip *postgres.SkipError
	return errors.As(err, &skip)
}

func (c *cachedExplainer) Explain(ctx context.Context, query string) (*postgres.Plan, error) {
	c.mu.Lock()
	e, ok := c.plans[query]
	c.mu.Unlock()
	if ok && c.now().Sub(e.at) < explainTTL {
		return e.plan, e.err
	}
	plan, err := c.next.Explain(ctx, query)
	if cacheable(err) {
		c.mu.Lock()
		c.plans[query] = explainEntry{plan, err, c.now()}
		c.mu.Unlock()
	}
	return plan, err
}

func (c *cachedExplainer) HypotheticalCost(ctx context.Context, query, createIndex string) (postgres.HypoResult, error) {
	key := [2]string{query, createIndex}
	c.mu.Lock()
	e, ok := c.hypos[key]
	c.mu.Unlock()
	if ok && c.now().Sub(e.at) < explainTTL {
		return e.res, e.err
	}
	res, err := c.next.HypotheticalCost(ctx, query, createIndex)
	if cacheable(err) {
		c.mu.Lock()
		c.hypos[key] = hypoEntry{res, err, c.now()}
		c.mu.Unlock()
	}
	return res, err
}
