package config

import (
	"os"
	"path/filepath"
	"testing"
)

func TestFind(t *testing.T) {
	root := t.TempDir()
	deep := filepath.Join(root, "repo", "services", "api")
	if err := os.MkdirAll(deep, 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(rel string) string {
		t.Helper()
		path := filepath.Join(root, rel)
		if err := os.WriteFile(path, []byte("redis: x:1\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}

	if got := Find(deep); got != "" {
		// A config file above the test's temporary directory would
		// spoil this test; say so rather than fail obscurely.
		t.Skipf("a config file above the temporary directory: %s", got)
	}

	repo := write("repo/advisor.yaml")
	if got := Find(deep); got != repo {
		t.Errorf("two levels down: %q, want %q", got, repo)
	}
	if got := Find(filepath.Join(root, "repo")); got != repo {
		t.Errorf("in its directory: %q, want %q", got, repo)
	}
	// The dot file wins in the same directory.
	dot := write("repo/.advisor.yaml")
	if got := Find(deep); got != dot {
		t.Errorf("both names: %q, want %q", got, dot)
	}
	// The nearest directory wins over its parents.
	svc := write("repo/services/advisor.yaml")
	if got := Find(deep); got != svc {
		t.Errorf("nearer file: %q, want %q", got, svc)
	}
	// A relative directory is made absolute first.
	t.Chdir(deep)
	if got := Find("."); got != svc {
		t.Errorf("from .: %q, want %q", got, svc)
	}
	// A directory of that name is not a file.
	if err := os.Mkdir(filepath.Join(deep, ".advisor.yaml"), 0o755); err != nil {
		t.Fatal(err)
	}
	if got := Find(deep); got != svc {
		t.Errorf("with a directory named .advisor.yaml: %q, want %q", got, svc)
	}
	// Above every file: none.
	if got := Find(root); got != "" {
		t.Errorf("above the files: %q, want none", got)
	}
}
