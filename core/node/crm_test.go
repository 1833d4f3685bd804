package node

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/corral-ha/corral/core/transport"
	"github.com/corral-ha/corral/core/wire"
)

// TestGroupFailsOverBetweenNodes: three in-process nodes on real UDP with
// the stand-in executor: a group starts (in order) on one node, the owner
// stops, the group comes up on another, and every node says so.
func TestGroupFailsOverBetweenNodes(t *testing.T) {
	dir := t.TempDir()
	paths := writeCluster(t, dir, 89, 3)
	nodes := startNodes(t, paths, nodeSetup{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, kv := range [][2]string{
		{"/groups/web", `{"resources": ["ip", "app"], "preferred": ["n2", "n3"], "target": "stopped"}`},
		{"/resources/ip", `{"agent": "dummy", "group": "web", "monitor": "200ms"}`},
		{"/resources/app", `{"agent": "dummy", "group": "web", "monitor": "200ms"}`},
		{"/groups/web", `{"resources": ["ip", "app"], "preferred": ["n2", "n3"]}`},
	} {
		if _, err := nodes[0].n.CDBSet(ctx, kv[0], []byte(kv[1])); err != nil {
			t.Fatal(err)
		}
	}
	online := func(owner string) func() bool {
		return func() bool {
			for _, r := range nodes {
				if r == nil {
					continue
				}
				gs, err := r.n.Groups()
				if err != nil || len(gs) != 1 || gs[0].State != "online" || (owner != "" && gs[0].Owner != owner) {
					return false
				}
			}
			return true
		}
	}
	eventually(t, 10*time.Second, "web online on n2 (its preferred owner) on every node", online("n2"))
	if !nodes[1].ex.Running("ip") || !nodes[1].ex.Running("app") || nodes[2].ex.Running("app") || nodes[0].ex.Running("app") {
		t.Fatal("the executors do not run web on n2 only")
	}
	gs, _ := nodes[0].n.Groups()
	if gs[0].Address != "127.89.0.2" {
		t.Fatalf("address %q, want n2's first address", gs[0].Address)
	}
	evs, _ := nodes[2].n.Events(0, 0)
	var kinds []string
	for _, e := range evs {
		if e.Group == "web" {
			kinds = append(kinds, e.Kind+":"+e.Resource)
		}
	}
	if got := strings.Join(kinds, " "); !strings.Contains(got, "resource_started:ip resource_started:app group_online:") {
		t.Fatalf("n3's events: %s", got)
	}
	// a monitor failure restarts in place
	nodes[1].ex.Kill("app")
	eventually(t, 10*time.Second, "app restarted on n2", func() bool { return nodes[1].ex.Running("app") })
	ex, err := nodes[0].n.Explain("web")
	if err != nil || !strings.Contains(ex, "restarting it in place") {
		t.Fatalf("explain: %v\n%s", err, ex)
	}
	// the owner stops (its processes die with it): web comes up on n3
	nodes[1].kill()
	nodes[1] = nil
	eventually(t, 15*time.Second, "web online on n3 after n2 stopped", online("n3"))
	// DNS follows the failover: web.<domain> names n3's address on n1.
	eventually(t, 5*time.Second, "web's DNS name on n1 gives n3's address", func() bool {
		a, err := nodes[0].n.DNSQuery("web.test.corral.", "A")
		return err == nil && a.Rcode == "NOERROR" && len(a.Answer) == 1 && strings.Contains(a.Answer[0].Data, "127.89.0.3")
	})
	if !nodes[2].ex.Running("ip") || !nodes[2].ex.Running("app") {
		t.Fatal("n3's executor does not run web")
	}
	// move, stop, start through the node's requests
	if err := nodes[0].n.Move("web", "n1", 0); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "web moved to n1", online("n1"))
	if err := nodes[2].n.SetTarget(ctx, "web", "stopped"); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "web stopped", func() bool {
		gs, err := nodes[0].n.Groups()
		return err == nil && len(gs) == 1 && gs[0].State == "offline" && !nodes[0].ex.Running("ip")
	})
	if err := nodes[0].n.Move("nope", "", 0); err == nil || !strings.Contains(err.Error(), "no group") {
		t.Fatalf("move of an unknown group: %v", err)
	}
}

