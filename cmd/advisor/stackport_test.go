package main

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestDemoPortInUse: when the stack's port is taken, demo says which port
// and the flag that moves it, once, without advice that does not help
// (make setup installs software; it frees no port).
func TestDemoPortInUse(t *testing.T) {
	if testing.Short() {
		t.Skip("runs initdb")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	// A free port for Redis: the demo must stop at PostgreSQL's.
	rl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	redisPort := strconv.Itoa(rl.Addr().(*net.TCPAddr).Port)
	rl.Close()
	dir := filepath.Join(t.TempDir(), "stack")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	// PostgreSQL runs as its own user when the tests run as root.
	_ = os.Chmod(filepath.Dir(dir), 0o755)

	code, _, stderr := runCaptured(t, "demo", "--dir", dir, "--pg-port", port, "--redis-port", redisPort)
	if code != 1 {
		t.Fatalf("exit %d, want 1\nstderr:\n%s", code, stderr)
	}
	if !strings.Contains(stderr, "postgresql: 127.0.0.1:"+port+" is already in use") || !strings.Contains(stderr, "--pg-port") {
		t.Errorf("stderr does not say which port is taken and how to move it:\n%s", stderr)
	}
	if strings.Contains(stderr, "make setup") || strings.Contains(stderr, "postgresql: postgresql:") {
		t.Errorf("stderr holds noise:\n%s", stderr)
	}
}
