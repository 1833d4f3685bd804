package conn

import (
	"time"

	"github.com/corral-ha/corral/core/wire"
)

// PathStatus is one path to a peer as this node sees it.
type PathStatus struct {
	Local, Remote int
	In            bool          // we hear the peer on it
	Out           bool          // the peer says it hears us on it
	Up            bool          // both
	RTT           time.Duration // smoothed heartbeat round trip, 0 if unknown
	Threshold     time.Duration // silence after which In is suspected
	Suspicions    uint64
}

// PeerStatus is what this node knows of one peer.
type PeerStatus struct {
	ID        wire.NodeID
	Boot      uint32 // the incarnation we talk to, 0 before first contact
	Reachable bool   // some path is up
	Hears     bool   // we hear it on some path
	HeardBy   bool   // it says it hears us on some path
	Current   int    // index into Paths of the path circuit data uses, -1 if none
	Paths     []PathStatus
	InFlight  int // messages sent and not yet acknowledged
	Queued    int // messages waiting for the window
	RTT       time.Duration
}

// Status returns every peer's state, by id.
func (c *Conn) Status() []PeerStatus {
	out := make([]PeerStatus, 0, len(c.peers))
	for _, p := range c.peers {
		out = append(out, c.peerStatus(p))
	}
	return out
}

// Peer returns one peer's state.
func (c *Conn) Peer(id wire.NodeID) (PeerStatus, bool) {
	p := c.byID[id]
	if p == nil {
		return PeerStatus{}, false
	}
	return c.peerStatus(p), true
}

// PeerBoot is the boot id of the incarnation of a peer conn talks to (0
// before the first contact, or for a node that is no peer): Peer's Boot,
// without the rest.
func (c *Conn) PeerBoot(id wire.NodeID) uint32 {
	if p := c.byID[id]; p != nil {
		return p.boot
	}
	return 0
}

func (c *Conn) peerStatus(p *peer) PeerStatus {
	s := PeerStatus{ID: p.id, Boot: p.boot, Reachable: p.reachable, Hears: p.hears(), HeardBy: p.heardBy(),
		Current: -1, InFlight: len(p.inflight), Queued: len(p.queue), RTT: p.srtt}
	for i, pa := range p.paths {
		if pa == p.current {
			s.Current = i
		}
		s.Paths = append(s.Paths, PathStatus{Local: pa.local, Remote: pa.remote, In: pa.in.alive, Out: pa.out,
			Up: pa.up, RTT: pa.srtt, Threshold: pa.in.threshold(c.cfg.SuspectMin, c.cfg.SuspectMax, c.cfg.Heartbeat),
			Suspicions: pa.in.misses})
	}
	return s
}
