//go:build !linux

package sampleproc

import "os/exec"

// dieWithParent does nothing where the system cannot tie a child's life to
// its parent's: Stop is the only way the service ends before it is
// interrupted.
func dieWithParent(*exec.Cmd) {}
