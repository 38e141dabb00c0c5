package sampleapp

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Pool sizes of the pool knob.
const (
	tinyPoolSize = 2
	hugePoolSize = 400
)

// sizedPoolSize is the pool size for this machine: a few connections per
// core keep every core busy while some connections wait on the network,
// without making PostgreSQL juggle more backends than it has cores for.
// Measured on 2 cores with the benchmark mix, cache off, 64 client
// connections: 8 connections served 6.0k req/s, a pool of 2 5.0k, a pool of
// 400 (64 in use) 4.3k.
func sizedPoolSize() int32 {
	n := int32(runtime.NumCPU()) * 4
	if n < 4 {
		n = 4
	}
	return n
}

// querier is what handlers use: a pool, or one connection.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Begin(ctx context.Context) (pgx.Tx, error)
}

type routeKey struct{}

// withRoute tags ctx with the route that queries issued under it count for.
func withRoute(ctx context.Context, route string) context.Context {
	return context.WithValue(ctx, routeKey{}, route)
}

func routeOf(ctx context.Context) string {
	if r, ok := ctx.Value(routeKey{}).(string); ok {
		return r
	}
	return "background"
}

// queryTracer counts every query by the route of the request that issued it.
type queryTracer struct{ m *metrics }

func (t queryTracer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	t.m.dbQueries.WithLabelValues(routeOf(ctx)).Inc()
	return ctx
}

func (queryTracer) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// database gives requests their PostgreSQL access according to the pool
// knob: a shared pgxpool of some size, or a new connection per request.
type database struct {
	dsn     string
	tracer  queryTracer
	current atomic.Pointer[pgxpool.Pool] // nil in per-request mode

	// retired pools are closed in the background once their connections are
	// back; wg tracks those goroutines.
	wg sync.WaitGroup
}

func newDatabase(dsn string, m *metrics) *database {
	return &database{dsn: dsn, tracer: queryTracer{m: m}}
}

func (d *database) poolConfig(size int32) (*pgxpool.Config, error) {
	cfg, err := pgxpool.ParseConfig(d.dsn)
	if err != nil {
		return nil, fmt.Errorf("parse dsn: %w", err)
	}
	cfg.MaxConns = size
	cfg.ConnConfig.Tracer = d.tracer
	cfg.ConnConfig.RuntimeParams["application_name"] = "sampleapp"
	return cfg, nil
}

// setPool switches to the pool mode named by the pool knob.
func (d *database) setPool(ctx context.Context, mode string) error {
	var next *pgxpool.Pool
	if mode != "per-request" {
		var size int32
		switch mode {
		case "tiny":
			size = tinyPoolSize
		case "huge":
			size = hugePoolSize
		case "sized":
			size = sizedPoolSize()
		default:
			return fmt.Errorf("pool mode %q", mode)
		}
		cfg, err := d.poolConfig(size)
		if err != nil {
			return err
		}
		if mode == "sized" {
			cfg.MinConns = size
		}
		next, err = pgxpool.NewWithConfig(ctx, cfg)
		if err != nil {
			return fmt.Errorf("create pool: %w", err)
		}
		if err := next.Ping(ctx); err != nil {
			next.Close()
			return fmt.Errorf("ping: %w", err)
		}
	}
	old := d.current.Swap(next)
	if old != nil {
		d.wg.Add(1)
		go func() {
			defer d.wg.Done()
			old.Close() // waits for acquired connections to come back
		}()
	}
	return nil
}

// pool returns the current pool, nil in per-request mode.
func (d *database) pool() *pgxpool.Pool { return d.current.Load() }

func (d *database) connect(ctx context.Context) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig(d.dsn)
	if err != nil {
		return nil, fmt.Errorf("parse dsn: %w", err)
	}
	cfg.Tracer = d.tracer
	cfg.RuntimeParams["application_name"] = "sampleapp"
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	return conn, nil
}

type connKey struct{}

// requestConn is the per-request connection of the per-request pool mode,
// opened on first use and closed when the request ends. Handlers query it
// from one goroutine at a time, as a pgx.Conn requires.
type requestConn struct {
	mu   sync.Mutex
	conn *pgx.Conn
}

func withRequestConn(ctx context.Context) (context.Context, *requestConn) {
	rc := &requestConn{}
	return context.WithValue(ctx, connKey{}, rc), rc
}

func (rc *requestConn) close() {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.conn != nil {
		_ = rc.conn.Close(context.Background())
		rc.conn = nil
	}
}

// acquire returns what to query with and a release function to call when
// done. With a pool, that is the pool itself. In per-request mode it is the
// request's own connection (opened now if it is the first query), or, outside
// a request, a fresh connection closed by release.
func (d *database) acquire(ctx context.Context) (querier, func(), error) {
	if p := d.current.Load(); p != nil {
		return p, func() {}, nil
	}
	if rc, ok := ctx.Value(connKey{}).(*requestConn); ok {
		rc.mu.Lock()
		defer rc.mu.Unlock()
		if rc.conn == nil || rc.conn.IsClosed() {
			conn, err := d.connect(ctx)
			if err != nil {
				return nil, nil, err
			}
			rc.conn = conn
		}
		return rc.conn, func() {}, nil
	}
	conn, err := d.connect(ctx)
	if err != nil {
		return nil, nil, err
	}
	return conn, func() { _ = conn.Close(context.Background()) }, nil
}

// close closes the current pool and waits for retired ones.
func (d *database) close() {
	if p := d.current.Swap(nil); p != nil {
		p.Close()
	}
	d.wg.Wait()
}

// eventsIndex is the index the index knob adds or removes.
const eventsIndex = "events_user_id_created_at_idx"

// setIndex creates or drops the events(user_id, created_at DESC) index,
// concurrently so that the table stays writable. An invalid index left by an
// interrupted build is dropped first.
func setIndex(ctx context.Context, q querier, present bool) error {
	var valid *bool
	err := q.QueryRow(ctx, `SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
		WHERE c.relname = $1 AND c.relnamespace = current_schema()::regnamespace`, eventsIndex).Scan(&valid)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("look up index: %w", err)
	}
	exists := valid != nil
	if exists && (!present || !*valid) {
		if _, err := q.Exec(ctx, "DROP INDEX CONCURRENTLY IF EXISTS "+eventsIndex); err != nil {
			return fmt.Errorf("drop index: %w", err)
		}
		exists = false
	}
	if present && !exists {
		if _, err := q.Exec(ctx, "CREATE INDEX CONCURRENTLY IF NOT EXISTS "+eventsIndex+" ON events (user_id, created_at DESC)"); err != nil {
			return fmt.Errorf("create index: %w", err)
		}
		if _, err := q.Exec(ctx, "ANALYZE events"); err != nil {
			return fmt.Errorf("analyze events: %w", err)
		}
	}
	return nil
}
