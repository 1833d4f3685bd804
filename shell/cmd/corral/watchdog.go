package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/corral-ha/corral/core/watchdog"
	"github.com/corral-ha/corral/lua"
)

// runWatchdog is `corral watchdog --socket PATH --timeout W (--pid PID |
// --pid-file FILE)`: a process that plays the watchdog for tests and
// machines without one. Point the node's [fence] watchdog at PATH; the node
// feeds it while it holds its lease; W without a feed (counted from the
// start) and it SIGKILLs the node's process group and process (exit 3). A
// node that leaves cleanly disarms it ('V'): it exits 0 without a kill.
func runWatchdog(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("watchdog", flag.ContinueOnError)
	fs.SetOutput(stderr)
	sock := fs.String("socket", "", "Unix datagram socket the node feeds (required)")
	timeout := fs.Duration("timeout", 5*time.Second, "W: kill the node this long after its last feed")
	pid := fs.Int("pid", 0, "the node's pid")
	pidFile := fs.String("pid-file", "", "the node's pid file (read when the watchdog fires)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *sock == "" || (*pid == 0 && *pidFile == "") {
		fmt.Fprintln(stderr, "corral watchdog: --socket and one of --pid or --pid-file are required, e.g. corral watchdog --socket /run/corral/wd.sock --timeout 5s --pid-file /run/corral/corral.pid")
		return 2
	}
	kill := func() {
		p, why := watchdogTarget(*pid, *pidFile)
		if p <= 1 {
			fmt.Fprintf(stderr, "corral watchdog: fired, but %s\n", why)
			return
		}
		fmt.Fprintf(stderr, "corral watchdog: not fed for %v: SIGKILL to %d\n", *timeout, p)
		_ = syscall.Kill(-p, syscall.SIGKILL)
		_ = syscall.Kill(p, syscall.SIGKILL)
	}
	s := &watchdog.Supervisor{Socket: *sock, Timeout: *timeout, Kill: kill,
		Refused: func(uid int) {
			fmt.Fprintf(stderr, "corral watchdog: ignored a datagram from uid %d (only root and uid %d may feed or disarm)\n", uid, os.Getuid())
		}}
	c, err := s.Listen()
	if err != nil {
		fmt.Fprintf(stderr, "corral watchdog: %v\n", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	fmt.Fprintf(stdout, "corral watchdog: armed on %s, timeout %v\n", *sock, *timeout)
	err = s.Run(ctx, c)
	if err == nil && ctx.Err() == nil {
		fmt.Fprintf(stdout, "corral watchdog: disarmed by the node (a clean leave)\n")
	}
	if err != nil {
		if errors.Is(err, watchdog.ErrFired) {
			return 3
		}
		fmt.Fprintf(stderr, "corral watchdog: %v\n", err)
		return 1
	}
	return 0
}

// watchdogTarget is the pid the watchdog kills: --pid, or the pid in
// --pid-file read now. A pid file with an identity file next to it (the
// agent writes pid_file.id) names its process only while that identity
// matches: a pid reused by an unrelated process is not killed (the node
// it named is gone already). 0 and why when there is nothing to kill.
func watchdogTarget(pid int, pidFile string) (int, string) {
	if pidFile == "" {
		return pid, "no pid to kill"
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		return 0, err.Error()
	}
	p, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	if p <= 1 {
		return 0, "no pid to kill in " + pidFile
	}
	if _, err := os.Stat(pidFile + ".id"); err == nil && !lua.PIDFileIsOf(pidFile, p) {
		return 0, fmt.Sprintf("pid %d of %s is no longer the node (its identity in %s.id differs): not killing it", p, pidFile, pidFile)
	}
	return p, ""
}
