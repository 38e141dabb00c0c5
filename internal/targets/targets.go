// Package targets starts advisor's reference services for tests: the
// FastAPI and the Express services of the repository's targets/ folder, each
// on a database of the shared test stack (internal/stack/stacktest), with a
// profile (naive or tuned) and knobs that plant the problems advisor looks
// for. See targets/README.md for the services, their routes and knobs.
//
// A target runs as a process group of its own (the launcher and, with
// workers > 1, its worker processes) and is stopped, group and all, at the
// end of the test that started it.
package targets

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pgadvisor/advisor/internal/stack/stacktest"
	"github.com/pgadvisor/advisor/sampleapp/sampleproc"
)

// Kind is a reference target's implementation.
type Kind string

// The reference targets.
const (
	// FastAPI is targets/fastapi: FastAPI on uvicorn, sync SQLAlchemy ORM
	// and psycopg2, metrics with prometheus-fastapi-instrumentator's names.
	FastAPI Kind = "fastapi"
	// Express is targets/express: Express on node-postgres, metrics from
	// prom-client.
	Express Kind = "express"
)

// ApplicationName is the application_name every PostgreSQL session of the
// target's pool carries.
func (k Kind) ApplicationName() string { return "advisor-target-" + string(k) }

// Python is the interpreter the FastAPI target runs on: Debian's, which has
// the python3-* packages, and not another python3 that may come first on
// PATH.
var Python = "/usr/bin/python3"

// Size of the data set a new database is seeded with when Options.Size is
// empty: big enough that the missing index costs tens of milliseconds a call.
const DefaultSize = "small"

// How long a target has to seed, to answer /health, and to stop.
const (
	seedTimeout  = 2 * time.Minute
	startTimeout = 60 * time.Second
	stopTimeout  = 10 * time.Second
)

// Options say how to start a target.
type Options struct {
	// Profile is "naive" (the default: every planted problem on) or "tuned".
	Profile string
	// Knobs override the profile's settings, e.g. {"workers": "2"}; the
	// names and values are the target's (targets/README.md).
	Knobs map[string]string
	// Database is the DSN of a database an earlier Start seeded, to start
	// another target on the same data. Empty: a new database of the test
	// stack, named after the test (targets_testname, then _2, _3... for the
	// test's later ones), seeded with Size.
	Database string
	// Size is the data set of a new database: tiny, small (the default) or
	// large.
	Size string
}

// Target is a running reference service.
type Target struct {
	Kind Kind
	// BaseURL is http://127.0.0.1:PORT, serving the API, /health and /metrics.
	BaseURL string
	// DSN is the target's database. It carries no password when the test
	// stack's does not; String and the logs show it redacted anyway.
	DSN string
	// PID is the process the harness started: the launcher, leader of the
	// target's process group (with one worker, the process that serves).
	PID int

	pidDir  string
	logPath string
	exited  chan struct{} // closed when the launcher has exited
	waitErr error         // the launcher's exit status, once exited is closed

	stopOnce sync.Once
	stopErr  error
}

// String names the target for logs, with its DSN redacted.
func (tg *Target) String() string {
	return fmt.Sprintf("%s target at %s (pid %d, database %s)", tg.Kind, tg.BaseURL, tg.PID, Redact(tg.DSN))
}

// Start starts a target of kind for the test t: it takes a database of the
// shared test stack (or opts.Database), seeds it, starts the service on a
// free loopback port with the profile and knobs of opts, and returns once
// /health answers and every worker process is up. The target is stopped at
// the end of the test. ctx bounds the start (seeding and waiting for
// /health), not the target's life. Any failure fails the test, saying what
// is missing.
func Start(ctx context.Context, t testing.TB, kind Kind, opts Options) *Target {
	t.Helper()
	tg, err := start(ctx, t, kind, opts)
	if err != nil {
		t.Fatalf("start %s target: %v", kind, err)
	}
	t.Logf("started %s, workers %v", tg, tg.Workers())
	return tg
}

