package stack

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
)

// Ports of the stack these tests start and stop themselves, apart from the
// shared test stack's (stacktest) and the demo's.
const (
	ownPGPort    = 25440
	ownRedisPort = 26440
)

func newOwnStack(t *testing.T) *Stack {
	t.Helper()
	if _, err := FindPostgres(""); err != nil {
		t.Fatalf("%v (run make setup)", err)
	}
	s, err := New(Config{Dir: t.TempDir(), PGPort: ownPGPort, RedisPort: ownRedisPort, Log: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := s.Down(ctx); err != nil {
			t.Errorf("cleanup: %v", err)
		}
		if pg, err := s.postgresForStop(); err == nil && pg.dir != filepath.Join(s.cfg.Dir, "pg") {
			_ = os.RemoveAll(pg.dir)
		}
	})
	return s
}

func TestUpTwiceDownLeavesNoProcess(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	s := newOwnStack(t)

	info, err := s.Up(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(info.DSN, "password") {
		t.Errorf("DSN carries a password: %s", info.DSN)
	}
	pids := runningPIDs(t, s)
	if len(pids) != 2 {
		t.Fatalf("after up: %d servers running, want 2: %+v", len(pids), s.Status(ctx))
	}

	// A second up reuses the running servers.
	if _, err := s.Up(ctx); err != nil {
		t.Fatalf("second up: %v", err)
	}
	again := runningPIDs(t, s)
	for name, pid := range pids {
		if again[name] != pid {
			t.Errorf("second up restarted %s: pid %d, then %d", name, pid, again[name])
		}
	}

	checkPostgres(ctx, t, info.DSN)
	checkRedis(ctx, t, info.RedisAddr)

	if err := s.Down(ctx); err != nil {
		t.Fatal(err)
	}
	for name, pid := range pids {
		if processAlive(pid) {
			t.Errorf("%s (pid %d) still alive after down", name, pid)
		}
	}
	dirs := []string{s.cfg.Dir}
	if pg, err := s.postgresForStop(); err == nil {
		dirs = append(dirs, pg.dir)
	}
	for _, dir := range dirs {
		if left := processesUsing(t, dir); len(left) > 0 {
			t.Errorf("processes left behind under %s: %v", dir, left)
		}
	}
	for _, p := range s.Status(ctx) {
		if p.State != Stopped {
			t.Errorf("after down, %s is %s", p.Name, p.State)
		}
	}
	// Down twice is fine.
	if err := s.Down(ctx); err != nil {
		t.Errorf("second down: %v", err)
	}
}

func TestStalePIDFiles(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	s := newOwnStack(t)
	if _, err := s.Up(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Down(ctx); err != nil {
		t.Fatal(err)
	}
	// A pid file left by a crash names a process that no longer exists.
	dead := deadPID(t)
	rd := &redisServer{cfg: s.cfg}
	if err := os.WriteFile(rd.pidFile(), []byte(fmt.Sprintf("%d\n", dead)), 0o644); err != nil {
		t.Fatal(err)
	}
	pg, err := s.postgres()
	if err != nil {
		t.Fatal(err)
	}
	stale := fmt.Sprintf("%d\n%s\n", dead, pg.dataDir())
	if err := os.WriteFile(filepath.Join(pg.dataDir(), "postmaster.pid"), []byte(stale), 0o600); err != nil {
		t.Fatal(err)
	}
	_ = pg.chown(filepath.Join(pg.dataDir(), "postmaster.pid"))
	info, err := s.Up(ctx)
	if err != nil {
		t.Fatalf("up with stale pid files: %v", err)
	}
	checkRedis(ctx, t, info.RedisAddr)
	conn, err := pgx.Connect(ctx, info.DSN)
	if err != nil {
		t.Fatalf("connect after stale pid: %v", err)
	}
	conn.Close(ctx)
}

func TestPortChangeRestartsOnTheNewPorts(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	s := newOwnStack(t)
	if _, err := s.Up(ctx); err != nil {
		t.Fatal(err)
	}
	moved, err := New(Config{Dir: s.cfg.Dir, PGPort: ownPGPort + 1, RedisPort: ownRedisPort + 1, Log: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = moved.Down(context.Background()) })
	info, err := moved.Up(ctx)
	if err != nil {
		t.Fatalf("up on new ports: %v", err)
	}
	if !strings.Contains(info.DSN, fmt.Sprintf(":%d/", ownPGPort+1)) || info.RedisAddr != fmt.Sprintf("127.0.0.1:%d", ownRedisPort+1) {
		t.Errorf("info after the move: %+v", info)
	}
	checkRedis(ctx, t, info.RedisAddr)
	conn, err := pgx.Connect(ctx, info.DSN)
	if err != nil {
		t.Fatalf("connect on the new port: %v", err)
	}
	conn.Close(ctx)
	if len(runningPIDs(t, moved)) != 2 {
		t.Errorf("status after the move: %+v", moved.Status(ctx))
	}
}

func TestMissingBinariesSayWhatToInstall(t *testing.T) {
	empty := t.TempDir()
	_, err := FindPostgres(empty)
	if err == nil || !strings.Contains(err.Error(), "apt-get install postgresql") {
		t.Errorf("FindPostgres(empty dir) = %v, want an error naming the package", err)
	}

	s, err := New(Config{Dir: t.TempDir(), RedisServer: filepath.Join(empty, "redis-server")})
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.redis()
	if err == nil || !strings.Contains(err.Error(), "apt-get install redis-server") {
		t.Errorf("redis with a missing binary = %v, want an error naming the package", err)
	}

	b := BinDir{Bin: empty, Share: empty, Version: 15}
	err = b.CheckExtensions()
	if err == nil {
		t.Fatal("CheckExtensions on an empty share dir: no error")
	}
	for _, want := range []string{"hypopg not installed: apt-get install postgresql-15-hypopg", "pg_stat_statements not installed"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("CheckExtensions error %q lacks %q", err, want)
		}
	}
}

func TestFindPostgresPicksNewest(t *testing.T) {
	bin, err := FindPostgres("")
	if err != nil {
		t.Skipf("no PostgreSQL: %v", err)
	}
	entries, _ := os.ReadDir(pgInstallRoot)
	for _, e := range entries {
		if b, err := inspectBinDir(filepath.Join(pgInstallRoot, e.Name(), "bin")); err == nil && b.Version > bin.Version {
			t.Errorf("FindPostgres chose %d, but %d is installed", bin.Version, b.Version)
		}
	}
}

func checkPostgres(ctx context.Context, t *testing.T, dsn string) {
	t.Helper()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE TABLE IF NOT EXISTS probe_me (id int PRIMARY KEY, v text)"); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "SELECT v FROM probe_me WHERE id = $1", 42); err != nil {
		t.Fatal(err)
	}
	var calls int64
	err = conn.QueryRow(ctx, `SELECT coalesce(sum(calls), 0) FROM pg_stat_statements
		WHERE query LIKE 'SELECT v FROM probe_me WHERE id = $1%'`).Scan(&calls)
	if err != nil {
		t.Fatalf("pg_stat_statements: %v", err)
	}
	if calls < 1 {
		t.Errorf("pg_stat_statements recorded %d calls of the probe query", calls)
	}
	var track string
	if err := conn.QueryRow(ctx, "SHOW pg_stat_statements.track").Scan(&track); err != nil || track != "all" {
		t.Errorf("pg_stat_statements.track = %q, %v; want all", track, err)
	}
	var ioTiming string
	if err := conn.QueryRow(ctx, "SHOW track_io_timing").Scan(&ioTiming); err != nil || ioTiming != "on" {
		t.Errorf("track_io_timing = %q, %v; want on", ioTiming, err)
	}
	var indexName string
	if err := conn.QueryRow(ctx, "SELECT indexname FROM hypopg_create_index('CREATE INDEX ON probe_me (v)')").Scan(&indexName); err != nil {
		t.Fatalf("hypopg: %v", err)
	}
	if !strings.Contains(indexName, "probe_me") {
		t.Errorf("hypothetical index name %q", indexName)
	}
}

