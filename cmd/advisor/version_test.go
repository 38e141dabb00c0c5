package main

import (
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
	"time"
)

func TestVersionOf(t *testing.T) {
	settings := func(kv ...string) []debug.BuildSetting {
		var out []debug.BuildSetting
		for i := 0; i+1 < len(kv); i += 2 {
			out = append(out, debug.BuildSetting{Key: kv[i], Value: kv[i+1]})
		}
		return out
	}
	for _, tc := range []struct {
		name     string
		bi       *debug.BuildInfo
		override string
		want     string
	}{
		{"go install of a release", &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "v0.4.0"},
			Settings: settings("GOOS", "darwin", "GOARCH", "arm64")}, "",
			"advisor version v0.4.0\n" +
				"go       go1.26.0 darwin/arm64\n"},
		{"a git checkout with changes", &debug.BuildInfo{GoVersion: "go1.26.8",
			Main: debug.Module{Version: "v0.0.0-20261203233314-4ac28389905e+dirty"},
			Settings: settings("GOOS", "linux", "GOARCH", "amd64", "vcs", "git",
				"vcs.revision", "4ac28389905ed48ad52a4806412b4e2c70043801", "vcs.time", "2026-12-03T23:33:14Z", "vcs.modified", "true")}, "",
			"advisor version v0.0.0-20261203233314-4ac28389905e+dirty\n" +
				"revision 4ac28389905ed48ad52a4806412b4e2c70043801 (modified)\n" +
				"time     2026-12-03T23:33:14Z\n" +
				"go       go1.26.8 linux/amd64\n"},
		{"a clean checkout, version set with -ldflags", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"},
			Settings: settings("GOOS", "linux", "GOARCH", "amd64",
				"vcs.revision", "4ac28389905ed48ad52a4806412b4e2c70043801", "vcs.time", "2026-12-03T23:33:14Z", "vcs.modified", "false")}, "v1.0.0-rc1",
			"advisor version v1.0.0-rc1\n" +
				"revision 4ac28389905ed48ad52a4806412b4e2c70043801\n" +
				"time     2026-12-03T23:33:14Z\n" +
				"go       go1.26.8 linux/amd64\n"},
		{"no VCS information", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"},
			Settings: settings("GOOS", "linux", "GOARCH", "amd64", "-buildvcs", "false")}, "",
			"advisor version (devel)\n" +
				"revision unknown: Go records it for go build and go install in a git clone (not a worktree) without -buildvcs=false\n" +
				"go       go1.26.8 linux/amd64\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := versionOf(tc.bi, tc.override).String(); got != tc.want {
				t.Errorf("got:\n%s\nwant:\n%s", got, tc.want)
			}
		})
	}
	if v := versionOf(nil, ""); v.Version != "(devel)" || v.Revision != "" {
		t.Errorf("no build information: %+v", v)
	}
}

func TestVersion(t *testing.T) {
	code, flag, _ := runCaptured(t, "--version")
	code2, cmd, _ := runCaptured(t, "version")
	if code != 0 || code2 != 0 || !strings.HasPrefix(flag, "advisor version ") || flag != cmd || flag != buildVersion().String() {
		t.Errorf("--version (exit %d):\n%s\nversion (exit %d):\n%s", code, flag, code2, cmd)
	}
}

// TestVersionOfBuiltBinary builds advisor from this git checkout and checks
// that advisor version names the checkout's commit, and whether the working
// tree had changes.
func TestVersionOfBuiltBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds advisor")
	}
	t.Parallel() // a build: no load, no shared state
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	git := func(dir string, args ...string) string {
		t.Helper()
		cmd := exec.CommandContext(ctx, "git", append([]string{"-C", dir}, args...)...)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("git %s: %v", strings.Join(args, " "), err)
		}
		return strings.TrimSpace(string(out))
	}
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("no git")
	}
	if err := exec.CommandContext(ctx, "git", "rev-parse", "--show-toplevel").Run(); err != nil {
		t.Skip("not inside a git checkout")
	}
	top := git(".", "rev-parse", "--show-toplevel")
	head := git(top, "rev-parse", "HEAD")
	modified := git(top, "status", "--porcelain") != ""

	src := top
	if st, err := os.Stat(filepath.Join(top, ".git")); err != nil || !st.IsDir() {
		// Go records VCS information only where .git is a directory, not
		// in a worktree (whose .git is a file): build a clone at the
		// same commit holding the same files.
		src = filepath.Join(t.TempDir(), "checkout")
		git(top, "clone", "--quiet", "--shared", "--no-checkout", top, src)
		git(src, "checkout", "--quiet", "--detach", head)
		copyWorkingTree(t, top, src, strings.Split(git(top, "ls-files", "-z", "--cached", "--others", "--exclude-standard"), "\x00"))
	}
	bin := filepath.Join(t.TempDir(), "advisor")
	// -buildvcs=true: GOFLAGS may say otherwise.
	build := exec.CommandContext(ctx, "go", "build", "-buildvcs=true", "-o", bin, "./cmd/advisor")
	build.Dir = src
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.CommandContext(ctx, bin, "version").Output()
	if err != nil {
		t.Fatal(err)
	}
	got := string(out)
	t.Logf("advisor version in a checkout at %s (modified %v):\n%s", head[:12], modified, got)
	lines := strings.Split(got, "\n")
	// Go 1.24 and later make a pseudo-version of the commit.
	if !strings.HasPrefix(lines[0], "advisor version v") || !strings.Contains(lines[0], head[:12]) {
		t.Errorf("the version does not name the commit %s: %q", head[:12], lines[0])
	}
	wantRev := "revision " + head
	if modified {
		wantRev += " (modified)"
	}
	if len(lines) < 4 || lines[1] != wantRev || !strings.HasPrefix(lines[2], "time     20") || !strings.HasPrefix(lines[3], "go       go1.") {
		t.Errorf("want %q, a time and the toolchain:\n%s", wantRev, got)
	}
}

// copyWorkingTree copies the files of the working tree at from (those git
// lists: tracked, and untracked but not ignored) over the checkout at to,
// and removes from it the tracked files deleted at from.
func copyWorkingTree(t *testing.T, from, to string, paths []string) {
	t.Helper()
	for _, p := range paths {
		if p == "" {
			continue
		}
		src, dst := filepath.Join(from, p), filepath.Join(to, p)
		st, err := os.Lstat(src)
		if os.IsNotExist(err) {
			if err := os.Remove(dst); err != nil && !os.IsNotExist(err) {
				t.Fatal(err)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		if st.Mode()&os.ModeSymlink != 0 {
			target, err := os.Readlink(src)
			if err != nil {
				t.Fatal(err)
			}
			_ = os.Remove(dst)
			if err := os.Symlink(target, dst); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := copyFile(src, dst, st.Mode().Perm()); err != nil {
			t.Fatal(err)
		}
	}
}

func copyFile(src, dst string, perm os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, perm)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	return os.Chmod(dst, perm)
}
