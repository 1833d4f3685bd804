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
