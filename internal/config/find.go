package config

import (
	"os"
	"path/filepath"
)

// Names are the names of a config file, in the order Find prefers them in
// one directory.
var Names = []string{".advisor.yaml", "advisor.yaml"}

// Find returns the path of the config file that applies in dir: the first
// of Names in dir, else in its parent, and so on up to the filesystem root,
// as golangci-lint finds its own. It returns "" when there is none. A
// directory or anything else unreadable of that name is passed over.
func Find(dir string) string {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return ""
	}
	for {
		for _, name := range Names {
			path := filepath.Join(dir, name)
			if st, err := os.Stat(path); err == nil && st.Mode().IsRegular() {
				return path
			}
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}
