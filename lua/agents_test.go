package lua_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/corral-ha/corral/lua"
)

// luaVars starts what the agents' Lua tests check against: a TCP listener,
// a closed port and an HTTP server (/ok answers 200, /bad 500).
func luaVars(t *testing.T) map[string]string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_ = c.Close()
		}
	}()
	t.Cleanup(func() { _ = ln.Close() })
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedPort := closed.Addr().(*net.TCPAddr).Port
	_ = closed.Close()
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "hello from corral") })
	mux.HandleFunc("/bad", func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "broken", 500) })
	hl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux}
	go func() { _ = srv.Serve(hl) }()
	t.Cleanup(func() { _ = srv.Close() })
	agents, _ := filepath.Abs("../agents")
	return map[string]string{
		"tcp_port":    fmt.Sprint(ln.Addr().(*net.TCPAddr).Port),
		"closed_port": fmt.Sprint(closedPort),
		"http_url":    "http://" + hl.Addr().String(),
		"agents":      agents,
		"netns":       os.Getenv("CORRAL_NETNS"),
	}
}

func newHost(t testing.TB, cfg lua.Config) *lua.Host {
	t.Helper()
	h, err := lua.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	return h
}

// TestLuaAgents runs the Lua tests of every shipped script
// (agents/*/*_test.lua).
func TestLuaAgents(t *testing.T) {
	h := newHost(t, lua.Config{})
	lua.RunTests(t, h, luaVars(t), "../agents")
}

// TestIPAddr runs the ipaddr agent's Lua test inside a network namespace of
// its own: it re-runs this test binary under `unshare --net`, where adding
// an address to lo touches nothing outside.
func TestIPAddr(t *testing.T) {
	if os.Getenv("CORRAL_NETNS") == "1" {
		t.Skip("inside the namespace: TestLuaAgents runs ipaddr_test.lua")
	}
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Skip("no unshare (util-linux): cannot make a network namespace for the ipaddr test")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("no ip (iproute2): the ipaddr agent needs it")
	}
	if out, err := exec.Command("unshare", "--net", "true").CombinedOutput(); err != nil {
		t.Skipf("cannot make a network namespace (needs root or user namespaces): unshare --net: %v: %s", err, strings.TrimSpace(string(out)))
	}
	cmd := exec.Command("unshare", "--net", os.Args[0], "-test.run", "^TestLuaAgents$/^resource:ipaddr_test.lua$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), "CORRAL_NETNS=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("ipaddr test in a network namespace: %v\n%s", err, out)
	}
	for _, want := range []string{"--- PASS: TestLuaAgents/resource:ipaddr_test.lua/TestIPAddr ", "--- PASS: TestLuaAgents/resource:ipaddr_test.lua/TestIPAddrNoSuchDevice "} {
		if !strings.Contains(string(out), want) {
			t.Fatalf("the namespace run did not report %q:\n%s", want, out)
		}
	}
}

// TestExecModule runs lua/testdata/exec_test.lua: exec.run's output, codes
// and timeout (the process group is killed), exec.start/alive/kill/wait.
func TestExecModule(t *testing.T) {
	h := newHost(t, lua.Config{})
	lua.RunTestFile(t, h, "testdata/exec_test.lua", luaVars(t))
}

