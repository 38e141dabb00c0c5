package stack

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisOptions are extra settings for a Redis started by StartRedis.
type RedisOptions struct {
	// Args are extra redis-server arguments, e.g. "--maxmemory", "2mb".
	Args []string
}

type redisServer struct {
	cfg  Config
	dir  string // defaults to cfg.Dir/redis
	port int    // defaults to cfg.RedisPort
	args []string
	// settings are applied with CONFIG SET to a server already running, so
	// that one started by an older stack gets them too.
	settings map[string]string
}

// cacheSettings make the stack's Redis what a cache should be: bounded, and
// evicting the least recently used keys when full.
var cacheSettings = map[string]string{"maxmemory": "256mb", "maxmemory-policy": "allkeys-lru"}

func (s *Stack) redis() (*redisServer, error) {
	r := &redisServer{cfg: s.cfg, settings: cacheSettings}
	if _, err := r.binary(); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *redisServer) workDir() string {
	if r.dir != "" {
		return r.dir
	}
	return filepath.Join(r.cfg.Dir, "redis")
}

func (r *redisServer) portNum() int {
	if r.port != 0 {
		return r.port
	}
	return r.cfg.RedisPort
}

func (r *redisServer) addr() string    { return fmt.Sprintf("127.0.0.1:%d", r.portNum()) }
func (r *redisServer) pidFile() string { return filepath.Join(r.workDir(), "redis.pid") }

// binary finds redis-server.
func (r *redisServer) binary() (string, error) {
	if r.cfg.RedisServer != "" {
		if _, err := os.Stat(r.cfg.RedisServer); err != nil {
			return "", fmt.Errorf("redis-server not found at %s: apt-get install redis-server", r.cfg.RedisServer)
		}
		return r.cfg.RedisServer, nil
	}
	path, err := exec.LookPath("redis-server")
	if err != nil {
		return "", errors.New("redis-server not found on PATH: apt-get install redis-server")
	}
	return path, nil
}

func (r *redisServer) pid() int {
	data, err := os.ReadFile(r.pidFile())
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(data)))
	if !processAlive(pid) {
		return 0
	}
	return pid
}

func (r *redisServer) client() *redis.Client {
	return redis.NewClient(&redis.Options{Addr: r.addr(), DialTimeout: time.Second, MaxRetries: -1})
}

func (r *redisServer) up(ctx context.Context) error {
	if pid := r.pid(); pid != 0 {
		if r.answers(ctx) {
			r.cfg.Log("redis: already running (pid %d)", pid)
			return r.apply(ctx)
		}
		// Started with another port, or hung: start it anew.
		r.cfg.Log("redis: pid %d does not answer on %s, restarting it", pid, r.addr())
		if err := r.down(ctx); err != nil {
			return err
		}
	}
	// A pid file whose process is gone is stale.
	_ = os.Remove(r.pidFile())
	bin, err := r.binary()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(r.workDir(), 0o755); err != nil {
		return fmt.Errorf("create %s: %w", r.workDir(), err)
	}
	if err := portFree(r.portNum(), "--redis-port"); err != nil {
		return err
	}
	r.cfg.Log("redis: starting on %s", r.addr())
	args := []string{
		"--port", strconv.Itoa(r.portNum()),
		"--bind", "127.0.0.1",
		"--protected-mode", "yes",
		"--save", "",
		"--appendonly", "no",
		"--dir", r.workDir(),
		"--logfile", filepath.Join(r.workDir(), "redis.log"),
		"--pidfile", r.pidFile(),
		"--daemonize", "yes",
	}
	for k, v := range r.settings {
		args = append(args, "--"+k, v)
	}
	args = append(args, r.args...)
	cmd := exec.CommandContext(ctx, bin, args...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %w: %s", bin, err, strings.TrimSpace(string(out)))
	}
	return r.waitReady(ctx)
}

// apply sets the settings on the running server.
func (r *redisServer) apply(ctx context.Context) error {
	if len(r.settings) == 0 {
		return nil
	}
	c := r.client()
	defer c.Close()
	for k, v := range r.settings {
		if err := c.ConfigSet(ctx, k, v).Err(); err != nil {
			return fmt.Errorf("CONFIG SET %s %s: %w", k, v, err)
		}
	}
	return nil
}

// answers reports whether the server answers on its configured port.
func (r *redisServer) answers(ctx context.Context) bool {
	c := r.client()
	defer c.Close()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	err := c.Ping(ctx).Err()
	return err == nil || strings.HasPrefix(err.Error(), "NOAUTH")
}

func (r *redisServer) waitReady(ctx context.Context) error {
	c := r.client()
	defer c.Close()
	deadline := time.Now().Add(15 * time.Second)
	for {
		err := c.Ping(ctx).Err()
		// A server that asks for a password is up.
		if err == nil || strings.HasPrefix(err.Error(), "NOAUTH") {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no answer on %s: %w%s", r.addr(), err, tail(filepath.Join(r.workDir(), "redis.log")))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (r *redisServer) down(ctx context.Context) error {
	pid := r.pid()
	if pid == 0 {
		_ = os.Remove(r.pidFile())
		return nil
	}
	r.cfg.Log("redis: stopping (pid %d)", pid)
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("stop pid %d: %w", pid, err)
	}
	if err := waitGone(ctx, pid); err != nil {
		return err
	}
	_ = os.Remove(r.pidFile())
	return nil
}

func (r *redisServer) status(ctx context.Context) PartStatus {
	st := PartStatus{Name: "redis", State: Stopped, Address: r.addr()}
	pid := r.pid()
	if pid == 0 {
		return st
	}
	st.State, st.PID = Running, pid
	c := r.client()
	defer c.Close()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	info, err := c.Info(ctx, "server").Result()
	if err != nil {
		st.Detail = "process runs but does not answer: " + err.Error()
		return st
	}
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "redis_version:"); ok {
			st.Detail = "Redis " + v
		}
	}
	return st
}

// Redis is a separately started Redis server, for tests that need settings of
// their own (a tiny maxmemory, a password).
type Redis struct {
	srv *redisServer
}

// StartRedis starts a Redis on port with its files in dir, and extra args.
func StartRedis(ctx context.Context, dir string, port int, opts RedisOptions) (*Redis, error) {
	r := &redisServer{cfg: Config{Log: func(string, ...any) {}}, dir: dir, port: port, args: opts.Args}
	if err := r.down(ctx); err != nil {
		return nil, err
	}
	if err := r.up(ctx); err != nil {
		return nil, err
	}
	return &Redis{srv: r}, nil
}

// Addr is the server's host:port.
func (r *Redis) Addr() string { return r.srv.addr() }

// Stop stops the server and waits for its process to end.
func (r *Redis) Stop(ctx context.Context) error { return r.srv.down(ctx) }

func tail(path string) string {
	data, err := os.ReadFile(path)
	if err != nil || len(data) == 0 {
		return ""
	}
	if len(data) > 1000 {
		data = data[len(data)-1000:]
	}
	return "\n--- " + path + " ---\n" + string(data)
}
