package membership

import (
	"fmt"
	"time"

	"github.com/corral-ha/corral/core/quorum"
	"github.com/corral-ha/corral/core/wire"
)

// CheckShortcuts compares what this node answers from its shortcuts with
// the answers computed afresh, at now: whether its report is due
// (reportDue compares without building the report) and its lease verdicts
// (holds remembers quorum.Lease's). The simulation worlds call it after
// every round.
func (m *Membership) CheckShortcuts(now time.Duration) error {
	if l := m.lastReport; l != nil {
		r := &wire.Report{State: uint8(m.self), Promise: m.st.Promise, Installed: m.st.Installed, Primary: m.st.Primary,
			Lineage: m.lineage(), Settings: m.settings}
		for _, id := range m.cfg.Nodes {
			if m.reach[id] {
				r.Reach = append(r.Reach, id)
			}
		}
		if got, want := m.reported(l), sameReport(l, r); got != want {
			return fmt.Errorf("n%d: reported says %v, sameReport of the built report %v (last %+v, now %+v)", m.cfg.Self, got, want, l, r)
		}
	}
	views := []struct {
		v         wire.View
		unblocked bool
		ackUntil  map[wire.NodeID]time.Duration
	}{{m.st.Installed, m.instUnblocked, m.ackUntil}}
	if m.carry != nil {
		views = append(views, struct {
			v         wire.View
			unblocked bool
			ackUntil  map[wire.NodeID]time.Duration
		}{m.carry.view, m.carry.unblocked, m.carry.ackUntil})
	}
	for _, x := range views {
		ackers := []wire.NodeID{m.cfg.Self}
		for _, id := range x.v.Members {
			if id != m.cfg.Self && x.ackUntil[id] > now {
				ackers = append(ackers, id)
			}
		}
		lease := quorum.Lease
		if x.unblocked {
			lease = quorum.LeaseUnblocked
		}
		want := lease(m.cfg.Quorum, quorum.ViewRef{ID: qid(x.v.ID), Members: x.v.Members}, ackers)
		if got := m.lease(x.v, x.unblocked, ackers); got != want {
			return fmt.Errorf("n%d: lease of view %v with ackers %v: remembered %v, quorum.Lease %v", m.cfg.Self, x.v.ID, ackers, got, want)
		}
	}
	return nil
}
