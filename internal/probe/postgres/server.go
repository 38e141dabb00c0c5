// The server: version, identity, and the settings of pg_settings that
// matter.

package postgres

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pgadvisor/advisor/internal/probe/source"
)

// Server is the server's version, identity and the settings that matter.
type Server struct {
	Status source.Status
	// VersionNum is server_version_num, e.g. 150004.
	VersionNum int
	// Version is server_version, e.g. "15.4 (Debian 15.4-1)".
	Version      string
	Database     string
	User         string
	Superuser    bool
	ReadAllStats bool // member of pg_read_all_stats (or superuser)
	InRecovery   bool
	PostmasterAt time.Time
	// CPUs is the server's CPU count from Options.ServerCPUs, or advisor's
	// host's when the server is local (CPUsLocal); 0 = unknown.
	CPUs      int
	CPUsLocal bool
	Settings  Settings

	timeNow time.Time // the server's now() at the snapshot
}

// Setting is one row of pg_settings.
type Setting struct {
	Value string
	Unit  string
}

// Settings holds the settings a snapshot reads, by name.
type Settings map[string]Setting

// Int returns a numeric setting in its own unit, and whether it is set.
func (s Settings) Int(name string) (int64, bool) {
	v, ok := s[name]
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(v.Value, 10, 64)
	return n, err == nil
}

// Bytes returns a memory setting in bytes (shared_buffers, work_mem, ...).
func (s Settings) Bytes(name string) (int64, bool) {
	n, ok := s.Int(name)
	if !ok {
		return 0, false
	}
	mult, ok := unitBytes[s[name].Unit]
	if !ok {
		return 0, false
	}
	return n * mult, true
}

var unitBytes = map[string]int64{
	"B": 1, "kB": 1 << 10, "8kB": 8 << 10, "16kB": 16 << 10, "32kB": 32 << 10, "64kB": 64 << 10,
	"MB": 1 << 20, "16MB": 16 << 20, "GB": 1 << 30, "TB": 1 << 40,
}

// Bool returns an on/off setting.
func (s Settings) Bool(name string) bool { return s[name].Value == "on" }

// List returns a comma-separated setting (shared_preload_libraries) as a
// list of trimmed names.
func (s Settings) List(name string) []string {
	var out []string
	for _, f := range strings.Split(s[name].Value, ",") {
		if f = strings.Trim(strings.TrimSpace(f), `"`); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// ConnectionLimits are the server's connection slots, from max_connections
// and the slots it keeps in reserve.
type ConnectionLimits struct {
	// Max is max_connections.
	Max int
	// SuperuserReserved is superuser_reserved_connections: slots only
	// superusers may take.
	SuperuserReserved int
	// Reserved is reserved_connections (16+; 0 before): slots only roles
	// with pg_use_reserved_connections (and superusers) may take.
	Reserved int
}

// Available is the number of sessions ordinary roles may open: Max less
// both reserves.
func (l ConnectionLimits) Available() int {
	return max(l.Max-l.SuperuserReserved-l.Reserved, 0)
}

// ConnectionLimits reads the connection limits from the settings; false
// when max_connections was not read. A reserve that was not read (one the
// server's version does not have) counts as 0.
func (s Settings) ConnectionLimits() (ConnectionLimits, bool) {
	n, ok := s.Int("max_connections")
	if !ok {
		return ConnectionLimits{}, false
	}
	l := ConnectionLimits{Max: int(n)}
	if v, ok := s.Int("superuser_reserved_connections"); ok {
		l.SuperuserReserved = int(v)
	}
	if v, ok := s.Int("reserved_connections"); ok {
		l.Reserved = int(v)
	}
	return l, true
}

func (p *Probe) collectServer(ctx context.Context) Server {
	var srv Server
	srv.CPUs, srv.CPUsLocal = p.opts.ServerCPUs, p.opts.serverCPUsLocal
	srv.Status = p.collect(ctx, "server", func(ctx context.Context, c *pgxpool.Conn) error {
		var super *bool
		if err := c.QueryRow(ctx, probeTag+serverSQL).Scan(&srv.VersionNum, &srv.Version, &srv.Database, &srv.User,
			&srv.PostmasterAt, &srv.timeNow, &srv.InRecovery, &super, &srv.ReadAllStats); err != nil {
			return err
		}
		srv.Superuser = super != nil && *super
		if srv.Superuser {
			srv.ReadAllStats = true
		}
		rows, err := c.Query(ctx, probeTag+settingsSQL, settingsFor(srv.VersionNum))
		if err != nil {
			return err
		}
		srv.Settings = Settings{}
		var name string
		var set Setting
		_, err = pgx.ForEachRow(rows, []any{&name, &set.Value, &set.Unit}, func() error {
			srv.Settings[name] = set
			return nil
		})
		return err
	})
	if srv.Status.Ok() {
		srv.Status.Version = srv.Version
	}
	return srv
}
