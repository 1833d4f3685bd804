package shell

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"github.com/corral-ha/corral/core/apitypes"
)

// LockUsage is `corral lock`'s synopsis.
const LockUsage = "corral lock [--socket PATH] [--mode EX] [--lockspace LS] [--nowait] [--timeout D] NAME -- COMMAND..."

// lockHelp is `corral lock --help`.
const lockHelp = `Runs COMMAND while holding the cluster-wide lock NAME, like flock(1) for a
cluster: the lock is taken through the node's admin socket (a lock session),
COMMAND runs in its own process group once it is granted, and the lock is
released when COMMAND exits. Two corral lock commands with incompatible modes
on the same NAME never run their commands at once, on any nodes.

Flags:
  --socket PATH    the node's admin socket (else $CORRAL_SOCKET, else
                   .corral-demo/n1/corral.sock if it exists, else
                   /run/corral/corral.sock)
  --mode M         NL, CR, CW, PR, PW or EX (default EX; PR locks share)
  --lockspace LS   the lockspace (default: "default")
  --nowait         fail at once if the lock is busy
  --timeout D      give up if the lock is not granted within D (10s, 1m)

Exit status: COMMAND's (128+N when a signal N ended it); 1, with the reason
on standard error, when the lock was busy (--nowait), timed out, refused, or
this command was chosen as a deadlock victim, or when the lock was lost while
COMMAND ran (the node closed the session, lost its hold on the cluster, or
died): then COMMAND's process group is killed first. 2 for a usage error.
Standard output is COMMAND's alone.

COMMAND gets $CORRAL_LOCK_OWNER: a corral lock run inside it joins the same
owner (as a VMS process's locks are one owner), so
  corral lock R1 -- sh -c 'corral lock R2 -- work'
on one node and the reverse on another is a deadlock that the cluster-wide
search breaks: exactly one of them exits 1 saying "deadlock".

Examples:
  corral lock backup -- /usr/local/bin/nightly-backup
  corral lock --nowait --mode PR config -- cat /shared/config
  corral lock --timeout 30s --lockspace app job-42 -- ./run-job 42`

// lockOpts are `corral lock`'s arguments.
type lockOpts struct {
	socket, mode, lockspace, name string
	nowait                        bool
	timeout                       time.Duration
	argv                          []string
	help                          bool
}

func parseLockArgs(args []string) (lockOpts, error) {
	o := lockOpts{mode: "EX"}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			o.argv = args[i+1:]
			break
		}
		name, val, hasVal := a, "", false
		if strings.HasPrefix(a, "-") {
			if k, v, ok := strings.Cut(a, "="); ok {
				name, val, hasVal = k, v, true
			}
		}
		value := func() (string, error) {
			if hasVal {
				return val, nil
			}
			if i+1 >= len(args) {
				return "", usagef("%s needs a value: %s", name, LockUsage)
			}
			i++
			return args[i], nil
		}
		var err error
		switch name {
		case "--socket", "-socket", "-s":
			o.socket, err = value()
		case "--mode", "-mode", "-m":
			o.mode, err = value()
		case "--lockspace", "-lockspace":
			o.lockspace, err = value()
		case "--nowait", "-nowait", "-n":
			if hasVal {
				return o, usagef("--nowait takes no value")
			}
			o.nowait = true
		case "--timeout", "-timeout", "-t":
			var v string
			if v, err = value(); err == nil {
				o.timeout, err = time.ParseDuration(v)
				if err != nil || o.timeout <= 0 {
					return o, usagef("--timeout %q: give a duration such as 10s or 1m", v)
				}
			}
		case "-h", "--help", "-help":
			o.help = true
		default:
			if strings.HasPrefix(a, "-") {
				return o, usagef("unknown flag %s: %s", a, LockUsage)
			}
			if o.name != "" {
				return o, usagef("one NAME, then -- and the command (got %q and %q): %s", o.name, a, LockUsage)
			}
			o.name = a
		}
		if err != nil {
			return o, err
		}
	}
	if o.help {
		return o, nil
	}
	if o.name == "" {
		return o, usagef("no lock NAME: %s", LockUsage)
	}
	if len(o.argv) == 0 {
		return o, usagef("no COMMAND after --: %s", LockUsage)
	}
	if _, err := apitypes.ParseMode(o.mode); err != nil {
		return o, usagef("--mode %q: use NL, CR, CW, PR, PW or EX", o.mode)
	}
	return o, nil
}

// LockMain is `corral lock`: it returns the exit status.
func LockMain(args []string, stdout, stderr io.Writer) int {
	return runLock(args, OSEnv(stdout, stderr))
}

