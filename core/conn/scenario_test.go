package conn_test

import (
	"testing"
	"time"

	"github.com/corral-ha/corral/core/conn"
	"github.com/corral-ha/corral/core/sim"
	"github.com/corral-ha/corral/core/sim/simtest"
	"github.com/corral-ha/corral/core/wire"
)

// quietCluster is three nodes with two links on a clean network, sending
// nothing but heartbeats unless told to.
func quietCluster(r *simtest.Run, net sim.NetConfig) (*cluster, *sim.Sim) {
	cl := newCluster(r, 3, 2)
	s := r.New(sim.Config{Nodes: 3, Links: 2, Net: net}, func(h *sim.Host) sim.Process {
		p := cl.factory(h).(*node)
		p.quiet = true
		return p
	})
	return cl, s
}

func allReachable(cl *cluster, s *sim.Sim) bool {
	for i := 1; i <= cl.n; i++ {
		if s.Process(i) == nil {
			return false
		}
		for j := 1; j <= cl.n; j++ {
			if i != j && !cl.nodes[i].reach[wire.NodeID(j)] {
				return false
			}
		}
	}
	return true
}

func TestDiscoveryAndDeterminism(t *testing.T) {
	var hashes []uint64
	for _, seed := range []int64{1, 2} {
		h := simtest.Deterministic(t, seed, func(r *simtest.Run) {
			cl, s := quietCluster(r, sim.DefaultNet())
			if !s.RunUntil(func() bool { return allReachable(cl, s) }, time.Second) {
				r.Fatalf("3 nodes did not discover each other within 1s")
			}
			s.Run(2 * time.Second)
			st, _ := cl.nodes[1].c.Peer(2)
			// Links are separate networks in the simulator: paths 0-0 and
			// 1-1 are up, the crossed ones never come up.
			for _, p := range st.Paths {
				if want := p.Local == p.Remote; p.Up != want {
					r.Fatalf("n1->n2 path %d-%d up=%v, want %v", p.Local, p.Remote, p.Up, want)
				}
				if p.Up && (p.RTT <= 0 || p.RTT > 10*time.Millisecond) {
					r.Fatalf("path %d-%d RTT %v: want a measured round trip", p.Local, p.Remote, p.RTT)
				}
			}
		})
		hashes = append(hashes, h...)
	}
	if len(hashes) == 2 && hashes[0] == hashes[1] {
		t.Fatalf("seeds 1 and 2 gave the same trace hash %x", hashes[0])
	}
}

// TestCrashDetectedFast: a dead peer is unreachable in under 500 ms at
// default timers on a quiet network.
func TestCrashDetectedFast(t *testing.T) {
	simtest.Sweep(t, func(r *simtest.Run) {
		cl, s := quietCluster(r, sim.DefaultNet())
		s.Run(2 * time.Second)
		if !allReachable(cl, s) {
			r.Fatalf("not all reachable before the crash")
		}
		s.Crash(3)
		crashed := s.Now()
		gone := func() bool { return !cl.nodes[1].reach[3] && !cl.nodes[2].reach[3] }
		if !s.RunUntil(gone, 2*time.Second) {
			r.Fatalf("n3 crashed but is still reachable after 2s")
		}
		if d := s.Now() - crashed; d >= 500*time.Millisecond {
			r.Fatalf("crash detected after %v, want < 500ms", d)
		}
		if !cl.nodes[1].reach[2] {
			r.Fatalf("n1 lost n2 when n3 crashed")
		}
	})
}

