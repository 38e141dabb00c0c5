package report

import (
	"path"
	"path/filepath"
	"strconv"
	"strings"
)

// The formats that a code host shows beside the code (SARIF, GitHub Actions
// annotations, GitLab Code Quality) need a file of the repository and a line
// for every finding. They place a finding the same way: at its file:line
// when the profiles' stacks name a file of the repository, otherwise at line
// 1 of an anchor file (advisor.yaml, go.mod or README.md, see FindAnchor),
// since most findings are about the running service, not a line of code.

// placement is where a finding is shown in the repository.
type placement struct {
	// File is relative to the repository's root, with forward slashes.
	File string
	// Line is 1 at the anchor.
	Line int
	// InRepo is false when File is the anchor.
	InRepo bool
}

// place returns where a finding is shown: its location when repoFile maps
// it into the repository, else line 1 of anchor (DefaultAnchor when empty).
func place(f *Finding, workDir, modulePath, anchor string) placement {
	if file, line, ok := repoFile(workDir, modulePath, f.Location); ok {
		return placement{File: file, Line: line, InRepo: true}
	}
	if anchor == "" {
		anchor = DefaultAnchor
	}
	return placement{File: filepath.ToSlash(anchor), Line: 1}
}

// repoFile maps a file:line location to a repository-relative URI and a line:
// an absolute file under workDir, or a file under modulePath (as a binary
// built with -trimpath names it).
func repoFile(workDir, modulePath, location string) (uri string, line int, ok bool) {
	i := strings.LastIndexByte(location, ':')
	if i <= 0 {
		return "", 0, false
	}
	file := location[:i]
	line, err := strconv.Atoi(location[i+1:])
	if err != nil || line < 1 {
		return "", 0, false
	}
	switch {
	case filepath.IsAbs(file) && workDir != "":
		rel, err := filepath.Rel(workDir, file)
		if err != nil || rel == "." || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			return "", 0, false
		}
		return filepath.ToSlash(rel), line, true
	case modulePath != "" && strings.HasPrefix(file, modulePath+"/"):
		rel := path.Clean(strings.TrimPrefix(file, modulePath+"/"))
		if rel == "." || rel == ".." || strings.HasPrefix(rel, "../") {
			return "", 0, false
		}
		return rel, line, true
	}
	return "", 0, false
}
