// Package yamlfile validates hand-written YAML files against what a program
// expects of them, reporting every problem at once with its file:line:column.
//
// Parse reads a file to its root node. The reading methods of File (Fields,
// Pairs, List, String, Int, ...) check one node each: a problem is recorded
// with the node's position and the reader reports failure, so a caller goes
// on with the rest of the file and calls Err at the end for every problem,
// sorted by position. Messages name the value they expect and what the file
// holds instead: "db_cores must be an integer, not the string "many"".
package yamlfile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Error is one problem of a file, at a position in it. Where a parser gives
// only a line, Column is that of the line's first character.
type Error struct {
	File         string
	Line, Column int
	Msg          string
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Column, e.Msg)
}

// Errors is every problem found in a file, in file order.
type Errors []*Error

// Error returns the problems one per line.
func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap returns the problems, for errors.As to find an *Error.
func (es Errors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// File is a YAML file being checked: its root node and the problems found
// in it so far.
type File struct {
	// Name is the name of the file as errors report it.
	Name  string
	root  *yaml.Node
	lines []string
	errs  Errors
}

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// Parse parses data, a file of one YAML document. Root returns the
// document's top-level node, or nil when the file is empty or does not
// parse; a syntax error, and a second document, are recorded as errors.
func Parse(name string, data []byte) *File {
	f := &File{Name: name, lines: strings.Split(string(data), "\n")}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if !errors.Is(err, io.EOF) {
			f.syntaxError(err)
		}
		return f
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		f.Errorf(&extra, "the file holds more than one YAML document")
	} else if !errors.Is(err, io.EOF) {
		f.syntaxError(err)
	}
	if len(doc.Content) > 0 {
		f.root = doc.Content[0]
	}
	return f
}

// syntaxError records an error of the YAML parser at the line it names.
func (f *File) syntaxError(err error) {
	msg, line := err.Error(), 1
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = m[2]
	} else {
		msg = strings.TrimPrefix(msg, "yaml: ")
	}
	f.ErrorAt(line, f.LineStart(line), "%s", msg)
}

// Root returns the top-level node of the document, or nil when the file is
// empty or does not parse.
func (f *File) Root() *yaml.Node { return f.root }

// Errorf records a problem at node n, or at the start of the file when n is
// nil.
func (f *File) Errorf(n *yaml.Node, format string, args ...any) {
	line, col := 1, 1
	if n != nil {
		line, col = n.Line, n.Column
	}
	f.ErrorAt(line, col, format, args...)
}

// ErrorAt records a problem at a line and column.
func (f *File) ErrorAt(line, column int, format string, args ...any) {
	f.errs = append(f.errs, &Error{File: f.Name, Line: line, Column: column, Msg: fmt.Sprintf(format, args...)})
}

// LineStart returns the column of the first character of a line that is
// not a space, for problems known only by their line.
func (f *File) LineStart(line int) int {
	if line < 1 || line > len(f.lines) {
		return 1
	}
	text := f.lines[line-1]
	return len(text) - len(strings.TrimLeft(text, " \t")) + 1
}

// Failed reports whether a problem has been recorded.
func (f *File) Failed() bool { return len(f.errs) > 0 }

// Err returns the problems recorded, as Errors sorted by position (problems
// at one position keep the order they were found in), or nil when there are
// none.
func (f *File) Err() error {
	if len(f.errs) == 0 {
		return nil
	}
	slices.SortStableFunc(f.errs, func(a, b *Error) int {
		if a.Line != b.Line {
			return a.Line - b.Line
		}
		return a.Column - b.Column
	})
	return slices.Clone(f.errs)
}
