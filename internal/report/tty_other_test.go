//go:build !linux

package report

import (
	"os"
	"testing"
)

// openTTY returns nil: the test opens pseudo-terminals on Linux only.
func openTTY(t *testing.T) *os.File {
	t.Skip("pseudo-terminals are opened on Linux only")
	return nil
}