// TestPartitionedOwnerStops: the owner of a group is cut off from both
// peers (every link, both ways): it stops its resources (it is no longer
// in a primary view), the other two start the group, and after the cut
// heals the group runs on one node only.
func TestPartitionedOwnerStops(t *testing.T) {
	dir := t.TempDir()
	paths := writeCluster(t, dir, 90, 3)
	nodes := startNodes(t, paths, nodeSetup{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, kv := range [][2]string{
		{"/resources/app", `{"agent": "dummy", "group": "web", "monitor": "200ms"}`},
		{"/groups/web", `{"preferred": ["n3", "n2"]}`},
	} {
		if _, err := nodes[0].n.CDBSet(ctx, kv[0], []byte(kv[1])); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 10*time.Second, "web on n3", func() bool { return nodes[2].ex.Running("app") })
	// cut n3 off
	var ids []uint64
	for _, peer := range []wire.NodeID{1, 2} {
		id, err := nodes[2].n.Faults().AddFault(transport.Fault{Peer: nodes[2].n.PeerAddrs(peer), Link: -1, Dir: transport.Both, Drop: 1})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	eventually(t, 15*time.Second, "n3 stops app and n2 starts it", func() bool {
		return !nodes[2].ex.Running("app") && nodes[1].ex.Running("app")
	})
	for _, id := range ids {
		if err := nodes[2].n.Faults().RemoveFault(id); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 15*time.Second, "one view of three again, web online once", func() bool {
		gs, err := nodes[2].n.Groups()
		if err != nil || len(gs) != 1 || gs[0].State != "online" {
			return false
		}
		runs := 0
		for _, r := range nodes {
			if r.ex.Running("app") {
				runs++
			}
		}
		st, _ := nodes[2].n.StatusDoc()
		return runs == 1 && len(st.Members) == 3
	})
}

// TestCoordinatorSchedulesFromSettledDB (issue 15): n1 is cut off while
// the others acknowledge `target=stopped` for web and delete the resource
// of a second group; when the cut heals n1 coordinates the view of three
// again, its config DB still older than those writes until it settles.
// It must not schedule from that stale state: web never starts again and
// the deleted resource never starts.
func TestCoordinatorSchedulesFromSettledDB(t *testing.T) {
	dir := t.TempDir()
	paths := writeCluster(t, dir, 91, 3)
	// a short takeover wait, which n1's catch-up outlasts
	nodes := startNodes(t, paths, nodeSetup{edit: func(_ int, src string) string {
		return src + "\n[timers]\nlease = \"250ms\"\nmargin = \"0s\"\n"
	}})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// each write is acknowledged (retried while the view settles; the
	// writes are idempotent)
	write := func(what string, f func() error) {
		t.Helper()
		var err error
		for ctx.Err() == nil {
			if err = f(); err == nil {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Fatalf("%s: %v", what, err)
	}
	for _, kv := range [][2]string{
		{"/resources/app", `{"agent": "dummy", "group": "web", "monitor": "200ms"}`},
		{"/groups/web", `{"preferred": ["n2", "n3"]}`},
		{"/resources/job", `{"agent": "dummy", "group": "batch", "monitor": "200ms"}`},
		{"/groups/batch", `{"preferred": ["n3", "n2"]}`},
	} {
		write(kv[0], func() error { _, err := nodes[0].n.CDBSet(ctx, kv[0], []byte(kv[1])); return err })
	}
	eventually(t, 20*time.Second, "app on n2 and job on n3", func() bool {
		return nodes[1].ex.Running("app") && nodes[2].ex.Running("job")
	})
	// cut n1 off
	var ids []uint64
	for _, peer := range []wire.NodeID{2, 3} {
		id, err := nodes[0].n.Faults().AddFault(transport.Fault{Peer: nodes[0].n.PeerAddrs(peer), Link: -1, Dir: transport.Both, Drop: 1})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	members := func(k int, want string) func() bool {
		return func() bool {
			st, err := nodes[k].n.StatusDoc()
			return err == nil && st.Quorate && strings.Join(st.Members, ",") == want
		}
	}
	eventually(t, 15*time.Second, "n2 and n3 in a quorate view without n1", members(1, "n2,n3"))
	write("target=stopped", func() error { return nodes[1].n.SetTarget(ctx, "web", "stopped") })
	write("resource del job", func() error { _, err := nodes[1].n.CDBDelete(ctx, "/resources/job"); return err })
	// a history long enough that n1's catch-up outlasts the takeover wait
	big := strings.Repeat("x", 128<<10)
	for i := 0; i < 100; i++ {
		key := fmt.Sprintf("/bulk/%d", i)
		write(key, func() error { _, err := nodes[1].n.CDBSet(ctx, key, []byte(big)); return err })
	}
	eventually(t, 10*time.Second, "app and job stopped", func() bool {
		return !nodes[1].ex.Running("app") && !nodes[2].ex.Running("job")
	})
	seq := make([]uint64, 3)
	for k := 1; k < 3; k++ {
		seq[k] = nodes[k].n.LastEventSeq()
	}
	for _, id := range ids {
		if err := nodes[0].n.Faults().RemoveFault(id); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 15*time.Second, "n1 coordinates the view of three again", func() bool {
		st, err := nodes[0].n.StatusDoc()
		return err == nil && st.Quorate && st.Coordinator == "n1" && strings.Join(st.Members, ",") == "n1,n2,n3"
	})
	// until n1, settled, says both groups are offline, nothing starts
	eventually(t, 30*time.Second, "n1 shows web and batch offline", func() bool {
		for k, r := range nodes {
			if r.ex.Running("app") || r.ex.Running("job") {
				t.Fatalf("n%d runs app=%v job=%v after n1 rejoined: scheduled from a stale config DB", k+1, r.ex.Running("app"), r.ex.Running("job"))
			}
		}
		st, err := nodes[0].n.StatusDoc()
		if err != nil || !st.Quorate || st.Coordinator != "n1" || len(st.Members) != 3 {
			return false
		}
		gs, err := nodes[0].n.Groups()
		if err != nil || len(gs) != 2 {
			return false
		}
		for _, g := range gs {
			if g.State != "offline" {
				return false
			}
		}
		return true
	})
	for k := 1; k < 3; k++ {
		evs, err := nodes[k].n.Events(seq[k], 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range evs {
			if e.Kind == "resource_started" || e.Kind == "group_online" {
				t.Fatalf("n%d: %s group=%s resource=%s on %s after n1 rejoined: scheduled from a stale config DB", k+1, e.Kind, e.Group, e.Resource, e.On)
			}
		}
	}
}
