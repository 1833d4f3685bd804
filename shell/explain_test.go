package shell

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/corral-ha/corral/core/api"

	"github.com/corral-ha/corral/core/api/apitest"
	"github.com/corral-ha/corral/core/apitypes"
	"github.com/corral-ha/corral/core/node"
)

// explainFake answers the explain endpoints: groups web and node exist,
// nodes n1..n3.
type explainFake struct{ crmNode }

func (f *explainFake) Explain(g string) (string, error) {
	if g != "web" && g != "node" {
		return "", fmt.Errorf("There is no group %s: %w", g, node.ErrNotFound)
	}
	return "Group " + g + " is online on n2.\n", nil
}

func (f *explainFake) ExplainNode(name string) (apitypes.NodeExplain, error) {
	if !strings.HasPrefix(name, "n") || len(name) != 2 {
		return apitypes.NodeExplain{}, fmt.Errorf("no node %q: %w", name, node.ErrNotFound)
	}
	return apitypes.NodeExplain{Node: name, State: "paused", Member: true, Text: name + " is a member of view 4/n1.\nIt is paused.\n"}, nil
}

func (f *explainFake) ExplainQuorum() (apitypes.QuorumExplain, error) {
	return apitypes.QuorumExplain{Members: []string{"n1", "n2"}, LossSets: [][]string{{"n1"}, {"n2"}}, Fewest: 1,
		Text: "The view of n1, n2 is primary.\n"}, nil
}

func (f *explainFake) ExplainFence(name string) (apitypes.FenceExplain, error) {
	return apitypes.FenceExplain{Node: name, Levels: [][]string{{"power"}}, Text: name + " is fenced by level 1: power.\n"}, nil
}

// TestExplainDispatch: explain GROUP stays; a name that is no group is a
// node; the keywords node, quorum, fence and group choose explicitly.
func TestExplainDispatch(t *testing.T) {
	f := &explainFake{crmNode{Node: apitest.New()}}
	sock := serveNode(t, f)
	exec := func(cmd string) (string, string, int) {
		env, out, errb := testEnv("")
		code := Run([]string{"--socket", sock, "-c", cmd}, env)
		return out.String(), errb.String(), code
	}
	for cmd, want := range map[string]string{
		"explain web":        "Group web is online on n2.\n",
		"explain group web":  "Group web is online on n2.\n",
		"explain node":       "Group node is online on n2.\n", // a group named node
		"explain group node": "Group node is online on n2.\n",
		"explain n3":         "n3 is a member of view 4/n1.\nIt is paused.\n",
		"explain node n3":    "n3 is a member of view 4/n1.\nIt is paused.\n",
		"explain quorum":     "The view of n1, n2 is primary.\n",
		"explain fence n3":   "n3 is fenced by level 1: power.\n",
	} {
		if out, errs, code := exec(cmd); code != 0 || out != want {
			t.Errorf("%s: exit %d, out %q, err %q; want %q", cmd, code, out, errs, want)
		}
	}
	if _, errs, code := exec("explain nope"); code == 0 || !strings.Contains(errs, "no group nope") && !strings.Contains(errs, "There is no group nope") {
		t.Errorf("explain nope: exit %d, %q", code, errs)
	}
	if _, errs, code := exec("explain node n3 extra"); code != 2 || !strings.Contains(errs, "usage") {
		t.Errorf("explain node n3 extra: exit %d, %q", code, errs)
	}
	out, errs, code := exec("explain quorum --json")
	var q apitypes.QuorumExplain
	if code != 0 || json.Unmarshal([]byte(out), &q) != nil || q.Fewest != 1 || len(q.LossSets) != 2 {
		t.Errorf("explain quorum --json: %d %q %q", code, out, errs)
	}
	out, _, code = exec("explain node n2 --json")
	var n apitypes.NodeExplain
	if code != 0 || json.Unmarshal([]byte(out), &n) != nil || n.State != "paused" || !n.Member {
		t.Errorf("explain node n2 --json: %d %q", code, out)
	}
}

// serveNode serves the admin API of a fake node on a socket.
func serveNode(t *testing.T, n api.Node) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "corral.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	h := api.New(n)
	srv := &http.Server{Handler: h}
	go srv.Serve(ln)
	t.Cleanup(func() { h.Close(); srv.Close() })
	return sock
}
