package conn

import (
	"time"

	"github.com/corral-ha/corral/core/wire"
)

// path is one (local link, remote link) pair to a peer.
type path struct {
	local, remote int
	in            detector      // heartbeats arriving on it
	out           bool          // the peer's latest report says it hears us on it
	up            bool          // in.alive && out, as last reported in an event
	echoAt        int64         // the peer's latest SentAt on this path
	newest        int64         // the peer's newest SentAt on this path (this incarnation)
	echoRecv      time.Duration // when we got it
	srtt          time.Duration // smoothed round trip (0: unknown)
}

// peer is everything known about one other node.
type peer struct {
	id        wire.NodeID
	links     int
	paths     []*path // index local*links + remote
	boot      uint32  // incarnation we talk to; 0 until heard from
	start     uint64  // its start id
	reachable bool
	downSince time.Duration // when it became unreachable (or we started)
	current   *path         // the path circuit data goes on
	hearsAt   int64         // SentAt of the heartbeat whose Hears we applied

	// Sending side of the circuit.
	circ        uint32 // our circuit number toward this incarnation
	nextSeq     uint64
	inflight    []*outMsg // sent, unacknowledged, by seq
	inflightB   int
	queue       []*outMsg // not sent yet
	queuedBytes int
	srtt        time.Duration
	rttvar      time.Duration

	// Receiving side.
	rcirc    uint32 // the peer's circuit we receive
	expected uint64 // next seq to deliver
	ooo      map[uint64]*wire.Data
	partial  []byte // chunks of the message being received
	ackDue   bool
	ackHeld  bool // messages from this peer are in the pending Ready
}

// outMsg is one message on its way to a peer.
type outMsg struct {
	id       uint64
	seq      uint64
	data     []byte
	more     bool          // not the last chunk of its message
	sacked   bool          // the receiver holds it, out of order (it may still lose it)
	queuedAt time.Duration // handed to Send
	sentAt   time.Duration // last (re)transmission
	due      time.Duration // next retransmission
	backoff  time.Duration
	retries  int
}

func newPeer(p Peer, localLinks int) *peer {
	pr := &peer{id: p.ID, links: p.Links, circ: 1, nextSeq: 1, expected: 1, ooo: map[uint64]*wire.Data{}}
	for l := range localLinks {
		for r := range p.Links {
			pr.paths = append(pr.paths, &path{local: l, remote: r})
		}
	}
	return pr
}

// dest is where packets to p go: the incarnation we talk to (boot 0 until
// we heard from it).
func (p *peer) dest() wire.Dest {
	return wire.Dest{ID: p.id, Boot: p.boot, Start: p.start}
}

func (p *peer) path(local, remote int) *path {
	if remote < 0 || remote >= p.links {
		return nil
	}
	return p.paths[local*p.links+remote]
}

// hears reports whether any inbound direction is alive.
func (p *peer) hears() bool {
	for _, pa := range p.paths {
		if pa.in.alive {
			return true
		}
	}
	return false
}

// heardBy reports whether the peer says it hears us on any path.
func (p *peer) heardBy() bool {
	for _, pa := range p.paths {
		if pa.out {
			return true
		}
	}
	return false
}

// hearsMask is the Hears bitmap we send to p: bit a*8+b for our link a and
// p's link b on which we hear p.
func (p *peer) hearsMask() uint64 {
	var m uint64
	for _, pa := range p.paths {
		if pa.in.alive {
			m |= 1 << (pa.local*MaxLinks + pa.remote)
		}
	}
	return m
}

// best returns the path circuit data should use: the current one while it
// is up, else the up path with the lowest round trip (ties: lowest links).
func (p *peer) best() *path {
	if p.current != nil && p.current.up {
		return p.current
	}
	var b *path
	for _, pa := range p.paths {
		if !pa.up {
			continue
		}
		if b == nil || (pa.srtt > 0 && (b.srtt == 0 || pa.srtt < b.srtt)) {
			b = pa
		}
	}
	return b
}
