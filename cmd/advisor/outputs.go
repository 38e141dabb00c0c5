package main

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/pgadvisor/advisor/internal/report"
)

// output is one format and where it goes.
type output struct {
	format report.Format
	path   string // "" = stdout
}

// formatArg is one --format value: FORMAT or FORMAT:PATH.
type formatArg struct {
	format report.Format
	// path is the file; "" is standard output ("-" or nothing after the
	// colon).
	path string
	// named says the value had a colon: it chose its output itself, and no
	// --out pairs with it.
	named bool
}

// parseFormatArg parses FORMAT[:PATH], golangci-lint's --format syntax.
func parseFormatArg(v string) (formatArg, error) {
	name, path, named := strings.Cut(v, ":")
	ft, err := report.ParseFormat(name)
	if err != nil {
		return formatArg{}, fmt.Errorf("--format %s: %w", v, err)
	}
	if path == "-" {
		path = ""
	}
	return formatArg{format: ft, path: path, named: named}, nil
}

// parseOutputs turns the --format and --out flags into the outputs to write.
//
// --format FORMAT[:PATH] may repeat; no path, or "-", is standard output.
// --out is kept where it cannot be misread: one --format without a path and
// one --out, or --out alone (each may repeat) with an extension that names
// its format (.sarif, .json, .md, .xml, .txt). Anything else is a usage
// error that spells out the --format FORMAT:PATH flags to use instead.
// Without either flag the report is text on standard output. At most one
// output goes to standard output, and no file is written twice.
func parseOutputs(formats, outs []string) ([]output, error) {
	args := make([]formatArg, 0, len(formats))
	for _, v := range formats {
		a, err := parseFormatArg(v)
		if err != nil {
			return nil, usageError{err}
		}
		args = append(args, a)
	}
	for _, o := range outs {
		if o == "" {
			return nil, usageError{errors.New("--out: empty file name (use - or leave --out out for standard output)")}
		}
	}

	var result []output
	switch {
	case len(outs) == 0 && len(args) == 0:
		result = []output{{format: report.FormatText}}
	case len(outs) == 0:
		for _, a := range args {
			result = append(result, output{format: a.format, path: a.path})
		}
	case len(args) == 0:
		for _, o := range outs {
			ft, ok := report.FormatOfPath(o)
			if !ok {
				return nil, usageError{fmt.Errorf("--out %s: its extension names no format (.sarif, .json, .md, .xml and .txt do): "+
					"use --format FORMAT:%s, e.g. --format text:%s", o, shellWord(o), shellWord(o))}
			}
			result = append(result, output{format: ft, path: stdoutPath(o)})
		}
	case len(args) == 1 && len(outs) == 1 && !args[0].named:
		result = []output{{format: args[0].format, path: stdoutPath(outs[0])}}
	default:
		return nil, usageError{fmt.Errorf("--out pairs with --format only when there is one of each (or alone, with a known "+
			"extension): name each file in its --format instead: %s", suggestFormats(args, outs))}
	}

	stdout := 0
	seen := map[string]bool{}
	for _, o := range result {
		if o.path == "" {
			stdout++
			continue
		}
		clean := filepath.Clean(o.path)
		if seen[clean] {
			return nil, usageError{fmt.Errorf("%s is the file of two outputs: give each format its own file", o.path)}
		}
		seen[clean] = true
	}
	if stdout > 1 {
		var names []string
		example := ""
		for _, o := range result {
			if o.path != "" {
				continue
			}
			names = append(names, string(o.format))
			if ext := report.Extension(o.format); example == "" && ext != "" && o.format != report.FormatText {
				example = fmt.Sprintf(", e.g. --format %s:advisor%s", o.format, ext)
			}
		}
		return nil, usageError{fmt.Errorf("%s all print to standard output: give all but one a file%s",
			strings.Join(names, ", "), example)}
	}
	return result, nil
}

// completeFormat completes --format with the format names; after a colon,
// with file names.
func completeFormat(_ *cobra.Command, _ []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	if strings.Contains(toComplete, ":") {
		return nil, cobra.ShellCompDirectiveDefault
	}
	names := make([]string, 0, len(report.Formats))
	for _, f := range report.Formats {
		names = append(names, string(f))
	}
	return names, cobra.ShellCompDirectiveNoFileComp
}

// stdoutPath maps "-" to standard output.
func stdoutPath(p string) string {
	if p == "-" {
		return ""
	}
	return p
}

// suggestFormats writes the --format FORMAT:PATH flags that say what an
// ambiguous command line most likely meant: a format keeps its own path; an
// --out goes to the format its extension names, or, without a known
// extension, to the formats left in order (as --out used to pair); text and
// annotations still without a file stay on standard output; a format still
// without a file gets one named after the first --out, with its extension;
// an --out still unused gets the format its extension names.
func suggestFormats(args []formatArg, outs []string) string {
	paths := make([]string, len(args))
	have := make([]bool, len(args))
	used := make([]bool, len(outs))
	for i, a := range args {
		if a.named {
			paths[i], have[i] = a.path, true
		}
	}
	for j, o := range outs {
		ft, ok := report.FormatOfPath(o)
		if !ok {
			continue
		}
		for i, a := range args {
			if !have[i] && a.format == ft {
				paths[i], have[i], used[j] = stdoutPath(o), true, true
				break
			}
		}
	}
	for j, o := range outs {
		if _, known := report.FormatOfPath(o); used[j] || known {
			continue
		}
		for i := range args {
			if !have[i] {
				paths[i], have[i], used[j] = stdoutPath(o), true, true
				break
			}
		}
	}
	taken := map[string]bool{}
	stdout := false
	for i := range args {
		if have[i] {
			taken[paths[i]] = true
			stdout = stdout || paths[i] == ""
		}
	}
	base := "advisor"
	if len(outs) > 0 && outs[0] != "-" {
		base = strings.TrimSuffix(outs[0], filepath.Ext(outs[0]))
	}
	for i, a := range args {
		if have[i] {
			continue
		}
		// Text and annotations are read on standard output.
		if !stdout && (a.format == report.FormatText || a.format == report.FormatGitHub) {
			paths[i], have[i], stdout = "", true, true
			continue
		}
		ext := report.Extension(a.format)
		if ext == "" {
			continue
		}
		name := base + ext
		if taken[name] {
			name = base + "-" + string(a.format) + ext
		}
		paths[i], have[i], taken[name] = name, true, true
	}
	var flags []string
	for i, a := range args {
		flag := "--format " + string(a.format)
		if have[i] && paths[i] != "" {
			flag += ":" + shellWord(paths[i])
		}
		flags = append(flags, flag)
	}
	for j, o := range outs {
		if used[j] {
			continue
		}
		name := "FORMAT"
		if ft, ok := report.FormatOfPath(o); ok {
			name = string(ft)
		}
		flags = append(flags, "--format "+name+":"+shellWord(o))
	}
	return strings.Join(flags, " ")
}

// shellWord quotes s for a POSIX shell when it holds anything but the
// characters file names usually have.
func shellWord(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-/+=@%,:") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
