package lua_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/corral-ha/corral/core/api/apitest"
	"github.com/corral-ha/corral/lua"
)

// lockedBuffer is a bytes.Buffer for a script's output read while it runs.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func until(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not in 20 s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// holders returns the granted and waiting counts of a resource.
func holders(l *apitest.Locks, name string) (granted, waiting int) {
	for _, r := range l.Table("") {
		if r.Name == name {
			return len(r.Granted) + len(r.Converting), len(r.Waiting)
		}
	}
	return 0, 0
}

type runResult struct {
	out string
	err error
}

func runScript(h *lua.Host, ctx context.Context, file string, out *lockedBuffer, args ...string) <-chan runResult {
	ch := make(chan runResult, 1)
	go func() {
		err := h.RunFile(ctx, file, args, out)
		ch <- runResult{out.String(), err}
	}()
	return ch
}

func TestLockModule(t *testing.T) {
	locks := apitest.NewLocks(1)
	h := newHost(t, lua.Config{Locks: locks})
	dir := t.TempDir()
	run := func(code string) (string, error) {
		file := filepath.Join(dir, "s.lua")
		if err := os.WriteFile(file, []byte(code), 0o644); err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		err := h.RunFile(t.Context(), file, nil, &out)
		return strings.TrimSuffix(out.String(), "\n"), err
	}
	for _, c := range []struct{ code, want string }{
		{`local lock = require("lock")
		  local a = assert(lock.acquire{name = "R", mode = lock.PR})
		  local b, st = lock.acquire{name = "R", mode = "EX", flags = {"noqueue"}}
		  local c, st2 = lock.acquire{name = "R", mode = "EX", timeout = 0.03}
		  return a:mode(), tostring(b), st, tostring(c), st2`, "PR\tnil\tEAGAIN\tnil\tETIMEDOUT"},
		{`local lock = require("lock")
		  local a = assert(lock.acquire{name = "V", mode = "EX", valblk = true})
		  assert(a:convert{mode = "NL", lvb = "hello"})
		  local b = assert(lock.acquire{name = "V", mode = "PR", valblk = true})
		  local v, valid = b:lvb()
		  assert(a:convert{mode = "EX", timeout = 0.03} == nil)
		  b:release()
		  assert(a:convert{mode = "EX"})
		  a:set_lvb("bye")
		  local keep = assert(lock.acquire{name = "V", mode = "NL"}) -- keeps the resource and its value
		  a:release()
		  local c = assert(lock.acquire{name = "V", mode = "CR", valblk = true})
		  return v, valid, (c:lvb())`, "hello\ttrue\tbye"},
		{`local lock = require("lock")
		  local a = assert(lock.acquire{name = "B", mode = "EX"})
		  local m, why = a:wait_blocking(0.02)
		  local r, st = lock.acquire{name = "B", mode = "PR", flags = {"noqueue", "noqueuebast"}}
		  return tostring(m), why, st, a:wait_blocking(1)`, "nil\ttimeout\tEAGAIN\tPR"},
		{`return pcall(require("lock").acquire, {mode = "EX"})`, "false"},
		{`return pcall(require("lock").acquire, {name = "x", mode = "ZZ"})`, "false"},
	} {
		got, err := run(c.code)
		if err != nil || !strings.HasPrefix(got, c.want) {
			t.Errorf("%s\n= %q, %v; want %q", c.code, got, err, c.want)
		}
	}
	// Locks do not outlive the call that took them.
	until(t, "locks released at the end of each call", func() bool { return len(locks.Table("")) == 0 && locks.Sessions() == 0 })

	// Not granted to ungranted code; without a lock manager, a clear error.
	if _, err := h.Eval(t.Context(), `require("lock")`); err == nil || !strings.Contains(err.Error(), "not granted") {
		t.Errorf("ungranted require: %v", err)
	}
	bare := newHost(t, lua.Config{})
	file := filepath.Join(dir, "bare.lua")
	os.WriteFile(file, []byte(`require("lock").acquire{name = "R"}`), 0o644)
	if err := bare.RunFile(t.Context(), file, nil, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "no lock manager connected") {
		t.Errorf("no lock manager: %v", err)
	}
}

