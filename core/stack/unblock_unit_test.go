package stack

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/corral-ha/corral/core/fence"
	"github.com/corral-ha/corral/core/membership"
	"github.com/corral-ha/corral/core/wire"
)

// TestQuorumUnblockDeclared: three stacks, majority, no fence devices; n2
// and n3 go silent for good. n1 alone is not primary. Its unblock is
// refused while n2 and n3 are not known down; `fence confirm` of n1
// itself is refused (a member); declared down (the view is not primary:
// kept by the stack), n2 and n3 count, the unblock goes through the
// view's ordered broadcast, n1 records quorum_unblocked and becomes
// primary and quorate alone, and its fence core then records both as
// confirmed (device manual), as every member of the primary view would.
func TestQuorumUnblockDeclared(t *testing.T) {
	c := newUnitCluster(t, 3)
	var unblocked []membership.Event
	fenced := map[string]string{}
	c.check = func(id int, rd *Ready) {
		for _, e := range rd.Events {
			if id == 1 && e.Member != nil && e.Member.Kind == membership.EventQuorumUnblocked {
				unblocked = append(unblocked, *e.Member)
			}
			if id == 1 && e.Fence != nil && e.Fence.Kind == fence.EventFenced {
				fenced[e.Fence.Target] = e.Fence.Device
			}
		}
	}
	n1 := c.nodes[0]
	c.runUntil("a primary view of three", func() bool {
		ms := n1.Membership()
		return ms.Primary && len(ms.View.Members) == 3 && n1.mem.Quorate(c.now)
	})
	c.down = map[int]bool{2: true, 3: true}
	c.runUntil("n1 alone, not primary", func() bool {
		ms := n1.Membership()
		return !ms.Primary && slices.Equal(ms.View.Members, []wire.NodeID{1})
	})
	if _, err := n1.QuorumUnblock(c.now); !errors.Is(err, ErrNotKnownDown) {
		t.Fatalf("unblock before the confirmations: %v, want ErrNotKnownDown", err)
	}
	if err := n1.ConfirmFence(c.now, fence.Confirm{Target: "n1"}); !errors.Is(err, ErrLiveMember) {
		t.Fatalf("fence confirm of n1 itself: %v, want ErrLiveMember", err)
	}
	if err := n1.ConfirmFence(c.now, fence.Confirm{Target: "n2"}); err != nil {
		t.Fatalf("fence confirm n2: %v", err)
	}
	if p := n1.UnblockPlan(c.now); !errors.Is(p.err, ErrNotKnownDown) || len(p.WrittenOff) != 2 || !p.WrittenOff[0].Down || p.WrittenOff[1].Down {
		t.Fatalf("plan with n2 declared only: %+v", p)
	}
	if err := n1.ConfirmFence(c.now, fence.Confirm{Target: "n3"}); err != nil {
		t.Fatalf("fence confirm n3: %v", err)
	}
	// A declared node that conn reaches again (its circuit is up, it has
	// not reported yet: outside the view) is up, whatever was declared.
	if err := n1.mem.Step(c.now, membership.Reach{Peer: 2, Up: true}); err != nil {
		t.Fatal(err)
	}
	if p := n1.UnblockPlan(c.now); !errors.Is(p.err, ErrNotKnownDown) || len(p.WrittenOff) != 2 || p.WrittenOff[0].Down || !strings.Contains(p.WrittenOff[0].How, "reachable") {
		t.Fatalf("plan with n2 declared but reachable: %+v", p)
	}
	if err := n1.mem.Step(c.now, membership.Reach{Peer: 2, Up: false}); err != nil {
		t.Fatal(err)
	}
	u := n1.Membership().View.ID
	if pr := n1.UnblockProgressOf(u, []string{"n1"}); pr.Done || pr.Moved || len(pr.Holders) != 0 || !slices.Equal(pr.Missing, []string{"n1"}) {
		t.Fatalf("progress before the unblock: %+v", pr)
	}
	p, err := n1.QuorumUnblock(c.now)
	if err != nil || p.Expected != 1 || p.Was != 3 || !p.Chain {
		t.Fatalf("unblock: %+v, %v", p, err)
	}
	c.runUntil("n1 primary and quorate alone", func() bool { return n1.Membership().Primary && n1.mem.Quorate(c.now) })
	if pr := n1.UnblockProgressOf(u, p.Members); !pr.Done || !pr.Moved {
		t.Fatalf("progress once n1 is primary alone: %+v", pr)
	}
	if len(unblocked) != 1 || !slices.Equal(unblocked[0].WrittenOff, []wire.NodeID{2, 3}) || unblocked[0].Votes != 1 {
		t.Fatalf("quorum_unblocked events %+v, want one writing off n2, n3 with 1 vote expected", unblocked)
	}
	c.runUntil("n2 and n3 confirmed fenced", func() bool {
		_, ok2 := n1.fence.f.Confirmed("n2")
		_, ok3 := n1.fence.f.Confirmed("n3")
		return ok2 && ok3
	})
	if fenced["n2"] != fence.DeviceManual || fenced["n3"] != fence.DeviceManual {
		t.Fatalf("node_fenced events %v, want n2 and n3 by device manual", fenced)
	}
	if _, err := n1.QuorumUnblock(c.now); err == nil {
		t.Fatal("a second unblock in a primary view was accepted")
	}
}
