package scenario

import (
	"context"
	"testing"
	"time"

	"github.com/pgadvisor/advisor/internal/probe"
	"github.com/pgadvisor/advisor/internal/stack/stacktest"
)

func TestObserveNaiveSampleapp(t *testing.T) {
	info := stacktest.Start(t)
	dsn := stacktest.NewDatabase(t, "scenario_naive")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s, err := Start(ctx, Options{DSN: dsn, RedisAddr: info.RedisAddr, Profile: "naive", CacheNamespace: "scenario"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	obs, err := s.Observe(ctx, ObserveOptions{Connections: 8, Window: 3 * time.Second, ProfileSeconds: 1})
	if err != nil {
		t.Fatal(err)
	}
	if obs.Load == nil || obs.Load.Requests == 0 {
		t.Fatalf("no load ran: %+v", obs.Load)
	}
	w := obs.Window
	for _, name := range probe.SourceNames {
		if st := w.Status(name); !st.Ok() {
			t.Errorf("%s: %+v", name, st)
		}
	}
	if w.Metrics == nil || w.Metrics.RPS <= 0 {
		t.Errorf("metrics window without requests: %+v", w.Metrics)
	}
	if w.Postgres == nil || len(w.Postgres.Statements.Rows) == 0 {
		t.Errorf("postgres window without statements")
	}
}

func TestExplainerOutlivesObserve(t *testing.T) {
	info := stacktest.Start(t)
	dsn := stacktest.NewDatabase(t, "scenario_explainer")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s, err := Start(ctx, Options{DSN: dsn, RedisAddr: info.RedisAddr, Profile: "tuned", CacheNamespace: "scenario-explainer"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	obs, err := s.Observe(ctx, ObserveOptions{Connections: 4, Window: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if obs.Explainer == nil {
		t.Fatal("no explainer")
	}
	// Rules run after Observe returns: the explainer must still work.
	if _, err := obs.Explainer.Explain(ctx, "SELECT id FROM users WHERE id = $1"); err != nil {
		t.Errorf("explain after Observe: %v", err)
	}
}
