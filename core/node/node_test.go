package node

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/corral-ha/corral/core/bcast"
	"github.com/corral-ha/corral/core/config"
	"github.com/corral-ha/corral/core/conn"
	"github.com/corral-ha/corral/core/transport"
	"github.com/corral-ha/corral/core/wire"
)

// WriteCluster writes the configs of an n-node cluster with two links per
// node on 127.<net>.0.K and 127.<net>.1.K into dir and returns their paths.
func writeCluster(t testing.TB, dir string, netBlock, n int) []string {
	t.Helper()
	port := freePort(t, fmt.Sprintf("127.%d.0.1", netBlock))
	if err := os.WriteFile(filepath.Join(dir, "cluster.key"), []byte("MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var nodes strings.Builder
	for k := 1; k <= n; k++ {
		fmt.Fprintf(&nodes, "[[nodes]]\nname = \"n%d\"\nid = %d\naddresses = [\"127.%d.0.%d\", \"127.%d.1.%d\"]\n\n", k, k, netBlock, k, netBlock, k)
	}
	var paths []string
	for k := 1; k <= n; k++ {
		p := filepath.Join(dir, fmt.Sprintf("n%d.toml", k))
		src := fmt.Sprintf("cluster = \"test\"\nnode = \"n%d\"\nkey_file = \"cluster.key\"\ndata_dir = \"n%d\"\nport = %d\n\n%s[debug]\nfault_injection = true\n",
			k, k, port, nodes.String())
		if err := os.WriteFile(p, []byte(src), 0o600); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	return paths
}

func freePort(t testing.TB, ip string) int {
	t.Helper()
	c, err := net.ListenPacket("udp4", ip+":0")
	if err != nil {
		t.Skipf("cannot bind %s on loopback: %v", ip, err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

// testNode is a running node with its events and messages recorded.
type testNode struct {
	*Node
	mu     sync.Mutex
	events []conn.Event
	msgs   []conn.Message
}

func startNode(t testing.TB, path string) *testNode {
	t.Helper()
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	tn := &testNode{}
	n, err := Open(cfg, Options{
		Logger:    slog.New(slog.NewTextHandler(io.Discard, nil)),
		OnMessage: func(m conn.Message) { tn.mu.Lock(); tn.msgs = append(tn.msgs, m); tn.mu.Unlock() },
		OnEvent:   func(e conn.Event) { tn.mu.Lock(); tn.events = append(tn.events, e); tn.mu.Unlock() },
	})
	if err != nil {
		t.Fatal(err)
	}
	tn.Node = n
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("node %s: %v", cfg.Node, err)
		}
	})
	return tn
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", within, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (tn *testNode) reachable(t *testing.T, peer wire.NodeID) bool {
	st, err := tn.Status()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range st {
		if p.ID == peer {
			return p.Reachable
		}
	}
	return false
}

func (tn *testNode) received() int {
	tn.mu.Lock()
	defer tn.mu.Unlock()
	return len(tn.msgs)
}

func TestBootIDGrows(t *testing.T) {
	dir := t.TempDir()
	paths := writeCluster(t, dir, 42, 2)
	cfg, err := config.Load(paths[0])
	if err != nil {
		t.Fatal(err)
	}
	var boots []uint32
	for range 3 {
		n, err := Open(cfg, Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			t.Fatal(err)
		}
		boots = append(boots, n.Boot())
		if err := n.Close(); err != nil {
			t.Fatal(err)
		}
	}
	// At least the wall clock's seconds, and one more at every start even
	// within one second.
	if floor := bootFloor(time.Now()) - 10; boots[0] < floor || boots[1] <= boots[0] || boots[2] <= boots[1] {
		t.Fatalf("boot ids %v: want growing from the clock's seconds (%d)", boots, floor+10)
	}
}

// TestBootIDAfterWipe (issue 22): a node whose data directory is wiped
// does not start again at boot 1 (below what its peers saw, so they would
// drop its packets as stale): the boot id is at least the clock's seconds.
func TestBootIDAfterWipe(t *testing.T) {
	dir := t.TempDir()
	s, err := OpenStore(filepath.Join(dir, "a"))
	if err != nil {
		t.Fatal(err)
	}
	var last uint32
	for range 3 {
		if last, err = s.NextBoot(1000); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	if last != 1002 {
		t.Fatalf("third boot %d, want 1002", last)
	}
	wiped, err := OpenStore(filepath.Join(dir, "b"))
	if err != nil {
		t.Fatal(err)
	}
	defer wiped.Close()
	if b, err := wiped.NextBoot(1003); err != nil || b != 1003 {
		t.Fatalf("boot after a wipe, a second later: %d, %v; want 1003", b, err)
	}
	if f := bootFloor(time.Unix(1<<33, 0)); f != 0 {
		t.Fatalf("floor beyond 2106: %d", f)
	}
}

// TestLinkCutOverRealUDP: three nodes on real loopback sockets with two
// links each. Cutting one link with the built-in fault injection reports
// link_down, messages keep flowing over the other link, and link_up comes
// back when the cut is lifted.
func TestLinkCutOverRealUDP(t *testing.T) {
	dir := t.TempDir()
	paths := writeCluster(t, dir, 43, 3)
	nodes := []*testNode{startNode(t, paths[0]), startNode(t, paths[1]), startNode(t, paths[2])}
	n1, n2 := nodes[0], nodes[1]
	eventually(t, 5*time.Second, "all nodes reach each other", func() bool {
		for i, a := range nodes {
			for j := range nodes {
				if i != j && !a.reachable(t, wire.NodeID(j+1)) {
					return false
				}
			}
		}
		return true
	})

	// Cut n1's link 0 to n2 both ways.
	downs := countEvents(n1, conn.EventLinkDown, 2, 0)
	id, err := n1.Faults().AddFault(transport.Fault{Peer: n1.PeerAddrs(2), Link: 0, Dir: transport.Both, Drop: 1})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 3*time.Second, "n1 reports link_down on its link 0 to n2", func() bool {
		return countEvents(n1, conn.EventLinkDown, 2, 0) > downs
	})
	if !n1.reachable(t, 2) {
		t.Fatal("n1 lost n2 although link 1 is up")
	}
	const count = 200
	for i := range count {
		if _, err := n1.Send(2, []byte(fmt.Sprintf("message %d", i))); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 5*time.Second, "n2 receives every message sent over the remaining link", func() bool {
		return n2.received() >= count
	})
	n2.mu.Lock()
	for i, m := range n2.msgs[:count] {
		if want := fmt.Sprintf("message %d", i); string(m.Data) != want || m.From != 1 {
			n2.mu.Unlock()
			t.Fatalf("message %d is %q from %d, want %q from 1", i, m.Data, m.From, want)
		}
	}
	n2.mu.Unlock()
	if n2.received() != count {
		t.Fatalf("n2 received %d messages, want exactly %d", n2.received(), count)
	}
	_, ts, err := n1.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if ts.Total().Dropped == 0 {
		t.Fatal("fault injection dropped nothing")
	}
	// link_down may come first from n2's report that it no longer hears n1
	// (the cut is both ways); n1's own detector suspects the path once
	// n2's heartbeats have been missing for its suspicion timeout.
	eventually(t, 5*time.Second, "n1 suspects its cut path to n2", func() bool {
		cs, _, err := n1.Stats()
		return err == nil && cs.Suspicions > 0
	})

	ups := countEvents(n1, conn.EventLinkUp, 2, 0)
	if err := n1.Faults().RemoveFault(id); err != nil {
		t.Fatal(err)
	}
	eventually(t, 3*time.Second, "n1 reports link_up on its link 0 to n2 after the cut is lifted", func() bool {
		return countEvents(n1, conn.EventLinkUp, 2, 0) > ups
	})
	// link 0's paths come up one by one (each on its own heartbeats)
	eventually(t, 3*time.Second, "every path of n1 to n2 up after the cut is lifted", func() bool {
		for _, p := range mustStatus(t, n1, 2).Paths {
			if !p.Up {
				return false
			}
		}
		return true
	})
}

func mustStatus(t *testing.T, tn *testNode, peer wire.NodeID) conn.PeerStatus {
	t.Helper()
	st, err := tn.Status()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range st {
		if p.ID == peer {
			return p
		}
	}
	t.Fatalf("no status for peer %d", peer)
	return conn.PeerStatus{}
}

func countEvents(tn *testNode, kind conn.EventKind, peer wire.NodeID, local int) int {
	tn.mu.Lock()
	defer tn.mu.Unlock()
	c := 0
	for _, e := range tn.events {
		if e.Kind == kind && e.Peer == peer && e.Local == local {
			c++
		}
	}
	return c
}

// TestEventsStoredAndNumbered: the event stream records view changes with
// sequence numbers that keep growing across a restart.
func TestEventsStoredAndNumbered(t *testing.T) {
	dir := t.TempDir()
	paths := writeCluster(t, dir, 44, 2)
	cfg, err := config.Load(paths[0])
	if err != nil {
		t.Fatal(err)
	}
	n1 := startNode(t, paths[0])
	startNode(t, paths[1])
	var evs []Event
	eventually(t, 5*time.Second, "n1 records a view of n1 and n2", func() bool {
		evs, err = n1.Events(0, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range evs {
			if e.Kind == "view_changed" && len(e.Members) == 2 && e.Primary != nil && *e.Primary {
				return true
			}
		}
		return false
	})
	for i, e := range evs {
		if e.Seq != uint64(i+1) || e.Node != "n1" || e.Time == "" {
			t.Fatalf("event %d: %+v: want seq %d, node n1, a time", i, e, i+1)
		}
	}
	ch, stop := n1.Subscribe(16)
	defer stop()
	last := evs[len(evs)-1].Seq
	if err := n1.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case e := <-ch:
		t.Fatalf("event %+v after Close", e)
	default:
	}
	n, err := Open(cfg, Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	again, err := n.Events(last-1, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(again) != 1 || again[0].Seq != last {
		t.Fatalf("after a restart, events after %d: %+v", last-1, again)
	}
	n.events.append([]Event{{Kind: "test"}})
	more, _ := n.Events(last, 0)
	if len(more) != 1 || more[0].Seq != last+1 {
		t.Fatalf("the first event after a restart is %+v, want seq %d", more, last+1)
	}
}

// TestBroadcastOverRealUDP: three nodes on real sockets broadcast; every
// node delivers every message once, safe, in one order.
func TestBroadcastOverRealUDP(t *testing.T) {
	dir := t.TempDir()
	paths := writeCluster(t, dir, 45, 3)
	var mu sync.Mutex
	got := map[int][]string{}
	var nodes []*Node
	for i, p := range paths {
		cfg, err := config.Load(p)
		if err != nil {
			t.Fatal(err)
		}
		i := i
		n, err := Open(cfg, Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
			OnDeliver: func(d bcast.Delivery) {
				if d.Level == bcast.Safe {
					mu.Lock()
					got[i] = append(got[i], string(d.Payload))
					mu.Unlock()
				}
			}})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- n.Run(ctx) }()
		t.Cleanup(func() { cancel(); <-done })
		nodes = append(nodes, n)
	}
	eventually(t, 5*time.Second, "one quorate view of three", func() bool {
		var view string
		for _, n := range nodes {
			st, err := n.StatusDoc()
			if err != nil || !st.Quorate || len(st.Members) != 3 || (view != "" && st.View != view) {
				return false
			}
			view = st.View
		}
		return true
	})
	const per = 20
	for k := range per {
		for i, n := range nodes {
			if _, err := n.Broadcast([]byte(fmt.Sprintf("n%d-%d", i+1, k))); err != nil {
				t.Fatal(err)
			}
		}
	}
	eventually(t, 5*time.Second, "every node delivers every message", func() bool {
		mu.Lock()
		defer mu.Unlock()
		for i := range nodes {
			if len(got[i]) < per*len(nodes) {
				return false
			}
		}
		return true
	})
	mu.Lock()
	defer mu.Unlock()
	for i := 1; i < len(nodes); i++ {
		if fmt.Sprint(got[i]) != fmt.Sprint(got[0]) {
			t.Fatalf("n%d delivered %v, n1 %v", i+1, got[i], got[0])
		}
	}
	if len(got[0]) != per*len(nodes) {
		t.Fatalf("n1 delivered %d messages, want %d", len(got[0]), per*len(nodes))
	}
}
