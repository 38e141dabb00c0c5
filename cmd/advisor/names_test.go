package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/pgadvisor/advisor/sampleapp"
)

// TestOldFlagNames: --dir (now --stack-dir) and tune's --size test (now
// small) still work, with a deprecation note on stderr, never on stdout.
func TestOldFlagNames(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "stack")
	code, stdout, stderr := runCaptured(t, "stack", "status", "--dir", dir, "--pg-port", "55497", "--redis-port", "56497")
	if code != exitOK || !strings.Contains(stdout, filepath.Join(dir, "pgpass")) {
		t.Errorf("stack status --dir: exit %d, stdout:\n%s\nstderr: %s", code, stdout, stderr)
	}
	const note = "Flag --dir has been deprecated, use --stack-dir\n"
	if stderr != note || strings.Contains(stdout, "deprecated") {
		t.Errorf("stderr %q, want %q (and nothing on stdout)", stderr, note)
	}
	code, stdout, stderr = runCaptured(t, "stack", "status", "--stack-dir", dir, "--pg-port", "55497", "--redis-port", "56497")
	if code != exitOK || stderr != "" || !strings.Contains(stdout, filepath.Join(dir, "pgpass")) {
		t.Errorf("stack status --stack-dir: exit %d, stderr %q", code, stderr)
	}

	// Both commands take small and full; tune's test is small, noted. The
	// checks that follow --size stop the commands before they start
	// anything.
	for _, tc := range []struct {
		args []string
		note bool
	}{
		{[]string{"tune", "--auto", "--size", "test", "--connections", "0"}, true},
		{[]string{"tune", "--auto", "--size", "small", "--connections", "0"}, false},
		{[]string{"tune", "--auto", "--size", "full", "--connections", "0"}, false},
		{[]string{"demo", "--size", "small", "--rate", "0"}, false},
		{[]string{"demo", "--size", "test", "--rate", "0"}, true},
		{[]string{"demo", "--stack-dir", dir, "--rate", "0"}, false},
		{[]string{"demo", "--dir", dir, "--rate", "0"}, false},
	} {
		code, _, stderr := runCaptured(t, tc.args...)
		if code != exitUsage || !strings.Contains(stderr, "must be positive") {
			t.Errorf("%q: exit %d, stderr %q: want the next check's error", tc.args, code, stderr)
		}
		if got := strings.Contains(stderr, "Flag --size test has been deprecated, use --size small"); got != tc.note {
			t.Errorf("%q: deprecation note %v, want %v: %q", tc.args, got, tc.note, stderr)
		}
	}
	for _, args := range [][]string{{"tune", "--auto", "--size", "huge"}, {"demo", "--size", "huge"}} {
		code, _, stderr := runCaptured(t, args...)
		if code != exitUsage || !strings.Contains(stderr, `--size "huge": want small or full`) {
			t.Errorf("%q: exit %d, stderr %q", args, code, stderr)
		}
	}
}

func TestParseSize(t *testing.T) {
	cmd := &cobra.Command{}
	var errOut bytes.Buffer
	cmd.SetErr(&errOut)
	for name, want := range map[string]sampleapp.Size{"small": sampleapp.TestSize, "": sampleapp.TestSize, "test": sampleapp.TestSize, "full": sampleapp.DefaultSize} {
		n := name
		got, err := parseSize(cmd, &n)
		if err != nil || got != want || (name != "full" && n != "small") {
			t.Errorf("%q: %v %q %v", name, got, n, err)
		}
	}
	if _, err := parseSize(cmd, new("tiny")); err == nil {
		t.Error("tiny accepted")
	}
}
