// Package stack runs a private PostgreSQL and a private Redis for the demo and
// the tests, from the system's binaries, in a project-local directory and on
// non-default loopback ports. It never touches a system cluster.
package stack

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// Defaults for the demo stack. Tests use their own directory and ports (see
// package stacktest) so that a running demo is never disturbed.
const (
	DefaultDir       = ".advisor/stack"
	DefaultPGPort    = 25432
	DefaultRedisPort = 26379
	DefaultDatabase  = "advisor"
	DefaultUser      = "advisor"
)

// Config says where the stack lives and which ports it uses.
type Config struct {
	// Dir holds the PostgreSQL data directory, the Redis working directory,
	// logs, pid files and the password file. Relative paths are resolved
	// against the current directory.
	Dir       string
	PGPort    int
	RedisPort int
	Database  string
	User      string
	// PGBinDir overrides the discovery of PostgreSQL's binaries.
	PGBinDir string
	// RedisServer overrides the path of redis-server.
	RedisServer string
	// Log receives progress lines; nil discards them.
	Log func(format string, args ...any)
}

// Stack is a private PostgreSQL plus Redis.
type Stack struct {
	cfg Config
}

// Info is what a client needs to use a running stack. The DSN carries no
// password: it names a passfile instead, which pgx and libpq both read.
type Info struct {
	DSN       string
	RedisAddr string
	PGVersion string
	Dir       string
}

// State of one part of the stack.
type State string

// States reported by Status.
const (
	Running State = "running"
	Stopped State = "stopped"
)

// PartStatus is the state of one server.
type PartStatus struct {
	Name    string
	State   State
	PID     int
	Address string // DSN for PostgreSQL, host:port for Redis
	Detail  string
}

// New validates cfg and fills defaults.
func New(cfg Config) (*Stack, error) {
	if cfg.Dir == "" {
		cfg.Dir = DefaultDir
	}
	abs, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("stack directory %q: %w", cfg.Dir, err)
	}
	cfg.Dir = abs
	if cfg.PGPort == 0 {
		cfg.PGPort = DefaultPGPort
	}
	if cfg.RedisPort == 0 {
		cfg.RedisPort = DefaultRedisPort
	}
	if cfg.Database == "" {
		cfg.Database = DefaultDatabase
	}
	if cfg.User == "" {
		cfg.User = DefaultUser
	}
	if cfg.Log == nil {
		cfg.Log = func(string, ...any) {}
	}
	return &Stack{cfg: cfg}, nil
}

// Config returns the effective configuration.
func (s *Stack) Config() Config { return s.cfg }

// Up starts both servers, or reuses those already running. It is safe to call
// from several processes at once: a file lock serialises them.
func (s *Stack) Up(ctx context.Context) (Info, error) {
	if err := os.MkdirAll(s.cfg.Dir, 0o755); err != nil {
		return Info{}, fmt.Errorf("create stack directory: %w", err)
	}
	unlock, err := s.lock(ctx)
	if err != nil {
		return Info{}, err
	}
	defer unlock()

	pg, err := s.postgres()
	if err != nil {
		return Info{}, err
	}
	rd, err := s.redis()
	if err != nil {
		return Info{}, err
	}
	version, err := pg.up(ctx)
	if err != nil {
		return Info{}, fmt.Errorf("postgresql: %w", err)
	}
	if err := rd.up(ctx); err != nil {
		return Info{}, fmt.Errorf("redis: %w", err)
	}
	return Info{DSN: pg.dsn(s.cfg.Database), RedisAddr: rd.addr(), PGVersion: version, Dir: s.cfg.Dir}, nil
}

// Down stops both servers and waits until their processes are gone.
func (s *Stack) Down(ctx context.Context) error {
	if _, err := os.Stat(s.cfg.Dir); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	unlock, err := s.lock(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	var errs []error
	if pg, err := s.postgresForStop(); err == nil {
		if err := pg.down(ctx); err != nil {
			errs = append(errs, fmt.Errorf("postgresql: %w", err))
		}
	} else {
		errs = append(errs, err)
	}
	rd := &redisServer{cfg: s.cfg}
	if err := rd.down(ctx); err != nil {
		errs = append(errs, fmt.Errorf("redis: %w", err))
	}
	return errors.Join(errs...)
}

// Status reports each part's state and the address to use.
func (s *Stack) Status(ctx context.Context) []PartStatus {
	var out []PartStatus
	if pg, err := s.postgresForStop(); err == nil {
		out = append(out, pg.status(ctx))
	} else {
		out = append(out, PartStatus{Name: "postgresql", State: Stopped, Detail: err.Error()})
	}
	rd := &redisServer{cfg: s.cfg}
	out = append(out, rd.status(ctx))
	return out
}

// lock takes an exclusive flock on Dir/.lock, waiting until ctx is done.
func (s *Stack) lock(ctx context.Context) (func(), error) {
	f, err := os.OpenFile(filepath.Join(s.cfg.Dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open stack lock: %w", err)
	}
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() {
				_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
				_ = f.Close()
			}, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			_ = f.Close()
			return nil, fmt.Errorf("lock stack directory: %w", err)
		}
		select {
		case <-ctx.Done():
			_ = f.Close()
			return nil, fmt.Errorf("waiting for the stack lock: %w", ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// portFree checks that nothing listens on 127.0.0.1:port, for a clear
// error before a server fails to start on it; flag is the option that
// chooses the port. The caller names the server.
func portFree(port int, flag string) error {
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		return &PortInUseError{Port: port, Flag: flag, Err: err}
	}
	return l.Close()
}

// PortInUseError says that a server could not start because something else
// listens on its port: a caller that chose the port itself may choose
// another.
type PortInUseError struct {
	Port int
	Flag string // the option that chooses the port
	Err  error
}

func (e *PortInUseError) Error() string {
	return fmt.Sprintf("127.0.0.1:%d is already in use (another advisor stack, or another server): stop it, or choose another port with %s (%v)", e.Port, e.Flag, e.Err)
}

func (e *PortInUseError) Unwrap() error { return e.Err }

// processAlive reports whether pid names a live process.
func processAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
