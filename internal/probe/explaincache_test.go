package probe

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/pgadvisor/advisor/internal/probe/postgres"
)

// countingExplainer counts the calls that reach the server.
type countingExplainer struct {
	explains, hypos int
	err             error
}

func (c *countingExplainer) Explain(context.Context, string) (*postgres.Plan, error) {
	c.explains++
	return &postgres.Plan{}, c.err
}

func (c *countingExplainer) HypotheticalCost(context.Context, string, string) (postgres.HypoResult, error) {
	c.hypos++
	return postgres.HypoResult{Before: 100, After: 10}, c.err
}

func TestCachedExplainer(t *testing.T) {
	ctx := context.Background()
	next := &countingExplainer{}
	now := time.Unix(1_700_000_000, 0)
	c := newCachedExplainer(next)
	c.now = func() time.Time { return now }

	for i := 0; i < 3; i++ {
		if _, err := c.Explain(ctx, "SELECT 1 WHERE $1"); err != nil {
			t.Fatal(err)
		}
		if res, err := c.HypotheticalCost(ctx, "SELECT 1 WHERE $1", "CREATE INDEX ON t (a)"); err != nil || res.After != 10 {
			t.Fatal(res, err)
		}
	}
	if next.explains != 1 || next.hypos != 1 {
		t.Errorf("server planned %d and %d times for 3 asks each, want once", next.explains, next.hypos)
	}
	if _, err := c.HypotheticalCost(ctx, "SELECT 1 WHERE $1", "CREATE INDEX ON t (b)"); err != nil || next.hypos != 2 {
		t.Errorf("another index is another question: %d calls, %v", next.hypos, err)
	}
	now = now.Add(explainTTL + time.Second)
	_, _ = c.Explain(ctx, "SELECT 1 WHERE $1")
	if next.explains != 2 {
		t.Errorf("after the TTL the plan is asked again: %d calls", next.explains)
	}

	// A skip is an answer and is remembered; a timeout is not.
	next.err = fmt.Errorf("explain: %w", &postgres.SkipError{Reason: "DDL"})
	_, _ = c.Explain(ctx, "CREATE TABLE x ()")
	_, err := c.Explain(ctx, "CREATE TABLE x ()")
	var skip *postgres.SkipError
	if !errors.As(err, &skip) || next.explains != 3 {
		t.Errorf("skip not cached: %v, %d calls", err, next.explains)
	}
	next.err = context.DeadlineExceeded
	_, _ = c.Explain(ctx, "SELECT 2 WHERE $1")
	_, _ = c.Explain(ctx, "SELECT 2 WHERE $1")
	if next.explains != 5 {
		t.Errorf("a timeout was cached: %d calls", next.explains)
	}
}
