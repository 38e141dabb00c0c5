package sampleproc

import (
	"os/exec"
	"syscall"
)

// dieWithParent makes the service receive SIGTERM if the process that
// started it dies first (killed, crashed): no sampleapp is left serving,
// holding database connections, after an advisor that cannot stop it.
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
}
