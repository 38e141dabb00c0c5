package stack

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// pgInstallRoot is where Debian installs PostgreSQL major versions.
var pgInstallRoot = "/usr/lib/postgresql"

// BinDir is a PostgreSQL installation: its bin directory, share directory and
// major version.
type BinDir struct {
	Bin     string
	Share   string
	Version int
}

// FindPostgres finds the newest PostgreSQL installation that has initdb,
// pg_ctl and postgres. override, when set, names a bin directory to use.
func FindPostgres(override string) (BinDir, error) {
	if override != "" {
		return inspectBinDir(override)
	}
	if env := os.Getenv("ADVISOR_PG_BINDIR"); env != "" {
		return inspectBinDir(env)
	}
	entries, err := os.ReadDir(pgInstallRoot)
	var candidates []BinDir
	if err == nil {
		for _, e := range entries {
			if b, err := inspectBinDir(filepath.Join(pgInstallRoot, e.Name(), "bin")); err == nil {
				candidates = append(candidates, b)
			}
		}
	}
	if len(candidates) == 0 {
		// Not Debian's layout: try pg_config on PATH.
		if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
			if b, err := inspectBinDir(strings.TrimSpace(string(out))); err == nil {
				candidates = append(candidates, b)
			}
		}
	}
	if len(candidates) == 0 {
		return BinDir{}, errors.New("PostgreSQL server binaries (initdb, pg_ctl, postgres) not found under " +
			pgInstallRoot + ": apt-get install postgresql postgresql-contrib (or set ADVISOR_PG_BINDIR)")
	}
	sort.Slice(candidates, func(i, j int) bool { return candidates[i].Version > candidates[j].Version })
	return candidates[0], nil
}

var majorRE = regexp.MustCompile(`(\d+)(?:\.\d+)?`)

func inspectBinDir(dir string) (BinDir, error) {
	for _, name := range []string{"initdb", "pg_ctl", "postgres"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			return BinDir{}, fmt.Errorf("%s not found in %s: apt-get install postgresql", name, dir)
		}
	}
	out, err := exec.Command(filepath.Join(dir, "postgres"), "--version").Output()
	if err != nil {
		return BinDir{}, fmt.Errorf("%s --version: %w", filepath.Join(dir, "postgres"), err)
	}
	m := majorRE.FindStringSubmatch(string(out))
	if m == nil {
		return BinDir{}, fmt.Errorf("cannot read the version from %q", strings.TrimSpace(string(out)))
	}
	major, _ := strconv.Atoi(m[1])
	share := ""
	if out, err := exec.Command(filepath.Join(dir, "pg_config"), "--sharedir").Output(); err == nil {
		share = strings.TrimSpace(string(out))
	} else {
		share = fmt.Sprintf("/usr/share/postgresql/%d", major)
	}
	return BinDir{Bin: dir, Share: share, Version: major}, nil
}

// CheckExtensions says which required extensions are missing from b, with the
// package that provides each.
func (b BinDir) CheckExtensions() error {
	var errs []error
	ext := filepath.Join(b.Share, "extension")
	if _, err := os.Stat(filepath.Join(ext, "pg_stat_statements.control")); err != nil {
		errs = append(errs, fmt.Errorf("pg_stat_statements not installed: apt-get install postgresql-contrib"))
	}
	if _, err := os.Stat(filepath.Join(ext, "hypopg.control")); err != nil {
		errs = append(errs, fmt.Errorf("hypopg not installed: apt-get install postgresql-%d-hypopg", b.Version))
	}
	return errors.Join(errs...)
}

type pgServer struct {
	cfg Config
	bin BinDir
	// dir holds data/, the log and the server's password file. It is
	// cfg.Dir/pg unless the server's user cannot reach it (see pgDir).
	dir string
	// runAs is the account that runs the server when we are root.
	runAs *syscall.Credential
	// extraConf ends advisor's block of postgresql.conf (a scratch
	// cluster's own settings); standby is set for a replica, which is not
	// provisioned; env is added to the binaries' environment.
	extraConf string
	standby   bool
	env       []string
}

func (s *Stack) postgres() (*pgServer, error) {
	bin, err := FindPostgres(s.cfg.PGBinDir)
	if err != nil {
		return nil, err
	}
	if err := bin.CheckExtensions(); err != nil {
		return nil, err
	}
	return s.newPG(bin)
}

