package supervisor

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"syscall"
)

// ShimArg is the hidden first argument with which whisgee re-executes
// itself to start a worker: it sets LISTEN_PID to its own pid (systemd's
// convention wants the worker's pid, which os/exec cannot know before the
// fork) and then execs the worker's argv in place, keeping that pid.
const ShimArg = "__whisgee-exec-worker"

// MaybeRunShim runs the exec shim and never returns when this process was
// started as one; otherwise it returns at once. Call it first in main, and
// in TestMain of test binaries that start workers.
func MaybeRunShim() {
	if len(os.Args) < 3 || os.Args[1] != ShimArg {
		return
	}
	argv := os.Args[2:]
	if argv[0] == "--" {
		argv = argv[1:]
	}
	if len(argv) == 0 {
		fmt.Fprintln(os.Stderr, "whisgee: exec shim: no command")
		os.Exit(127)
	}
	path, err := exec.LookPath(argv[0])
	if err != nil {
		fmt.Fprintf(os.Stderr, "whisgee: cannot start worker: %v\n", err)
		os.Exit(127)
	}
	env := append(os.Environ(), "LISTEN_PID="+strconv.Itoa(os.Getpid()))
	err = syscall.Exec(path, argv, env)
	fmt.Fprintf(os.Stderr, "whisgee: cannot start worker %s: %v\n", path, err)
	os.Exit(126)
}

// selfExe names the running executable for the shim: /proc/self/exe,
// which execve resolves to this process's own binary even after its file
// was deleted or replaced (os.Executable returns a path, which can vanish).
// Without /proc, os.Executable.
func selfExe() (string, error) {
	const self = "/proc/self/exe"
	if _, err := os.Stat(self); err == nil {
		return self, nil
	}
	exe, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("supervisor: cannot find whisgee's own binary: %w", err)
	}
	return exe, nil
}
