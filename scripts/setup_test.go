// Package scripts holds the tests of the repository's shell scripts.
package scripts

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// setupEnv is a machine for setup.sh: a PATH of the tools it uses and of
// stubs, and a system root holding PostgreSQL's files or not.
type setupEnv struct {
	t              *testing.T
	repo, bin, sys string
	log            string // the apt-get stub's calls
}

func newSetupEnv(t *testing.T) *setupEnv {
	t.Helper()
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash")
	}
	dir := t.TempDir()
	e := &setupEnv{t: t, repo: filepath.Join(dir, "repo"), bin: filepath.Join(dir, "bin"), sys: filepath.Join(dir, "sys"),
		log: filepath.Join(dir, "apt-get.log")}
	for _, d := range []string{filepath.Join(e.repo, "scripts"), filepath.Join(e.repo, "targets"), e.bin, e.sys} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	script, err := os.ReadFile("setup.sh")
	if err != nil {
		t.Fatal(err)
	}
	e.write(filepath.Join(e.repo, "scripts", "setup.sh"), string(script), 0o755)
	// The real tools the script (and the apt-get stub: chmod) uses;
	// everything else is a stub or absent.
	for _, tool := range []string{"dirname", "basename", "sed", "head", "touch", "chmod"} {
		path, err := exec.LookPath(tool)
		if err != nil {
			t.Skipf("no %s", tool)
		}
		if err := os.Symlink(path, filepath.Join(e.bin, tool)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(bash, filepath.Join(e.bin, "bash")); err != nil {
		t.Fatal(err)
	}
	e.uid(1000)
	return e
}

func (e *setupEnv) write(path, content string, mode os.FileMode) {
	e.t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		e.t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		e.t.Fatal(err)
	}
}

// stub puts a command on PATH that runs body.
func (e *setupEnv) stub(name, body string) {
	e.write(filepath.Join(e.bin, name), "#!"+filepath.Join(e.bin, "bash")+"\n"+body+"\n", 0o755)
}

// uid makes id -u say n.
func (e *setupEnv) uid(n int) { e.stub("id", "echo "+strconv.Itoa(n)) }

// postgres installs PostgreSQL 17's server, and contrib and hypopg when
// asked, in the system root.
func (e *setupEnv) postgres(contrib, hypopg bool) {
	e.write(filepath.Join(e.sys, "usr/lib/postgresql/17/bin/postgres"), "", 0o755)
	ext := filepath.Join(e.sys, "usr/share/postgresql/17/extension")
	if contrib {
		e.write(filepath.Join(ext, "pg_stat_statements.control"), "", 0o644)
	}
	if hypopg {
		e.write(filepath.Join(ext, "hypopg.control"), "", 0o644)
	}
}

// aptGet puts an apt-get on PATH that logs its calls and "installs"
// redis-server, wrk and tmux as stubs.
func (e *setupEnv) aptGet() {
	e.stub("apt-get", `echo "$*" >> `+e.log+`
for p in "$@"; do
	case "$p" in
	redis-server|wrk|tmux|prometheus) printf '#!/bin/true\n' > `+e.bin+`/"$p"; chmod +x `+e.bin+`/"$p" ;;
	esac
done`)
}

func (e *setupEnv) run(args ...string) (int, string) {
	e.t.Helper()
	cmd := exec.Command(filepath.Join(e.bin, "bash"), append([]string{filepath.Join(e.repo, "scripts", "setup.sh")}, args...)...)
	cmd.Env = []string{"PATH=" + e.bin, "SETUP_SYSROOT=" + e.sys, "HOME=" + e.repo}
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), string(out)
	}
	if err != nil {
		e.t.Fatal(err)
	}
	return 0, string(out)
}

func TestSetupSilentWhenPresent(t *testing.T) {
	e := newSetupEnv(t)
	e.postgres(true, true)
	e.stub("redis-server", "")
	// The demo needs neither wrk nor tmux.
	if code, out := e.run(); code != 0 || out != "" {
		t.Errorf("demo parts present: exit %d, output %q; want 0 and nothing", code, out)
	}
	for _, tool := range []string{"wrk", "tmux", "prometheus", "node", "npm"} {
		e.stub(tool, "")
	}
	e.write(filepath.Join(e.sys, "usr/bin/python3"), "#!"+filepath.Join(e.bin, "bash")+"\nexit 0\n", 0o755)
	if code, out := e.run("--test"); code != 0 || out != "" {
		t.Errorf("test parts present: exit %d, output %q; want 0 and nothing", code, out)
	}
}