func runLock(args []string, env Env) int {
	o, err := parseLockArgs(args)
	if err != nil {
		fmt.Fprintf(env.Stderr, "corral lock: %v\n", err)
		return 2
	}
	if o.help {
		fmt.Fprint(env.Stdout, hang("Usage: ", LockUsage, 7))
		fmt.Fprintf(env.Stdout, "\n%s\n", lockHelp)
		return 0
	}
	say := func(format string, a ...any) {
		fmt.Fprintf(env.Stderr, "corral lock: "+format+"\n", a...)
	}
	socket := FindSocket(o.socket, env.Getenv, func(p string) bool { _, err := os.Stat(p); return err == nil })
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT)
	defer signal.Stop(sigs)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dialCtx, dialCancel := context.WithTimeout(ctx, 10*time.Second)
	lc, err := DialLock(dialCtx, socket, env.Getenv(apitypes.LockOwnerEnv))
	dialCancel()
	if err != nil {
		say("%v", err)
		return 1
	}
	defer lc.Close()
	what := o.name
	if o.lockspace != "" {
		what = o.lockspace + "/" + o.name
	}
	op := apitypes.LockOp{Op: apitypes.LockOpLock, Lockspace: o.lockspace, Name: o.name, Mode: strings.ToUpper(o.mode)}
	if o.nowait {
		op.Flags = []string{"noqueue"}
	}
	if o.timeout > 0 {
		op.Timeout = o.timeout.String()
	}
	// A signal while waiting cancels the request.
	waitCtx, waitCancel := context.WithCancel(ctx)
	sigWhileWaiting := make(chan os.Signal, 1)
	go func() {
		select {
		case s := <-sigs:
			sigWhileWaiting <- s
			waitCancel()
		case <-waitCtx.Done():
		}
	}()
	res, err := lc.Lock(waitCtx, op)
	waitCancel()
	var gotSig os.Signal
	select {
	case gotSig = <-sigWhileWaiting:
	default:
	}
	switch {
	case gotSig != nil:
		say("interrupted (%v) while waiting for %s", gotSig, what)
		return 1
	case err != nil:
		var le *LockError
		if errors.As(err, &le) {
			say("%s refused: %s", what, le.Error())
		} else {
			say("waiting for %s: %v: the lock was not taken", what, err)
		}
		return 1
	}
	switch res.Status {
	case "ok":
	case "EAGAIN":
		say("%s is busy (--nowait): held in a mode incompatible with %s", what, op.Mode)
		return 1
	case apitypes.LockStatusTimedOut:
		say("timed out after %v waiting for %s", o.timeout, what)
		return 1
	case "EDEADLK":
		say("deadlock: chosen as the victim of a deadlock while waiting for %s; nothing ran", what)
		return 1
	case apitypes.LockStatusLost:
		say("%s was lost before it was granted (the node lost its hold on the cluster)", what)
		return 1
	default:
		say("%s not granted: %s", what, res.Status)
		return 1
	}

	cmd := exec.Command(o.argv[0], o.argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, env.Stdout, env.Stderr
	cmd.Env = append(os.Environ(), apitypes.LockOwnerEnv+"="+lc.Owner())
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	tty, fg := terminalForeground()
	if fg {
		// An interactive command keeps the terminal: its group becomes
		// the foreground one (it reads the terminal, Ctrl-C reaches it);
		// this one's comes back when it ends.
		cmd.SysProcAttr.Foreground, cmd.SysProcAttr.Ctty = true, tty
		defer restoreForeground(tty)
	}
	if err := cmd.Start(); err != nil {
		say("cannot run %s: %v", o.argv[0], err)
		return 1
	}
	pgid := cmd.Process.Pid
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	lost := make(chan string, 1)
	go func() {
		for {
			m, err := lc.Next(ctx)
			if err != nil {
				if ctx.Err() == nil {
					lost <- fmt.Sprintf("the node's session ended (%v)", err)
				}
				return
			}
			if m.Type == apitypes.LockMsgLost && (m.Lock == res.Lock || m.Lock == 0) {
				lost <- m.Error
				return
			}
		}
	}()
	for {
		select {
		case err := <-exited:
			cancel()
			code := exitCode(err)
			uctx, ucancel := context.WithTimeout(context.Background(), 5*time.Second)
			_ = lc.Unlock(uctx, res.Lock, nil, nil)
			ucancel()
			return code
		case why := <-lost:
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
			werr := <-exited
			say("lost the lock %s while %s ran: %s; killed its process group (%v)", what, o.argv[0], why, werr)
			return 1
		case s := <-sigs:
			if sig, ok := s.(syscall.Signal); ok {
				_ = syscall.Kill(-pgid, sig)
			}
		}
	}
}

// terminalForeground reports whether standard input is a terminal whose
// foreground process group is this process's (an interactive corral lock).
func terminalForeground() (int, bool) {
	fd := int(os.Stdin.Fd())
	var fg int32
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, uintptr(fd), uintptr(syscall.TIOCGPGRP), uintptr(unsafe.Pointer(&fg))); e != 0 {
		return 0, false
	}
	return fd, int(fg) == syscall.Getpgrp()
}

// restoreForeground makes this process's group the terminal's foreground
// again (SIGTTOU, which a background group gets for it, is ignored
// meanwhile).
func restoreForeground(fd int) {
	signal.Ignore(syscall.SIGTTOU)
	defer signal.Reset(syscall.SIGTTOU)
	pgrp := int32(syscall.Getpgrp())
	_, _, _ = syscall.Syscall(syscall.SYS_IOCTL, uintptr(fd), uintptr(syscall.TIOCSPGRP), uintptr(unsafe.Pointer(&pgrp)))
}

// exitCode is a command's exit status as a shell gives it.
func exitCode(err error) int {
	if err == nil {
		return 0
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal())
		}
		return ee.ExitCode()
	}
	return 1
}