func start(ctx context.Context, t testing.TB, kind Kind, opts Options) (*Target, error) {
	t.Helper()
	root, err := stacktest.ModuleRoot()
	if err != nil {
		return nil, err
	}
	if err := CheckPrerequisites(ctx, root, kind); err != nil {
		return nil, err
	}
	workers, err := workerCount(opts)
	if err != nil {
		return nil, err
	}
	dsn := opts.Database
	if dsn == "" {
		dsn = stacktest.NewDatabase(t, newDatabaseName(t.Name()))
		size := opts.Size
		if size == "" {
			size = DefaultSize
		}
		began := time.Now()
		if err := Seed(ctx, root, kind, dsn, size); err != nil {
			return nil, err
		}
		t.Logf("seeded %s (size %s) in %v", Redact(dsn), size, time.Since(began).Round(10*time.Millisecond))
	}
	// Another process may take the free port before the target binds it.
	for attempt := 1; ; attempt++ {
		tg, err := launch(ctx, t, root, kind, dsn, opts, workers)
		if err == nil || attempt == 3 || !errors.Is(err, errPortTaken) {
			return tg, err
		}
		t.Logf("%v; again on another port", err)
	}
}

// errPortTaken: the target could not listen on the port it was given.
var errPortTaken = errors.New("port taken")

// launch starts the target on a free port and waits for it to be ready.
func launch(ctx context.Context, t testing.TB, root string, kind Kind, dsn string, opts Options, workers int) (*Target, error) {
	t.Helper()
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	dir := t.TempDir()
	tg := &Target{
		Kind:    kind,
		BaseURL: "http://127.0.0.1:" + strconv.Itoa(port),
		DSN:     dsn,
		pidDir:  filepath.Join(dir, "pids"),
		logPath: filepath.Join(dir, "target.log"),
		exited:  make(chan struct{}),
	}
	if err := os.Mkdir(tg.pidDir, 0o755); err != nil {
		return nil, err
	}
	args := []string{"--port", strconv.Itoa(port), "--pid-dir", tg.pidDir, "--exit-with-parent"}
	if opts.Profile != "" {
		args = append(args, "--profile", opts.Profile)
	}
	for _, name := range sortedKeys(opts.Knobs) {
		args = append(args, "--knob", name+"="+opts.Knobs[name])
	}
	name, argv := commandLine(kind, "serve", args...)
	// Not CommandContext: the target outlives ctx, until Stop.
	cmd := exec.Command(name, argv...)
	cmd.Dir = filepath.Join(root, "targets", string(kind))
	// The DSN goes in the environment, not on a command line that ps shows.
	// Its temporary files (FastAPI's multiprocess metrics) go in the test's
	// directory, removed with it even if the target is killed.
	cmd.Env = append(os.Environ(), "DATABASE_URL="+dsn, "TMPDIR="+dir)
	// A group of its own, so that Stop reaches the workers too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	logFile, err := os.Create(tg.logPath)
	if err != nil {
		return nil, err
	}
	// A file, not a pipe: Wait returns when the launcher exits, whatever its
	// workers still hold open.
	cmd.Stdout, cmd.Stderr = logFile, logFile
	err = cmd.Start()
	logFile.Close()
	if err != nil {
		return nil, fmt.Errorf("run %s: %w", cmd.Path, err)
	}
	tg.PID = cmd.Process.Pid
	go func() {
		tg.waitErr = cmd.Wait()
		close(tg.exited)
	}()
	t.Cleanup(func() {
		if err := tg.Stop(); err != nil {
			t.Logf("stop %s: %v", tg, err)
		}
	})

	if err := tg.waitReady(ctx, workers); err != nil {
		_ = tg.Stop()
		log := tg.Log()
		if strings.Contains(strings.ToLower(log), "address already in use") {
			return nil, fmt.Errorf("%s: %w", tg, errPortTaken)
		}
		return nil, fmt.Errorf("%s did not start: %w\n%s", tg, err, log)
	}
	return tg, nil
}