// TestFirstCrashDetectedFast: a peer that crashes as soon as everyone
// reaches it (its paths have a heartbeat or two of history) is unreachable
// in under 500 ms too: a new path is judged as quickly as a learned one.
// Mutation -> seed that catches it: a path with fewer than 16 samples
// waiting twice the floor (the old warm-up) -> seed 1 (804 ms).
func TestFirstCrashDetectedFast(t *testing.T) {
	simtest.Sweep(t, func(r *simtest.Run) {
		cl, s := quietCluster(r, sim.DefaultNet())
		if !s.RunUntil(func() bool { return allReachable(cl, s) }, time.Second) {
			r.Fatalf("3 nodes did not discover each other within 1s")
		}
		s.Crash(3)
		crashed := s.Now()
		gone := func() bool { return !cl.nodes[1].reach[3] && !cl.nodes[2].reach[3] }
		if !s.RunUntil(gone, 2*time.Second) {
			r.Fatalf("n3 crashed but is still reachable after 2s")
		}
		if d := s.Now() - crashed; d >= 500*time.Millisecond {
			r.Fatalf("first crash detected after %v, want < 500ms", d)
		}
		if !cl.nodes[1].reach[2] {
			r.Fatalf("n1 lost n2 when n3 crashed")
		}
	})
}

// TestNoFalseSuspicionUnderJitter: delays that vary from 0 to 350 ms (a
// loaded machine) never make a live path look dead: the detector learns the
// variance.
func TestNoFalseSuspicionUnderJitter(t *testing.T) {
	simtest.Sweep(t, func(r *simtest.Run) {
		net := sim.NetConfig{MinDelay: 0, MaxDelay: 350 * time.Millisecond}
		cl, s := quietCluster(r, net)
		s.Run(30 * time.Second)
		for i := 1; i <= 3; i++ {
			for _, ps := range cl.nodes[i].c.Status() {
				for _, p := range ps.Paths {
					if p.Local == p.Remote && p.Suspicions > 0 {
						r.Fatalf("n%d suspected path %d-%d to n%d %d times under jitter (threshold %v)",
							i, p.Local, p.Remote, ps.ID, p.Suspicions, p.Threshold)
					}
				}
			}
		}
	})
}

// TestLocalPauseSuspectsNobody: a node paused for 2 s (a stopped VM) does
// not declare its live peers dead when it resumes: the late one was itself.
func TestLocalPauseSuspectsNobody(t *testing.T) {
	simtest.Sweep(t, func(r *simtest.Run) {
		cl, s := quietCluster(r, sim.DefaultNet())
		s.Run(2 * time.Second)
		before := cl.nodes[1].c.Stats()
		s.Pause(1, 2*time.Second)
		s.Run(3 * time.Second)
		after := cl.nodes[1].c.Stats()
		if after.LocalPauses == before.LocalPauses {
			r.Fatalf("n1 did not notice its own pause")
		}
		if after.Suspicions != before.Suspicions {
			r.Fatalf("n1 suspected %d paths after its own pause", after.Suspicions-before.Suspicions)
		}
		// Its peers did see it go silent, and see it back.
		if cl.nodes[2].c.Stats().Suspicions == 0 {
			r.Fatalf("n2 never suspected the paused n1")
		}
		if !allReachable(cl, s) {
			r.Fatalf("not all reachable after the pause")
		}
	})
}

// TestOneLinkCut: with one link cut both ways, messages keep flowing on the
// other, link_down is reported, and link_up comes back when it heals.
func TestOneLinkCut(t *testing.T) {
	simtest.Sweep(t, func(r *simtest.Run) {
		cl, s := quietCluster(r, sim.DefaultNet())
		s.Run(time.Second)
		n1 := cl.nodes[1]
		n1.quiet = false
		s.CutLink(sim.Addr{Node: 1, Link: 0}, sim.Addr{Node: 2, Link: 0}, false)
		s.Run(2 * time.Second)
		if up, ok := n1.links[[3]int{2, 0, 0}]; !ok || up {
			r.Fatalf("n1 did not report link_down for path 0-0 to n2")
		}
		if !n1.reach[2] {
			r.Fatalf("n1 reports n2 unreachable though link 1 is up")
		}
		n1.quiet = true
		s.Run(2 * time.Second)
		cl.checkAllDelivered(s)
		for k, sm := range cl.sent {
			if k.src == 1 && sm.dst == 2 && sm.delivered != 1 {
				r.Fatalf("message %d n1->n2 delivered %d times with one link up", sm.appSeq, sm.delivered)
			}
		}
		s.Heal()
		s.Run(time.Second)
		if !n1.links[[3]int{2, 0, 0}] {
			r.Fatalf("n1 did not report link_up for path 0-0 after healing")
		}
	})
}