func TestSetupWithoutRootPrintsCommands(t *testing.T) {
	e := newSetupEnv(t)
	e.postgres(true, true)
	e.stub("redis-server", "")
	e.aptGet()
	code, out := e.run("--test")
	want := "setup: the tests need these Debian packages: wrk tmux prometheus python3-fastapi python3-uvicorn python3-sqlalchemy python3-psycopg2 python3-prometheus-client nodejs npm\n" +
		"setup: install them as root with:\n\n" +
		"  apt-get update\n" +
		"  apt-get install -y --no-install-recommends wrk tmux prometheus python3-fastapi python3-uvicorn python3-sqlalchemy python3-psycopg2 python3-prometheus-client nodejs npm\n\n"
	if code != 1 || out != want {
		t.Errorf("exit %d, output:\n%s\nwant 1 and:\n%s", code, out, want)
	}
	if _, err := os.Stat(e.log); err == nil {
		t.Error("apt-get ran without root")
	}

	// Nothing installed, sudo at hand, apt-cache knows the PostgreSQL
	// version: one command installs everything, hypopg included.
	e = newSetupEnv(t)
	e.aptGet()
	e.stub("sudo", "exit 1")
	e.stub("apt-cache", `[ "$*" = "depends postgresql" ] && printf 'postgresql\n  Depends: postgresql-17\n  Depends: postgresql-common\n'`)
	code, out = e.run()
	want = "setup: the demo needs these Debian packages: postgresql postgresql-contrib postgresql-17-hypopg redis-server\n" +
		"setup: install them with:\n\n" +
		"  sudo apt-get update\n" +
		"  sudo apt-get install -y --no-install-recommends postgresql postgresql-contrib postgresql-17-hypopg redis-server\n\n"
	if code != 1 || out != want {
		t.Errorf("exit %d, output:\n%s\nwant 1 and:\n%s", code, out, want)
	}

	// Without apt-cache, hypopg's package is known only once PostgreSQL
	// is installed: say to run again.
	e = newSetupEnv(t)
	e.aptGet()
	e.stub("redis-server", "")
	code, out = e.run()
	if code != 1 || !strings.Contains(out, "  apt-get install -y --no-install-recommends postgresql postgresql-contrib\n") ||
		!strings.Contains(out, "then run this again") {
		t.Errorf("exit %d, output:\n%s", code, out)
	}

	// Without apt-get: the package names, and no command.
	e = newSetupEnv(t)
	e.postgres(true, false)
	e.stub("redis-server", "")
	code, out = e.run()
	if code != 1 || !strings.Contains(out, "postgresql-17-hypopg") || !strings.Contains(out, "there is no apt-get here") {
		t.Errorf("exit %d, output:\n%s", code, out)
	}
}

func TestSetupAsRootInstalls(t *testing.T) {
	e := newSetupEnv(t)
	e.uid(0)
	e.postgres(true, true)
	e.aptGet()
	code, out := e.run()
	if code != 0 || out != "setup: installing redis-server\nsetup: done\n" {
		t.Errorf("exit %d, output %q", code, out)
	}
	log, err := os.ReadFile(e.log)
	if err != nil {
		t.Fatal(err)
	}
	if want := "update -qq\ninstall -y -qq --no-install-recommends redis-server\n"; string(log) != want {
		t.Errorf("apt-get calls:\n%s\nwant:\n%s", log, want)
	}
	if code, out := e.run("--bogus"); code != 2 || !strings.Contains(out, "usage:") {
		t.Errorf("--bogus: exit %d, %q", code, out)
	}
}

// TestSetupStopsSystemPrometheus: Debian's prometheus package starts a
// system server; setup --test installs it for the tests, which run their
// own, and stops and disables that one.
func TestSetupStopsSystemPrometheus(t *testing.T) {
	e := newSetupEnv(t)
	e.uid(0)
	e.postgres(true, true)
	e.stub("redis-server", "")
	for _, tool := range []string{"wrk", "tmux", "node", "npm"} {
		e.stub(tool, "")
	}
	e.write(filepath.Join(e.sys, "usr/bin/python3"), "#!"+filepath.Join(e.bin, "bash")+"\nexit 0\n", 0o755)
	e.aptGet()
	e.stub("service", `echo "service $*" >> `+e.log)
	e.stub("update-rc.d", `echo "update-rc.d $*" >> `+e.log)
	code, out := e.run("--test")
	if code != 0 || out != "setup: installing prometheus\nsetup: done\n" {
		t.Errorf("exit %d, output %q", code, out)
	}
	log, err := os.ReadFile(e.log)
	if err != nil {
		t.Fatal(err)
	}
	want := "update -qq\ninstall -y -qq --no-install-recommends prometheus\nservice prometheus stop\nupdate-rc.d prometheus disable\n"
	if string(log) != want {
		t.Errorf("calls:\n%s\nwant:\n%s", log, want)
	}
}
