package quorum_test

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/corral-ha/corral/core/quorum"
	"github.com/corral-ha/corral/core/wire"
)

// TestLossSetsMatchDecide: on random configurations and views, the
// explanation's verdict is Decide's, and a set of members fails the view
// (Decide on the survivors, with the lineage Survivors gives, is not
// primary) exactly when it holds one of the minimal sets LossSets lists.
func TestLossSetsMatchDecide(t *testing.T) {
	seed := uint64(23)
	r := rand.New(rand.NewPCG(seed, seed))
	primaries := 0
	for i := range 3000 {
		c := randConfig(r, true)
		v := quorum.ViewRef{ID: quorum.ViewID{Epoch: 11, Coord: 1}, Members: randSet(r)}
		l := randLineage(r)
		witness := l.Witness || r.IntN(2) == 0 // a view the witness granted has one configured
		e := quorum.Explain(c, v, quorum.Decide(c, v.Members, l), witness, nil)
		if !e.Decision.Primary {
			if len(e.Loss.Sets) != 0 {
				t.Fatalf("case %d: loss sets %v of a view that is not primary", i, e.Loss.Sets)
			}
			continue
		}
		primaries++
		if e.Loss.Truncated {
			if len(e.Loss.Sets) != quorum.MaxLossSets {
				t.Fatalf("case %d: search truncated with %d members", i, len(v.Members))
			}
			continue // more sets than listed: coverage cannot be checked
		}
		members := slices.Compact(slices.Sorted(slices.Values(v.Members)))
		next := quorum.Survivors(c, v, witness)
		for mask := 1; mask < 1<<len(members); mask++ {
			var fail, surv []wire.NodeID
			for j, id := range members {
				if mask&(1<<j) != 0 {
					fail = append(fail, id)
				} else {
					surv = append(surv, id)
				}
			}
			lost := !quorum.Decide(c, surv, next).Primary
			covered := false
			for _, s := range e.Loss.Sets {
				covered = covered || isSubset(s, fail)
			}
			if lost != covered {
				t.Fatalf("case %d: config %+v view %v: failing %v loses quorum=%v, but the loss sets %v say %v\n%s",
					i, c, members, fail, lost, e.Loss.Sets, covered, e.Text())
			}
		}
		for _, s := range e.Loss.Sets {
			for j := range s { // minimal: failing one node less keeps quorum
				less := slices.Delete(slices.Clone(s), j, j+1)
				var surv []wire.NodeID
				for _, id := range members {
					if !slices.Contains(less, id) {
						surv = append(surv, id)
					}
				}
				if !quorum.Decide(c, surv, next).Primary {
					t.Fatalf("case %d: loss set %v is not minimal: %v loses quorum too", i, s, less)
				}
			}
			if len(s) < e.Loss.Fewest {
				t.Fatalf("case %d: set %v smaller than fewest %d", i, s, e.Loss.Fewest)
			}
		}
	}
	if primaries < 300 {
		t.Fatalf("only %d primary views drawn: the test checks too little", primaries)
	}
}

func isSubset(a, b []wire.NodeID) bool {
	for _, x := range a {
		if !slices.Contains(b, x) {
			return false
		}
	}
	return true
}

// TestExplainThreeNodes: the sentences for the common case.
func TestExplainThreeNodes(t *testing.T) {
	c := quorum.Config{Votes: map[wire.NodeID]int{1: 1, 2: 1, 3: 1}, Policy: quorum.Majority}
	name := func(id wire.NodeID) string { return "n" + string(rune('0'+id)) }
	e := quorum.Explain(c, quorum.ViewRef{ID: quorum.ViewID{Epoch: 4, Coord: 1}, Members: []wire.NodeID{1, 2}}, quorum.Decide(c, []wire.NodeID{1, 2}, quorum.Lineage{}), false, name)
	for _, want := range []string{
		"The view of n1, n2 is primary: its members hold 2 of the 3 votes of the configured nodes, and it needs 2.",
		"Policy majority",
		"Quorum is lost if 1 node(s) fail together; the smallest such sets: {n1} {n2}.",
	} {
		if !strings.Contains(e.Text(), want) {
			t.Errorf("explanation lacks %q:\n%s", want, e.Text())
		}
	}
	e = quorum.Explain(c, quorum.ViewRef{Members: []wire.NodeID{1, 2, 3}}, quorum.Decide(c, []wire.NodeID{1, 2, 3}, quorum.Lineage{}), false, name)
	if e.Loss.Fewest != 2 || len(e.Loss.Sets) != 3 {
		t.Errorf("three of three: loss %+v, want any 2 of 3", e.Loss)
	}
	e = quorum.Explain(c, quorum.ViewRef{Members: []wire.NodeID{3}}, quorum.Decide(c, []wire.NodeID{3}, quorum.Lineage{}), false, name)
	if e.Decision.Primary || !strings.Contains(e.Text(), "It lacks 1 vote(s)") {
		t.Errorf("one of three:\n%s", e.Text())
	}
}
