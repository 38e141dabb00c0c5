package redis

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/pgadvisor/advisor/internal/probe/source"
	"github.com/pgadvisor/advisor/internal/stack"
	"github.com/pgadvisor/advisor/internal/stack/stacktest"
)

// Ports of this package's own Redis servers, below the kernel's ephemeral
// range (32768 and up), which outgoing connections take from.
const (
	portEvict   = 26461
	portAuth    = 26462
	portRestart = 26463
	portNoConf  = 26464
)

// startRedis starts a Redis of the test's own on port, or on port+20 if
// port is taken: the test ports lie in Linux's ephemeral range, so a client
// connection elsewhere on the machine can hold one for a while.
func startRedis(t *testing.T, port int, args ...string) *stack.Redis {
	t.Helper()
	for _, p := range []int{port, port + 20} {
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			t.Logf("port %d is taken: %v", p, err)
			continue
		}
		_ = l.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		r, err := stack.StartRedis(ctx, t.TempDir(), p, stack.RedisOptions{Args: args})
		if err != nil && strings.Contains(err.Error(), "already in use") {
			// Taken between the check above and the server's start (the
			// race phase runs other packages' servers alongside).
			t.Logf("port %d: %v", p, err)
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = r.Stop(context.Background()) })
		return r
	}
	t.Fatalf("ports %d and %d are taken", port, port+20)
	return nil
}

