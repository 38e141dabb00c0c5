// Package stacktest gives tests a private PostgreSQL and Redis, brought up
// once per test run and shared by every test package. Packages run as
// separate processes: a file lock in the stack directory serialises start-up
// and the ports are fixed, so the second package reuses what the first
// started. `make test` stops the stack at the end (advisor stack down --test).
//
// Each test that needs isolation takes a database of its own with NewDatabase;
// pg_stat_statements and the table statistics are per database, so tests in
// different packages do not see each other's queries.
package stacktest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgadvisor/advisor/internal/stack"
)

// Ports and directory of the test stack, apart from the demo stack's.
const (
	PGPort    = 25433
	RedisPort = 26380
	Dir       = ".advisor/teststack"
)

var (
	once    sync.Once
	info    stack.Info
	infoErr error
)

// Config is the test stack's configuration, rooted at the module root.
func Config() (stack.Config, error) {
	root, err := ModuleRoot()
	if err != nil {
		return stack.Config{}, err
	}
	cfg := stack.Config{Dir: filepath.Join(root, Dir), PGPort: PGPort, RedisPort: RedisPort}
	if v := os.Getenv("ADVISOR_TEST_PG_PORT"); v != "" {
		cfg.PGPort, _ = strconv.Atoi(v)
	}
	if v := os.Getenv("ADVISOR_TEST_REDIS_PORT"); v != "" {
		cfg.RedisPort, _ = strconv.Atoi(v)
	}
	return cfg, nil
}

// ModuleRoot walks up from the working directory to the folder with go.mod.
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.mod not found above the working directory")
		}
		dir = parent
	}
}

// Start brings the shared test stack up (or reuses it) and returns how to
// reach it. It fails the test if the stack cannot start, with the stack's
// error (a missing server names the package to install).
func Start(t testing.TB) stack.Info {
	t.Helper()
	once.Do(func() {
		cfg, err := Config()
		if err != nil {
			infoErr = err
			return
		}
		s, err := stack.New(cfg)
		if err != nil {
			infoErr = err
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		info, infoErr = s.Up(ctx)
	})
	if infoErr != nil {
		t.Fatalf("private test stack: %v", infoErr)
	}
	return info
}

// NewDatabase creates a fresh database named name (dropping any left from an
// earlier run) with pg_stat_statements and hypopg, and returns its DSN. The
// database is left in place after the test, for inspection.
func NewDatabase(t testing.TB, name string) string {
	t.Helper()
	dsn := freshDatabase(t, name, "")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := stack.CreateExtensions(ctx, dsn); err != nil {
		t.Fatal(err)
	}
	return dsn
}

// CopyDatabase creates a fresh database named name as a copy of the
// template database tmpl (dropping any left from an earlier run), and
// returns its DSN. The copy's cumulative statistics (pg_stat_user_tables)
// start empty: they are kept per database, not copied.
func CopyDatabase(t testing.TB, name, tmpl string) string {
	t.Helper()
	return freshDatabase(t, name, tmpl)
}

// freshDatabase drops database name and creates it again, empty or as a
// copy of tmpl.
func freshDatabase(t testing.TB, name, tmpl string) string {
	t.Helper()
	inf := Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	admin, err := pgx.Connect(ctx, inf.DSN)
	if err != nil {
		t.Fatalf("connect to test stack: %v", err)
	}
	defer admin.Close(context.Background())
	ident := pgx.Identifier{name}.Sanitize()
	// The statements of an earlier run's database would stay in
	// pg_stat_statements after the drop, crowding out newer ones.
	if _, err := admin.Exec(ctx, `SELECT pg_stat_statements_reset(0, oid, 0) FROM pg_database WHERE datname = $1`, name); err != nil {
		t.Fatalf("reset statements of %s: %v", name, err)
	}
	if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+ident+" WITH (FORCE)"); err != nil {
		t.Fatalf("drop database %s: %v", name, err)
	}
	create := "CREATE DATABASE " + ident
	if tmpl != "" {
		create += " TEMPLATE " + pgx.Identifier{tmpl}.Sanitize()
	}
	// A template is refused while a session is connected to it: wait a
	// little for one that is leaving (a seeding session's backend exits
	// just after its client closed it).
	for attempt := 1; ; attempt++ {
		_, err := admin.Exec(ctx, create)
		var pgErr *pgconn.PgError
		if err == nil {
			break
		}
		if !errors.As(err, &pgErr) || pgErr.Code != "55006" || attempt == 20 {
			t.Fatalf("create database %s: %v", name, err)
		}
		time.Sleep(250 * time.Millisecond)
	}
	dsn, err := WithDatabase(inf.DSN, name)
	if err != nil {
		t.Fatal(err)
	}
	return dsn
}

// WithDatabase returns dsn with its database replaced by name.
func WithDatabase(dsn, name string) (string, error) {
	u, err := url.Parse(dsn)
	if err != nil {
		return "", fmt.Errorf("parse dsn: %w", err)
	}
	u.Path = "/" + name
	return u.String(), nil
}

// Cluster starts a scratch PostgreSQL cluster that the test owns, on a free
// port in a directory of its own, with conf added to its postgresql.conf;
// it is stopped and removed at the end of the test. Use it for what must
// not happen to the shared stack: pg_resetwal, replicas, small
// max_connections.
func Cluster(t testing.TB, conf string) *stack.Cluster {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := scratchDir(t)
	c, err := stack.NewCluster(ctx, stack.ClusterConfig{Dir: dir, Port: FreePort(t), Conf: conf, Log: t.Logf})
	if err != nil {
		t.Fatalf("scratch cluster: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := c.Close(ctx); err != nil {
			t.Errorf("scratch cluster: %v", err)
		}
	})
	return c
}

// Replica starts a streaming replica of c through the physical slot slot,
// stopped and removed at the end of the test.
func Replica(t testing.TB, c *stack.Cluster, slot string) *stack.Cluster {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	r, err := c.Replica(ctx, scratchDir(t), FreePort(t), slot)
	if err != nil {
		t.Fatalf("replica: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := r.Close(ctx); err != nil {
			t.Errorf("replica: %v", err)
		}
	})
	return r
}

// scratchDir makes a directory for a scratch cluster under the system's
// temporary directory, which the server's user (postgres, when the tests
// run as root) can reach; the cluster's Close removes it.
func scratchDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "advisor-scratch-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// StartRedis starts a Redis of the test's own in dir, with opts, on a free
// port. A port found free can be taken before the server binds it (the
// tests of other packages start servers beside it): the start is tried
// again on another port, up to five times. The caller stops it.
func StartRedis(ctx context.Context, t testing.TB, dir string, opts stack.RedisOptions) *stack.Redis {
	t.Helper()
	for try := 1; ; try++ {
		r, err := stack.StartRedis(ctx, dir, FreePort(t), opts)
		var inUse *stack.PortInUseError
		if errors.As(err, &inUse) && try < 5 {
			t.Logf("redis: %v; trying another port", err)
			continue
		}
		if err != nil {
			t.Fatalf("start redis: %v", err)
		}
		return r
	}
}

// FreePort returns a loopback TCP port nothing listens on now.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
