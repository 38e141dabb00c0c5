// Package redis reads a Redis server (INFO all, SLOWLOG, CONFIG GET,
// LATENCY LATEST, the job queues it holds) into a Snapshot, and turns two
// snapshots into a Window of rates: ops/s, hit ratio, evictions, CPU,
// per-command calls and latency, new slow commands, queue growth; and the
// counters since the server started, for states a short window misses. It only reads, and never prints a password: neither the one
// it was given nor one it sees in the slow log.
package redis

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"github.com/pgadvisor/advisor/internal/probe/source"
)

// Options tune the probe. The zero value gives the defaults.
type Options struct {
	// Timeout bounds each command; default 2s.
	Timeout time.Duration
	// SlowlogEntries is how many entries SLOWLOG GET asks for; default 128.
	SlowlogEntries int
	// MaxArgs and MaxArgLen truncate the arguments of slow log entries;
	// defaults 8 and 64 bytes.
	MaxArgs   int
	MaxArgLen int
	// Queues names job queues to read besides those found (Celery list
	// names, asynq and BullMQ queue names).
	Queues []string
}

func (o Options) withDefaults() Options {
	if o.Timeout <= 0 {
		o.Timeout = 2 * time.Second
	}
	if o.SlowlogEntries <= 0 {
		o.SlowlogEntries = 128
	}
	if o.MaxArgs <= 0 {
		o.MaxArgs = 8
	}
	if o.MaxArgLen <= 0 {
		o.MaxArgLen = 64
	}
	return o
}

// Probe reads one Redis server. It is safe for concurrent use.
type Probe struct {
	client   *goredis.Client
	opts     Options
	addr     string
	local    bool // the server runs on this machine (isLocal)
	password string

	// now is the clock (tests move it).
	now func() time.Time
	// discovery is the last SCAN of the keyspace for queues, reused for
	// queueRediscoverEvery when it took more than one call.
	mu        sync.Mutex
	discovery *queueDiscovery
	// own are the local addresses of the probe's own connections, as
	// SLOWLOG names their client: the probe's commands (its SCAN for
	// queues) are not the service's, and their entries are left out.
	own []string
}

// maxOwnAddrs bounds the own addresses kept: the pool holds two
// connections, and a reconnect replaces one.
const maxOwnAddrs = 16

// dial connects as go-redis would (TLS when the address asked for it) and
// remembers the connection's local address.
func (p *Probe) dial(ro *goredis.Options) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		d := net.Dialer{Timeout: ro.DialTimeout, KeepAlive: 5 * time.Minute}
		conn, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		if network != "unix" {
			p.mu.Lock()
			p.own = append(p.own, conn.LocalAddr().String())
			if len(p.own) > maxOwnAddrs {
				p.own = p.own[len(p.own)-maxOwnAddrs:]
			}
			p.mu.Unlock()
		}
		if ro.TLSConfig == nil {
			return conn, nil
		}
		return tls.Client(conn, ro.TLSConfig), nil
	}
}

// isOwn reports whether a SLOWLOG client address is one of the probe's
// own connections.
func (p *Probe) isOwn(clientAddr string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return clientAddr != "" && slices.Contains(p.own, clientAddr)
}