func openProbe(t *testing.T, addr string) *Probe {
	t.Helper()
	p, err := Open(addr, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

func client(t *testing.T, opts *goredis.Options) *goredis.Client {
	t.Helper()
	opts.Protocol = 2
	opts.DisableIdentity = true
	c := goredis.NewClient(opts)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// TestSharedRedis reads the stack's Redis, which other packages' tests may
// use at the same time: only lower bounds are asserted.
func TestSharedRedis(t *testing.T) {
	info := stacktest.Start(t)
	p := openProbe(t, info.RedisAddr)
	c := client(t, &goredis.Options{Addr: info.RedisAddr})
	ctx := context.Background()

	s1 := p.Snapshot(ctx)
	if !s1.Status.Ok() {
		t.Fatalf("status %+v", s1.Status)
	}
	for i := 0; i < 50; i++ {
		key := fmt.Sprintf("probe_redis:shared:%d", i%10)
		if err := c.Set(ctx, key, "v", time.Minute).Err(); err != nil {
			t.Fatal(err)
		}
		_ = c.Get(ctx, key).Err()
		_ = c.Get(ctx, key+":missing").Err()
	}
	time.Sleep(50 * time.Millisecond)
	s2 := p.Snapshot(ctx)
	if !s2.Status.Ok() || !strings.HasPrefix(s2.Version, "7.") || s2.Status.Version != s2.Version {
		t.Fatalf("status %+v, version %q", s2.Status, s2.Version)
	}
	for name, st := range map[string]source.Status{"slowlog": s2.Slowlog.Status, "config": s2.Config.Status, "latency": s2.Latency.Status} {
		if !st.Ok() {
			t.Errorf("%s: %+v", name, st)
		}
	}
	w := Diff(s1, s2)
	if w.Reset != "" || w.Cumulative || w.Seconds <= 0 {
		t.Fatalf("window %+v", w)
	}
	if w.Commands < 150 || w.OpsPerS <= 0 || w.Hits < 50 || w.Misses < 50 || w.HitRatio <= 0 || w.HitRatio >= 1 {
		t.Errorf("window: commands %d, ops/s %f, hits %d, misses %d, ratio %f", w.Commands, w.OpsPerS, w.Hits, w.Misses, w.HitRatio)
	}
	var set *CommandDelta
	for i, d := range w.PerCommand {
		if d.Name == "set" {
			set = &w.PerCommand[i]
		}
		if d.Calls < 0 || d.CallsPerS < 0 || d.UsecPerCall < 0 {
			t.Errorf("negative %+v", d)
		}
	}
	if set == nil || set.Calls < 50 || set.UsecPerCall <= 0 {
		t.Errorf("set = %+v", set)
	}
	// The stack's Redis is a bounded cache: used over maxmemory.
	wantRatio := w.MaxMemory > 0 && w.MemoryRatio > 0 && w.MemoryRatio <= 1
	if w.MaxMemory == 0 {
		wantRatio = w.MemoryRatio == -1
	}
	if w.CPUCores < 0 || !wantRatio || w.UsedMemory <= 0 {
		t.Errorf("cpu %f, memory ratio %f, used %d", w.CPUCores, w.MemoryRatio, w.UsedMemory)
	}
	// Over the server's uptime, in whole seconds: 0 when this test started
	// the stack within the second.
	if cw := Diff(nil, s2); !cw.Cumulative || cw.Seconds < 0 || cw.Commands < w.Commands {
		t.Errorf("cumulative window %+v", cw)
	}
}

// TestOwnRedis: exact counts, evictions and the slow log on a Redis of the
// test's own, with a tiny maxmemory and every command slow-logged.
func TestOwnRedis(t *testing.T) {
	t.Parallel()
	r := startRedis(t, portEvict, "--maxmemory", "2mb", "--maxmemory-policy", "allkeys-lru",
		"--slowlog-log-slower-than", "0", "--slowlog-max-len", "1000", "--latency-monitor-threshold", "1")
	p := openProbe(t, "redis://"+r.Addr()+"/0")
	c := client(t, &goredis.Options{Addr: r.Addr()})
	ctx := context.Background()

	s1 := p.Snapshot(ctx)
	if !s1.Status.Ok() {
		t.Fatalf("status %+v", s1.Status)
	}
	if !s1.Local || s1.UsedCPU <= 0 {
		t.Errorf("a Redis on loopback: local %v, CPU %v s", s1.Local, s1.UsedCPU)
	}
	if s1.Config.MaxMemory != 2<<20 || s1.Config.MaxMemoryPolicy != "allkeys-lru" ||
		s1.Config.SlowlogSlowerThan != 0 || s1.Config.SlowlogMaxLen != 1000 {
		t.Errorf("config %+v", s1.Config)
	}
	const hits, misses = 7, 5
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < hits; i++ {
		_ = c.Get(ctx, "k").Err()
	}
	for i := 0; i < misses; i++ {
		_ = c.Get(ctx, fmt.Sprintf("missing:%d", i)).Err()
	}
	// 4 MB of values into 2 MB: evictions.
	big := strings.Repeat("x", 10_000)
	pipe := c.Pipeline()
	for i := 0; i < 400; i++ {
		pipe.Set(ctx, fmt.Sprintf("big:%d", i), big, 0)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	// A command with a long argument, and an AUTH whose password the slow
	// log must not show (the server answers an error: no password is set).
	_ = c.Do(ctx, "ECHO", strings.Repeat("y", 500)).Err()
	_ = c.Do(ctx, "AUTH", "someuser", "Sl0wlog-Secret").Err()

	s2 := p.Snapshot(ctx)
	w := Diff(s1, s2)
	if w.Hits != hits || w.Misses != misses || w.HitRatio != float64(hits)/float64(hits+misses) {
		t.Errorf("hits %d, misses %d, ratio %f", w.Hits, w.Misses, w.HitRatio)
	}
	if w.Evicted <= 0 || w.EvictedPerS <= 0 {
		t.Errorf("evicted %d (%f/s)", w.Evicted, w.EvictedPerS)
	}
	if w.MaxMemory != 2<<20 || w.MemoryRatio <= 0.5 || w.Fragmentation <= 0 {
		t.Errorf("memory: max %d, ratio %f, fragmentation %f", w.MaxMemory, w.MemoryRatio, w.Fragmentation)
	}
	calls := map[string]int64{}
	for _, d := range w.PerCommand {
		calls[d.Name] = d.Calls
	}
	// The probe's own CONFIG GET, SLOWLOG and LATENCY calls count too, so
	// only the workload's commands are exact.
	if calls["get"] != hits+misses || calls["set"] != 401 {
		t.Errorf("per command: %v", calls)
	}
	// Every command was slow-logged: the new entries are this window's.
	var echo, auth *SlowEntry
	for i, e := range w.NewSlow {
		for _, old := range s1.Slowlog.Entries {
			if e.ID == old.ID {
				t.Errorf("entry %d was in the first snapshot", e.ID)
			}
		}
		switch strings.ToUpper(e.Args[0]) {
		case "ECHO":
			echo = &w.NewSlow[i]
		case "AUTH":
			auth = &w.NewSlow[i]
		}
	}
	if echo == nil || len(echo.Args[1]) > 100 || !strings.Contains(echo.Args[1], "more bytes") {
		t.Errorf("echo entry %+v", echo)
	}
	if auth == nil {
		t.Errorf("no AUTH entry among %d new entries", len(w.NewSlow))
	} else if strings.Contains(strings.Join(auth.Args, " "), "Secret") {
		t.Errorf("AUTH password in the slow log entry %v", auth.Args)
	}
	// The probe's own commands (INFO, CONFIG GET, SLOWLOG, SCAN for
	// queues) are slow-logged too, under its connections' addresses: they
	// are left out, and counted.
	if s2.Slowlog.Len < int64(len(w.NewSlow)) || len(s2.Slowlog.Entries)+s2.Slowlog.Own != 128 || s2.Slowlog.Own == 0 {
		t.Errorf("slowlog len %d, entries %d, own %d", s2.Slowlog.Len, len(s2.Slowlog.Entries), s2.Slowlog.Own)
	}
	for _, e := range s2.Slowlog.Entries {
		switch strings.ToUpper(e.Args[0]) {
		case "INFO", "CONFIG", "SLOWLOG", "LATENCY", "SCAN":
			t.Errorf("the probe's own %v (client %s) among the entries", e.Args, e.ClientAddr)
		}
	}

	// CONFIG RESETSTAT gives a fresh baseline.
	if err := c.ConfigResetStat(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	_ = c.Get(ctx, "k").Err()
	w = Diff(s2, p.Snapshot(ctx))
	if w.Reset == "" || w.Hits < 0 || w.Commands < 0 || w.OpsPerS < 0 || w.CPUCores < 0 {
		t.Errorf("after RESETSTAT: %+v", w)
	}
}

func TestArgsRedacted(t *testing.T) {
	p, err := Open("redis://:Probe-Pass-42@127.0.0.1:1", Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	cases := [][]string{
		{"AUTH", "pw1"},
		{"auth", "user", "pw1"},
		{"HELLO", "3", "AUTH", "user", "pw1"},
		{"CONFIG", "SET", "maxmemory", "10mb", "requirepass", "pw1"},
		{"ACL", "SETUSER", "bob", "on", ">pw1"},
		{"MIGRATE", "host", "6379", "", "0", "5000", "AUTH", "pw1", "KEYS", "a"},
		{"SET", "k", "contains Probe-Pass-42 here"},
	}
	for _, args := range cases {
		got := strings.Join(p.cleanArgs(args), " ")
		if strings.Contains(got, "pw1") || strings.Contains(got, "Probe-Pass-42") {
			t.Errorf("cleanArgs(%v) = %q", args, got)
		}
	}
	if got := p.cleanArgs([]string{"CONFIG", "SET", "maxmemory", "10mb"}); got[3] != "10mb" {
		t.Errorf("harmless CONFIG SET hidden: %v", got)
	}
	many := make([]string, 20)
	if got := p.cleanArgs(many); len(got) != 9 || got[8] != "... 12 more arguments" {
		t.Errorf("20 args -> %q", got)
	}
}

func TestPasswordStatuses(t *testing.T) {
	t.Parallel()
	const password = "Red1s-Sekret-Pw"
	r := startRedis(t, portAuth, "--requirepass", password)
	ctx := context.Background()
	noSecret := func(name string, s *Snapshot) {
		t.Helper()
		for _, d := range []string{s.Status.Detail, s.Slowlog.Status.Detail, s.Config.Status.Detail} {
			if strings.Contains(d, "Sekret") || strings.Contains(d, "Wr0ng") {
				t.Errorf("%s: password in %q", name, d)
			}
		}
	}

	s := openProbe(t, r.Addr()).Snapshot(ctx)
	if s.Status.State != source.Unavailable || !strings.Contains(s.Status.Detail, "requires a password (NOAUTH): give it in the URL or REDIS_URL") {
		t.Errorf("no password: %+v", s.Status)
	}
	s = openProbe(t, "redis://:Wr0ng-Sekret@"+r.Addr()).Snapshot(ctx)
	if s.Status.State != source.Unavailable || !strings.Contains(s.Status.Detail, "WRONGPASS") {
		t.Errorf("wrong password: %+v", s.Status)
	}
	noSecret("wrong", s)
	s = openProbe(t, "redis://default:"+password+"@"+r.Addr()+"/0").Snapshot(ctx)
	if !s.Status.Ok() || !s.Config.Status.Ok() {
		t.Errorf("right password: %+v %+v", s.Status, s.Config.Status)
	}
	noSecret("right", s)

	// Down: nothing listens on port 1.
	s = openProbe(t, "redis://:"+password+"@127.0.0.1:1").Snapshot(ctx)
	if s.Status.State != source.Unavailable || !strings.Contains(s.Status.Detail, "connection refused at 127.0.0.1:1") {
		t.Errorf("down: %+v", s.Status)
	}
	noSecret("down", s)

	for _, bad := range []string{"redis://:" + password + "@host:notaport", "http://x:" + password + "@h", "nohostport"} {
		_, err := Open(bad, Options{})
		if err == nil {
			t.Errorf("Open(%q) accepted", bad)
		} else if strings.Contains(err.Error(), "Sekret") {
			t.Errorf("password in %q", err)
		}
	}
}

func TestRestartGivesFreshBaseline(t *testing.T) {
	t.Parallel()
	r := startRedis(t, portRestart)
	p := openProbe(t, r.Addr())
	c := client(t, &goredis.Options{Addr: r.Addr(), MaxRetries: -1})
	ctx := context.Background()
	for i := 0; i < 300; i++ {
		_ = c.Get(ctx, "x").Err()
	}
	s1 := p.Snapshot(ctx)
	if !s1.Status.Ok() || s1.KeyspaceMisses < 300 {
		t.Fatalf("before: %+v, misses %d", s1.Status, s1.KeyspaceMisses)
	}
	if err := r.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if s := p.Snapshot(ctx); s.Status.State != source.Unavailable {
		t.Errorf("stopped: %+v", s.Status)
	}
	restartRedis(t, r)        // same port, new run_id
	_ = c.Get(ctx, "x").Err() // the pool's old connection fails once
	for i := 0; i < 3; i++ {
		_ = c.Get(ctx, "x").Err()
	}
	s2 := p.Snapshot(ctx)
	if !s2.Status.Ok() {
		s2 = p.Snapshot(ctx) // the probe's old connection, likewise
	}
	if !s2.Status.Ok() || s2.RunID == s1.RunID {
		t.Fatalf("after restart: %+v, run id %s", s2.Status, s2.RunID)
	}
	w := Diff(s1, s2)
	if w.Reset == "" || w.Misses < 3 || w.Misses > 4 || w.Commands < 0 || w.OpsPerS < 0 || w.CPUCores < 0 || w.Seconds <= 0 {
		t.Errorf("after restart: reset %q, misses %d, commands %d, ops %f, cpu %f, seconds %f",
			w.Reset, w.Misses, w.Commands, w.OpsPerS, w.CPUCores, w.Seconds)
	}
	for _, d := range w.PerCommand {
		if d.Calls < 0 || d.Usec < 0 {
			t.Errorf("negative %+v", d)
		}
	}
}

// restartRedis starts a new Redis on the address of r, which was stopped.
func restartRedis(t *testing.T, r *stack.Redis) {
	t.Helper()
	_, portText, _ := net.SplitHostPort(r.Addr())
	var port int
	fmt.Sscan(portText, &port)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r2, err := stack.StartRedis(ctx, t.TempDir(), port, stack.RedisOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r2.Stop(context.Background()) })
}

func TestConfigDisabled(t *testing.T) {
	t.Parallel()
	r := startRedis(t, portNoConf, "--rename-command", "CONFIG", "", "--rename-command", "SLOWLOG", "")
	s := openProbe(t, r.Addr()).Snapshot(context.Background())
	if !s.Status.Ok() || s.Info == nil || s.MaxMemory != 0 || s.Version == "" {
		t.Fatalf("status %+v", s.Status)
	}
	if s.Config.Status.State != source.Unavailable || !strings.Contains(s.Config.Status.Detail, "CONFIG GET is renamed or disabled") {
		t.Errorf("config: %+v", s.Config.Status)
	}
	if s.Slowlog.Status.State != source.Unavailable || !strings.Contains(s.Status.Detail, "SLOWLOG is renamed or disabled") {
		t.Errorf("slowlog: %+v, overall %q", s.Slowlog.Status, s.Status.Detail)
	}
	if !s.Latency.Status.Ok() {
		t.Errorf("latency: %+v", s.Latency.Status)
	}
}
