package main

import (
	"context"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/pgadvisor/advisor/internal/load"
	"github.com/pgadvisor/advisor/internal/stack"
)

// backgroundLoad runs the load generator until the returned stop is called
// (or the test ends); stop waits for it to finish.
func backgroundLoad(ctx context.Context, t testing.TB, cfg load.Config) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = load.Run(ctx, cfg)
	}()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return stop
}

// readOnlyRole creates a login role with only pg_monitor in the database dsn
// names, dropped when the test ends, and returns a DSN for it (with its
// password, without the stack's passfile) and an admin connection.
func readOnlyRole(ctx context.Context, t testing.TB, dsn, role, password string) (roDSN string, admin *pgx.Conn) {
	t.Helper()
	admin, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close(context.Background()) })
	drop := "DROP ROLE IF EXISTS " + pgx.Identifier{role}.Sanitize()
	_, _ = admin.Exec(ctx, drop)
	if _, err := admin.Exec(ctx, "CREATE ROLE "+pgx.Identifier{role}.Sanitize()+" LOGIN PASSWORD '"+password+"' IN ROLE pg_monitor"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = admin.Exec(context.Background(), drop) })
	return strings.Split(strings.Replace(dsn, "advisor@", role+":"+password+"@", 1), "&passfile=")[0], admin
}

// ownStack starts a private stack of the test's own on the given ports,
// stopped when the test ends.
func ownStack(ctx context.Context, t testing.TB, pgPort, redisPort int) (*stack.Stack, stack.Info) {
	t.Helper()
	s, err := stack.New(stack.Config{Dir: filepath.Join(t.TempDir(), "stack"), PGPort: pgPort, RedisPort: redisPort})
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Up(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Down(context.Background()) })
	return s, info
}
