package node

import (
	"fmt"
	"slices"

	"github.com/corral-ha/corral/core/membership"
	"github.com/corral-ha/corral/core/quorum"
	"github.com/corral-ha/corral/core/wire"
)

// twoNodeAlone is how far the installed view may act under two_node
// (quorum.TwoNodeAlone): a primary view of one of the two nodes fences
// its peer and is primary for nothing else until the peer is down
// (confirmed fenced, or left cleanly, at its last boot id); and it does
// not even fence until this incarnation has adopted a history with its
// peer (cdbDriver.paired). NotAlone outside two_node.
func (n *Node) twoNodeAlone(ms membership.Status) quorum.Alone {
	if !n.cfg.Quorum.TwoNode {
		return quorum.NotAlone
	}
	n.cdbPaired()
	return quorum.TwoNodeAlone(quorumConfig(n.cfg), ms.View.Members, ms.Primary, n.cdb.paired, n.peerDown(ms))
}

// peerDown reports whether every configured node outside the view is
// confirmed fenced or left cleanly at the last boot id the fence core saw.
func (n *Node) peerDown(ms membership.Status) bool {
	if n.fence.f == nil {
		return false
	}
	for _, nd := range n.cfg.Nodes {
		if slices.Contains(ms.View.Members, wire.NodeID(nd.ID)) {
			continue
		}
		if _, ok := n.fence.f.Confirmed(nd.Name); !ok && !n.fence.f.LeftCleanly(nd.Name) {
			return false
		}
	}
	return true
}

// holdsBack reports whether a lone two_node view must not act as primary
// for the config DB, DNS or history adoption now.
func holdsBack(a quorum.Alone) bool { return a == quorum.AloneIdle || a == quorum.AloneFencing }

// aloneReason says why a lone two_node view does not act (for the config
// DB's refusals, DNS and the status).
func (n *Node) aloneReason(ms membership.Status, a quorum.Alone) string {
	var peer string
	for _, nd := range n.cfg.Nodes {
		if !slices.Contains(ms.View.Members, wire.NodeID(nd.ID)) {
			peer = nd.Name
		}
	}
	if a == quorum.AloneIdle {
		return fmt.Sprintf("two_node: %s is alone since it started and acts (or fences) only once it has been in a view with %s again: %s may have taken updates this node lacks", n.cfg.Node, peer, peer)
	}
	return fmt.Sprintf("two_node: %s is alone in view %s and acts as primary only once %s is confirmed fenced (fencing it)", n.cfg.Node, n.viewName(ms.View.ID), peer)
}