// Open prepares a probe of the Redis at addr: host:port, or a URL
// (redis://user:password@host:port/db, rediss:// for TLS). It fails only on a
// malformed address; a server that is down gives a Snapshot whose status says
// so.
func Open(addr string, opts Options) (*Probe, error) {
	opts = opts.withDefaults()
	var ro *goredis.Options
	if strings.Contains(addr, "://") {
		var err error
		ro, err = goredis.ParseURL(addr)
		if err != nil {
			// Not wrapped: the parser's error may quote the URL.
			return nil, errors.New("redis: invalid address: " + source.RedactSecret(err.Error(), urlPassword(addr)))
		}
	} else {
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return nil, fmt.Errorf("redis: invalid address %q: want host:port or redis://host:port", source.Redact(addr))
		}
		ro = &goredis.Options{Addr: addr}
	}
	// No CLIENT SETNAME or SETINFO on connect: a user whose ACL allows
	// only reads could not connect at all.
	ro.Protocol = 2
	ro.DisableIdentity = true
	ro.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	ro.MaxRetries = -1
	ro.PoolSize = 2
	ro.DialTimeout = opts.Timeout
	ro.ReadTimeout = opts.Timeout
	ro.WriteTimeout = opts.Timeout
	ro.ContextTimeoutEnabled = true
	p := &Probe{opts: opts, addr: ro.Addr, local: isLocal(ro.Addr), password: ro.Password, now: time.Now}
	ro.Dialer = p.dial(ro)
	p.client = goredis.NewClient(ro)
	return p, nil
}

// Close closes the probe's connections.
func (p *Probe) Close() error { return p.client.Close() }

// isLocal reports whether addr (host:port, or a Unix socket's path) is on
// this machine.
func isLocal(addr string) bool {
	if host, _, err := net.SplitHostPort(addr); err == nil {
		return source.LocalHost(host)
	}
	return strings.HasPrefix(addr, "/")
}

// Addr is the server's host:port.
func (p *Probe) Addr() string { return p.addr }

func urlPassword(raw string) string {
	if u, err := url.Parse(raw); err == nil && u.User != nil {
		pw, _ := u.User.Password()
		return pw
	}
	return ""
}

// Snapshot is what one probe round read.
type Snapshot struct {
	// Status of the source: ok when INFO could be read.
	Status source.Status
	// Time is the local clock when INFO was read.
	Time time.Time
	// Info is the parsed INFO all.
	Info *Info

	Version       string
	RunID         string
	UptimeSeconds int64
	Mode          string // standalone, cluster, sentinel

	TotalCommands       int64
	TotalConnections    int64
	RejectedConnections int64
	ConnectedClients    int64
	BlockedClients      int64
	KeyspaceHits        int64
	KeyspaceMisses      int64
	EvictedKeys         int64
	ExpiredKeys         int64
	// UsedCPU is used_cpu_sys + used_cpu_user, in seconds.
	UsedCPU float64
	// Local is set when the server runs on advisor's host (a loopback
	// address or a Unix socket): its CPU is then part of the host's.
	Local         bool
	UsedMemory    int64
	UsedMemoryRSS int64
	// MaxMemory from INFO memory (0: no limit).
	MaxMemory     int64
	Fragmentation float64 // mem_fragmentation_ratio
	OpsPerSec     int64   // instantaneous_ops_per_sec, as the server sees it

	Slowlog Slowlog
	Config  Config
	Latency Latency
	Queues  Queues
}

// Slowlog is SLOWLOG GET and SLOWLOG LEN.
type Slowlog struct {
	Status  source.Status
	Len     int64
	Entries []SlowEntry
	// Own counts the entries of the probe's own commands, left out of
	// Entries.
	Own int
}

// SlowEntry is one slow log entry, its arguments truncated and passwords
// redacted.
type SlowEntry struct {
	ID         int64
	Time       time.Time
	Duration   time.Duration
	Args       []string
	ClientAddr string
	ClientName string
}

// Config is what CONFIG GET tells. CONFIG may be renamed or disabled: then
// Status says so and the fields are zero.
type Config struct {
	Status          source.Status
	MaxMemory       int64
	MaxMemoryPolicy string
	// SlowlogSlowerThan is slowlog-log-slower-than in microseconds (-1:
	// disabled).
	SlowlogSlowerThan int64
	SlowlogMaxLen     int64
	// Save is the save setting: "3600 1 300 100 60 10000", "" for no
	// snapshot (ParseSave reads it).
	Save string
	// StopWritesOnBgsaveError: writes are refused while the last
	// snapshot failed and save points are set.
	StopWritesOnBgsaveError bool
	// ActiveDefrag is activedefrag ("yes", "no"; "" when the server has
	// no such setting), with the thresholds at which it starts.
	ActiveDefrag               string
	ActiveDefragIgnoreBytes    int64
	ActiveDefragThresholdLower int64 // percent
}

