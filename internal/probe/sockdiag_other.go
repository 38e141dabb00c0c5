//go:build !linux

package probe

import "errors"

// sockDiagQueued: sock_diag is Linux's.
func sockDiagQueued(int) (int, error) { return 0, errors.ErrUnsupported }
