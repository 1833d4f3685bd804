package conn

import (
	"fmt"
	"time"

	"github.com/corral-ha/corral/core/wire"
)

// EventKind says what happened.
type EventKind uint8

// Event kinds.
const (
	EventLinkUp          EventKind = iota + 1 // a path came up (both directions)
	EventLinkDown                             // a path went down
	EventPeerReachable                        // the first path to a peer came up
	EventPeerUnreachable                      // the last path to a peer went down
	EventPeerRestarted                        // a peer came back with a higher boot id
	EventUndeliverable                        // messages given up on (IDs)
)

var kindNames = map[EventKind]string{
	EventLinkUp:          "link_up",
	EventLinkDown:        "link_down",
	EventPeerReachable:   "peer_reachable",
	EventPeerUnreachable: "peer_unreachable",
	EventPeerRestarted:   "peer_restarted",
	EventUndeliverable:   "undeliverable",
}

// String returns the event kind's name as the event stream spells it.
func (k EventKind) String() string {
	if s, ok := kindNames[k]; ok {
		return s
	}
	return fmt.Sprintf("EventKind(%d)", uint8(k))
}

// Event is one connectivity event.
type Event struct {
	Kind   EventKind
	At     time.Duration // this node's clock
	Peer   wire.NodeID
	Local  int      // link events: our link
	Remote int      // link events: the peer's link
	Boot   uint32   // peer_restarted: the new boot id
	IDs    []uint64 // undeliverable: the ids Send returned
	Reason string   // undeliverable: why
}

func (e Event) String() string {
	switch e.Kind {
	case EventLinkUp, EventLinkDown:
		return fmt.Sprintf("%v peer=%d path=%d-%d", e.Kind, e.Peer, e.Local, e.Remote)
	case EventPeerRestarted:
		return fmt.Sprintf("%v peer=%d boot=%d", e.Kind, e.Peer, e.Boot)
	case EventUndeliverable:
		return fmt.Sprintf("%v peer=%d ids=%v (%s)", e.Kind, e.Peer, e.IDs, e.Reason)
	}
	return fmt.Sprintf("%v peer=%d", e.Kind, e.Peer)
}

// Stats counts what the Conn saw. Packet drops by the wire layer (forged,
// replayed, stale...) are in Wire.
type Stats struct {
	PacketsIn, PacketsOut uint64
	BadLink               uint64 // arrived on a link number we do not have
	UnknownPeer           uint64 // authenticated, but not in the node list
	BadMessage            uint64 // authenticated, but not decodable
	WrongBoot             uint64 // circuit traffic meant for another incarnation
	Unbound               uint64 // not a heartbeat, in a packet not bound to this incarnation
	OldHeartbeats         uint64 // sent more than the path's threshold before the newest heard on it: no sign of life
	Duplicates            uint64 // circuit messages received twice
	Delivered             uint64
	Sent                  uint64 // first transmissions
	Retransmits           uint64
	Acks                  uint64 // acknowledgement packets sent
	Suspicions            uint64 // paths declared down
	LocalPauses           uint64
	Undeliverable         uint64 // messages given up on
	QueueFull             uint64
	Datagrams             uint64 // sent with Datagram
	DatagramsDropped      uint64 // not sent: the peer was unreachable
	SealErrors            uint64
	Wire                  wire.Stats
}

// Stats returns a copy of the counters.
func (c *Conn) Stats() Stats {
	s := c.stats
	s.Wire = c.ep.Stats()
	return s
}
