package lua

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	glua "github.com/yuin/gopher-lua"
)

// maxOutput caps what exec.run keeps of a command's stdout and of its
// stderr; the rest is dropped (and said so).
const maxOutput = 1 << 20

// procTable remembers the processes exec.start started, so that exec.alive
// does not mistake a reaped pid for a live one.
type procTable struct {
	mu     sync.Mutex
	exited map[int]chan struct{}
}

func newProcTable() *procTable { return &procTable{exited: make(map[int]chan struct{})} }

// execLoader builds the exec module (granted scripts only).
func (v *vm) execLoader() glua.LGFunction {
	return func(L *glua.LState) int {
		t := L.NewTable()
		L.SetFuncs(t, map[string]glua.LGFunction{
			"run":   v.execRun,
			"start": v.execStart,
			"alive": v.execAlive,
			"kill":  execKill,
			"wait":  v.execWait,
			// identity(pid): ProcessIdentity, or nil
			"identity": execIdentity,
			// group_alive(pgid): GroupAlive
			"group_alive": execGroupAlive,
		})
		L.Push(t)
		return 1
	}
}

// cmdSpec reads {argv = {...}, env = {K = V}, dir = ...} (argv may also be
// the table's list part).
func cmdSpec(L *glua.LState, t *glua.LTable) (*exec.Cmd, error) {
	var argv []string
	list := t
	if at, ok := t.RawGetString("argv").(*glua.LTable); ok {
		list = at
	}
	for i := 1; i <= list.Len(); i++ {
		argv = append(argv, list.RawGetInt(i).String())
	}
	if len(argv) == 0 {
		return nil, errors.New("argv is empty: give {argv = {\"program\", \"arg\", ...}}")
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	if cmd.Err != nil {
		return nil, fmt.Errorf("%s: %w", argv[0], cmd.Err)
	}
	// The child gets PATH and LANG, not the node's whole environment (which
	// may carry secrets), plus what the script gives.
	env := map[string]string{"PATH": os.Getenv("PATH"), "LANG": "C"}
	if env["PATH"] == "" {
		env["PATH"] = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	}
	if et, ok := t.RawGetString("env").(*glua.LTable); ok {
		et.ForEach(func(k, val glua.LValue) { env[k.String()] = val.String() })
	}
	keys := slices.Sorted(maps.Keys(env))
	for _, k := range keys {
		cmd.Env = append(cmd.Env, k+"="+env[k])
	}
	if d, ok := t.RawGetString("dir").(glua.LString); ok {
		cmd.Dir = string(d)
	}
	// Its own process group (so a timeout kills what it forked), and it dies
	// with the node. Pdeathsig reaches only this process, not what it forks:
	// a node killed with SIGKILL leaves its grandchildren running, in this
	// group; the process fence device and the node's next start kill the
	// group (GroupAlive, KillOrphanGroup).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	return cmd, nil
}

// capped keeps the first maxOutput bytes written to it.
type capped struct {
	buf     bytes.Buffer
	dropped int
}

func (c *capped) Write(p []byte) (int, error) {
	room := maxOutput - c.buf.Len()
	if room < len(p) {
		if room > 0 {
			c.buf.Write(p[:room])
		}
		c.dropped += len(p) - max(room, 0)
		return len(p), nil
	}
	return c.buf.Write(p)
}

func (c *capped) String() string {
	if c.dropped > 0 {
		return c.buf.String() + fmt.Sprintf("\n[%d more bytes dropped]", c.dropped)
	}
	return c.buf.String()
}

// execRun: exec.run{argv, env, dir, stdin, timeout} waits for the command
// and returns code, stdout, stderr; on timeout (or the call's deadline) it
// kills the command's process group and returns -1, stdout, stderr, and
// "timeout after Ns". A command that cannot start returns -1, "", "", err.
func (v *vm) execRun(L *glua.LState) int {
	t := L.CheckTable(1)
	cmd, err := cmdSpec(L, t)
	if err != nil {
		return runFail(L, err)
	}
	if s, ok := t.RawGetString("stdin").(glua.LString); ok {
		cmd.Stdin = strings.NewReader(string(s))
	}
	ctx := callContext(L)
	var timeout time.Duration
	if n, ok := t.RawGetString("timeout").(glua.LNumber); ok && n > 0 {
		timeout = time.Duration(float64(n) * float64(time.Second))
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	var stdout, stderr capped
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	// A daemon the command leaves behind may hold the pipes: stop reading
	// them shortly after the command itself is gone.
	cmd.WaitDelay = time.Second
	if err := cmd.Start(); err != nil {
		return runFail(L, err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var werr error
	select {
	case werr = <-done:
	case <-ctx.Done():
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		werr = <-done
		L.Push(glua.LNumber(-1))
		L.Push(glua.LString(stdout.String()))
		L.Push(glua.LString(stderr.String()))
		if timeout > 0 && callContext(L).Err() == nil {
			L.Push(glua.LString(fmt.Sprintf("timeout after %s: killed process group %d (%v)", timeout, cmd.Process.Pid, werr)))
		} else {
			L.Push(glua.LString(fmt.Sprintf("the call's deadline passed: killed process group %d (%v)", cmd.Process.Pid, werr)))
		}
		return 4
	}
	code := 0
	var ee *exec.ExitError
	switch {
	case werr == nil:
	case errors.As(werr, &ee):
		code = ee.ExitCode()
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			code = 128 + int(ws.Signal())
		}
	default:
		if !errors.Is(werr, exec.ErrWaitDelay) {
			return runFail(L, werr)
		}
	}
	L.Push(glua.LNumber(code))
	L.Push(glua.LString(stdout.String()))
	L.Push(glua.LString(stderr.String()))
	return 3
}

func runFail(L *glua.LState, err error) int {
	L.Push(glua.LNumber(-1))
	L.Push(glua.LString(""))
	L.Push(glua.LString(""))
	L.Push(glua.LString(err.Error()))
	return 4
}

// execStart: exec.start{argv, env, dir, pidfile, log} starts a long-running
// process in its own process group that dies with the node (Pdeathsig),
// with stdout and stderr appended to log (default /dev/null) and its pid
// written to pidfile (its ProcessIdentity to pidfile.id, so a later reader
// can tell it from a process that reuses the pid); it returns the pid, or
// nil and the error.
func (v *vm) execStart(L *glua.LState) int {
	t := L.CheckTable(1)
	cmd, err := cmdSpec(L, t)
	if err != nil {
		return fail(L, err)
	}
	logPath := "/dev/null"
	if s, ok := t.RawGetString("log").(glua.LString); ok && s != "" {
		logPath = string(s)
	}
	lf, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return fail(L, fmt.Errorf("log file: %w", err))
	}
	defer lf.Close()
	cmd.Stdout, cmd.Stderr = lf, lf
	if err := cmd.Start(); err != nil {
		return fail(L, err)
	}
	pid := cmd.Process.Pid
	exited := make(chan struct{})
	procs := v.h.procs
	procs.mu.Lock()
	procs.exited[pid] = exited
	procs.mu.Unlock()
	go func() {
		_ = cmd.Wait() // reap it, so alive() sees it gone
		close(exited)
		time.AfterFunc(time.Minute, func() {
			procs.mu.Lock()
			if procs.exited[pid] == exited {
				delete(procs.exited, pid)
			}
			procs.mu.Unlock()
		})
	}()
	if s, ok := t.RawGetString("pidfile").(glua.LString); ok && s != "" {
		// The identity first: a reader that finds the new pid finds it too.
		id, _ := ProcessIdentity(pid)
		if err := WritePIDIdentity(string(s), id); err != nil {
			_ = syscall.Kill(-pid, syscall.SIGKILL)
			return fail(L, fmt.Errorf("pid file: %w", err))
		}
		if err := WriteNoFollow(string(s), strconv.Itoa(pid)+"\n"); err != nil {
			_ = syscall.Kill(-pid, syscall.SIGKILL)
			return fail(L, fmt.Errorf("pid file: %w", err))
		}
	}
	L.Push(glua.LNumber(pid))
	return 1
}

func (p *procTable) alive(pid int) bool {
	if pid <= 0 {
		return false
	}
	p.mu.Lock()
	ch, ours := p.exited[pid]
	p.mu.Unlock()
	if ours {
		select {
		case <-ch:
			return false
		default:
			return true
		}
	}
	err := syscall.Kill(pid, 0)
	if err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	// A zombie is not alive.
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err == nil {
		if i := bytes.LastIndexByte(b, ')'); i >= 0 && i+2 < len(b) && b[i+2] == 'Z' {
			return false
		}
	}
	return true
}

// execAlive: exec.alive(pid) is true while the process exists (and is not a
// zombie).
func (v *vm) execAlive(L *glua.LState) int {
	L.Push(glua.LBool(v.h.procs.alive(L.CheckInt(1))))
	return 1
}

var signals = map[string]syscall.Signal{
	"TERM": syscall.SIGTERM, "KILL": syscall.SIGKILL, "INT": syscall.SIGINT, "HUP": syscall.SIGHUP,
	"QUIT": syscall.SIGQUIT, "USR1": syscall.SIGUSR1, "USR2": syscall.SIGUSR2, "STOP": syscall.SIGSTOP, "CONT": syscall.SIGCONT,
}

// execKill: exec.kill(pid [, sig]) sends sig (a name such as "TERM", the
// default, or a number); a negative pid is a process group. It returns true,
// or nil and the error.
func execKill(L *glua.LState) int {
	pid := L.CheckInt(1)
	sig := syscall.SIGTERM
	switch s := L.Get(2).(type) {
	case glua.LString:
		name := strings.TrimPrefix(strings.ToUpper(string(s)), "SIG")
		var ok bool
		if sig, ok = signals[name]; !ok {
			L.ArgError(2, "unknown signal "+string(s))
		}
	case glua.LNumber:
		sig = syscall.Signal(int(s))
	}
	if pid == 0 || pid == -1 {
		L.ArgError(1, "pid 0 and -1 would signal the node itself or everything")
	}
	if err := syscall.Kill(pid, sig); err != nil {
		return fail(L, err)
	}
	L.Push(glua.LTrue)
	return 1
}

// execWait: exec.wait(pid, timeout) waits until the process is gone and
// returns true, or false when it is still alive after timeout seconds.
func (v *vm) execWait(L *glua.LState) int {
	pid := L.CheckInt(1)
	d := time.Duration(float64(L.OptNumber(2, 10)) * float64(time.Second))
	ctx := callContext(L)
	deadline := time.Now().Add(d)
	for {
		if !v.h.procs.alive(pid) {
			L.Push(glua.LTrue)
			return 1
		}
		if time.Now().After(deadline) {
			L.Push(glua.LFalse)
			return 1
		}
		select {
		case <-ctx.Done():
			L.RaiseError("exec.wait: %s", ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// bootID is this boot's id (/proc/sys/kernel/random/boot_id).
var bootID = sync.OnceValue(func() string {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return "unknown-boot"
	}
	return strings.TrimSpace(string(b))
})

// ProcessIdentity tells a process from any later one that gets its pid:
// "BOOTID STARTTIME", the boot id and the process's start time in clock
// ticks since boot (/proc/PID/stat field 22). ok is false when no such
// process lives (a zombie does not).
func ProcessIdentity(pid int) (string, bool) {
	if pid <= 0 {
		return "", false
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return "", false
	}
	// the command name (field 2) may hold spaces and parentheses: fields
	// 3.. follow the last ')'
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return "", false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 || f[0] == "Z" || f[0] == "X" {
		return "", false
	}
	return bootID() + " " + f[19], true
}

// WritePIDIdentity writes id to pidfile.id (see writeNoFollow).
func WritePIDIdentity(pidfile, id string) error {
	return WriteNoFollow(pidfile+".id", id+"\n")
}

// PIDFileIsOf reports whether pidfile.id names pid's live process (see
// ProcessIdentity): false for a stale pid file whose pid another process
// reuses now, for a process of an earlier boot, and without an id file.
func PIDFileIsOf(pidfile string, pid int) bool {
	b, err := os.ReadFile(pidfile + ".id")
	if err != nil {
		return false
	}
	id, ok := ProcessIdentity(pid)
	return ok && strings.TrimSpace(string(b)) == id
}

// execIdentity: exec.identity(pid) is ProcessIdentity(pid), or nil when no
// such process lives.
func execIdentity(L *glua.LState) int {
	id, ok := ProcessIdentity(L.CheckInt(1))
	if !ok {
		L.Push(glua.LNil)
		return 1
	}
	L.Push(glua.LString(id))
	return 1
}

// execGroupAlive: exec.group_alive(pgid) is GroupAlive(pgid).
func execGroupAlive(L *glua.LState) int {
	L.Push(glua.LBool(GroupAlive(L.CheckInt(1))))
	return 1
}

// GroupAlive reports whether a live process (not a zombie) is in process
// group pgid (/proc/PID/stat field 5). Linux gives no new process a pid that
// is still some process's process group id, so while the group has members
// pgid names the same group it did when its leader started, even after the
// leader died: kill(-pgid) then reaches only that group's processes.
func GroupAlive(pgid int) bool {
	if pgid <= 1 {
		return false
	}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return false
	}
	for _, e := range ents {
		if e.Name()[0] < '0' || e.Name()[0] > '9' {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) < 3 || f[0] == "Z" || f[0] == "X" {
			continue
		}
		if g, err := strconv.Atoi(f[2]); err == nil && g == pgid {
			return true
		}
	}
	return false
}

// KillOrphanGroup kills (SIGKILL) what is left of the process group that
// pidfile's process led, for a pid file of a process that should be dead:
// the leader itself when pidfile.id says it is that process (PIDFileIsOf),
// and its group when it has members, unless pid now belongs to another
// process (a reused pid, whose group is not ours). It waits up to wait for
// the group to be gone and returns the pid it killed the group of (0 when
// there was nothing to kill) and an error when the group survives.
func KillOrphanGroup(pidfile string, wait time.Duration) (int, error) {
	b, err := os.ReadFile(pidfile)
	if err != nil {
		return 0, nil
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 1 {
		return 0, nil
	}
	if _, live := ProcessIdentity(pid); live && !PIDFileIsOf(pidfile, pid) {
		return 0, nil // another process has the pid now
	}
	if !PIDFileIsOf(pidfile, pid) && !GroupAlive(pid) {
		return 0, nil
	}
	_ = syscall.Kill(-pid, syscall.SIGKILL)
	_ = syscall.Kill(pid, syscall.SIGKILL)
	deadline := time.Now().Add(wait)
	for GroupAlive(pid) || PIDFileIsOf(pidfile, pid) {
		if time.Now().After(deadline) {
			return pid, fmt.Errorf("process group %d (from %s) survives SIGKILL", pid, pidfile)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return pid, nil
}
