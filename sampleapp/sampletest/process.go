package sampletest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/pgadvisor/advisor/sampleapp/sampleproc"
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

// RunProcess runs `bin serve` with flags (sampleproc.Start) until the test
// ends, and returns it once it answers /health.
func RunProcess(t testing.TB, bin, dsn, redisAddr string, flags ...string) Process {
	t.Helper()
	p, err := sampleproc.Start(context.Background(), []string{bin, "serve"}, dsn, redisAddr, flags...)
	if err != nil {
		t.Fatalf("sampleapp %v: %v", flags, err)
	}
	stop := func() {
		if err := p.Stop(); err != nil {
			t.Logf("stop sampleapp: %v", err)
		}
	}
	t.Cleanup(stop)
	return Process{Base: p.Base, Admin: p.Admin, PID: p.PID, Stop: stop}
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
