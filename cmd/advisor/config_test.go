package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/pgadvisor/advisor/internal/config"
	"github.com/pgadvisor/advisor/internal/probe/probetest"
)

// cleanEnv clears the variables that name sources, for the test.
func cleanEnv(t *testing.T) {
	t.Helper()
	for _, k := range []string{"DATABASE_URL", "REDIS_URL", "PGHOST", "PGPORT", "PGDATABASE", "PGUSER", "PGSERVICE", "PGHOSTADDR"} {
		t.Setenv(k, "")
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// configTree makes repo/{.advisor.yaml,advisor.yaml} naming a Redis each,
// and the directory repo/sub/dir, the working directory of the test.
func configTree(t *testing.T) (root, dot, plain string) {
	t.Helper()
	root = t.TempDir()
	dot, plain = probetest.ClosedAddr(t), probetest.ClosedAddr(t)
	writeFile(t, filepath.Join(root, "repo", ".advisor.yaml"), "redis: "+dot+"\nreport: {window: 0}\n")
	writeFile(t, filepath.Join(root, "repo", "advisor.yaml"), "redis: "+plain+"\n")
	wd := filepath.Join(root, "repo", "sub", "dir")
	if err := os.MkdirAll(wd, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Chdir(wd)
	return root, dot, plain
}

// TestReportConfigDiscovery: report reads the nearest .advisor.yaml (before
// advisor.yaml) from the working directory up and says so; --config names
// another; --no-config and --config "" read none.
func TestReportConfigDiscovery(t *testing.T) {
	cleanEnv(t)
	root, dot, plain := configTree(t)

	code, _, stderr := runCaptured(t, "report", "--probe-timeout", "2s")
	if code != exitNoSource {
		t.Fatalf("exit %d, want %d (the file's Redis is down): %s", code, exitNoSource, stderr)
	}
	if want := "advisor: config: " + filepath.Join("..", "..", ".advisor.yaml") + "\n"; !strings.HasPrefix(stderr, want) {
		t.Errorf("stderr does not start with %q:\n%s", want, stderr)
	}
	if !strings.Contains(stderr, dot) || strings.Contains(stderr, plain) {
		t.Errorf("not the Redis of .advisor.yaml (%s) but advisor.yaml's (%s):\n%s", dot, plain, stderr)
	}

	other := probetest.ClosedAddr(t)
	writeFile(t, filepath.Join(root, "other.yaml"), "redis: "+other+"\n")
	code, _, stderr = runCaptured(t, "report", "--window", "0", "--config", filepath.Join(root, "other.yaml"))
	if code != exitNoSource || !strings.Contains(stderr, other) || strings.Contains(stderr, dot) {
		t.Errorf("--config: exit %d:\n%s", code, stderr)
	}
	if strings.Contains(stderr, "advisor: config:") {
		t.Errorf("--config names the file: no need to say it:\n%s", stderr)
	}

	for _, args := range [][]string{{"--no-config"}, {"--config", ""}} {
		code, _, stderr = runCaptured(t, append([]string{"report", "--window", "0"}, args...)...)
		if code != exitUsage || !strings.Contains(stderr, "no source given") {
			t.Errorf("%q: exit %d, want %d and no source:\n%s", args, code, exitUsage, stderr)
		}
	}
	code, _, stderr = runCaptured(t, "report", "--config", "x.yaml", "--no-config")
	if code != exitUsage || !strings.Contains(stderr, "--config and --no-config") {
		t.Errorf("--config and --no-config: exit %d:\n%s", code, stderr)
	}

	// Nothing above: none, said by the usual message.
	t.Chdir(root)
	code, _, stderr = runCaptured(t, "report", "--window", "0")
	if code != exitUsage || !strings.Contains(stderr, "no source given") || strings.Contains(stderr, "config:") {
		t.Errorf("no file: exit %d:\n%s", code, stderr)
	}
}

// TestReportConfigErrors: a bad file found or named is a usage error at its
// line and column, with the path as the user can open it.
func TestReportConfigErrors(t *testing.T) {
	cleanEnv(t)
	root, _, _ := configTree(t)
	bad := "redis: 127.0.0.1:1\nreport:\n  formats: [text, pdf]\n  fail_on: sometimes\n  window: forever\n"
	writeFile(t, filepath.Join(root, "repo", ".advisor.yaml"), bad)
	code, _, stderr := runCaptured(t, "report")
	if code != exitUsage {
		t.Errorf("exit %d, want %d", code, exitUsage)
	}
	path := filepath.Join("..", "..", ".advisor.yaml")
	for _, want := range []string{
		path + `:3:19: report.formats: invalid format "pdf"`,
		path + `:4:12: report.fail_on: invalid threshold "sometimes"`,
		path + `:5:11: report.window must be a duration such as 10s or 0, not "forever"`,
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	code, _, stderr = runCaptured(t, "report", "--config", filepath.Join(root, "missing.yaml"))
	if code != exitUsage || !strings.Contains(stderr, "missing.yaml: no such file") {
		t.Errorf("a missing --config: exit %d:\n%s", code, stderr)
	}
	// attach reads the same file, with the same errors.
	code, _, stderr = runCaptured(t, "attach", "--headless", "--duration", "1s")
	if code != exitUsage || !strings.Contains(stderr, path+`:4:12: report.fail_on`) {
		t.Errorf("attach: exit %d:\n%s", code, stderr)
	}
}

// TestSourcePrecedence: flag > environment > file for the DSN and Redis; a
// file's key that the environment replaces is named on stderr.
func TestSourcePrecedence(t *testing.T) {
	cleanEnv(t)
	root := t.TempDir()
	t.Chdir(root)
	addr := map[string]string{}
	for _, layer := range []string{"file-pg", "env-pg", "flag-pg", "file-redis", "env-redis", "flag-redis"} {
		addr[layer] = probetest.ClosedAddr(t)
	}
	dsn := func(layer string) string { return "postgres://advisor@" + addr[layer] + "/app?connect_timeout=1" }
	writeFile(t, filepath.Join(root, "advisor.yaml"), fmt.Sprintf("pg: %s\nredis: %s\nreport: {window: 0}\n", dsn("file-pg"), addr["file-redis"]))

	for _, tc := range []struct {
		name       string
		env        bool
		flags      []string
		pg, redis  string
		overridden string
	}{
		{"file", false, nil, "file-pg", "file-redis", ""},
		{"env over file", true, nil, "env-pg", "env-redis", "the environment replaces pg (DATABASE_URL), redis (REDIS_URL) of advisor.yaml"},
		{"flag over env", true, []string{"--pg", dsn("flag-pg"), "--redis", addr["flag-redis"]}, "flag-pg", "flag-redis", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.env {
				t.Setenv("DATABASE_URL", dsn("env-pg"))
				t.Setenv("REDIS_URL", "redis://"+addr["env-redis"])
			}
			code, _, stderr := runCaptured(t, append([]string{"report", "--probe-timeout", "2s"}, tc.flags...)...)
			if code != exitNoSource {
				t.Fatalf("exit %d, want %d:\n%s", code, exitNoSource, stderr)
			}
			for layer, a := range addr {
				want := layer == tc.pg || layer == tc.redis
				if got := strings.Contains(stderr, a); got != want {
					t.Errorf("%s (%s) in stderr: %v, want %v:\n%s", layer, a, got, want, stderr)
				}
			}
			if got := strings.Contains(stderr, "the environment replaces"); got != (tc.overridden != "") ||
				(tc.overridden != "" && !strings.Contains(stderr, tc.overridden)) {
				t.Errorf("stderr should say %q:\n%s", tc.overridden, stderr)
			}
		})
	}

	// The PG* variables replace the file's DSN as DATABASE_URL does.
	t.Setenv("PGHOST", "127.0.0.1")
	t.Setenv("PGPORT", strings.Split(addr["env-pg"], ":")[1])
	t.Setenv("PGCONNECT_TIMEOUT", "1")
	code, _, stderr := runCaptured(t, "report", "--probe-timeout", "2s")
	if code != exitNoSource || strings.Contains(stderr, addr["file-pg"]) || !strings.Contains(stderr, "pg (PGHOST)") {
		t.Errorf("PG*: exit %d:\n%s", code, stderr)
	}
}

// TestReportOptionsPrecedence: the report options of the file apply unless
// a flag sets them: --fail-on, --format, --window.
func TestReportOptionsPrecedence(t *testing.T) {
	cleanEnv(t)
	// A service serving metrics, whose Redis is down: probe.unavailable
	// (info) on redis and pprof, nothing at warning.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/metrics" {
			fmt.Fprint(w, "# TYPE http_requests_total counter\nhttp_requests_total{code=\"200\"} 5\n")
			return
		}
		http.NotFound(w, r)
	}))
	defer srv.Close()
	root := t.TempDir()
	wd := filepath.Join(root, "ci")
	writeFile(t, filepath.Join(root, ".advisor.yaml"), fmt.Sprintf(`target: %s
redis: %s
report:
  formats: [text, "json:report.json"]
  fail_on: info
  window: 0
`, srv.URL, probetest.ClosedAddr(t)))
	if err := os.MkdirAll(wd, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Chdir(wd)

	// The file: fail on info, text on stdout and JSON next to the file
	// (not in the working directory), window 0.
	code, stdout, stderr := runCaptured(t, "report", "--probe-timeout", "2s")
	if code != exitFindings || stderr != "advisor: config: ../.advisor.yaml\n" {
		t.Errorf("fail_on info from the file: exit %d, want %d:\n%s", code, exitFindings, stderr)
	}
	if !strings.Contains(stdout, "probe.unavailable") {
		t.Errorf("stdout is not the text report:\n%s", stdout)
	}
	data, err := os.ReadFile(filepath.Join(root, "report.json"))
	if err != nil {
		t.Fatalf("the file's json:report.json: %v", err)
	}
	var rep struct {
		Window float64 `json:"window_seconds"`
	}
	if err := json.Unmarshal(data, &rep); err != nil || rep.Window != 0 {
		t.Errorf("report.json: window %v, %v", rep.Window, err)
	}
	if _, err := os.Stat(filepath.Join(wd, "report.json")); err == nil {
		t.Error("the JSON went to the working directory, not next to the file")
	}

	// Flags win: --fail-on never, --format json to stdout (and not the
	// file's formats), --window.
	if err := os.Remove(filepath.Join(root, "report.json")); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr = runCaptured(t, "report", "--probe-timeout", "2s", "--fail-on", "never", "--format", "json", "--window", "1s", "--profile-seconds", "0")
	if code != exitOK {
		t.Errorf("--fail-on never: exit %d:\n%s", code, stderr)
	}
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil || rep.Window < 0.9 {
		t.Errorf("--format json --window 1s: window %v, %v:\n%s", rep.Window, err, stdout)
	}
	if _, err := os.Stat(filepath.Join(root, "report.json")); err == nil {
		t.Error("--format given, yet the file's formats were written")
	}

	// Without the file: the defaults (fail on warning, so exit 0).
	code, _, stderr = runCaptured(t, "report", "--no-config", "--target", srv.URL, "--window", "0", "--probe-timeout", "2s")
	if code != exitOK {
		t.Errorf("defaults: exit %d:\n%s", code, stderr)
	}
}