// postgresForStop finds the binaries without requiring the extensions, so
// that status and down work on a half-installed machine.
func (s *Stack) postgresForStop() (*pgServer, error) {
	bin, err := FindPostgres(s.cfg.PGBinDir)
	if err != nil {
		return nil, err
	}
	return s.newPG(bin)
}

func (s *Stack) newPG(bin BinDir) (*pgServer, error) {
	p := &pgServer{cfg: s.cfg, bin: bin}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, errors.New("running as root, and PostgreSQL refuses to: no postgres user to run it as (apt-get install postgresql creates one)")
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		p.runAs = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}
	p.dir = p.pgDir()
	return p, nil
}

// pgDir is cfg.Dir/pg, or, when we are root and the postgres user cannot
// traverse the project's directories (a checkout under a private home), a
// directory under the system's temporary directory named after the project
// directory. A pointer file in cfg.Dir records which.
func (p *pgServer) pgDir() string {
	local := filepath.Join(p.cfg.Dir, "pg")
	if p.runAs == nil || p.canReach(p.cfg.Dir) {
		return local
	}
	sum := 0
	for _, c := range p.cfg.Dir {
		sum = sum*31 + int(c)
	}
	return filepath.Join(os.TempDir(), fmt.Sprintf("advisor-pg-%x", uint32(sum)))
}

// canReach reports whether the server's user can enter dir.
func (p *pgServer) canReach(dir string) bool {
	cmd := exec.Command("/bin/sh", "-c", `cd "$1"`, "sh", dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: p.runAs}
	return cmd.Run() == nil
}

func (p *pgServer) dataDir() string  { return filepath.Join(p.dir, "data") }
func (p *pgServer) logFile() string  { return filepath.Join(p.dir, "postgres.log") }
func (p *pgServer) passFile() string { return filepath.Join(p.cfg.Dir, "pgpass") }

// dsn names the passfile instead of carrying the password.
func (p *pgServer) dsn(db string) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.User(p.cfg.User),
		Host:     fmt.Sprintf("127.0.0.1:%d", p.cfg.PGPort),
		Path:     "/" + db,
		RawQuery: "sslmode=disable&passfile=" + strings.ReplaceAll(url.QueryEscape(p.passFile()), "%2F", "/"),
	}
	return u.String()
}

// run runs a PostgreSQL binary as the server's user.
func (p *pgServer) run(ctx context.Context, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(p.bin.Bin, name), args...)
	if p.runAs != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: p.runAs}
	}
	cmd.Dir = "/"
	cmd.Env = append(append(os.Environ(), "LC_ALL=C"), p.env...)
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	// pg_ctl start leaves the server running with our pipes unless they are
	// closed; the server logs to its own file, so give up waiting on them.
	cmd.WaitDelay = 2 * time.Second
	err := cmd.Run()
	if err != nil && errors.Is(err, exec.ErrWaitDelay) {
		err = nil
	}
	return strings.TrimSpace(out.String()), err
}

func (p *pgServer) chown(path string) error {
	if p.runAs == nil {
		return nil
	}
	return os.Chown(path, int(p.runAs.Uid), int(p.runAs.Gid))
}

func (p *pgServer) initialised() bool {
	_, err := os.Stat(filepath.Join(p.dataDir(), "PG_VERSION"))
	return err == nil
}

// password reads the stored password, creating one when there is none.
func (p *pgServer) password() (string, error) {
	var pw string
	data, err := os.ReadFile(p.passFile())
	if err == nil {
		fields := strings.Split(strings.TrimSpace(string(data)), ":")
		if len(fields) == 5 && fields[4] != "" {
			if fields[1] == strconv.Itoa(p.cfg.PGPort) {
				return fields[4], nil
			}
			pw = fields[4] // same password, new port
		}
	}
	if pw == "" {
		buf := make([]byte, 18)
		if _, err := rand.Read(buf); err != nil {
			return "", fmt.Errorf("generate password: %w", err)
		}
		pw = hex.EncodeToString(buf)
	}
	line := fmt.Sprintf("127.0.0.1:%d:*:%s:%s\n", p.cfg.PGPort, p.cfg.User, pw)
	if err := os.WriteFile(p.passFile(), []byte(line), 0o600); err != nil {
		return "", fmt.Errorf("write passfile: %w", err)
	}
	return pw, nil
}

