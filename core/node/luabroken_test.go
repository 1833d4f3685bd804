package node

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/corral-ha/corral/core/cdb"
)

// TestBrokenLuaFileDoesNotStopTheNode: a file under [lua] paths that does
// not load (here a resource agent nothing uses and the policy of a group)
// does not keep the node from starting: the node lists it as broken with
// its file and line, the group runs under the default policy, and explain
// says why.
func TestBrokenLuaFileDoesNotStopTheNode(t *testing.T) {
	dir := t.TempDir()
	paths := writeCluster(t, dir, 135, 1)
	luaDir := filepath.Join(dir, "lua")
	for file, code := range map[string]string{
		"resource/unused.lua": "local M = {}\n\nfunction M.meta(\nreturn M\n",
		"policy/mine.lua":     "local M = {}\nfunction M.meta() return { description = 'x' } end\nreturn M\n",
	} {
		p := filepath.Join(luaDir, file)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(code), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	nodes := startNodes(t, paths, nodeSetup{lua: true, edit: func(_ int, src string) string {
		return strings.Replace(src, "[debug]", fmt.Sprintf("[lua]\npaths = [%q]\n\n[debug]", luaDir), 1)
	}})
	n := nodes[0].n
	b := n.Lua().Broken("resource")
	if len(b) != 1 || b[0].Name != "unused" || !strings.Contains(b[0].Broken, "resource/unused.lua:4: syntax error") {
		t.Fatalf("broken resource scripts: %+v", b)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, kv := range [][2]string{
		{"/resources/r1", `{"agent": "dummy", "group": "g1", "monitor": "200ms"}`},
		{"/groups/g1", `{"resources": ["r1"], "policy": "mine"}`},
	} {
		var err error
		eventually(t, 15*time.Second, "n1 takes the write of "+kv[0], func() bool {
			_, err = n.CDBSet(ctx, kv[0], []byte(kv[1]))
			var nq cdb.ErrNoQuorum
			return !errors.As(err, &nq)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 20*time.Second, "g1 online on n1 under the default policy", func() bool {
		gs, err := n.Groups()
		if err != nil {
			return false
		}
		for _, g := range gs {
			if g.Name == "g1" {
				return g.State == "online" && g.Owner == "n1"
			}
		}
		return false
	})
	s, err := n.Explain("g1")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(s, "policy mine is broken") || !strings.Contains(s, "policy/mine.lua") || !strings.Contains(s, "default policy") {
		t.Fatalf("explain does not say the policy is broken and the default decides:\n%s", s)
	}
}

// TestMisbehavingAgentsKeepTheNode (issue 21): resource agents that hang
// (a command that never ends), loop, ask for a terabyte or raise an error in
// meta(), beside a good group on the same node: each bad one ends with a
// clear error (the call stopped at its deadline or as a memory bomb; the
// broken script refused, with its file, when a resource names it), the
// node keeps running and the good group stays online, undisturbed.
func TestMisbehavingAgentsKeepTheNode(t *testing.T) {
	dir := t.TempDir()
	paths := writeCluster(t, dir, 238, 1)
	luaDir := filepath.Join(dir, "lua")
	agent := func(name, start string) string {
		return `local M = {}
local exec = require("exec")
function M.meta() return { name = "` + name + `", description = "misbehaves in start" } end
function M.start() ` + start + ` return "ok" end
function M.stop() return "ok" end
function M.monitor() return "not_running" end
return M
`
	}
	for file, code := range map[string]string{
		"resource/hang.lua":    agent("hang", `exec.run{argv = {"sleep", "600"}}`),
		"resource/loop.lua":    agent("loop", `while true do end`),
		"resource/hog.lua":     agent("hog", `local s = string.rep("x", 1e12)`),
		"resource/badmeta.lua": "local M = {}\nfunction M.meta() error('no meta today') end\nfunction M.start() return 'ok' end\nfunction M.stop() return 'ok' end\nfunction M.monitor() return 'ok' end\nreturn M\n",
	} {
		p := filepath.Join(luaDir, file)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(code), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cn := startNodes(t, paths, nodeSetup{lua: true, edit: func(_ int, src string) string {
		return strings.Replace(src, "[debug]", fmt.Sprintf("[lua]\npaths = [%q]\ngrant = [%q]\npool_size = 8\n\n[debug]", luaDir, luaDir), 1)
	}})[0]
	n := cn.n
	b := n.Lua().Broken("resource")
	if len(b) != 1 || b[0].Name != "badmeta" || !strings.Contains(b[0].Broken, "resource/badmeta.lua") || !strings.Contains(b[0].Broken, "no meta today") {
		t.Fatalf("broken resource scripts: %+v, want badmeta with its file and error", b)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	write := func(k, v string) error {
		var err error
		eventually(t, 15*time.Second, "n1 takes the write of "+k, func() bool {
			_, err = n.CDBSet(ctx, k, []byte(v))
			var nq cdb.ErrNoQuorum
			return !errors.As(err, &nq)
		})
		return err
	}
	if err := write("/resources/good", `{"agent": "dummy", "group": "good", "monitor": "200ms"}`); err != nil {
		t.Fatal(err)
	}
	if err := write("/groups/good", `{"resources": ["good"]}`); err != nil {
		t.Fatal(err)
	}
	group := func(name string) GroupStatus {
		gs, _ := n.Groups()
		for _, g := range gs {
			if g.Name == name {
				return g
			}
		}
		return GroupStatus{}
	}
	eventually(t, 20*time.Second, "good online", func() bool { return group("good").State == "online" })
	if err := write("/resources/bm", `{"agent": "badmeta", "group": "bm"}`); err == nil || !errors.Is(err, ErrInvalidConfig) ||
		!strings.Contains(err.Error(), `no resource agent "badmeta"`) {
		t.Errorf("a resource on the agent whose meta() fails: %v, want refused", err)
	}
	// (the hog asks for a terabyte at once: refused before it is
	// allocated; lua's TestMemoryBombStopped grows the heap for real)
	want := map[string]string{"hang": "stopped at its deadline (1s)", "loop": "stopped at its deadline (1s)", "hog": "string.rep: the result would be"}
	for name := range want {
		if err := write("/resources/"+name, `{"agent": "`+name+`", "group": "`+name+`", "timeouts": {"start": "1s"}}`); err != nil {
			t.Fatal(err)
		}
		if err := write("/groups/"+name, `{"resources": ["`+name+`"]}`); err != nil {
			t.Fatal(err)
		}
	}
	// each is tried, fails with its reason, and is given up on here (the
	// group blocked: the node is banned for it), never taking the node
	failedWith := func(name string) []string {
		evs, _ := n.Events(0, 0)
		var errs []string
		for _, e := range evs {
			if e.Kind == "resource_failed" && e.Resource == name {
				errs = append(errs, e.Error)
			}
		}
		return errs
	}
	for name, w := range want {
		deadline := time.Now().Add(45 * time.Second)
		for {
			g, errs := group(name), failedWith(name)
			if len(errs) > 0 && (g.State == "blocked" || g.State == "failed") {
				for _, e := range errs {
					if !strings.Contains(e, w) || !strings.Contains(e, "resource/"+name+" start") {
						t.Errorf("%s failed with %q, want it to name resource/%s start and say %q", name, e, name, w)
					}
				}
				break
			}
			if time.Now().After(deadline) {
				evs, _ := n.Events(0, 0)
				t.Fatalf("%s did not fail within 45s: group %+v; events:\n%s", name, g, eventLines(evs))
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	select {
	case err := <-cn.done:
		t.Fatalf("the node stopped: %v", err)
	default:
	}
	evs, err := n.Events(0, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range evs {
		if (e.Group == "good" || e.Resource == "good") && e.Kind != "group_online" && e.Kind != "resource_started" {
			t.Errorf("the good group was disturbed: %s %s %s", e.Kind, e.Group, e.Reason)
		}
	}
	if g := group("good"); g.State != "online" || g.Owner != "n1" {
		t.Errorf("good after the bad agents: %+v", g)
	}
}