// waitReady waits for /health to answer 200 and for workers pid files.
func (tg *Target) waitReady(ctx context.Context, workers int) error {
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	err := sampleproc.AwaitHealth(ctx, &http.Client{Timeout: 5 * time.Second}, tg.BaseURL, 100*time.Millisecond, tg.exited, func() error {
		if n := len(tg.Workers()); n != workers {
			return fmt.Errorf("%d of %d worker processes up", n, workers)
		}
		return nil
	})
	if errors.Is(err, sampleproc.ErrExited) {
		return fmt.Errorf("it exited: %v", tg.waitErr)
	}
	return err
}

// Workers returns the pids of the processes that serve requests, in
// increasing order: the launcher itself with one worker, its worker
// processes otherwise (each writes its pid file when it listens).
func (tg *Target) Workers() []int {
	entries, err := os.ReadDir(tg.pidDir)
	if err != nil {
		return nil
	}
	var pids []int
	for _, e := range entries {
		if pid, err := strconv.Atoi(e.Name()); err == nil {
			pids = append(pids, pid)
		}
	}
	slices.Sort(pids)
	return pids
}

// PIDs returns every live process of the target's process group: the
// launcher first, then its workers and helpers (e.g. Python's
// multiprocessing resource tracker).
func (tg *Target) PIDs() []int {
	pids := groupPIDs(tg.PID)
	slices.SortFunc(pids, func(a, b int) int {
		switch {
		case a == tg.PID:
			return -1
		case b == tg.PID:
			return 1
		}
		return a - b
	})
	return pids
}

// Log returns the target's output so far (its last 16 KiB).
func (tg *Target) Log() string {
	data, err := os.ReadFile(tg.logPath)
	if err != nil {
		return ""
	}
	const keep = 16 << 10
	if len(data) > keep {
		data = data[len(data)-keep:]
	}
	return string(data)
}

// Stop stops the target: SIGTERM to its process group, SIGKILL to whatever
// is left after a grace period. It is safe to call more than once; the test
// cleanup calls it too. It returns an error when the target had to be
// killed.
func (tg *Target) Stop() error {
	tg.stopOnce.Do(func() { tg.stopErr = tg.stop() })
	return tg.stopErr
}