// Latency is LATENCY LATEST: the latency monitor's events, when it is on.
type Latency struct {
	Status source.Status
	Events []LatencyEvent
}

// LatencyEvent is one event of LATENCY LATEST.
type LatencyEvent struct {
	Name   string
	Time   time.Time
	Latest time.Duration
	Max    time.Duration
}

// Snapshot reads the server. It never fails: what cannot be read has a
// status saying why.
func (p *Probe) Snapshot(ctx context.Context) *Snapshot {
	start := time.Now()
	s := &Snapshot{Time: start}
	text, err := p.do(ctx, func(ctx context.Context) (string, error) { return p.client.Info(ctx, "all").Result() })
	if err != nil {
		s.Status = p.status(err)
		for _, st := range []*source.Status{&s.Slowlog.Status, &s.Config.Status, &s.Latency.Status, &s.Queues.Status} {
			*st = source.Status{State: s.Status.State, Detail: "not read: server unavailable"}
		}
		s.Status.Took = time.Since(start)
		return s
	}
	s.Time = time.Now()
	info, err := ParseInfo(text)
	if err != nil {
		s.Status = source.Status{State: source.Error, Detail: err.Error(), Took: time.Since(start)}
		return s
	}
	s.fromInfo(info)
	s.Local = p.local
	s.Slowlog = p.slowlog(ctx)
	s.Config = p.config(ctx)
	s.Latency = p.latency(ctx)
	s.Queues = p.queues(ctx)

	s.Status = source.Status{State: source.OK, Version: s.Version}
	var notes []string
	for _, st := range []source.Status{s.Slowlog.Status, s.Config.Status, s.Latency.Status, s.Queues.Status} {
		if st.Detail != "" {
			notes = append(notes, st.Detail)
		}
	}
	s.Status.Detail = strings.Join(notes, "; ")
	s.Status.Took = time.Since(start)
	return s
}

func (s *Snapshot) fromInfo(info *Info) {
	s.Info = info
	s.Version = info.String("redis_version")
	s.RunID = info.String("run_id")
	s.UptimeSeconds = info.Int("uptime_in_seconds")
	s.Mode = info.String("redis_mode")
	s.TotalCommands = info.Int("total_commands_processed")
	s.TotalConnections = info.Int("total_connections_received")
	s.RejectedConnections = info.Int("rejected_connections")
	s.ConnectedClients = info.Int("connected_clients")
	s.BlockedClients = info.Int("blocked_clients")
	s.KeyspaceHits = info.Int("keyspace_hits")
	s.KeyspaceMisses = info.Int("keyspace_misses")
	s.EvictedKeys = info.Int("evicted_keys")
	s.ExpiredKeys = info.Int("expired_keys")
	s.UsedCPU = info.Float("used_cpu_sys") + info.Float("used_cpu_user")
	s.UsedMemory = info.Int("used_memory")
	s.UsedMemoryRSS = info.Int("used_memory_rss")
	s.MaxMemory = info.Int("maxmemory")
	s.Fragmentation = info.Float("mem_fragmentation_ratio")
	s.OpsPerSec = info.Int("instantaneous_ops_per_sec")
}

// do runs one command within the timeout.
func (p *Probe) do(ctx context.Context, fn func(ctx context.Context) (string, error)) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, p.opts.Timeout)
	defer cancel()
	return fn(ctx)
}