func checkRedis(ctx context.Context, t *testing.T, addr string) {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: addr})
	defer c.Close()
	if err := c.Set(ctx, "stack-test", "1", time.Minute).Err(); err != nil {
		t.Fatalf("redis set: %v", err)
	}
	cfg, err := c.ConfigGet(ctx, "save").Result()
	if err != nil {
		t.Fatal(err)
	}
	if cfg["save"] != "" {
		t.Errorf("redis persists: save = %q", cfg["save"])
	}
	for k, want := range cacheSettings {
		got, err := c.ConfigGet(ctx, k).Result()
		if err != nil {
			t.Fatal(err)
		}
		if want == "256mb" {
			want = "268435456"
		}
		if got[k] != want {
			t.Errorf("redis %s = %q, want %q", k, got[k], want)
		}
	}
}

func runningPIDs(t *testing.T, s *Stack) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, p := range s.Status(context.Background()) {
		if p.State == Running {
			out[p.Name] = p.PID
		}
	}
	return out
}

// processesUsing lists live processes whose command line mentions dir.
func processesUsing(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	var found []string
	for _, e := range entries {
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		if strings.Contains(string(cmdline), dir) {
			found = append(found, e.Name()+": "+strings.ReplaceAll(string(cmdline), "\x00", " "))
		}
	}
	return found
}

// deadPID returns a pid that names no process.
func deadPID(t *testing.T) int {
	t.Helper()
	for pid := 4_000_000; pid > 100_000; pid -= 7919 {
		if !processAlive(pid) {
			return pid
		}
	}
	t.Fatal("no free pid found")
	return 0
}

func TestPortInUseSaysSo(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	s, err := New(Config{Dir: t.TempDir(), PGPort: ownPGPort + 5, RedisPort: port})
	if err != nil {
		t.Fatal(err)
	}
	rd, err := s.redis()
	if err != nil {
		t.Fatal(err)
	}
	err = rd.up(context.Background())
	if err == nil || !strings.Contains(err.Error(), "already in use") || !strings.Contains(err.Error(), "--redis-port") {
		t.Errorf("redis on a taken port: %v", err)
	}
	// A caller that chose the port itself can tell, and choose another.
	var inUse *PortInUseError
	if !errors.As(err, &inUse) || inUse.Port != port {
		t.Errorf("not a PortInUseError for port %d: %#v", port, err)
	}
}