func (tg *Target) stop() error {
	var err error
	_ = syscall.Kill(-tg.PID, syscall.SIGTERM)
	select {
	case <-tg.exited:
	case <-time.After(stopTimeout):
		_ = syscall.Kill(-tg.PID, syscall.SIGKILL)
		<-tg.exited
		err = fmt.Errorf("did not stop within %v of SIGTERM: killed", stopTimeout)
	}
	// Workers and helpers that outlive the launcher: a grace period, then
	// SIGKILL.
	deadline := time.Now().Add(2 * time.Second)
	for len(groupPIDs(tg.PID)) > 0 {
		if time.Now().After(deadline) {
			_ = syscall.Kill(-tg.PID, syscall.SIGKILL)
			if err == nil {
				err = errors.New("worker processes outlived the launcher: killed")
			}
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	return err
}

// Seed creates the reference schema and data set of size in the database
// dsn with kind's own seed command.
func Seed(ctx context.Context, root string, kind Kind, dsn, size string) error {
	ctx, cancel := context.WithTimeout(ctx, seedTimeout)
	defer cancel()
	name, args := commandLine(kind, "seed", "--size", size)
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = filepath.Join(root, "targets", string(kind))
	cmd.Env = append(os.Environ(), "DATABASE_URL="+dsn)
	cmd.WaitDelay = time.Second
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("seed %s (size %s) with the %s target: %w\n%s", Redact(dsn), size, kind, err, out)
	}
	return nil
}

// commandLine returns the program and arguments of kind's sub-command,
// "seed" or "serve", run in targets/KIND.
func commandLine(kind Kind, sub string, args ...string) (string, []string) {
	switch {
	case kind == FastAPI:
		return Python, append([]string{"run.py", sub}, args...)
	case sub == "seed":
		return "node", append([]string{"seed.js"}, args...)
	default:
		return "node", append([]string{"server.js"}, args...)
	}
}

var (
	prereqMu   sync.Mutex
	prereqDone = map[Kind]bool{}
)

// CheckPrerequisites reports what kind needs and does not find: the Python
// interpreter and its Debian packages, or node and the npm packages that
// `make setup` installs. A success is remembered for the process.
func CheckPrerequisites(ctx context.Context, root string, kind Kind) error {
	prereqMu.Lock()
	defer prereqMu.Unlock()
	if prereqDone[kind] {
		return nil
	}
	var err error
	switch kind {
	case FastAPI:
		err = checkPython(ctx, Python, pythonModules)
	case Express:
		err = checkNode(root)
	default:
		err = fmt.Errorf("unknown target kind %q (fastapi or express)", kind)
	}
	if err != nil {
		return err
	}
	prereqDone[kind] = true
	return nil
}

type pythonModule struct{ module, pkg string }

// pythonModules are the FastAPI target's imports, with their Debian
// packages.
var pythonModules = []pythonModule{
	{"fastapi", "python3-fastapi"},
	{"uvicorn", "python3-uvicorn"},
	{"sqlalchemy", "python3-sqlalchemy"},
	{"psycopg2", "python3-psycopg2"},
	{"prometheus_client", "python3-prometheus-client"},
}

func checkPython(ctx context.Context, python string, modules []pythonModule) error {
	if _, err := os.Stat(python); err != nil {
		return fmt.Errorf("run make setup: %s not found (Debian's python3)", python)
	}
	// One interpreter start: print the modules that do not import.
	var script strings.Builder
	for _, m := range modules {
		fmt.Fprintf(&script, "try:\n import %s\nexcept ImportError:\n print(%q)\n", m.module, m.module)
	}
	out, err := exec.CommandContext(ctx, python, "-c", script.String()).CombinedOutput()
	if err != nil {
		return fmt.Errorf("run make setup: %s: %w\n%s", python, err, out)
	}
	for _, missing := range strings.Fields(string(out)) {
		for _, m := range modules {
			if m.module == missing {
				return fmt.Errorf("run make setup: %s cannot import %s (package %s)", python, m.module, m.pkg)
			}
		}
	}
	return nil
}

func checkNode(root string) error {
	if _, err := exec.LookPath("node"); err != nil {
		return errors.New("run make setup: node is not on PATH (package nodejs)")
	}
	dir := filepath.Join(root, "targets", string(Express))
	for _, pkg := range []string{"express", "pg", "prom-client"} {
		if _, err := os.Stat(filepath.Join(dir, "node_modules", pkg, "package.json")); err != nil {
			return fmt.Errorf("run make setup: npm package %s is not installed in targets/express (npm ci there)", pkg)
		}
	}
	return nil
}

// workerCount is the number of worker processes opts asks for: the workers
// knob, or the profile's (1 naive, 2 tuned, for both kinds).
func workerCount(opts Options) (int, error) {
	if v, ok := opts.Knobs["workers"]; ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return 0, fmt.Errorf("knob workers=%s: want a positive integer", v)
		}
		return n, nil
	}
	switch opts.Profile {
	case "", "naive":
		return 1, nil
	case "tuned":
		return 2, nil
	}
	return 0, fmt.Errorf("unknown profile %q (naive or tuned)", opts.Profile)
}

var unsafeName = regexp.MustCompile(`[^a-z0-9_]+`)

var (
	namesMu sync.Mutex
	names   = map[string]int{}
)

// newDatabaseName is databaseName(test), with _2, _3... from the test's
// second new database on: a new database drops any of the same name.
func newDatabaseName(test string) string {
	name := databaseName(test)
	namesMu.Lock()
	defer namesMu.Unlock()
	names[name]++
	if n := names[name]; n > 1 {
		suffix := "_" + strconv.Itoa(n)
		name = name[:min(len(name), 63-len(suffix))] + suffix
	}
	return name
}

// databaseName is a database name for the test: targets_ and the test's
// name, lower case, at most PostgreSQL's 63 bytes.
func databaseName(test string) string {
	name := "targets_" + strings.Trim(unsafeName.ReplaceAllString(strings.ToLower(test), "_"), "_")
	if len(name) > 63 {
		name = name[:63]
	}
	return name
}

// freePort returns a loopback TCP port nothing listens on.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Redact returns dsn with any password replaced by "xxxxx".
func Redact(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return "(unparsable DSN)"
	}
	return u.Redacted()
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