func (p *Probe) slowlog(ctx context.Context) Slowlog {
	var out Slowlog
	ctx, cancel := context.WithTimeout(ctx, p.opts.Timeout)
	defer cancel()
	entries, err := p.client.SlowLogGet(ctx, int64(p.opts.SlowlogEntries)).Result()
	if err != nil {
		out.Status = p.commandStatus("SLOWLOG", err)
		return out
	}
	for _, e := range entries {
		if p.isOwn(e.ClientAddr) {
			out.Own++
			continue
		}
		out.Entries = append(out.Entries, SlowEntry{
			ID: e.ID, Time: e.Time, Duration: e.Duration,
			Args:       p.cleanArgs(e.Args),
			ClientAddr: e.ClientAddr, ClientName: p.redact(e.ClientName),
		})
	}
	n, err := p.client.Do(ctx, "SLOWLOG", "LEN").Int64()
	if err != nil {
		out.Status = p.commandStatus("SLOWLOG LEN", err)
		return out
	}
	out.Len = n
	out.Status = source.Status{State: source.OK}
	return out
}

// hiddenArgs marks the arguments that may hold a password: every argument
// of AUTH, HELLO's after the protocol version, MIGRATE's after AUTH or
// AUTH2, ACL SETUSER's rules, and CONFIG SET values of settings whose name
// speaks of a password or authentication.
func hiddenArgs(args []string) []bool {
	hidden := make([]bool, len(args))
	hideFrom := func(from int) {
		for i := from; i < len(args); i++ {
			hidden[i] = true
		}
	}
	if len(args) == 0 {
		return hidden
	}
	switch strings.ToUpper(args[0]) {
	case "AUTH":
		hideFrom(1)
	case "HELLO":
		hideFrom(2)
	case "MIGRATE":
		for i, a := range args {
			if u := strings.ToUpper(a); u == "AUTH" || u == "AUTH2" {
				hideFrom(i + 1)
				break
			}
		}
	case "ACL":
		hideFrom(3)
	case "CONFIG":
		if len(args) > 1 && strings.EqualFold(args[1], "SET") {
			for i := 2; i+1 < len(args); i += 2 {
				name := strings.ToLower(args[i])
				if strings.Contains(name, "pass") || strings.Contains(name, "auth") || strings.Contains(name, "user") {
					hidden[i+1] = true
				}
			}
		}
	}
	return hidden
}

// cleanArgs truncates the arguments of a slow log entry and hides whatever
// may be a password (see hiddenArgs), and the probe's own password anywhere.
func (p *Probe) cleanArgs(args []string) []string {
	hidden := hiddenArgs(args)
	out := make([]string, 0, min(len(args), p.opts.MaxArgs+1))
	for i, a := range args {
		if len(out) == p.opts.MaxArgs {
			out = append(out, fmt.Sprintf("... %d more arguments", len(args)-i))
			break
		}
		if hidden[i] || (p.password != "" && strings.Contains(a, p.password)) {
			out = append(out, "(redacted)")
			continue
		}
		if len(a) > p.opts.MaxArgLen {
			a = a[:p.opts.MaxArgLen] + fmt.Sprintf("... (%d more bytes)", len(a)-p.opts.MaxArgLen)
		}
		out = append(out, a)
	}
	return out
}

func (p *Probe) config(ctx context.Context) Config {
	var out Config
	ctx, cancel := context.WithTimeout(ctx, p.opts.Timeout)
	defer cancel()
	// One parameter (or pattern) per CONFIG GET: several at once need
	// Redis 7. Sent in one pipeline: one round trip.
	names := []string{"maxmemory", "maxmemory-policy", "slowlog-log-slower-than", "slowlog-max-len",
		"save", "stop-writes-on-bgsave-error", "active*defrag*"}
	cmds := make([]*goredis.MapStringStringCmd, len(names))
	_, _ = p.client.Pipelined(ctx, func(pipe goredis.Pipeliner) error {
		for i, name := range names {
			cmds[i] = pipe.ConfigGet(ctx, name)
		}
		return nil
	})
	got := map[string]string{}
	for _, c := range cmds {
		m, err := c.Result()
		if err != nil {
			return Config{Status: p.commandStatus("CONFIG GET", err)}
		}
		for k, v := range m {
			got[k] = v
		}
	}
	out.MaxMemory = atoi(got["maxmemory"])
	out.MaxMemoryPolicy = got["maxmemory-policy"]
	out.SlowlogSlowerThan = atoi(got["slowlog-log-slower-than"])
	out.SlowlogMaxLen = atoi(got["slowlog-max-len"])
	out.Save = got["save"]
	out.StopWritesOnBgsaveError = got["stop-writes-on-bgsave-error"] == "yes"
	out.ActiveDefrag = got["activedefrag"]
	out.ActiveDefragIgnoreBytes = atoi(got["active-defrag-ignore-bytes"])
	out.ActiveDefragThresholdLower = atoi(got["active-defrag-threshold-lower"])
	out.Status = source.Status{State: source.OK}
	return out
}