// TestProcessDiesWithNode: a command the process agent started dies when
// the node's process is killed with -9 (Pdeathsig), leaving no orphan. The
// "node" is this test binary run again as a child that starts the command
// and waits to be killed.
func TestProcessDiesWithNode(t *testing.T) {
	if pidfile := os.Getenv("CORRAL_LUA_NODE_PIDFILE"); pidfile != "" {
		h, err := lua.New(lua.Config{})
		if err != nil {
			fmt.Println("child:", err)
			os.Exit(1)
		}
		out, err := h.RunAgent(context.Background(), "process", "start", map[string]string{"command": "sleep 120", "pidfile": pidfile})
		if err != nil || out.Status != lua.StatusOK {
			fmt.Println("child: start:", out, err)
			os.Exit(1)
		}
		fmt.Println("child: started")
		select {} // until killed
	}
	pidfile := filepath.Join(t.TempDir(), "cmd.pid")
	node := exec.Command(os.Args[0], "-test.run", "^TestProcessDiesWithNode$", "-test.count=1")
	node.Env = append(os.Environ(), "CORRAL_LUA_NODE_PIDFILE="+pidfile)
	var out strings.Builder
	node.Stdout, node.Stderr = &out, &out
	if err := node.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = node.Process.Kill(); _ = node.Wait() })
	var pid int
	deadline := time.Now().Add(20 * time.Second)
	for pid == 0 {
		if b, err := os.ReadFile(pidfile); err == nil {
			pid, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		}
		if time.Now().After(deadline) {
			t.Fatalf("the child node did not start the command:\n%s", out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) }) // if it outlived the node
	if err := syscall.Kill(pid, 0); err != nil {
		t.Fatalf("command %d not running: %v", pid, err)
	}
	if err := node.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = node.Wait()
	deadline = time.Now().Add(10 * time.Second)
	for {
		// Gone, or a zombie waiting for init to reap it.
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil || strings.Contains(string(b), ") Z ") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("command %d outlived its node by 10 s: %s", pid, b)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// orphanedGroup starts a "node" (this test binary run again as testName
// with CORRAL_LUA_FORK_PIDFILE set) whose process agent starts a command
// that forks (sh running sleep in the background and waiting), kills the
// node with -9, and returns the command's pid once the command itself is
// gone: Pdeathsig killed it, but the sleep it forked lives on in its
// process group.
func orphanedGroup(t *testing.T, testName, pidfile string) int {
	t.Helper()
	node := exec.Command(os.Args[0], "-test.run", "^"+testName+"$", "-test.count=1")
	node.Env = append(os.Environ(), "CORRAL_LUA_FORK_PIDFILE="+pidfile)
	var out strings.Builder
	node.Stdout, node.Stderr = &out, &out
	if err := node.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = node.Process.Kill(); _ = node.Wait() })
	var pid int
	deadline := time.Now().Add(30 * time.Second)
	for pid == 0 || !strings.Contains(out.String(), "child: started") {
		if b, err := os.ReadFile(pidfile); err == nil {
			pid, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		}
		if time.Now().After(deadline) {
			t.Fatalf("the child node did not start the command:\n%s", out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Cleanup(func() { _ = syscall.Kill(-pid, syscall.SIGKILL) }) // whatever outlived the test
	// The forked sleep runs once the group has a member besides its leader.
	for deadline = time.Now().Add(30 * time.Second); ; {
		b, _ := exec.Command("pgrep", "-g", strconv.Itoa(pid)).Output()
		if len(strings.Fields(string(b))) >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("command %d forked nothing within 30 s (pgrep -g: %q)", pid, b)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := node.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = node.Wait()
	for deadline = time.Now().Add(10 * time.Second); ; {
		if _, live := lua.ProcessIdentity(pid); !live {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("command %d outlived its node by 10 s", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !lua.GroupAlive(pid) {
		t.Fatalf("nothing of process group %d outlived the node: the test needs the orphan it fences", pid)
	}
	return pid
}

// forkingNode is the child side of orphanedGroup.
func forkingNode(pidfile string) {
	h, err := lua.New(lua.Config{})
	if err != nil {
		fmt.Println("child:", err)
		os.Exit(1)
	}
	out, err := h.RunAgent(context.Background(), "process", "start", map[string]string{"command": "sleep 120 & wait", "pidfile": pidfile})
	if err != nil || out.Status != lua.StatusOK {
		fmt.Println("child: start:", out, err)
		os.Exit(1)
	}
	fmt.Println("child: started")
	select {} // until killed
}

// TestProcessFenceKillsOrphanedGroup (G4): a node killed with -9 leaves
// what its service forked running (Pdeathsig reaches the service's own
// process only); the process fence device's off kills that process group
// although its leader is dead, and only then says the node is off.
func TestProcessFenceKillsOrphanedGroup(t *testing.T) {
	if pidfile := os.Getenv("CORRAL_LUA_FORK_PIDFILE"); pidfile != "" {
		forkingNode(pidfile)
	}
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "n1"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "n1", "corral.toml"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	pidfile := filepath.Join(dir, "n1", "web.pid")
	pid := orphanedGroup(t, "TestProcessFenceKillsOrphanedGroup", pidfile)
	h := newHost(t, lua.Config{})
	o, err := h.RunFence(context.Background(), "process", "off", "n1", map[string]string{"dir": dir, "pidfiles": "web.pid", "wait": "10s"})
	if err != nil || o.Status != lua.StatusOK {
		t.Fatalf("off: %+v %v", o, err)
	}
	if lua.GroupAlive(pid) {
		t.Fatalf("off said ok, but process group %d (what the service forked) still runs", pid)
	}
}

// TestKillOrphanGroup (G4): what the node's next start does with the pid
// files of its previous run (core/node cleanAgentStateDir): it kills the
// group that outlived the node, and leaves alone a pid file whose pid is
// gone with its group, or is another process's now.
func TestKillOrphanGroup(t *testing.T) {
	if pidfile := os.Getenv("CORRAL_LUA_FORK_PIDFILE"); pidfile != "" {
		forkingNode(pidfile)
	}
	pidfile := filepath.Join(t.TempDir(), "web.pid")
	pid := orphanedGroup(t, "TestKillOrphanGroup", pidfile)
	got, err := lua.KillOrphanGroup(pidfile, 10*time.Second)
	if err != nil || got != pid {
		t.Fatalf("KillOrphanGroup = %d, %v; want %d, nil", got, err, pid)
	}
	if lua.GroupAlive(pid) {
		t.Fatalf("process group %d still runs", pid)
	}
	if got, err := lua.KillOrphanGroup(pidfile, time.Second); got != 0 || err != nil {
		t.Fatalf("again: KillOrphanGroup = %d, %v; want 0, nil (nothing left)", got, err)
	}
	// A pid file naming a live process of another identity (this test)
	// and no group of it: not ours, untouched.
	other := filepath.Join(t.TempDir(), "other.pid")
	if err := os.WriteFile(other, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(other+".id", []byte("another boot 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got, err := lua.KillOrphanGroup(other, time.Second); got != 0 || err != nil {
		t.Fatalf("a reused pid: KillOrphanGroup = %d, %v; want 0, nil", got, err)
	}
}