// TestAsymmetric: n1 hears n2 but n2 does not hear n1. Each side reports
// what it sees, and neither calls the other reachable.
func TestAsymmetric(t *testing.T) {
	simtest.Sweep(t, func(r *simtest.Run) {
		cl, s := quietCluster(r, sim.DefaultNet())
		s.Run(time.Second)
		s.Cut(1, 2) // n1's packets to n2 are lost
		s.Run(2 * time.Second)
		a, _ := cl.nodes[1].c.Peer(2)
		b, _ := cl.nodes[2].c.Peer(1)
		if !a.Hears || a.HeardBy || a.Reachable {
			r.Fatalf("n1 about n2: hears=%v heardBy=%v reachable=%v, want true false false", a.Hears, a.HeardBy, a.Reachable)
		}
		if b.Hears || b.Reachable {
			r.Fatalf("n2 about n1: hears=%v reachable=%v, want false false", b.Hears, b.Reachable)
		}
		if cl.nodes[1].reach[2] || cl.nodes[2].reach[1] {
			r.Fatalf("events still call the one-way pair reachable")
		}
		if !cl.nodes[1].reach[3] || !cl.nodes[3].reach[2] {
			r.Fatalf("the cut between n1 and n2 affected n3")
		}
	})
}

// TestUndeliverable: messages to a peer that stays unreachable are reported
// undeliverable after the timeout, once, and never delivered later.
func TestUndeliverable(t *testing.T) {
	simtest.Sweep(t, func(r *simtest.Run) {
		cl, s := quietCluster(r, sim.DefaultNet())
		s.Run(time.Second)
		s.Partition([]int{1}, []int{2, 3})
		s.Run(time.Second)
		n1 := cl.nodes[1]
		n1.send(n1.h.Now(), 2, n1.h.Rand())
		n1.send(n1.h.Now(), 2, n1.h.Rand())
		n1.drain()
		s.Run(6 * time.Second)
		given := 0
		for k := range cl.given {
			if k.src == 1 {
				given++
			}
		}
		if given != 2 {
			r.Fatalf("%d messages reported undeliverable, want 2", given)
		}
		s.Heal()
		s.Run(2 * time.Second)
		for k, sm := range cl.sent {
			if k.src == 1 && sm.delivered != 0 {
				r.Fatalf("message %d was reported undeliverable and then delivered", sm.appSeq)
			}
		}
		// The circuit works again afterwards.
		n1.send(n1.h.Now(), 2, n1.h.Rand())
		n1.drain()
		s.Run(time.Second)
		cl.checkAllDelivered(s)
		delivered := 0
		for k, sm := range cl.sent {
			if k.src == 1 {
				delivered += sm.delivered
			}
		}
		if delivered != 1 {
			r.Fatalf("after healing, %d messages delivered, want 1", delivered)
		}
	})
}

