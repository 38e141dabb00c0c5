package stack

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Cluster is a scratch PostgreSQL cluster that one test owns: its own
// directory, port and settings, thrown away after the test. Unlike the
// shared stack it may be damaged on purpose (SetNextXID) or given a
// streaming replica (Replica).
type Cluster struct {
	pg *pgServer
}

// ClusterConfig says where a scratch cluster lives and how it differs from
// the stack's PostgreSQL.
type ClusterConfig struct {
	// Dir is the cluster's directory, created if missing. The server's
	// user must be able to reach it.
	Dir  string
	Port int
	// Conf are postgresql.conf lines added after the stack's own
	// (max_prepared_transactions, wal_level, ...).
	Conf string
	Log  func(format string, args ...any)
}

// NewCluster initialises and starts a scratch cluster with the stack's
// database, user and extensions.
func NewCluster(ctx context.Context, cfg ClusterConfig) (*Cluster, error) {
	s, err := New(Config{Dir: cfg.Dir, PGPort: cfg.Port, Log: cfg.Log})
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(s.cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("scratch cluster: %w", err)
	}
	pg, err := s.postgres()
	if err != nil {
		return nil, err
	}
	pg.extraConf = cfg.Conf
	if _, err := pg.up(ctx); err != nil {
		return nil, fmt.Errorf("scratch cluster: %w", err)
	}
	return &Cluster{pg: pg}, nil
}

// DSN is the DSN of database db on the cluster (a passfile, no password).
func (c *Cluster) DSN(db string) string { return c.pg.dsn(db) }

// Database is the database NewCluster created.
func (c *Cluster) Database() string { return c.pg.cfg.Database }

// Port is the cluster's port.
func (c *Cluster) Port() int { return c.pg.cfg.PGPort }

// Stop stops the server.
func (c *Cluster) Stop(ctx context.Context) error { return c.pg.down(ctx) }

// Start starts the server again.
func (c *Cluster) Start(ctx context.Context) error {
	_, err := c.pg.up(ctx)
	return err
}

// Close stops the server and removes the cluster's directory.
func (c *Cluster) Close(ctx context.Context) error {
	err := c.pg.down(ctx)
	return errors.Join(err, os.RemoveAll(c.pg.cfg.Dir), os.RemoveAll(c.pg.dir))
}

// SetNextXID stops the cluster, sets the next transaction ID to xid with
// pg_resetwal -x and starts it again: every database, table and prepared
// transaction then looks that many transactions old, as on a server that
// ran them. pg_resetwal needs the commit log segment of xid to exist: it
// is created empty, as its documentation says.
func (c *Cluster) SetNextXID(ctx context.Context, xid uint32) error {
	if err := c.Stop(ctx); err != nil {
		return err
	}
	if out, err := c.pg.run(ctx, "pg_resetwal", "-x", strconv.FormatUint(uint64(xid), 10), "-D", c.pg.dataDir()); err != nil {
		return fmt.Errorf("pg_resetwal: %w: %s", err, out)
	}
	// A pg_xact segment holds 32 pages of 8 kB, four transactions a byte.
	const perSegment = 32 * 8192 * 4
	seg := filepath.Join(c.pg.dataDir(), "pg_xact", fmt.Sprintf("%04X", xid/perSegment))
	if _, err := os.Stat(seg); errors.Is(err, os.ErrNotExist) {
		if err := os.WriteFile(seg, make([]byte, 32*8192), 0o600); err != nil {
			return fmt.Errorf("pg_xact segment: %w", err)
		}
		if err := c.pg.chown(seg); err != nil {
			return err
		}
	}
	return c.Start(ctx)
}

// Replica makes a streaming replica of the cluster in dir on port, from
// pg_basebackup, streaming through the physical replication slot slot
// (created), and starts it. The caller closes it.
func (c *Cluster) Replica(ctx context.Context, dir string, port int, slot string) (*Cluster, error) {
	s, err := New(Config{Dir: dir, PGPort: port, Log: c.pg.cfg.Log, PGBinDir: c.pg.bin.Bin})
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(s.cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("replica: %w", err)
	}
	pg, err := s.newPG(c.pg.bin)
	if err != nil {
		return nil, err
	}
	pg.standby = true
	pg.extraConf = c.pg.extraConf
	pw, err := c.pg.password()
	if err != nil {
		return nil, err
	}
	// The replica's passfile holds the primary's password for its port.
	line := fmt.Sprintf("127.0.0.1:%d:*:%s:%s\n", port, c.pg.cfg.User, pw)
	if err := os.WriteFile(pg.passFile(), []byte(line), 0o600); err != nil {
		return nil, fmt.Errorf("replica passfile: %w", err)
	}
	if err := os.MkdirAll(pg.dir, 0o700); err != nil {
		return nil, fmt.Errorf("replica: %w", err)
	}
	if err := pg.chown(pg.dir); err != nil {
		return nil, err
	}
	conninfo := fmt.Sprintf("host=127.0.0.1 port=%d user=%s application_name=%s", c.Port(), c.pg.cfg.User, slot)
	// The password goes through the environment, never the command line.
	base := *c.pg
	base.env = []string{"PGPASSWORD=" + pw}
	if out, err := base.run(ctx, "pg_basebackup", "-D", pg.dataDir(), "-d", conninfo, "-X", "stream",
		"-C", "-S", slot, "-R", "-c", "fast"); err != nil {
		return nil, fmt.Errorf("pg_basebackup: %w: %s", err, out)
	}
	// primary_conninfo with the password, readable by the server only.
	auto := filepath.Join(pg.dataDir(), "postgresql.auto.conf")
	f, err := os.OpenFile(auto, os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, fmt.Errorf("replica: %w", err)
	}
	_, err = fmt.Fprintf(f, "primary_conninfo = '%s password=%s'\nprimary_slot_name = '%s'\n",
		conninfo, pw, strings.ReplaceAll(slot, "'", "''"))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("replica: %w", err)
	}
	if _, err := pg.up(ctx); err != nil {
		return nil, fmt.Errorf("replica: %w", err)
	}
	return &Cluster{pg: pg}, nil
}