func (p *pgServer) initdb(ctx context.Context) error {
	if err := os.MkdirAll(p.dir, 0o700); err != nil {
		return fmt.Errorf("create %s: %w", p.dir, err)
	}
	if err := p.chown(p.dir); err != nil {
		return fmt.Errorf("chown %s: %w", p.dir, err)
	}
	if p.dir != filepath.Join(p.cfg.Dir, "pg") {
		p.cfg.Log("postgresql: the postgres user cannot reach %s; its data lives in %s", p.cfg.Dir, p.dir)
	}
	pw, err := p.password()
	if err != nil {
		return err
	}
	pwFile := filepath.Join(p.dir, "initdb.pw")
	if err := os.WriteFile(pwFile, []byte(pw+"\n"), 0o600); err != nil {
		return err
	}
	defer os.Remove(pwFile)
	if err := p.chown(pwFile); err != nil {
		return err
	}
	p.cfg.Log("postgresql: initdb %s (PostgreSQL %d)", p.dataDir(), p.bin.Version)
	out, err := p.run(ctx, "initdb", "-D", p.dataDir(), "-U", p.cfg.User, "--pwfile="+pwFile,
		"--auth-local=scram-sha-256", "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C", "--no-instructions")
	if err != nil {
		return fmt.Errorf("initdb: %w: %s", err, out)
	}
	return p.configure()
}

// confMarker starts advisor's block at the end of postgresql.conf; the block
// runs to the end of the file.
const confMarker = "# advisor private stack"

// confBlock is the configuration advisor needs, for the configured port.
func (p *pgServer) confBlock() string {
	return fmt.Sprintf(`%s
listen_addresses = '127.0.0.1'
port = %d
unix_socket_directories = ''
max_connections = 100
shared_preload_libraries = 'pg_stat_statements'
pg_stat_statements.track = all
# tests create and drop many databases: room for their statements
pg_stat_statements.max = 20000
track_io_timing = on
track_activity_query_size = 4096
# a scratch server: commits do not wait for the WAL flush; fsync and
# full_page_writes stay on, as advisor's db.settings asks of any server
synchronous_commit = off
`, confMarker, p.cfg.PGPort) + p.extraConf
}

// configure writes advisor's block into postgresql.conf, replacing an older
// one, and reports whether the file changed.
func (p *pgServer) configure() error {
	_, err := p.reconfigure()
	return err
}

func (p *pgServer) reconfigure() (bool, error) {
	path := filepath.Join(p.dataDir(), "postgresql.conf")
	data, err := os.ReadFile(path)
	if err != nil {
		return false, fmt.Errorf("configure: %w", err)
	}
	text := string(data)
	if i := strings.Index(text, "\n"+confMarker); i >= 0 {
		text = text[:i+1]
	}
	want := text + p.confBlock()
	if want == string(data) {
		return false, nil
	}
	if err := os.WriteFile(path, []byte(want), 0o600); err != nil {
		return false, fmt.Errorf("configure: %w", err)
	}
	return true, p.chown(path)
}

// pid returns the postmaster's pid if it is running.
func (p *pgServer) pid() int {
	data, err := os.ReadFile(filepath.Join(p.dataDir(), "postmaster.pid"))
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(data), "\n")
	pid, _ := strconv.Atoi(strings.TrimSpace(line))
	if !processAlive(pid) {
		return 0
	}
	return pid
}

func (p *pgServer) up(ctx context.Context) (string, error) {
	if !p.initialised() {
		if err := p.initdb(ctx); err != nil {
			return "", err
		}
	} else if _, err := p.password(); err != nil {
		return "", err
	}
	changed, err := p.reconfigure()
	if err != nil {
		return "", err
	}
	if changed && p.pid() != 0 {
		// An older stack's settings or another port: apply them.
		p.cfg.Log("postgresql: configuration changed, restarting")
		if out, err := p.run(ctx, "pg_ctl", "-D", p.dataDir(), "-m", "fast", "-w", "-t", "60", "stop"); err != nil {
			return "", fmt.Errorf("pg_ctl stop: %w: %s", err, out)
		}
	}
	if p.pid() == 0 {
		if err := portFree(p.cfg.PGPort, "--pg-port"); err != nil {
			return "", err
		}
		p.cfg.Log("postgresql: starting on 127.0.0.1:%d", p.cfg.PGPort)
		// pg_ctl removes a stale postmaster.pid itself.
		out, err := p.run(ctx, "pg_ctl", "-D", p.dataDir(), "-l", p.logFile(), "-w", "-t", "60", "start")
		if err != nil {
			return "", fmt.Errorf("pg_ctl start: %w: %s%s", err, out, p.logTail())
		}
	} else {
		p.cfg.Log("postgresql: already running (pid %d)", p.pid())
	}
	if p.standby {
		return "", nil
	}
	return p.provision(ctx)
}

