package node

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/corral-ha/corral/core/cdb"
	"github.com/corral-ha/corral/lua"
)

// TestGroupOnLuaAgents: three in-process nodes with the default executor
// and policy host, the node's Lua host: a group of two shipped dummy
// agents placed by a policy script from [lua] paths (the last candidate)
// starts there, with its state files in that node's <data_dir>/agents; a
// script moves it with corral.move and sees it in corral.status().groups;
// a group whose policy does not exist falls back to the built-in default.
func TestGroupOnLuaAgents(t *testing.T) {
	dir := t.TempDir()
	paths := writeCluster(t, dir, 95, 3)
	luaDir := filepath.Join(dir, "lua")
	if err := os.MkdirAll(filepath.Join(luaDir, "policy"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(luaDir, "policy", "last.lua"), []byte(`
local M = {}
function M.meta() return { name = "last", description = "the last candidate" } end
function M.choose_owner(group, candidates, cluster)
  assert(group.name and cluster.nodes, "tables as lua/doc.go says")
  return candidates[#candidates]
end
function M.on_failure(resource, failures) return "restart" end
return M
`), 0o644); err != nil {
		t.Fatal(err)
	}
	var nodes []*Node
	for _, r := range startNodes(t, paths, nodeSetup{lua: true, edit: func(_ int, src string) string {
		return strings.Replace(src, "[debug]", fmt.Sprintf("[lua]\npaths = [%q]\n\n[debug]", luaDir), 1)
	}}) {
		nodes = append(nodes, r.n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, kv := range [][2]string{
		{"/resources/ip", `{"agent": "dummy", "group": "web", "monitor": "200ms"}`},
		{"/resources/app", `{"agent": "dummy", "group": "web", "monitor": "200ms"}`},
		{"/groups/web", `{"resources": ["ip", "app"], "policy": "last"}`},
		{"/resources/db1", `{"agent": "dummy", "group": "db", "monitor": "200ms"}`},
		{"/groups/db", `{"resources": ["db1"], "policy": "nosuch", "preferred": ["n1"]}`},
	} {
		// A write refused for no quorum (n1 not holding its lease just
		// then, on a loaded machine) is retried until the deadline.
		var err error
		eventually(t, 15*time.Second, "n1 takes the write of "+kv[0], func() bool {
			_, err = nodes[0].CDBSet(ctx, kv[0], []byte(kv[1]))
			var nq cdb.ErrNoQuorum
			return !errors.As(err, &nq)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	// onlineOn reads the groups as n sees them: wait on the node the
	// test then reads.
	onlineOn := func(n *Node, group, owner string) func() bool {
		return func() bool {
			gs, err := n.Groups()
			if err != nil {
				return false
			}
			for _, g := range gs {
				if g.Name == group {
					return g.State == "online" && g.Owner == owner
				}
			}
			return false
		}
	}
	eventually(t, 15*time.Second, "web online on n3 (the policy's choice)", onlineOn(nodes[0], "web", "n3"))
	eventually(t, 15*time.Second, "db online on n1 (policy nosuch fails: the default chose the preferred owner)", onlineOn(nodes[0], "db", "n1"))
	state := func(node, res string) bool {
		_, err := os.Stat(filepath.Join(dir, node, "agents", "dummy-"+res+".state"))
		return err == nil
	}
	// The state files are n3's: wait on n3 running web, not on n1's view
	// of it, which lags and, when the machine is loaded enough for a
	// lease to lapse, says online on n3 while n3 has stopped what it ran
	// (seen: quorum_lost on n1 0.4 s after group_online, no file left).
	var where string
	onlyOnN3 := func() bool {
		where = fmt.Sprintf("n3 ip %v app %v, n1 ip %v, n2 ip %v", state("n3", "ip"), state("n3", "app"), state("n1", "ip"), state("n2", "ip"))
		return onlineOn(nodes[2], "web", "n3")() && state("n3", "ip") && state("n3", "app") && !state("n1", "ip") && !state("n2", "ip")
	}
	for deadline := time.Now().Add(15 * time.Second); !onlyOnN3(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			evs, _ := nodes[2].Events(0, 0)
			t.Fatalf("after 15s: web online on n3 as n3 sees it, with the dummy agents' state files (only) in n3's <data_dir>/agents: %s; n3's events:\n%s", where, eventLines(evs))
		}
	}
	ex, err := nodes[0].Explain("db")
	if err != nil || !strings.Contains(ex, "nosuch") {
		t.Errorf("explain db does not name the failed policy: %v\n%s", err, ex)
	}
	eval := func(code string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		out, err := nodes[1].Lua().Eval(ctx, code)
		if err != nil {
			t.Fatalf("%s: %v", code, err)
		}
		return out
	}
	// run runs code as lua run does (changing the cluster takes a grant:
	// the lua command's Eval only reads).
	runDir := t.TempDir()
	run := func(code string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		file := filepath.Join(runDir, "run.lua")
		if err := os.WriteFile(file, []byte("local corral = require('corral')\n"+code), 0o644); err != nil {
			t.Fatal(err)
		}
		var out strings.Builder
		if err := nodes[1].Lua().RunFile(ctx, file, nil, &out); err != nil {
			t.Fatalf("%s: %v", code, err)
		}
		return strings.TrimSuffix(out.String(), "\n")
	}
	// evalWrite is run for a call that writes the config DB through n2:
	// a "no quorum ... retry" answer (n2 not holding its lease just then,
	// e.g. a view change on a loaded machine) is retried, as the message
	// says, until the deadline; any other answer is returned.
	evalWrite := func(code string) string {
		t.Helper()
		var got string
		eventually(t, 15*time.Second, "n2 takes the write: "+code, func() bool {
			got = run(code)
			return !strings.Contains(got, "no quorum")
		})
		return got
	}
	eventually(t, 15*time.Second, "n2 sees web online on n3", onlineOn(nodes[1], "web", "n3"))
	if got := eval(`for _, g in ipairs(corral.status().groups) do if g.name == "web" then return g.owner, g.state end end`); got != "n3\tonline" {
		t.Errorf("corral.status().groups: %q", got)
	}
	if got := evalWrite(`return corral.move("web", "n2", "1h")`); got != "true" {
		t.Fatalf("corral.move: %q", got)
	}
	eventually(t, 15*time.Second, "web moved to n2 by a script", onlineOn(nodes[0], "web", "n2"))
	eventually(t, 5*time.Second, "n3's state files removed by stop", func() bool { return !state("n3", "ip") && state("n2", "ip") })
	if got := evalWrite(`return corral.stop("web")`); got != "true" {
		t.Fatalf("corral.stop: %q", got)
	}
	eventually(t, 15*time.Second, "web offline after corral.stop", func() bool {
		gs, err := nodes[0].Groups()
		if err != nil {
			return false
		}
		for _, g := range gs {
			if g.Name == "web" {
				return g.State == "offline"
			}
		}
		return false
	})
	if got := run(`return corral.move("web", "n2", "soon")`); !strings.Contains(got, "not a duration") {
		t.Errorf("a bad move: %q", got)
	}
}

// eventLines prints events one a line, for a failure message.
func eventLines(evs []Event) string {
	var b strings.Builder
	for _, e := range evs {
		fmt.Fprintf(&b, "%d %s %s view=%s members=%v target=%s group=%s owner=%s resource=%s on=%s reason=%s\n",
			e.Seq, e.Time, e.Kind, e.View, e.Members, e.Target, e.Group, e.Owner, e.Resource, e.On, e.Reason)
	}
	return b.String()
}

// TestAgentStateDirCleanedAtStart (issue 22): pid files left in the agents'
// state directory by the previous run are removed when the node opens (a
// stale pid may belong to an unrelated process by then).
func TestAgentStateDirCleanedAtStart(t *testing.T) {
	dir := t.TempDir()
	paths := writeCluster(t, dir, 151, 1)
	stale := filepath.Join(dir, "n1", "agents", "process-web.pid")
	if err := os.MkdirAll(filepath.Dir(stale), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{stale, stale + ".id"} {
		if err := os.WriteFile(f, []byte("1\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	n := startNode(t, paths[0])
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Fatalf("stale pid file after start: %v", err)
	}
	if _, err := os.Stat(stale + ".id"); !os.IsNotExist(err) {
		t.Fatalf("stale pid identity after start: %v", err)
	}
	if fi, err := os.Stat(n.agentStateDir()); err != nil || !fi.IsDir() {
		t.Fatalf("agents' state directory: %v", err)
	}
}

// TestAgentStateDirKillsOrphanedGroupAtStart (G4): a service that forks
// leaves its children running when the node is killed with -9 (Pdeathsig
// kills the service's own process only). At the next start the node kills
// the process group a pid file names before it drops the file, or the
// orphan would serve on, untracked, beside the next incarnation.
func TestAgentStateDirKillsOrphanedGroupAtStart(t *testing.T) {
	dir := t.TempDir()
	paths := writeCluster(t, dir, 152, 1)
	stale := filepath.Join(dir, "n1", "agents", "process-web.pid")
	if err := os.MkdirAll(filepath.Dir(stale), 0o700); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("/bin/sh", "-c", "sleep 120 & wait")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	t.Cleanup(func() { _ = syscall.Kill(-pid, syscall.SIGKILL) })
	id, _ := lua.ProcessIdentity(pid)
	if err := lua.WritePIDIdentity(stale, id); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(stale, []byte(strconv.Itoa(pid)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// The forked sleep runs once the group has a member besides its leader.
	for deadline := time.Now().Add(30 * time.Second); ; {
		b, _ := exec.Command("pgrep", "-g", strconv.Itoa(pid)).Output()
		if len(strings.Fields(string(b))) >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the service forked nothing within 30 s (pgrep -g %d: %q)", pid, b)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// The node's death as Pdeathsig does it: the leader only.
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	if !lua.GroupAlive(pid) {
		t.Fatalf("nothing of process group %d outlived its leader", pid)
	}
	startNode(t, paths[0])
	if lua.GroupAlive(pid) {
		t.Fatalf("process group %d of the previous run still runs after the node started", pid)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Fatalf("stale pid file after start: %v", err)
	}
}
