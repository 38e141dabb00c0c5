// Package postgres reads a PostgreSQL server's statistics into a Snapshot
// (server settings, pg_stat_statements, table, index and database statistics,
// activity and lock waits) and turns two snapshots into a Window of deltas
// and rates. It also explains parameterised statements with generic plans
// and prices hypothetical indexes with hypopg, through the Explainer
// interface the rules use.
//
// Safety: every session the probe opens is read-only
// (default_transaction_read_only=on), named application_name=advisor, and
// bounded by statement_timeout, lock_timeout and
// idle_in_transaction_session_timeout, all set as startup parameters so
// they hold from the first statement. The probe never runs EXPLAIN ANALYZE,
// DDL or any statement that writes, and the password of the DSN never
// appears in a status or an error.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"runtime"
	"strconv"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pgadvisor/advisor/internal/probe/source"
)

// ApplicationName is the application_name of every session the probe opens;
// the probe leaves sessions with this name out of the activity it reports.
const ApplicationName = "advisor"

// Options tune the probe. The zero value gives the defaults.
type Options struct {
	// StatementTimeout bounds every statement (server side); default 2s.
	StatementTimeout time.Duration
	// LockTimeout bounds every lock wait (server side); default 500ms.
	LockTimeout time.Duration
	// IdleInTransactionTimeout ends a session left idle in a transaction;
	// default 10s.
	IdleInTransactionTimeout time.Duration
	// CollectorTimeout bounds each collector of a snapshot (client side);
	// default StatementTimeout + 1s.
	CollectorTimeout time.Duration
	// ConnectTimeout bounds establishing a connection; default 5s.
	ConnectTimeout time.Duration
	// MaxConns is the size of the probe's pool; default 2, at most 3.
	MaxConns int32
	// ServerCPUs is the number of CPUs of the database server, which SQL
	// cannot see; 0 means unknown.
	ServerCPUs int
	// serverCPUsLocal is set when ServerCPUs was taken from advisor's own
	// host because the server is local.
	serverCPUsLocal bool
	// MaxStatements limits the pg_stat_statements rows read (highest total
	// time first); default 10000.
	MaxStatements int
	// MaxTables limits the tables (largest first) and their indexes;
	// default 1000.
	MaxTables int
	// ColumnStatsTables is how many of the largest tables get their pg_stats
	// read, besides the tables that the statements with the highest total
	// time touch; default 20.
	ColumnStatsTables int
	// SessionMinAge is the age from which an active query or an idle
	// transaction is listed as an individual session; default 1s.
	SessionMinAge time.Duration
	// MaxSessions limits the individual sessions listed; default 100.
	MaxSessions int
	// QueryTextLimit truncates the query texts of sessions; default 1000
	// bytes.
	QueryTextLimit int
}

func (o Options) withDefaults() Options {
	if o.StatementTimeout <= 0 {
		o.StatementTimeout = 2 * time.Second
	}
	if o.LockTimeout <= 0 {
		o.LockTimeout = 500 * time.Millisecond
	}
	if o.IdleInTransactionTimeout <= 0 {
		o.IdleInTransactionTimeout = 10 * time.Second
	}
	if o.CollectorTimeout <= 0 {
		o.CollectorTimeout = o.StatementTimeout + time.Second
	}
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = 5 * time.Second
	}
	if o.MaxConns <= 0 {
		o.MaxConns = 2
	}
	if o.MaxConns > 3 {
		o.MaxConns = 3
	}
	if o.MaxStatements <= 0 {
		o.MaxStatements = 10000
	}
	if o.MaxTables <= 0 {
		o.MaxTables = 1000
	}
	if o.ColumnStatsTables <= 0 {
		o.ColumnStatsTables = 20
	}
	if o.SessionMinAge <= 0 {
		o.SessionMinAge = time.Second
	}
	if o.MaxSessions <= 0 {
		o.MaxSessions = 100
	}
	if o.QueryTextLimit <= 0 {
		o.QueryTextLimit = 1000
	}
	return o
}

// Probe reads one PostgreSQL database. It is safe for concurrent use.
type Probe struct {
	pool     *pgxpool.Pool
	opts     Options
	texts    textCache
	colStats columnStatsCache
	maint    maintenanceCache
	jobs     jobArrivals
	sizes    sizeCache
	password string
	host     string
	port     uint16
	user     string
	database string
}

