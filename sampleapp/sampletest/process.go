package sampletest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// SampleappPkg is the import path of the sampleapp command.
const SampleappPkg = "github.com/pgadvisor/advisor/sampleapp/cmd/sampleapp"

// Binary is a command built by the first test that needs it and run by the
// others: a build links a binary of tens of megabytes, seconds of CPU.
type Binary struct {
	// Name is the file's name, Pkg the package built (an import path, or a
	// directory relative to the test's package).
	Name, Pkg string

	mu   sync.Mutex
	bin  string
	fail string
}

// Sampleapp is the sampleapp command.
var Sampleapp = &Binary{Name: "sampleapp", Pkg: SampleappPkg}

// binDir holds the commands the tests build; RemoveBinaries removes it.
var binDir = sync.OnceValues(func() (string, error) { return os.MkdirTemp("", "advisor-test-bin-") })

// RemoveBinaries removes the commands the tests of this process built: a
// TestMain calls it when the tests end.
func RemoveBinaries() {
	if dir, err := binDir(); err == nil {
		_ = os.RemoveAll(dir)
	}
}

// Path builds the command the first time, and returns its path. A failed
// build is reported to every test that asks; a build cut short by the
// asking test's context is tried again by the next one.
func (b *Binary) Path(ctx context.Context, t testing.TB) string {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.bin == "" && b.fail == "" {
		dir, err := binDir()
		if err != nil {
			t.Fatal(err)
		}
		bin := filepath.Join(dir, b.Name)
		out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, b.Pkg).CombinedOutput()
		switch {
		case err == nil:
			b.bin = bin
		case ctx.Err() != nil:
			t.Fatalf("build %s: %v", b.Name, ctx.Err())
		default:
			b.fail = fmt.Sprintf("build %s: %v\n%s", b.Name, err, out)
		}
	}
	if b.fail != "" {
		t.Fatal(b.fail)
	}
	return b.bin
}

// Process is a sampleapp process: the base URLs of its API and of its admin
// endpoint (the knobs), its pid, and Stop, which stops it (also called when
// the test ends).
type Process struct {
	Base, Admin string
	PID         int
	Stop        func()
}

// StartProcess builds sampleapp and runs it as a process of its own on dsn
// and redisAddr with the given serve flags (RunProcess).
func StartProcess(ctx context.Context, t testing.TB, dsn, redisAddr string, flags ...string) Process {
	t.Helper()
	return RunProcess(t, Sampleapp.Path(ctx, t), dsn, redisAddr, flags...)
}

// RunProcess runs `bin serve` on free loopback ports with flags until the
// test ends, and returns it once it answers /health. The service takes the
// ports itself (port 0) and logs them: a port found free here and closed
// again can be taken by another process before the service listens on it
// (a CI run failed so, "address already in use", with the reference
// targets' tests starting services beside these).
func RunProcess(t testing.TB, bin, dsn, redisAddr string, flags ...string) Process {
	t.Helper()
	args := append([]string{"serve", "--pg", dsn, "--redis", redisAddr, "--addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0"}, flags...)
	svc := exec.Command(bin, args...)
	stderr := &LockedBuffer{}
	svc.Stderr = stderr
	if err := svc.Start(); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	stop := func() {
		once.Do(func() {
			_ = svc.Process.Signal(os.Interrupt)
			_ = svc.Wait()
		})
	}
	t.Cleanup(stop)
	var err error
	for i := 0; ; i++ {
		if base, admin, ok := started(stderr.String()); ok {
			var resp *http.Response
			if resp, err = http.Get(base + "/health"); err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					return Process{Base: base, Admin: admin, PID: svc.Process.Pid, Stop: stop}
				}
			}
		}
		if i == 100 {
			stop()
			t.Fatalf("sampleapp %v did not start: %v\n%s", flags, err, stderr.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// started reads the API and admin URLs from the "sampleapp started" line of
// the service's log, once it is there.
func started(log string) (api, admin string, ok bool) {
	for line := range strings.Lines(log) {
		var l struct {
			Msg   string `json:"msg"`
			API   string `json:"api"`
			Admin string `json:"admin"`
		}
		if json.Unmarshal([]byte(line), &l) == nil && l.Msg == "sampleapp started" && l.API != "" && l.Admin != "" {
			return l.API, l.Admin, true
		}
	}
	return "", "", false
}

// LockedBuffer is a bytes.Buffer safe for a writer (a process's output, a
// program's) and the test's reads at once.
type LockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *LockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *LockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}
