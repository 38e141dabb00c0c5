package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
)

// version, when set at build time with -ldflags "-X main.version=v1.2.3",
// replaces the module version Go records.
var version = ""

// versionInfo says which source a binary was built from.
type versionInfo struct {
	// Version is the module's version: a release tag (go install
	// ...@v1.2.3), a pseudo-version (a build in a git checkout; +dirty with
	// uncommitted changes), or "(devel)".
	Version string
	// Revision, Time and Modified are the VCS commit, its time and whether
	// the working tree differed from it, when Go recorded them (a build
	// inside a checkout, without -buildvcs=false).
	Revision string
	Time     string
	Modified bool
	// Go is the toolchain and the platform: "go1.26.8 linux/amd64".
	Go string
}

// buildVersion is this binary's versionInfo.
func buildVersion() versionInfo {
	bi, _ := debug.ReadBuildInfo()
	return versionOf(bi, version)
}

// versionOf reads bi (nil when the binary has none); override, when set,
// replaces the module version.
func versionOf(bi *debug.BuildInfo, override string) versionInfo {
	v := versionInfo{Version: "(devel)", Go: runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH}
	if bi != nil {
		if m := bi.Main.Version; m != "" {
			v.Version = m
		}
		goos, goarch := runtime.GOOS, runtime.GOARCH
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				v.Revision = s.Value
			case "vcs.time":
				v.Time = s.Value
			case "vcs.modified":
				v.Modified = s.Value == "true"
			case "GOOS":
				goos = s.Value
			case "GOARCH":
				goarch = s.Value
			}
		}
		if bi.GoVersion != "" {
			v.Go = bi.GoVersion + " " + goos + "/" + goarch
		}
	}
	if override != "" {
		v.Version = override
	}
	return v
}

// String is what advisor version and --version print.
func (v versionInfo) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "advisor version %s\n", v.Version)
	switch {
	case v.Revision != "":
		fmt.Fprintf(&b, "revision %s", v.Revision)
		if v.Modified {
			b.WriteString(" (modified)")
		}
		b.WriteString("\n")
		if v.Time != "" {
			fmt.Fprintf(&b, "time     %s\n", v.Time)
		}
	case v.Version == "(devel)":
		b.WriteString("revision unknown: Go records it for go build and go install in a git clone (not a worktree) without -buildvcs=false\n")
	}
	fmt.Fprintf(&b, "go       %s\n", v.Go)
	return b.String()
}

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print advisor's version, the commit it was built from and the Go toolchain",
		Long: `version prints the module version (a release tag, or a pseudo-version for a
build in a git checkout), the VCS revision and its time when Go recorded them
(with "(modified)" when the working tree had uncommitted changes), and the
Go toolchain and platform. advisor --version prints the same.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprint(cmd.OutOrStdout(), buildVersion())
			return err
		},
	}
}
