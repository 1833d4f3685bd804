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
