package conn_test

import (
	"testing"
	"time"

	"github.com/corral-ha/corral/core/conn"
	"github.com/corral-ha/corral/core/wire"
)

// pair is two Conns with one link each, wired back to back by hand with
// no delay, ticked every pairTick: the smallest setting in which to watch
// one path's detector.
type pair struct {
	t     *testing.T
	a, b  *conn.Conn // n1, n2
	now   time.Duration
	aDead bool // n1 stopped: no ticks, none of its packets delivered
	heard int  // packets from n1 that n2 received (heartbeats only: nothing else is sent)
	last  time.Duration
	bEv   []conn.Event // n2's events
}

const pairTick = 10 * time.Millisecond

func newPair(t *testing.T) *pair {
	t.Helper()
	mk := func(self, peer wire.NodeID) *conn.Conn {
		c, err := conn.New(conn.Config{Cluster: "pair", Key: testKey, Self: self, Boot: 1, Links: 1,
			Peers: []conn.Peer{{ID: peer, Links: 1}}}, nil)
		if err != nil {
			t.Fatalf("conn.New: %v", err)
		}
		return c
	}
	return &pair{t: t, a: mk(1, 2), b: mk(2, 1)}
}

// step moves time one tick on and carries every packet across.
func (p *pair) step() {
	p.now += pairTick
	if !p.aDead {
		p.a.Tick(p.now)
	}
	p.b.Tick(p.now)
	for {
		ra, rb := take(p.a), take(p.b)
		p.bEv = append(p.bEv, rb.Events...)
		if ra.Empty() && rb.Empty() && !p.a.HasReady() && !p.b.HasReady() {
			return
		}
		if !p.aDead {
			for _, pk := range ra.Packets {
				p.heard++
				p.last = p.now
				_ = p.b.Step(p.now, conn.Received{Link: pk.ToLink, Data: pk.Data})
			}
			for _, pk := range rb.Packets {
				_ = p.a.Step(p.now, conn.Received{Link: pk.ToLink, Data: pk.Data})
			}
		}
	}
}

// path is n2's view of its one path from n1.
func (p *pair) path() conn.PathStatus {
	st, _ := p.b.Peer(1)
	return st.Paths[0]
}

// TestNewPathSuspectsAsFastAsLearned: a path that has heard only one or a
// few heartbeats suspects a silent peer within the floor (SuspectMin, plus
// one tick of the driver), exactly as a path with a long history does; its
// threshold is the floor from the first heartbeat on (corral help
// design, Connectivity). Before, a path with fewer than 16 samples waited twice
// the floor, so the first failure after a start or a join took 800 ms to
// see instead of 400.
func TestNewPathSuspectsAsFastAsLearned(t *testing.T) {
	const floor = 400 * time.Millisecond // the default SuspectMin
	for _, heard := range []int{1, 2, 3, 5, 10, 16, 40} {
		p := newPair(t)
		for p.heard < heard {
			p.step()
			if p.now > time.Minute {
				t.Fatalf("n2 heard %d heartbeats from n1 in a minute, want %d", p.heard, heard)
			}
		}
		if th := p.path().Threshold; th != floor {
			t.Errorf("after %d heartbeats: threshold %v, want the floor %v", heard, th, floor)
		}
		reachable := false
		for _, e := range p.bEv {
			reachable = reachable || e.Kind == conn.EventPeerReachable
		}
		p.aDead = true
		p.bEv = nil
		for p.path().Suspicions == 0 {
			p.step()
			if p.now-p.last > 3*time.Second {
				t.Fatalf("after %d heartbeats: n1 silent for 3s and not suspected", heard)
			}
		}
		t.Logf("after %d heartbeats (reachable %v): suspected %v after the last", heard, reachable, p.now-p.last)
		if d := p.now - p.last; d > floor+pairTick {
			t.Errorf("after %d heartbeats: silent n1 suspected after %v, want at most the floor %v + one tick %v",
				heard, d, floor, pairTick)
		}
		// A peer that was reachable is reported unreachable at that moment.
		if reachable {
			got := false
			for _, e := range p.bEv {
				got = got || (e.Kind == conn.EventPeerUnreachable && e.Peer == 1)
			}
			if !got {
				t.Errorf("after %d heartbeats: n1 was reachable, its path suspected, but no peer_unreachable (events %v)", heard, p.bEv)
			}
		}
	}
}

// TestNewPathKeepsLateHeartbeats: the heartbeat interval only stands in
// for samples a new path has not taken: a late heartbeat it did see widens
// its threshold beyond the floor, as it would a learned path's, so a
// loaded sender is not suspected for being late again. (Mutation caught:
// a path with fewer than 16 samples judged at the floor whatever it saw.)
func TestNewPathKeepsLateHeartbeats(t *testing.T) {
	p := newPair(t)
	for p.heard < 3 {
		p.step()
	}
	// n1 stalls for 350 ms (under the floor), then beats on.
	p.aDead = true
	for range 35 {
		p.step()
	}
	p.aDead = false
	for h := p.heard; p.heard < h+2; {
		p.step()
	}
	if s := p.path().Suspicions; s != 0 {
		t.Fatalf("a 350 ms stall under a 400 ms floor was suspected %d times", s)
	}
	if th := p.path().Threshold; th <= 400*time.Millisecond {
		t.Fatalf("threshold %v after a 350 ms gap in a new path's first samples: want above the floor", th)
	}
}