func (p *Probe) latency(ctx context.Context) Latency {
	var out Latency
	ctx, cancel := context.WithTimeout(ctx, p.opts.Timeout)
	defer cancel()
	res, err := p.client.Do(ctx, "LATENCY", "LATEST").Slice()
	if err != nil {
		out.Status = p.commandStatus("LATENCY LATEST", err)
		return out
	}
	for _, r := range res {
		row, ok := r.([]any)
		if !ok || len(row) < 4 {
			continue
		}
		name, _ := row[0].(string)
		ts, _ := row[1].(int64)
		latest, _ := row[2].(int64)
		maxMs, _ := row[3].(int64)
		out.Events = append(out.Events, LatencyEvent{Name: name, Time: time.Unix(ts, 0),
			Latest: time.Duration(latest) * time.Millisecond, Max: time.Duration(maxMs) * time.Millisecond})
	}
	out.Status = source.Status{State: source.OK}
	return out
}

func (p *Probe) redact(text string) string { return source.RedactSecret(text, p.password) }

// status classifies an error of the connection or of INFO.
func (p *Probe) status(err error) source.Status {
	msg := err.Error()
	var netErr net.Error
	switch {
	case strings.HasPrefix(msg, "NOAUTH"):
		return source.Status{State: source.Unavailable,
			Detail: fmt.Sprintf("Redis at %s requires a password (NOAUTH): give it in the URL or REDIS_URL", p.addr)}
	case strings.HasPrefix(msg, "WRONGPASS"), strings.Contains(msg, "invalid password"),
		strings.Contains(msg, "invalid username-password"):
		return source.Status{State: source.Unavailable,
			Detail: fmt.Sprintf("Redis at %s rejected the user name or password (WRONGPASS)", p.addr)}
	case strings.Contains(msg, "AUTH") && strings.Contains(msg, "no password is set"):
		return source.Status{State: source.Unavailable,
			Detail: fmt.Sprintf("Redis at %s has no password but one was given: remove it from the URL", p.addr)}
	case errors.Is(err, syscall.ECONNREFUSED):
		return source.Status{State: source.Unavailable,
			Detail: fmt.Sprintf("connection refused at %s: is Redis running and listening there?", p.addr)}
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return source.Status{State: source.Unavailable, Detail: fmt.Sprintf("no answer from %s within %s", p.addr, p.opts.Timeout)}
	}
	return source.Status{State: source.Error, Detail: "redis at " + p.addr + ": " + p.redact(msg)}
}

// commandStatus is the status of one optional command: a renamed or
// disabled command (or one the ACL denies) is unavailable, the rest kept.
func (p *Probe) commandStatus(cmd string, err error) source.Status {
	msg := err.Error()
	switch {
	case strings.HasPrefix(msg, "ERR unknown command"):
		return source.Status{State: source.Unavailable,
			Detail: fmt.Sprintf("%s is renamed or disabled on this server (rename-command): not read", cmd)}
	case strings.HasPrefix(msg, "NOPERM"):
		return source.Status{State: source.Unavailable,
			Detail: fmt.Sprintf("%s is not allowed for this user (ACL): not read", cmd)}
	}
	st := p.status(err)
	st.Detail = cmd + ": " + st.Detail
	return st
}