// TestPeerRestart: a peer that restarts is reported at once, what was
// pending for it is undeliverable, and its new incarnation gets only new
// messages.
func TestPeerRestart(t *testing.T) {
	simtest.Sweep(t, func(r *simtest.Run) {
		cl, s := quietCluster(r, sim.DefaultNet())
		s.Run(time.Second)
		s.Crash(2)
		n1 := cl.nodes[1]
		for range 3 {
			n1.send(n1.h.Now(), 2, n1.h.Rand())
		}
		n1.drain()
		s.Run(50 * time.Millisecond)
		s.Restart(2)
		var restarted bool
		ok := s.RunUntil(func() bool {
			st, _ := n1.c.Peer(2)
			restarted = st.Boot == 2
			return restarted && n1.reach[2]
		}, 2*time.Second)
		if !ok {
			r.Fatalf("n1 did not see n2's new incarnation (restarted=%v)", restarted)
		}
		s.Run(time.Second)
		given := 0
		for k := range cl.given {
			if k.src == 1 {
				given++
			}
		}
		if given != 3 {
			r.Fatalf("%d of 3 messages to the old incarnation reported undeliverable", given)
		}
		if st := n1.c.Stats(); st.Undeliverable != 3 {
			r.Fatalf("stats count %d undeliverable, want 3", st.Undeliverable)
		}
	})
}

// TestBadPacketsCounted: garbage on the wire is dropped and counted.
func TestBadPacketsCounted(t *testing.T) {
	c, err := conn.New(conn.Config{Cluster: "x", Key: testKey, Self: 1, Boot: 1, Links: 1,
		Peers: []conn.Peer{{ID: 2, Links: 1}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	_ = c.Step(0, conn.Received{Link: 0, Data: []byte("hello")})
	_ = c.Step(0, conn.Received{Link: 5, Data: []byte("hello")})
	st := c.Stats()
	if st.BadLink != 1 || st.Wire.Dropped() != 1 {
		t.Fatalf("stats %+v: want 1 bad link and 1 wire drop", st)
	}
	if rd := take(c); len(rd.Messages) != 0 || len(rd.Events) != 0 {
		t.Fatalf("garbage produced output: %+v", rd)
	}
}

func TestConfigErrors(t *testing.T) {
	_, err := conn.New(conn.Config{Cluster: "x", Key: testKey, Self: 1, Boot: 1, Links: 1,
		Peers: []conn.Peer{{ID: 1, Links: 1}}, Heartbeat: 200 * time.Millisecond}, nil)
	if err == nil {
		t.Fatal("accepted a peer equal to self and suspect_min below 3 heartbeats")
	}
}

// TestDatagram: a datagram reaches a reachable peer once, marked as such,
// with nothing acknowledged or resent; to an unreachable peer it is
// dropped and counted.
func TestDatagram(t *testing.T) {
	simtest.Sweep(t, func(r *simtest.Run) {
		var got []conn.Message
		cl := newCluster(r, 2, 1)
		s := r.New(sim.Config{Nodes: 2, Links: 1}, func(h *sim.Host) sim.Process {
			nd := cl.factory(h).(*node)
			nd.quiet = true
			return nd
		})
		s.Run(time.Second)
		n1, n2 := cl.nodes[1], cl.nodes[2]
		before := n1.c.Stats()
		if err := n1.c.Datagram(n1.h.Now(), 2, []byte("lease?")); err != nil {
			r.Fatal(err)
		}
		n2.collect = func(m conn.Message) { got = append(got, m) }
		n1.drain()
		s.RunUntil(func() bool { return len(got) > 0 }, time.Second)
		s.Run(time.Second) // a duplicate would arrive by now
		if len(got) != 1 || string(got[0].Data) != "lease?" || !got[0].Datagram || got[0].From != 1 {
			r.Fatalf("n2 got %+v, want one datagram \"lease?\" from n1", got)
		}
		after := n1.c.Stats()
		if after.Datagrams != before.Datagrams+1 || after.Retransmits != before.Retransmits || after.Sent != before.Sent {
			r.Fatalf("stats %+v -> %+v: want one datagram, no circuit message", before, after)
		}
		s.Partition([]int{1}, []int{2})
		s.Run(2 * time.Second)
		if err := n1.c.Datagram(n1.h.Now(), 2, []byte("lease?")); err != nil {
			r.Fatal(err)
		}
		if st := n1.c.Stats(); st.DatagramsDropped != 1 {
			r.Fatalf("a datagram to an unreachable peer: %d dropped, want 1", st.DatagramsDropped)
		}
	})
}