// logTail returns the end of the server log, for error messages.
func (p *pgServer) logTail() string {
	data, err := os.ReadFile(p.logFile())
	if err != nil || len(data) == 0 {
		return ""
	}
	if len(data) > 1500 {
		data = data[len(data)-1500:]
	}
	return "\n--- " + p.logFile() + " ---\n" + string(data)
}

// provision creates the database and the extensions, and returns the server
// version.
func (p *pgServer) provision(ctx context.Context) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	conn, err := connectRetry(ctx, p.dsn("postgres"))
	if err != nil {
		return "", err
	}
	defer conn.Close(context.Background())
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", p.cfg.Database).Scan(&exists); err != nil {
		return "", fmt.Errorf("look up database: %w", err)
	}
	if !exists {
		if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{p.cfg.Database}.Sanitize()); err != nil {
			return "", fmt.Errorf("create database: %w", err)
		}
	}
	if err := CreateExtensions(ctx, p.dsn(p.cfg.Database)); err != nil {
		return "", err
	}
	var version string
	if err := conn.QueryRow(ctx, "SHOW server_version").Scan(&version); err != nil {
		return "", fmt.Errorf("server version: %w", err)
	}
	return version, nil
}

// CreateExtensions creates pg_stat_statements and hypopg in the database dsn
// names.
func CreateExtensions(ctx context.Context, dsn string) error {
	conn, err := connectRetry(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	for _, ext := range []string{"pg_stat_statements", "hypopg"} {
		if _, err := conn.Exec(ctx, "CREATE EXTENSION IF NOT EXISTS "+ext); err != nil {
			return fmt.Errorf("create extension %s: %w", ext, err)
		}
	}
	return nil
}

func connectRetry(ctx context.Context, dsn string) (*pgx.Conn, error) {
	var last error
	for {
		conn, err := pgx.Connect(ctx, dsn)
		if err == nil {
			return conn, nil
		}
		last = err
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("connect to postgresql: %w", last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func (p *pgServer) down(ctx context.Context) error {
	if !p.initialised() || p.pid() == 0 {
		return nil
	}
	pid := p.pid()
	p.cfg.Log("postgresql: stopping (pid %d)", pid)
	if out, err := p.run(ctx, "pg_ctl", "-D", p.dataDir(), "-m", "fast", "-w", "-t", "60", "stop"); err != nil {
		return fmt.Errorf("pg_ctl stop: %w: %s", err, out)
	}
	return waitGone(ctx, pid)
}

func (p *pgServer) status(ctx context.Context) PartStatus {
	st := PartStatus{Name: "postgresql", State: Stopped, Address: p.dsn(p.cfg.Database)}
	if !p.initialised() {
		st.Detail = "not initialised: run advisor stack up"
		return st
	}
	pid := p.pid()
	if pid == 0 {
		st.Detail = "data in " + p.dataDir()
		return st
	}
	st.State, st.PID = Running, pid
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, st.Address)
	if err != nil {
		st.Detail = "process runs but does not answer: " + err.Error()
		return st
	}
	defer conn.Close(context.Background())
	var v string
	_ = conn.QueryRow(ctx, "SHOW server_version").Scan(&v)
	st.Detail = "PostgreSQL " + v
	return st
}

// waitGone waits until pid has exited.
func waitGone(ctx context.Context, pid int) error {
	deadline := time.Now().Add(30 * time.Second)
	for processAlive(pid) {
		if time.Now().After(deadline) {
			return fmt.Errorf("process %d still alive after 30s", pid)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return nil
}