// TestDeadmanExample: the monitor is granted only once the worker is
// gone, and then takes over.
func TestDeadmanExample(t *testing.T) {
	locks := apitest.NewLocks(1)
	h := newHost(t, lua.Config{Locks: locks})
	const script = "../examples/lua/automation/deadman.lua"
	marks := filepath.Join(t.TempDir(), "marks")
	wctx, killWorker := context.WithCancel(t.Context())
	defer killWorker()
	var wout, mout lockedBuffer
	worker := runScript(h, wctx, script, &wout, "worker", "job1", "echo working >> "+marks+"; sleep 30")
	until(t, "the worker holds its lock", func() bool { g, _ := holders(locks, "deadman.job1"); return g == 1 })
	// A second worker for the same job is refused at once.
	var w2 lockedBuffer
	if r := <-runScript(h, t.Context(), script, &w2, "worker", "job1", "true"); r.err == nil || !strings.Contains(r.err.Error(), "another worker holds deadman.job1 (EAGAIN)") {
		t.Fatalf("second worker: %v", r.err)
	}
	// A monitor with little patience sees the worker still there.
	var m0 lockedBuffer
	if r := <-runScript(h, t.Context(), script, &m0, "monitor", "job1", "true", "0.05"); r.err != nil || !strings.Contains(r.out, "the worker is still there (ETIMEDOUT)") {
		t.Fatalf("impatient monitor: %+v", r)
	}
	monitor := runScript(h, t.Context(), script, &mout, "monitor", "job1", "echo took over >> "+marks)
	until(t, "the monitor waits", func() bool { _, w := holders(locks, "deadman.job1"); return w == 1 })
	select {
	case r := <-monitor:
		t.Fatalf("the monitor went on while the worker lived: %+v", r)
	case <-time.After(50 * time.Millisecond):
	}
	killWorker() // the worker dies: its session closes, its lock goes
	if r := <-worker; r.err == nil {
		t.Fatalf("the worker ended cleanly: %+v", r)
	}
	select {
	case r := <-monitor:
		if r.err != nil || !strings.Contains(r.out, "monitor job1: the worker is gone; taking over") || !strings.HasSuffix(r.out, "monitor job1: took over\n") {
			t.Fatalf("monitor: %+v", r)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the monitor did not take over")
	}
	if b, _ := os.ReadFile(marks); string(b) != "working\ntook over\n" {
		t.Fatalf("marks %q", b)
	}
}

// TestDoorbellExample: each ring wakes the listener once; rings are
// refused at once (EAGAIN), never queued.
func TestDoorbellExample(t *testing.T) {
	locks := apitest.NewLocks(1)
	h := newHost(t, lua.Config{Locks: locks})
	const script = "../examples/lua/automation/doorbell.lua"
	var lout lockedBuffer
	listener := runScript(h, t.Context(), script, &lout, "listen", "jobs", "2", "echo woke", "20")
	until(t, "the listener listens", func() bool { return strings.Contains(lout.String(), "listening on jobs\n") })
	// Rings while the listener is busy with the last one coalesce into
	// it (the blocking notice comes once per grant), so ring until it
	// answers.
	for i := 1; i <= 2; i++ {
		answered := func() bool {
			return strings.Contains(lout.String(), fmt.Sprintf("ring %d on jobs (someone wanted EX)", i))
		}
		deadline := time.Now().Add(20 * time.Second)
		for !answered() {
			var rout lockedBuffer
			if r := <-runScript(h, t.Context(), script, &rout, "ring", "jobs"); r.err != nil || r.out != "rang jobs\n" {
				t.Fatalf("ring %d: %+v", i, r)
			}
			for end := time.Now().Add(200 * time.Millisecond); !answered() && time.Now().Before(end); {
				time.Sleep(2 * time.Millisecond)
			}
			if time.Now().After(deadline) {
				t.Fatalf("ring %d: the listener did not answer in 20 s:\n%s", i, lout.String())
			}
		}
	}
	select {
	case r := <-listener:
		if r.err != nil || !strings.HasSuffix(r.out, "answered 2 rings on jobs\n") || strings.Count(r.out, "woke\n") != 2 {
			t.Fatalf("listener: %+v", r)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the listener did not finish")
	}
	// Nobody listening: the ring says so.
	var rout lockedBuffer
	if r := <-runScript(h, t.Context(), script, &rout, "ring", "jobs", "0.05"); r.err != nil || r.out != "nobody is listening on jobs\n" {
		t.Fatalf("ring without a listener: %+v", r)
	}
}

// TestLockAgentCall: a granted agent's locks go when its call ends (the
// host's calls close the lock session, as lua run does).
func TestLockAgentCall(t *testing.T) {
	locks := apitest.NewLocks(1)
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "resource"), 0o755)
	os.WriteFile(filepath.Join(dir, "resource", "locker.lua"), []byte(`local M = {}
local lock = require("lock")
function M.meta() return { name = "locker", description = "holds a lock while monitoring" } end
function M.start() return "ok" end
function M.stop() return "ok" end
function M.monitor()
  local lk = assert(lock.acquire{name = "agent", mode = "EX"})
  return "ok", lk:mode()
end
return M
`), 0o644)
	h := newHost(t, lua.Config{Paths: []string{dir}, Grant: []string{dir}, Locks: locks})
	for i := 0; i < 2; i++ { // the second call gets the lock again: the first's went with its call
		out, err := h.RunAgent(t.Context(), "locker", "monitor", nil)
		if err != nil || out.Status != lua.StatusOK || out.Message != "EX" {
			t.Fatalf("monitor %d: %+v %v", i, out, err)
		}
		until(t, "the agent's lock released", func() bool { return len(locks.Table("")) == 0 && locks.Sessions() == 0 })
	}
}
