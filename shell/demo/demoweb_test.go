package demo

import (
	"encoding/json"
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

func TestDemoWebKeys(t *testing.T) {
	for _, exe := range []string{"/usr/bin/corral", "/tmp/my dir/it's corral"} {
		kvs := demoWebKeys(exe)
		if len(kvs) != 2 || kvs[0][0] != "/resources/whoami" || kvs[1][0] != "/groups/web" {
			t.Fatalf("keys: %v", kvs)
		}
		var res struct {
			Agent  string            `json:"agent"`
			Group  string            `json:"group"`
			Params map[string]string `json:"params"`
		}
		if err := json.Unmarshal([]byte(kvs[0][1]), &res); err != nil {
			t.Fatalf("%s: %v", kvs[0][1], err)
		}
		cmd := res.Params["command"]
		if res.Agent != "process" || res.Group != "web" || !strings.Contains(cmd, "whoami --listen ${address}:8080 --name ${node}") ||
			!strings.HasPrefix(cmd, shellQuote(exe)+" ") {
			t.Errorf("resource: %+v", res)
		}
		var g struct {
			Resources []string `json:"resources"`
			Service   struct {
				Name, Proto string
				Port        int
			} `json:"service"`
		}
		if err := json.Unmarshal([]byte(kvs[1][1]), &g); err != nil || len(g.Resources) != 1 || g.Service.Port != 8080 || g.Service.Proto != "tcp" {
			t.Errorf("group %s: %+v %v", kvs[1][1], g, err)
		}
	}
	for in, want := range map[string]string{"/usr/bin/corral": "/usr/bin/corral", "/a b": "'/a b'", "it's": `'it'\''s'`, "": "''"} {
		if got := shellQuote(in); got != want {
			t.Errorf("shellQuote(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestStopResourceProcessesKillsOrphanedGroup (G4): `demo stop` kills what
// a resource's command forked when the command itself died (with its node)
// and the fork did not.
func TestStopResourceProcessesKillsOrphanedGroup(t *testing.T) {
	dir := t.TempDir()
	agents := filepath.Join(dir, "n1", "data", "agents")
	if err := os.MkdirAll(agents, 0o700); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("/bin/sh", "-c", "sleep 120 & wait")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	t.Cleanup(func() { _ = syscall.Kill(-pid, syscall.SIGKILL) })
	if err := os.WriteFile(filepath.Join(agents, "process-web.pid"), []byte(strconv.Itoa(pid)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); ; {
		b, _ := exec.Command("pgrep", "-g", strconv.Itoa(pid)).Output()
		if len(strings.Fields(string(b))) >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the command forked nothing within 30 s (pgrep -g %d: %q)", pid, b)
		}
		time.Sleep(10 * time.Millisecond)
	}
	_ = cmd.Process.Kill() // the leader only, as Pdeathsig does
	_ = cmd.Wait()
	if !lua.GroupAlive(pid) {
		t.Fatalf("nothing of process group %d outlived its leader", pid)
	}
	if n := stopResourceProcesses(dir); n != 1 {
		t.Errorf("stopResourceProcesses = %d, want 1", n)
	}
	for deadline := time.Now().Add(10 * time.Second); lua.GroupAlive(pid); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("process group %d still runs after demo stop", pid)
		}
	}
}