// TestMinConfidencePrecedence: report.min_confidence in the file applies
// unless --min-confidence is given.
func TestMinConfidencePrecedence(t *testing.T) {
	file := config.File{Report: config.Report{MinConfidence: "medium"}}
	for _, c := range []struct {
		args []string
		file config.File
		want string
	}{
		{nil, config.File{}, "low"},
		{nil, file, "medium"},
		{[]string{"--min-confidence", "high"}, file, "high"},
		{[]string{"--min-confidence", "low"}, file, "low"},
	} {
		var f reportFlags
		fl := pflag.NewFlagSet("report", pflag.ContinueOnError)
		fl.StringVar(&f.minConfidence, "min-confidence", "low", "")
		if err := fl.Parse(c.args); err != nil {
			t.Fatal(err)
		}
		f.fromFile(fl, c.file)
		if f.minConfidence != c.want {
			t.Errorf("%v with file %q: min confidence %q, want %q", c.args, c.file.Report.MinConfidence, f.minConfidence, c.want)
		}
	}
}

// TestMinConfidenceUsage: a --min-confidence that is no level nor score is
// a usage error, and so is one in the file, at its line.
func TestMinConfidenceUsage(t *testing.T) {
	cleanEnv(t)
	code, _, stderr := runCaptured(t, "report", "--no-config", "--redis", "127.0.0.1:1", "--min-confidence", "sure")
	if code != exitUsage || !strings.Contains(stderr, "--min-confidence") {
		t.Errorf("--min-confidence sure: exit %d:\n%s", code, stderr)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "advisor.yaml")
	writeFile(t, path, "redis: 127.0.0.1:1\nreport:\n  min_confidence: 2\n")
	code, _, stderr = runCaptured(t, "report", "--config", path)
	if code != exitUsage || !strings.Contains(stderr, path+":3:19: report.min_confidence") {
		t.Errorf("min_confidence 2 in the file: exit %d:\n%s", code, stderr)
	}
}
