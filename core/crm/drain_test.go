package crm

import (
	"testing"
	"time"
)

// TestDrainSurvivesViewChange (attack B): a node whose drain emptied it
// goes on to leave; a view change in between (here n3 restarts) gives a
// new coordinator view. The drain must hold there too, else a group only
// the draining node may run is placed back on it, and the node leaves
// "cleanly" while it runs (nobody fences a clean leave: the group waits
// for a fence that never comes, an address stays behind). Seen failing
// when the drain lived in the coordinator's state of one view: "a view
// change after the drain put [db] back on the draining n2".
func TestDrainSurvivesViewChange(t *testing.T) {
	h := newHarness(t, 3, 1)
	h.fence = -1
	h.resource("db1", "db")
	h.group("db", map[string]any{"possible": []string{"n2"}})
	h.run(2 * time.Second)
	wantState(t, h, "db", "online", "n2")
	n2 := h.nodes["n2"]
	h.step(n2, Drain{})
	h.run(2 * time.Second)
	if got := n2.crm.Running(); len(got) != 0 {
		t.Fatalf("n2 still runs %v after the drain", got)
	}
	// the node's drain loop saw nothing running and goes on to leave; a
	// view change (n3 restarts) comes first
	h.restart("n3")
	h.run(2 * time.Second)
	if got := n2.crm.Running(); len(got) != 0 {
		t.Fatalf("a view change after the drain put %v back on the draining n2", got)
	}
}

// TestDrainForgottenAfterLeaveAndResume (chaos seed 20261207, rounds
// 33-34 and 38): n2 drains and leaves cleanly, then is resumed at once
// (`leave n2`, `resume n2`). The members that saw it leave the view forget
// its drain; n2 itself never sees a view without itself (its own views
// always hold it), so it keeps draining[n2] for DrainHold. When n2 later
// becomes the coordinator (n1, the coordinator, restarts cleanly and its
// drain moved the group to n2), it excludes itself as "leaving the
// cluster" and stops the group it runs on a node that stayed in the
// primary component. Seen failing (without Resumed, or with Resumed a
// no-op): "n2, which stayed in the primary component, stopped svc1 after
// n1 left ... not on: n2 is leaving the cluster".
func TestDrainForgottenAfterLeaveAndResume(t *testing.T) {
	h := newHarness(t, 3, 1)
	h.fence = -1 // clean leaves: nobody is fenced
	h.resource("svc1", "svc")
	h.group("svc", map[string]any{})
	h.run(2 * time.Second)
	wantState(t, h, "svc", "online", "n1")
	// leave n2 (it runs nothing), then resume it
	h.step(h.nodes["n2"], Drain{})
	h.run(time.Second)
	h.partition([]string{"n1", "n3"}, []string{"n2"})
	h.run(2 * time.Second)
	h.step(h.nodes["n2"], Resumed{}) // the stack, at `resume n2`
	h.heal()
	h.run(2 * time.Second)
	wantState(t, h, "svc", "online", "n1")
	// n1 (coordinator, owner) stops cleanly: its drain moves svc to n2
	h.step(h.nodes["n1"], Drain{})
	h.run(2 * time.Second)
	wantState(t, h, "svc", "online", "n2")
	// n1 leaves: n2 coordinates {n2 n3}; nothing may move the group
	h.partition([]string{"n1"}, []string{"n2", "n3"})
	h.run(3 * time.Second)
	if !h.nodes["n2"].running["svc1"] {
		t.Fatalf("%v: n2, which stayed in the primary component, stopped svc1 after n1 left; group: %+v\n%s",
			h.now, h.gview("svc"), h.coordinator().crm.Explain("svc"))
	}
	wantState(t, h, "svc", "online", "n2")
}
