package stack

import (
	"fmt"
	"slices"

	"github.com/corral-ha/corral/core/membership"
	"github.com/corral-ha/corral/core/quorum"
)

// twoNodeAlone is how far the installed view may act under two_node
// (quorum.TwoNodeAlone): a primary view of one of the two nodes fences
// its peer and is primary for nothing else until the peer is down
// (confirmed fenced, or left cleanly, at its last boot id); and it does
// not even fence until this incarnation has adopted a history with its
// peer (cdbState.paired). NotAlone outside two_node.
func (s *Stack) twoNodeAlone(ms membership.Status) quorum.Alone {
	if !s.qc.TwoNode {
		return quorum.NotAlone
	}
	s.cdbPaired()
	return quorum.TwoNodeAlone(s.qc, ms.View.Members, ms.Primary, s.cdb.paired, s.peerDown(ms))
}

// peerDown reports whether every configured node outside the view is
// confirmed fenced or left cleanly at the last boot id the fence core saw,
// and conn has talked to no newer incarnation of it (fenceDown: the
// fence core learns a new boot id only from the reports of a view, and a
// node cut off again before them would be taken for fenced).
func (s *Stack) peerDown(ms membership.Status) bool {
	if s.fence.f == nil {
		return false
	}
	for _, nd := range s.cfg.Nodes {
		if slices.Contains(ms.View.Members, nd.ID) {
			continue
		}
		if !s.fenceDown(nd, false) {
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
func (s *Stack) aloneReason(ms membership.Status, a quorum.Alone) string {
	var peer string
	for _, nd := range s.cfg.Nodes {
		if !slices.Contains(ms.View.Members, nd.ID) {
			peer = nd.Name
		}
	}
	if a == quorum.AloneIdle {
		return fmt.Sprintf("two_node: %s is alone since it started and acts (or fences) only once it has been in a view with %s again: %s may have taken updates this node lacks", s.self, peer, peer)
	}
	return fmt.Sprintf("two_node: %s is alone in view %s and acts as primary only once %s is confirmed fenced (fencing it)", s.self, s.ViewName(ms.View.ID), peer)
}

// Alone says whether a lone two_node view holds this node back from
// acting as primary (for the config DB, DNS, history adoption) and why;
// false and "" outside two_node or when it may act.
func (s *Stack) Alone() (bool, string) {
	ms := s.mem.Status()
	if a := s.twoNodeAlone(ms); holdsBack(a) {
		return true, s.aloneReason(ms, a)
	}
	return false, ""
}
