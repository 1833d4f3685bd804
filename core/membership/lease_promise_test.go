package membership_test

import (
	"slices"
	"testing"
	"time"

	"github.com/corral-ha/corral/core/quorum"
	"github.com/corral-ha/corral/core/wire"
)

// TestPromisedNodeLosesOldLease (found in review, issue 15): last_man_standing, five nodes.
// V1 = {1..5}. Links change: 1,2,3 reach each other; 4 and 5 reach only 3
// (not each other, not 1 or 2). n1 proposes V2 = {1,2,3} (3 of 5 of V1:
// primary); all three promise; n3 misses the commit (its links to n1 break
// right after its promise). n1 then forms W = {1,2} (2 of 3 of the
// installed V2: primary), which excludes n3. n3 defers to n2 (its greedy
// set is {2,3}) for DeferTimeout; meanwhile it keeps requesting V1's lease
// (requesting(): promised V2, still installed V1), and n4, n5, which
// promised nothing, answer it: {3,4,5} is 3 of 5 of V1, so n3 is Leased,
// while W's members are Quorate: W's takeover wait did not bound n3's
// lease, and no member of the lease quorum {3,4,5} ever promised W.
func TestPromisedNodeLosesOldLease(t *testing.T) {
	qc := quorum.Config{Votes: map[wire.NodeID]int{1: 1, 2: 1, 3: 1, 4: 1, 5: 1}, Policy: quorum.LastManStanding, Window: promisedLeaseWindow}
	s := newScript(t, 5, qc)
	all := ids(1, 2, 3, 4, 5)
	if !s.runUntil(func() bool { return s.inView(all, true) }, 5*time.Second) {
		t.Fatalf("no primary view of 5:%s", s.describe())
	}
	s.run(2 * time.Second) // past the window
	// n3 never gets a Commit from n1 (the 1-3 link goes right after its promise).
	// The 1-3 link dies the moment n3 has promised n1's proposal: from
	// then on nothing passes between them (FIFO circuits: the Commit and
	// everything after it is lost) until conn declares the link down.
	dead := false
	s.drop = func(from, to wire.NodeID, m wire.Message) bool {
		if _, p := m.(*wire.Promise); p && from == 3 && to == 1 {
			dead = true
			return false
		}
		return dead && (from == 1 && to == 3 || from == 3 && to == 1)
	}
	edge := func(pairs ...[2]int) func(a, b wire.NodeID) bool {
		return func(a, b wire.NodeID) bool {
			for _, p := range pairs {
				if (int(a) == p[0] && int(b) == p[1]) || (int(a) == p[1] && int(b) == p[0]) {
					return true
				}
			}
			return false
		}
	}
	s.topology(edge([2]int{1, 2}, [2]int{1, 3}, [2]int{2, 3}, [2]int{3, 4}, [2]int{3, 5}))
	v2 := ids(1, 2, 3)
	if !s.runUntil(func() bool {
		return s.inView(ids(1, 2), false) || (slices.Equal(s.ms[1].Status().View.Members, v2) && s.ms[1].Status().Primary)
	}, 5*time.Second) {
		t.Fatalf("n1 did not install V2:%s", s.describe())
	}
	t.Logf("after V2:%s", s.describe())
	// n3 promised V2 and did not install it; now cut 1-3.
	s.topology(edge([2]int{1, 2}, [2]int{2, 3}, [2]int{3, 4}, [2]int{3, 5}))
	s.drop = nil
	violated := false
	s.runUntil(func() bool {
		w := s.ms[1].Status()
		if s.ms[1].Quorate(s.now) && !slices.Contains(w.View.Members, 3) && s.ms[3].Leased(s.now) {
			lv, _ := s.ms[3].LeaseView(s.now)
			t.Logf("%v: n1 Quorate in %v %v while n3 Leased (lease view %v):%s", s.now, w.View.ID, w.View.Members, lv, s.describe())
			violated = true
			return true
		}
		return false
	}, 5*time.Second)
	if violated {
		from := s.now
		s.runUntil(func() bool { return !s.ms[3].Leased(s.now) }, 10*time.Second)
		t.Logf("n3 Leased until %v (%v after n1 acted)", s.now, s.now-from)
		t.Fatalf("a primary view excluding n3 acts (takeover wait passed) while n3 still holds a lease")
	}
	t.Logf("end:%s", s.describe())
}

var promisedLeaseWindow = 10 * time.Millisecond
