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