// Open prepares a probe of the database that dsn names. dsn is a URL
// (postgres://...) or key=value string; what it leaves out comes from the PG*
// environment variables and the passfile, as libpq does. Open fails only on a
// malformed DSN: connections are made lazily, so a server that is down gives
// a Snapshot whose status says so, and a server that comes up later is read.
func Open(ctx context.Context, dsn string, opts Options) (*Probe, error) {
	opts = opts.withDefaults()
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// Not wrapped: the parser's error may quote the DSN.
		return nil, errors.New("postgres: invalid DSN: " + source.RedactSecret(err.Error(), dsnPassword(dsn)))
	}
	cc := cfg.ConnConfig
	if cc.ConnectTimeout <= 0 || cc.ConnectTimeout > opts.ConnectTimeout {
		cc.ConnectTimeout = opts.ConnectTimeout
	}
	if cc.RuntimeParams == nil {
		cc.RuntimeParams = map[string]string{}
	}
	cc.RuntimeParams["application_name"] = ApplicationName
	cc.RuntimeParams["default_transaction_read_only"] = "on"
	cc.RuntimeParams["statement_timeout"] = strconv.FormatInt(opts.StatementTimeout.Milliseconds(), 10)
	cc.RuntimeParams["lock_timeout"] = strconv.FormatInt(opts.LockTimeout.Milliseconds(), 10)
	cc.RuntimeParams["idle_in_transaction_session_timeout"] = strconv.FormatInt(opts.IdleInTransactionTimeout.Milliseconds(), 10)
	cfg.MaxConns = opts.MaxConns
	cfg.MinConns = 0
	cfg.MaxConnIdleTime = time.Minute
	if opts.ServerCPUs == 0 && source.LocalHost(cc.Host) {
		// A server on loopback or a Unix socket runs on advisor's host.
		opts.ServerCPUs = runtime.NumCPU()
		opts.serverCPUsLocal = true
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, errors.New("postgres: " + source.RedactSecret(err.Error(), cc.Password))
	}
	return &Probe{
		pool:     pool,
		opts:     opts,
		password: cc.Password,
		host:     cc.Host,
		port:     cc.Port,
		user:     cc.User,
		database: cc.Database,
	}, nil
}

// Close closes the probe's connections.
func (p *Probe) Close() { p.pool.Close() }

// Address is host:port of the server, for messages.
func (p *Probe) Address() string {
	return net.JoinHostPort(p.host, strconv.Itoa(int(p.port)))
}

// Database is the name of the database the probe reads.
func (p *Probe) Database() string { return p.database }

// redact removes the password from text.
func (p *Probe) redact(text string) string { return source.RedactSecret(text, p.password) }

// Error is an error of the probe whose text is safe to print: it never holds
// the password. Errors from the driver are kept for errors.Is and errors.As
// but their text is only shown redacted.
type Error struct {
	msg string
	err error
}

func (e *Error) Error() string { return e.msg }

// Unwrap returns the driver's error. Its text may hold the password: print
// the Error itself, never what Unwrap returns.
func (e *Error) Unwrap() error { return e.err }

// wrap turns a driver error into an *Error with a redacted text saying what
// was being done.
func (p *Probe) wrap(what string, err error) error {
	if err == nil {
		return nil
	}
	_, detail := p.describe(err)
	return &Error{msg: what + ": " + detail, err: err}
}

// status turns an error of collector what into a part status.
func (p *Probe) status(what string, err error) source.Status {
	state, detail := p.describe(err)
	return source.Status{State: state, Detail: what + ": " + detail}
}

// describe classifies err and says what a person can do about it.
func (p *Probe) describe(err error) (source.State, string) {
	addr := p.Address()
	var pgErr *pgconn.PgError
	var netErr net.Error
	var dnsErr *net.DNSError
	switch {
	case errors.As(err, &pgErr):
		switch pgErr.Code {
		case "28P01":
			return source.Unavailable, fmt.Sprintf("password authentication failed for user %q at %s: check the password (DSN, PGPASSWORD or passfile)", p.user, addr)
		case "28000":
			return source.Unavailable, fmt.Sprintf("connection to %s rejected: %s", addr, p.redact(pgErr.Message))
		case "3D000":
			return source.Unavailable, fmt.Sprintf("database %q does not exist at %s", p.database, addr)
		case "53300":
			return source.Unavailable, fmt.Sprintf("%s has no free connection slots (max_connections reached)", addr)
		case "57P03":
			return source.Unavailable, fmt.Sprintf("%s is starting up or shutting down", addr)
		case "57014":
			return source.Error, fmt.Sprintf("cancelled by statement_timeout (%s): %s", p.opts.StatementTimeout, p.redact(pgErr.Message))
		case "55P03":
			return source.Error, fmt.Sprintf("gave up waiting for a lock after lock_timeout (%s)", p.opts.LockTimeout)
		case "42501":
			return source.Error, "permission denied: " + p.redact(pgErr.Message) + ": GRANT pg_monitor TO " + p.user
		}
		return source.Error, p.redact(pgErr.Message) + " (SQLSTATE " + pgErr.Code + ")"
	case errors.Is(err, syscall.ECONNREFUSED):
		return source.Unavailable, fmt.Sprintf("connection refused at %s: is PostgreSQL running and listening there?", addr)
	case errors.As(err, &dnsErr):
		return source.Unavailable, fmt.Sprintf("cannot resolve host %q: %s", p.host, dnsErr.Err)
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return source.Unavailable, fmt.Sprintf("no answer from %s in time", addr)
	case errors.Is(err, context.Canceled):
		return source.Error, "cancelled"
	}
	return source.Error, p.redact(err.Error())
}

// dsnPassword extracts the password of a DSN that pgx could not parse, so it
// can be redacted from the parser's error.
func dsnPassword(dsn string) string {
	if u, err := url.Parse(dsn); err == nil && u.User != nil {
		if pw, ok := u.User.Password(); ok {
			return pw
		}
	}
	return os.Getenv("PGPASSWORD")
}
