package node

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/corral-ha/corral/core/transport"
	"github.com/corral-ha/corral/core/wire"
)

// fenceNode is a node of startFenceCluster.
type fenceNode = clusterNode

// startFenceCluster starts three in-process nodes whose fence device is
// the agents' dummy fence driver recording in fenceDir, with one level
// per node, and a group web of one dummy resource preferring n2.
func startFenceCluster(t *testing.T, netBlock int, fenceDir string) []*fenceNode {
	t.Helper()
	dir := t.TempDir()
	paths := writeCluster(t, dir, netBlock, 3)
	fenceCfg := fmt.Sprintf("\n[[fence.devices]]\nname = \"dev\"\ndriver = \"dummy\"\nparams = { dir = %q }\n", fenceDir)
	for k := 1; k <= 3; k++ {
		fenceCfg += fmt.Sprintf("\n[[fence.levels]]\nnode = \"n%d\"\nlevel = 1\ndevices = [\"dev\"]\n", k)
	}
	// the [debug] table ends the file: the fence tables go before it
	nodes := startNodes(t, paths, nodeSetup{edit: func(_ int, src string) string {
		return strings.Replace(src, "[debug]", strings.TrimPrefix(fenceCfg, "\n")+"\n[debug]", 1)
	}})
	for _, r := range nodes {
		if !r.n.st.FenceConfigured() {
			t.Fatal("fencing is configured but the node does not see it")
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, kv := range [][2]string{
		{"/resources/app", `{"agent": "dummy", "group": "web", "monitor": "200ms"}`},
		{"/groups/web", `{"preferred": ["n2", "n3"]}`},
	} {
		if _, err := nodes[0].n.CDBSet(ctx, kv[0], []byte(kv[1])); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 10*time.Second, "web on n2", func() bool { return nodes[1].ex.Running("app") })
	return nodes
}

func webOn(r *fenceNode) (GroupStatus, bool) {
	gs, err := r.n.Groups()
	if err != nil || len(gs) != 1 {
		return GroupStatus{}, false
	}
	return gs[0], true
}

// TestFenceBeforeFailover: the owner of web crashes; the coordinator
// fences it through the dummy fence driver (fence_started, then
// node_fenced) and only then does web come up on a survivor; the history
// lands in the config DB.
func TestFenceBeforeFailover(t *testing.T) {
	fenceDir := t.TempDir()
	nodes := startFenceCluster(t, 98, fenceDir)
	nodes[1].kill()
	eventually(t, 20*time.Second, "web online on a survivor", func() bool {
		g, ok := webOn(nodes[0])
		return ok && g.State == "online" && g.Owner != "n2" && g.Owner != ""
	})
	b, err := os.ReadFile(filepath.Join(fenceDir, "n2"))
	if err != nil || strings.TrimSpace(string(b)) != "on" {
		t.Fatalf("the dummy device did not reboot n2: %q %v", b, err)
	}
	for _, r := range []*fenceNode{nodes[0], nodes[2]} {
		// n1 may see web online before n3 has recorded it: wait for each
		// node's own group_online, then check the order.
		var evs []Event
		eventually(t, 10*time.Second, r.n.cfg.Node+" records web online", func() bool {
			var err error
			evs, err = r.n.Events(0, 0)
			if err != nil {
				return false
			}
			for _, e := range evs {
				if e.Kind == "group_online" && e.Group == "web" && e.Owner != "n2" {
					return true
				}
			}
			return false
		})
		started, fenced, online := -1, -1, -1
		for i, e := range evs {
			switch {
			case e.Kind == "fence_started" && e.Target == "n2" && started < 0:
				started = i
				if e.Device != "dev" {
					t.Errorf("fence_started device %q, want dev", e.Device)
				}
			case e.Kind == "node_fenced" && e.Target == "n2" && fenced < 0:
				fenced = i
				if e.Device != "dev" || e.By == "" {
					t.Errorf("node_fenced device %q by %q", e.Device, e.By)
				}
			case e.Kind == "group_online" && e.Group == "web" && e.Owner != "n2" && online < 0:
				online = i
			}
		}
		if started < 0 || fenced < 0 || online < 0 || started >= fenced || fenced >= online {
			var ks []string
			for _, e := range evs {
				ks = append(ks, e.Kind+":"+e.Target+e.Group)
			}
			t.Fatalf("%s: want fence_started < node_fenced < group_online, got %d %d %d: %s", r.n.cfg.Node, started, fenced, online, strings.Join(ks, " "))
		}
	}
	st, err := nodes[0].n.FenceStatus()
	if err != nil {
		t.Fatal(err)
	}
	var n2 FenceTarget
	for _, ts := range st.Targets {
		if ts.Target == "n2" {
			n2 = ts
		}
	}
	if !n2.Confirmed || n2.State != "done" || n2.Device != "dev" {
		t.Fatalf("n2's fence status: %+v", n2)
	}
	if len(st.Devices) != 1 || st.Devices[0].Driver != "dummy" || len(st.Levels) != 3 {
		t.Fatalf("devices %+v levels %+v", st.Devices, st.Levels)
	}
	eventually(t, 10*time.Second, "a history record of n2's fence", func() bool {
		h, err := nodes[2].n.FenceHistory()
		return err == nil && len(h) == 1 && h[0].Target == "n2" && h[0].State == "done" && h[0].Device == "dev"
	})
}

// TestFenceFailureKeepsGroupBlocked: the fence device fails, so web stays
// where it was, blocked "waiting for fence of n2", the status says the
// fence failed and no survivor runs it; once the device works again the
// next operation fences n2 and web comes up.
func TestFenceFailureKeepsGroupBlocked(t *testing.T) {
	fenceDir := t.TempDir()
	nodes := startFenceCluster(t, 98, fenceDir)
	if err := os.WriteFile(filepath.Join(fenceDir, "fail"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	nodes[1].kill()
	eventually(t, 20*time.Second, "the fence of n2 failed", func() bool {
		st, err := nodes[0].n.FenceStatus()
		if err != nil {
			return false
		}
		for _, ts := range st.Targets {
			if ts.Target == "n2" && ts.State == "failed" && strings.Contains(ts.Error, "told to fail") && !ts.Confirmed {
				return true
			}
		}
		return false
	})
	for _, r := range []*fenceNode{nodes[0], nodes[2]} {
		eventually(t, 10*time.Second, r.n.cfg.Node+": web blocked waiting for fence of n2", func() bool {
			g, ok := webOn(r)
			return ok && strings.Contains(g.Reason, "waiting for fence of n2")
		})
		if g, _ := webOn(r); g.State == "online" && g.Owner != "n2" {
			t.Fatalf("%s: web %+v online on a survivor", r.n.cfg.Node, g)
		}
		evs, _ := r.n.Events(0, 0)
		failed := false
		for _, e := range evs {
			failed = failed || (e.Kind == "fence_failed" && e.Target == "n2" && strings.Contains(e.Error, "told to fail"))
			if e.Kind == "node_fenced" {
				t.Fatalf("%s: node_fenced with a failing device: %+v", r.n.cfg.Node, e)
			}
		}
		if !failed {
			t.Fatalf("%s: no fence_failed event for n2", r.n.cfg.Node)
		}
	}
	if nodes[0].ex.Running("app") || nodes[2].ex.Running("app") {
		t.Fatal("web runs on a survivor while n2 is not fenced")
	}
	if err := os.Remove(filepath.Join(fenceDir, "fail")); err != nil {
		t.Fatal(err)
	}
	eventually(t, 40*time.Second, "n2 fenced at the retry and web online on a survivor", func() bool {
		g, ok := webOn(nodes[0])
		return ok && g.State == "online" && g.Owner != "n2" && g.Owner != ""
	})
}

// TestFencedNodeStopsItself: web's owner n2 is cut off from both peers
// (alive); the majority fences it (the dummy device only records it, so
// n2 lives on), web comes up on n3; when the cut heals, n2 learns it was
// fenced at its own boot id and stops: its Run ends with the fence as the
// reason and it runs nothing.
func TestFencedNodeStopsItself(t *testing.T) {
	fenceDir := t.TempDir()
	nodes := startFenceCluster(t, 98, fenceDir)
	var ids []uint64
	for _, peer := range []wire.NodeID{1, 3} {
		id, err := nodes[1].n.Faults().AddFault(transport.Fault{Peer: nodes[1].n.PeerAddrs(peer), Link: -1, Dir: transport.Both, Drop: 1})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	eventually(t, 20*time.Second, "n2 fenced and web online on n3", func() bool {
		g, ok := webOn(nodes[0])
		fenced := false
		_ = nodes[0].n.do(func() { _, fenced = nodes[0].n.st.Confirmed("n2") })
		return ok && g.State == "online" && g.Owner == "n3" && fenced
	})
	if nodes[1].ex.Running("app") {
		t.Fatal("the cut-off n2 still runs app")
	}
	for _, id := range ids {
		if err := nodes[1].n.Faults().RemoveFault(id); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case err := <-nodes[1].done:
		nodes[1].done <- err // for the cleanup
		nodes[1].cancel()
		if err == nil || !strings.Contains(err.Error(), "fenced") {
			t.Fatalf("n2's Run ended with %v, want the fence as the reason", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("n2 did not stop itself after the cut healed")
	}
	if nodes[1].ex.Running("app") {
		t.Fatal("the fenced n2 runs app")
	}
	// (while n2 was back in the view, the resource manager may have begun
	// to move web back to its preferred n2; once n2 is gone it runs on a
	// survivor)
	eventually(t, 20*time.Second, "web running on one survivor", func() bool {
		g, ok := webOn(nodes[0])
		return ok && g.State == "online" && !nodes[1].ex.Running("app") &&
			(g.Owner == "n1" && nodes[0].ex.Running("app") && !nodes[2].ex.Running("app") ||
				g.Owner == "n3" && nodes[2].ex.Running("app") && !nodes[0].ex.Running("app"))
	})
}

// TestStopFailureEscalatesToFence: web is moved off n2 but its stop fails
// there (the resource may still run): n2 asks for its own fence (the
// request's reason names the failed stop) and stops itself when it sees
// the fence begin; web stays blocked "waiting for fence of n2" and starts
// nowhere while the device fails; once the fence succeeds web comes up on
// a survivor.
func TestStopFailureEscalatesToFence(t *testing.T) {
	fenceDir := t.TempDir()
	nodes := startFenceCluster(t, 101, fenceDir)
	if err := os.WriteFile(filepath.Join(fenceDir, "fail"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	nodes[1].ex.FailStops("app", true)
	if err := nodes[0].n.Move("web", "n3", 0); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "a fence of n2 for the failed stop", func() bool {
		st, err := nodes[0].n.FenceStatus()
		if err != nil {
			return false
		}
		for _, ts := range st.Targets {
			if ts.Target == "n2" && strings.Contains(ts.Reason, "stop of app failed on n2") && ts.State == "failed" && !ts.Confirmed {
				return true
			}
		}
		return false
	})
	for _, r := range []*fenceNode{nodes[0], nodes[2]} {
		eventually(t, 10*time.Second, r.n.cfg.Node+": web blocked waiting for fence of n2", func() bool {
			g, ok := webOn(r)
			// "stop of app failed on n2: waiting for fence of n2" while n2
			// is a member; n2 fences itself as soon as it sees its fence
			// begin, so mostly "waiting for fence of n2" (it left uncleanly)
			return ok && g.State == "blocked" && strings.Contains(g.Reason, "waiting for fence of n2")
		})
	}
	if nodes[0].ex.Running("app") || nodes[2].ex.Running("app") {
		t.Fatal("web started on a survivor while its stop failed on n2 and n2 is not fenced")
	}
	if !nodes[1].ex.Running("app") {
		t.Fatal("the dummy's failed stop should leave app running on n2")
	}
	select {
	case err := <-nodes[1].done:
		nodes[1].done <- err // for the cleanup
		if err == nil || !strings.Contains(err.Error(), "fenced") {
			t.Fatalf("n2's Run ended with %v, want the fence as the reason", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("n2 did not stop itself once its fence began")
	}
	if g, _ := webOn(nodes[0]); g.State != "blocked" || nodes[0].ex.Running("app") || nodes[2].ex.Running("app") {
		t.Fatalf("web %+v before the fence of n2 succeeded", g)
	}
	if err := os.Remove(filepath.Join(fenceDir, "fail")); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "web online on a survivor", func() bool {
		g, ok := webOn(nodes[0])
		return ok && g.State == "online" && (g.Owner == "n1" && nodes[0].ex.Running("app") || g.Owner == "n3" && nodes[2].ex.Running("app"))
	})
}

// TestStopFailureWithoutLeaseSelfFences: web's owner n2 is cut off, so it
// loses its lease and stops web itself; that stop fails, and with no
// coordinator to ask for its fence it fences itself: its Run ends with
// the failed stop as the reason. The majority fences it and runs web.
func TestStopFailureWithoutLeaseSelfFences(t *testing.T) {
	fenceDir := t.TempDir()
	nodes := startFenceCluster(t, 101, fenceDir)
	nodes[1].ex.FailStops("app", true)
	for _, peer := range []wire.NodeID{1, 3} {
		if _, err := nodes[1].n.Faults().AddFault(transport.Fault{Peer: nodes[1].n.PeerAddrs(peer), Link: -1, Dir: transport.Both, Drop: 1}); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case err := <-nodes[1].done:
		nodes[1].done <- err // for the cleanup
		if err == nil || !strings.Contains(err.Error(), "stop of app failed on n2") || !strings.Contains(err.Error(), "lost its lease") {
			t.Fatalf("n2's Run ended with %v, want a self-fence for the failed stop", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("n2 did not fence itself after its stop failed without a lease")
	}
	eventually(t, 30*time.Second, "web online on a survivor", func() bool {
		g, ok := webOn(nodes[0])
		return ok && g.State == "online" && (g.Owner == "n1" && nodes[0].ex.Running("app") || g.Owner == "n3" && nodes[2].ex.Running("app"))
	})
}

// TestCleanLeaveDrainsGroups (issue 16): a clean leave of web's owner n2
// stops app there through its agent before n2 leaves (Leave returns with
// app stopped), and web comes online on n3 with no fence of n2. It used
// to leave with app running and web "waiting for fence of n2", a fence
// that never comes for a clean leave.
func TestCleanLeaveDrainsGroups(t *testing.T) {
	nodes := startFenceCluster(t, 101, t.TempDir())
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := nodes[1].n.Leave(ctx); err != nil {
		t.Fatal(err)
	}
	if nodes[1].ex.Running("app") {
		t.Fatal("n2 left cleanly with app still running there")
	}
	eventually(t, 10*time.Second, "web online on n3", func() bool {
		g, ok := webOn(nodes[0])
		return ok && g.State == "online" && g.Owner == "n3" && nodes[2].ex.Running("app")
	})
	st, err := nodes[0].n.FenceStatus()
	if err != nil {
		t.Fatal(err)
	}
	for _, ts := range st.Targets {
		if ts.State != "" {
			t.Errorf("fence state after a clean leave: %+v", ts)
		}
	}
}
