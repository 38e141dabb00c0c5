package report

import (
	"os"

	"github.com/mattn/go-isatty"
)

// ColorEnabled reports whether the text format should use colour on f: only
// when f is a terminal and NO_COLOR is not set to a non-empty value (the
// convention of no-color.org). Callers pass os.Stdout when printing there;
// a report written to a file never gets colour.
func ColorEnabled(f *os.File) bool {
	if f == nil || os.Getenv("NO_COLOR") != "" {
		return false
	}
	fd := f.Fd()
	return isatty.IsTerminal(fd) || isatty.IsCygwinTerminal(fd)
}

// IsTerminal reports whether f is a terminal, whatever NO_COLOR says: for
// progress lines, which must never reach a log file as control characters.
func IsTerminal(f *os.File) bool {
	if f == nil {
		return false
	}
	fd := f.Fd()
	return isatty.IsTerminal(fd) || isatty.IsCygwinTerminal(fd)
}
