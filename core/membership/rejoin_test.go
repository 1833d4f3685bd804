package membership_test

import (
	"fmt"
	"github.com/corral-ha/corral/core/membership"
	"slices"
	"testing"
	"time"

	"github.com/corral-ha/corral/core/quorum"
	"github.com/corral-ha/corral/core/wire"
)

// TestRestartedNodeDoesNotSplitView: three nodes, majority, view
// {1,2,3}. One node crashes, the other two form {x,y} and keep their
// lease; the node restarts and reaches one survivor a few hundred
// milliseconds before the other (its circuits come up one by one). Before
// the fix, a restarted n1 (lowest id) proposed {1,2} as soon as it heard
// n2: n3, healthy and reachable from n2 the whole time, left the primary
// view uncleanly (fenced on the demo) and could lose its lease
// (continuity, corral help design). A restarted n2 heard first by n1
// made n1 (greedy rule: n2 does not report n3 yet, ties drop the highest
// id) propose {1,2} the same way. Also when the node is back at once,
// before the survivors formed a view without it (fast). Every case must end in {1,2,3} with the
// two survivors in every view either installs, leased throughout.
func TestRestartedNodeDoesNotSplitView(t *testing.T) {
	for _, c := range []struct{ restart, first, second wire.NodeID }{
		{1, 2, 3}, {1, 3, 2}, {2, 1, 3}, {2, 3, 1}, {3, 1, 2}, {3, 2, 1},
	} {
		t.Run(fmt.Sprintf("n%d_hears_n%d_first", c.restart, c.first), func(t *testing.T) {
			restartSplit(t, c.restart, c.first, c.second, false)
		})
		t.Run(fmt.Sprintf("n%d_back_at_once_hears_n%d_first", c.restart, c.first), func(t *testing.T) {
			restartSplit(t, c.restart, c.first, c.second, true)
		})
	}
}

func restartSplit(t *testing.T, restart, first, second wire.NodeID, fast bool) {
	qc := quorum.Config{Votes: map[wire.NodeID]int{1: 1, 2: 1, 3: 1}, Policy: quorum.Majority}
	s := newScript(t, 3, qc)
	all := ids(1, 2, 3)
	if !s.runUntil(func() bool { return s.inView(all, true) }, 5*time.Second) {
		t.Fatalf("no primary view of 3:%s", s.describe())
	}
	s.run(time.Second)
	rest := []wire.NodeID{first, second}
	slices.Sort(rest)
	// The crash: the survivors lose the node and form a view of two
	// (unless it is back at once).
	s.partition([]wire.NodeID{restart}, rest)
	if !fast {
		if !s.runUntil(func() bool { return s.inView(rest, true) && s.ms[rest[0]].Leased(s.now) && s.ms[rest[1]].Leased(s.now) }, 5*time.Second) {
			t.Fatalf("survivors %v formed no primary view:%s", rest, s.describe())
		}
		s.run(time.Second)
	}
	// The restart from disk: the survivors see a new boot id, then the
	// restarted node reaches first, and second only 300 ms later.
	s.start(restart)
	for _, x := range rest {
		_ = s.ms[x].Step(s.now, membership.Restarted{Peer: restart})
		s.ready(x)
	}
	s.deliver()
	// It runs alone a little before its circuits come up, as a real node
	// does between its start and its first peer_reachable.
	if !fast {
		s.run(100 * time.Millisecond)
	}
	edge := func(a, b wire.NodeID) bool {
		return a != restart && b != restart || a == first || b == first
	}
	s.topology(edge)
	check := func() bool {
		for _, x := range rest {
			st := s.ms[x].Status()
			if !slices.Contains(st.View.Members, first) || !slices.Contains(st.View.Members, second) {
				t.Fatalf("%v: n%d installed %d/%d %v, which drops a survivor:%s", s.now, x, st.View.ID.Epoch, st.View.ID.Coord, st.View.Members, s.describe())
			}
			if !s.ms[x].Leased(s.now) {
				t.Fatalf("%v: survivor n%d lost its lease:%s", s.now, x, s.describe())
			}
		}
		return false
	}
	s.runUntil(check, 300*time.Millisecond)
	s.topology(func(a, b wire.NodeID) bool { return true })
	if !s.runUntil(func() bool { check(); return s.inView(all, true) }, 10*time.Second) {
		t.Fatalf("no view of three after the restart:%s", s.describe())
	}
	s.run(time.Second)
	check()
}

// TestTwoJoinersCutFromOneSurvivorJoin: five nodes, majority, view
// {1,...,5}. Nodes 1 and 2 crash; {3,4,5} goes on as the primary view.
// Both restart together, and the links 1-5 and 2-5 stay down (n3 and n4
// hear n5, the joiners never do). The greedy rule's set is {1,2,3,4}: it
// leaves out n5, which n3 and n4 hold in their primary view and hear, so
// the join hold applies. Each joiner ends its own hold DeferTimeout after
// its start, but (before the fix) it kept holding for the other one,
// which reported joining for ever: neither ever installed a view (G7: a
// stable topology that never converges). Every node of {1,2,3,4} must
// install one view within a bounded time.
func TestTwoJoinersCutFromOneSurvivorJoin(t *testing.T) {
	qc := quorum.Config{Votes: map[wire.NodeID]int{1: 1, 2: 1, 3: 1, 4: 1, 5: 1}, Policy: quorum.Majority}
	s := newScript(t, 5, qc)
	if !s.runUntil(func() bool { return s.inView(ids(1, 2, 3, 4, 5), true) }, 5*time.Second) {
		t.Fatalf("no primary view of 5:%s", s.describe())
	}
	s.run(time.Second)
	s.partition(ids(1), ids(2), ids(3, 4, 5))
	if !s.runUntil(func() bool { return s.inView(ids(3, 4, 5), true) }, 5*time.Second) {
		t.Fatalf("survivors formed no primary view:%s", s.describe())
	}
	s.run(time.Second)
	for _, j := range ids(1, 2) {
		s.start(j)
		for _, x := range ids(3, 4, 5) {
			_ = s.ms[x].Step(s.now, membership.Restarted{Peer: j})
			s.ready(x)
		}
	}
	s.deliver()
	s.topology(func(a, b wire.NodeID) bool {
		cut := a == 5 && b <= 2 || b == 5 && a <= 2
		return !cut
	})
	if !s.runUntil(func() bool { return s.inView(ids(1, 2, 3, 4), true) }, 20*time.Second) {
		t.Fatalf("the joiners never joined:%s", s.describe())
	}
}
