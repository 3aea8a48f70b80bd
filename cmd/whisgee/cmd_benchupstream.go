package main

import (
	"context"
	"fmt"
	"net"
	"os"

	"github.com/whisgee/whisgee/internal/fastecho"
)

// runBenchUpstream is the hidden `whisgee bench-upstream --fd N`: a
// minimal, fast HTTP/1.1 keep-alive server on an inherited listening
// socket, run as the workers (workers.cmd) when the proxy is benchmarked,
// so the proxy, not a Python app, is the bottleneck. It stops on SIGINT or
// SIGTERM.
func runBenchUpstream(ctx context.Context, args []string) error {
	fs := newFlags("bench-upstream", "--fd N")
	fd := fs.Int("fd", -1, "inherited listening socket's file descriptor (as workers.cmd's {fd})")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *fd < 0 {
		return usageError{"--fd is required: the inherited socket's number, e.g. workers.cmd: whisgee bench-upstream --fd {fd}"}
	}
	f := os.NewFile(uintptr(*fd), "inherited-socket")
	if f == nil {
		return fmt.Errorf("fd %d is not open; run me from the supervisor with workers.cmd: whisgee bench-upstream --fd {fd}", *fd)
	}
	ln, err := net.FileListener(f)
	f.Close()
	if err != nil {
		return fmt.Errorf("fd %d is not a listening socket: %v", *fd, err)
	}
	go func() {
		<-ctx.Done()
		ln.Close()
	}()
	return fastecho.Serve(ln)
}
