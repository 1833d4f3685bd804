package membership

import (
	"fmt"
	"slices"
	"time"

	"github.com/corral-ha/corral/core/quorum"
	"github.com/corral-ha/corral/core/wire"
)

// unblock carries out an operator's quorum unblock (Unblock): the
// installed view, not primary, becomes this node's LP as if it had been
// a primary view (corral help operations; core/quorum "Unblock"), with
// AllSeen (wait_for_all is lifted) and, under majority, Unblocked while
// the view does not hold the plain majority. Every configured node
// outside the view is written off: the views after this one are judged
// against it, then against the primary views that follow it.
func (m *Membership) unblock(now time.Duration, in Unblock) error {
	inst := m.st.Installed
	switch {
	case inst.ID == (wire.ViewID{}) || inst.ID != in.View:
		return fmt.Errorf("membership: unblock in view %d/%d: this node's view is %d/%d now: %w", in.View.Epoch, in.View.Coord, inst.ID.Epoch, inst.ID.Coord, ErrCannotUnblock)
	case m.st.Promise != inst.ID || m.pending != nil:
		return fmt.Errorf("membership: unblock: a view change is under way (promised %d/%d): %w", m.st.Promise.Epoch, m.st.Promise.Coord, ErrCannotUnblock)
	}
	lin := mergeLineage([]wire.Lineage{m.lineage()})
	plan, err := quorum.PlanUnblock(m.cfg.Quorum, quorum.ViewRef{ID: qid(inst.ID), Members: inst.Members}, m.st.Primary, lin)
	if err != nil {
		return fmt.Errorf("membership: %w: %w", ErrCannotUnblock, err)
	}
	v := wire.View{ID: inst.ID, Members: slices.Clone(inst.Members)}
	m.st.Lineage = wire.Lineage{LP: v, Prev: wire.View{ID: v.ID, Members: slices.Clone(v.Members)}, AllSeen: true, Unblocked: plan.Chain}
	m.lpSince = now
	m.dirty = true
	m.changeAt = now
	m.needCoord = true
	m.event(Event{Kind: EventQuorumUnblocked, View: inst.ID, Members: slices.Clone(inst.Members), WrittenOff: plan.WrittenOff,
		Votes: plan.Expected, Needed: plan.Was, Target: in.By})
	return nil
}

// unblockedView reports whether l's LP is a view an operator unblocked
// itself (unblock), with no primary view after it yet: only the unblock
// makes Prev the same view as LP (takeLP always moves the old LP to Prev).
// A view is then primary only if it holds every member of LP
// (quorum.Lineage.UnblockedView).
func unblockedView(l wire.Lineage) bool {
	return l.LP.ID.Epoch != 0 && l.Prev.ID == l.LP.ID
}

// UnblockHolders returns, sorted, the members of the view v (an unblock
// given in v) that hold v as their unblocked LP (unblockedView), as far as
// this node knows: itself, and each peer by its last report. Once a
// primary view follows v, its members hold that view instead (the caller
// checks the view).
func (m *Membership) UnblockHolders(v wire.ViewID) []wire.NodeID {
	var out []wire.NodeID
	for _, id := range m.cfg.Nodes {
		var l wire.Lineage
		switch {
		case id == m.cfg.Self:
			l = m.st.Lineage
		case m.reports[id] != nil:
			l = m.reports[id].Lineage
		default:
			continue
		}
		if l.LP.ID == v && unblockedView(l) {
			out = append(out, id)
		}
	}
	return out
}
