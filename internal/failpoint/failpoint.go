// Package failpoint lets crash-recovery tests kill a dts process at a named point of its work:
// with DTS_FAILPOINT=<name> in its environment, the process sends itself SIGKILL when it reaches
// Hit(<name>), exactly as if it had been killed from outside at that moment, but at a place a
// test can name. Without the variable Hit does nothing; the names are listed where Hit is called.
package failpoint

import (
	"os"
	"syscall"
)

// Env is the environment variable naming the point to die at.
const Env = "DTS_FAILPOINT"

// armed is read once: the environment of a process does not change under it.
var armed = os.Getenv(Env)

// Hit kills the process with SIGKILL if name is the armed point.
func Hit(name string) {
	if armed != "" && armed == name {
		_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {} // SIGKILL is not delivered synchronously; nothing more may happen meanwhile
	}
}
