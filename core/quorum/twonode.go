package quorum

import "github.com/corral-ha/corral/core/wire"

// Alone is how far a primary view that holds only one of the two nodes of a
// two_node cluster may act (corral help design: such a view "does
// nothing but fence its peer until the fence is confirmed").
type Alone uint8

// Standings of a lone two_node view.
const (
	// NotAlone: not a two_node cluster, or the view holds both nodes (or
	// is not primary): the view acts as its primary flag and lease say.
	NotAlone Alone = iota
	// AloneIdle: this incarnation of the node never finished adopting a
	// history in a view with its peer, so the peer may have acknowledged
	// config writes it lacks (a restarted node cannot know what its peer
	// did while it was away): the view neither fences nor acts, as under
	// wait_for_all, until the peer is seen again.
	AloneIdle
	// AloneFencing: the view fences its peer and is primary for nothing
	// else (no config DB, DNS or history adoption) until the peer is down.
	AloneFencing
	// AloneActing: the peer is down (confirmed fenced, or it left cleanly,
	// at its last boot id) and this node holds the history it shared with
	// it: the view acts as primary, alone.
	AloneActing
)

func (a Alone) String() string {
	switch a {
	case NotAlone:
		return "not alone"
	case AloneIdle:
		return "alone, waiting for the peer"
	case AloneFencing:
		return "alone, fencing the peer"
	case AloneActing:
		return "alone, the peer is down"
	}
	return "unknown"
}

// TwoNodeAlone judges a primary view of members under two_node. paired:
// this node's incarnation finished adopting a history in a primary view
// that held both nodes (so it holds every config update either node
// acknowledged before the view broke). peerDown: the configured node that
// is not a member is confirmed fenced, or left cleanly, at its last known
// boot id (so it acknowledges nothing until it rejoins).
//
// Why this keeps G3: a lone view acts only while its peer is down, so two
// lone views never act at once; and it acts only on a history that holds
// all the peer acknowledged, because the peer acknowledges nothing alone
// unless this node was down, and a node that was down (restarted) is not
// paired until it has adopted its peer's history again.
func TwoNodeAlone(c Config, members []wire.NodeID, primary, paired, peerDown bool) Alone {
	if !c.TwoNode || !primary || len(intersect(dedup(members), c.Nodes())) == len(c.Nodes()) {
		return NotAlone
	}
	switch {
	case !paired:
		return AloneIdle
	case !peerDown:
		return AloneFencing
	}
	return AloneActing
}
