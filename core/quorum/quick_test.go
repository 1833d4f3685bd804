package quorum_test

import (
	mathrand "math/rand"
	"math/rand/v2"
	"slices"
	"testing"
	"testing/quick"
	"time"

	"github.com/corral-ha/corral/core/quorum"
	"github.com/corral-ha/corral/core/wire"
)

// maxNodes bounds the random clusters: ids 1..maxNodes, plus id 0 and
// maxNodes+1 sometimes appearing in views as ids that are not configured.
const maxNodes = 7

const window = 10 * time.Second

// randConfig draws a valid config; twoNode allows two_node configs.
func randConfig(r *rand.Rand, twoNode bool) quorum.Config {
	n := 1 + r.IntN(maxNodes)
	c := quorum.Config{Votes: make(map[wire.NodeID]int, n), Window: window}
	for len(c.Votes) < n {
		c.Votes[wire.NodeID(1+r.IntN(maxNodes))] = r.IntN(4) // 0..3, zero-vote nodes included
	}
	if c.Policy = quorum.Majority; r.IntN(2) == 0 {
		c.Policy = quorum.LastManStanding
	}
	c.AutoTieBreaker = r.IntN(2) == 0
	c.WaitForAll = r.IntN(3) == 0
	if twoNode && n == 2 && r.IntN(2) == 0 {
		c.TwoNode = true
		for _, id := range c.Nodes() { // sorted: the draw must not depend on map order
			c.Votes[id] = 1 + r.IntN(2)
		}
	}
	if c.Validate() != nil {
		return randConfig(r, twoNode) // no votes at all: draw again
	}
	return c
}

// randSet draws a set of ids in 0..maxNodes+1 in random order, sometimes
// with duplicates.
func randSet(r *rand.Rand) []wire.NodeID {
	var s []wire.NodeID
	for id := 0; id <= maxNodes+1; id++ {
		if r.IntN(2) == 0 {
			s = append(s, wire.NodeID(id))
		}
	}
	if len(s) > 0 && r.IntN(4) == 0 {
		s = append(s, s[r.IntN(len(s))])
	}
	r.Shuffle(len(s), func(i, j int) { s[i], s[j] = s[j], s[i] })
	return s
}

func randLineage(r *rand.Rand) quorum.Lineage {
	var l quorum.Lineage
	if r.IntN(4) != 0 {
		l.LP = &quorum.ViewRef{ID: quorum.ViewID{Epoch: 10, Coord: 1}, Members: randSet(r)}
		if r.IntN(2) == 0 {
			l.Prev = &quorum.ViewRef{ID: quorum.ViewID{Epoch: 9, Coord: 1}, Members: randSet(r)}
		}
		for i := range r.IntN(3) {
			if r.IntN(4) == 0 {
				l.Also = append(l.Also, quorum.ViewRef{}) // the configured nodes
				continue
			}
			l.Also = append(l.Also, quorum.ViewRef{ID: quorum.ViewID{Epoch: 7 + uint64(i), Coord: 2}, Members: randSet(r)})
		}
	}
	l.LPAge = []time.Duration{0, window / 2, window, 2 * window}[r.IntN(4)]
	l.AllSeen = r.IntN(2) == 0
	l.Witness = r.IntN(2) == 0
	return l
}

// scenario is one random Decide input, for testing/quick.
type scenario struct {
	C       quorum.Config
	Members []wire.NodeID
	L       quorum.Lineage
}

// naiveDecide is the rule of the package documentation written the dumb way:
// boolean arrays over every possible id, no sorting, no shared helpers.
func naiveDecide(c quorum.Config, members []wire.NodeID, l quorum.Lineage) (primary bool, votes, needed, total int) {
	var inV, inP, inPrev, conf [1 << 16]bool
	for _, id := range members {
		inV[id] = true
	}
	for id := range c.Votes {
		conf[id] = true
	}
	vote := func(id int) int {
		if conf[id] && c.Votes[wire.NodeID(id)] > 0 {
			return c.Votes[wire.NodeID(id)]
		}
		return 0
	}
	// wins reports whether V wins against the reference ref.
	wins := func(ref *[1 << 16]bool) (ok bool, votes, needed, total int) {
		lowest := -1
		for id := 0; id < 1<<16; id++ {
			if !ref[id] {
				continue
			}
			total += vote(id)
			if inV[id] {
				votes += vote(id)
			}
			if lowest < 0 && vote(id) > 0 {
				lowest = id
			}
		}
		if total == 0 {
			return false, votes, 1, 0
		}
		tieBroken := false
		if total%2 == 0 {
			if c.AutoTieBreaker {
				tieBroken = lowest >= 0 && inV[lowest]
			} else {
				tieBroken = l.Witness
			}
		}
		needed = total/2 + 1
		if tieBroken {
			needed = total / 2
		}
		return 2*votes > total || (2*votes == total && tieBroken), votes, needed, total
	}
	if c.TwoNode {
		needed = 1 << 30
		for id := range c.Votes {
			total += vote(int(id))
			if inV[id] {
				votes += vote(int(id))
			}
			needed = min(needed, vote(int(id)))
		}
		primary = votes >= needed
	} else {
		if c.Policy == quorum.LastManStanding && l.LP != nil {
			for _, id := range l.LP.Members {
				inP[id] = true
			}
		} else {
			inP = conf
		}
		primary, votes, needed, total = wins(&inP)
		if c.Policy == quorum.LastManStanding && l.LP != nil {
			for _, a := range l.Also {
				var inA [1 << 16]bool
				if a.ID == (quorum.ViewID{}) && len(a.Members) == 0 {
					inA = conf
				}
				for _, id := range a.Members {
					inA[id] = true
				}
				if ok, _, _, _ := wins(&inA); !ok {
					primary = false
				}
			}
		}
		if c.Policy == quorum.LastManStanding && l.LP != nil && l.Prev != nil && l.LPAge < c.Window {
			for _, id := range l.Prev.Members {
				inPrev[id] = true
			}
			if ok, _, _, _ := wins(&inPrev); !ok {
				primary = false
			}
		}
	}
	if c.WaitForAll || c.TwoNode {
		all := true
		for id := range c.Votes {
			all = all && inV[id]
		}
		primary = primary && (l.AllSeen || all)
	}
	return primary, votes, needed, total
}

// TestDecideMatchesNaive checks Decide against naiveDecide, the way etcd
// raft's quorum package checks CommittedIndex against a naive version.
func TestDecideMatchesNaive(t *testing.T) {
	type out struct {
		Primary              bool
		Votes, Needed, Total int
	}
	decide := func(seed uint64) out {
		s := draw(seed)
		d := quorum.Decide(s.C, s.Members, s.L)
		if d.Primary != (d.Reason == "") {
			t.Errorf("seed %d: primary %v with reason %q", seed, d.Primary, d.Reason)
		}
		return out{d.Primary, d.Votes, d.Needed, d.Total}
	}
	naive := func(seed uint64) out {
		s := draw(seed)
		p, v, n, tot := naiveDecide(s.C, s.Members, s.L)
		return out{p, v, n, tot}
	}
	cfg := &quick.Config{MaxCount: 5000, Rand: mathrand.New(mathrand.NewSource(3))}
	if err := quick.CheckEqual(decide, naive, cfg); err != nil {
		t.Fatal(err)
	}
}

// draw derives one scenario from a seed, so a failure names its seed.
func draw(seed uint64) scenario {
	r := rand.New(rand.NewPCG(seed, 0))
	return scenario{C: randConfig(r, true), Members: randSet(r), L: randLineage(r)}
}

// split draws two disjoint sets from the ids 0..maxNodes+1.
func split(r *rand.Rand) (a, b []wire.NodeID) {
	for id := 0; id <= maxNodes+1; id++ {
		switch r.IntN(3) {
		case 0:
			a = append(a, wire.NodeID(id))
		case 1:
			b = append(b, wire.NodeID(id))
		}
	}
	r.Shuffle(len(a), func(i, j int) { a[i], a[j] = a[j], a[i] })
	return a, b
}

// TestDisjointViewsAtMostOnePrimary: two disjoint views judged against the
// same lineage are never both primary (two_node excluded: there fencing
// settles the split). The witness grants at most one of them.
func TestDisjointViewsAtMostOnePrimary(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	primaries := 0
	for i := range 30000 {
		c := randConfig(r, false)
		l := randLineage(r)
		v1, v2 := split(r)
		l1, l2 := l, l
		switch r.IntN(3) {
		case 0:
			l1.Witness, l2.Witness = false, false
		case 1:
			l1.Witness, l2.Witness = true, false
		default:
			l1.Witness, l2.Witness = false, true
		}
		d1, d2 := quorum.Decide(c, v1, l1), quorum.Decide(c, v2, l2)
		if d1.Primary && d2.Primary {
			t.Fatalf("case %d: both primary\nconfig %+v\nlineage %+v LP %+v Prev %+v\nV1 %v: %s\nV2 %v: %s",
				i, c, l, l.LP, l.Prev, v1, d1.Explain(c), v2, d2.Explain(c))
		}
		if d1.Primary || d2.Primary {
			primaries++
		}
	}
	if primaries < 3000 {
		t.Errorf("only %d of 30000 cases had a primary: the generator is too weak", primaries)
	}
}

// TestDisjointAckersAtMostOneLease: two disjoint sets of ackers never both
// hold a lease against the same reference: the same view under
// last_man_standing, any two views under majority.
func TestDisjointAckersAtMostOneLease(t *testing.T) {
	r := rand.New(rand.NewPCG(4, 5))
	leases := 0
	for i := range 30000 {
		c := randConfig(r, false)
		v1 := quorum.ViewRef{ID: quorum.ViewID{Epoch: 5, Coord: 1}, Members: randSet(r)}
		v2 := v1
		if c.Policy == quorum.Majority {
			v2 = quorum.ViewRef{ID: quorum.ViewID{Epoch: 6, Coord: 2}, Members: randSet(r)}
		}
		a1, a2 := split(r)
		l1, l2 := quorum.Lease(c, v1, a1), quorum.Lease(c, v2, a2)
		if l1 && l2 {
			t.Fatalf("case %d: both hold a lease\nconfig %+v\nv1 %v ackers %v\nv2 %v ackers %v", i, c, v1, a1, v2, a2)
		}
		if l1 || l2 {
			leases++
		}
	}
	if leases < 3000 {
		t.Errorf("only %d of 30000 cases had a lease: the generator is too weak", leases)
	}
}

// TestLastManStandingHistory runs random partition histories under
// last_man_standing: every node keeps the last primary view it installed;
// each round the nodes split into groups, each group is judged against the
// newest LP its members hold, and primary groups install a new view. In
// every round at most one group is primary, and a primary group holds a
// member of the newest primary view: primary views form one chain (G2).
// The witness, when one is in play, remembers the newest primary view and
// grants its vote to at most one group per round, one that holds a member of
// that view.
func TestLastManStandingHistory(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 11))
	primaries := 0
	for run := range 400 {
		c := randConfig(r, false)
		c.Policy = quorum.LastManStanding
		c.WaitForAll = false
		conf := c.Nodes()
		lp := map[wire.NodeID]*quorum.ViewRef{}        // each node's LP
		prev := map[quorum.ViewID]*quorum.ViewRef{}    // each primary view's predecessor
		installed := map[quorum.ViewID]time.Duration{} // when each primary view was installed
		var newest *quorum.ViewRef
		useWitness := r.IntN(2) == 0
		now := time.Duration(0)
		for round := uint64(1); round <= 30; round++ {
			now += time.Duration(r.IntN(3)) * window / 2
			groups := make([][]wire.NodeID, 1+r.IntN(3))
			for _, id := range conf {
				g := r.IntN(len(groups))
				groups[g] = append(groups[g], id)
			}
			witnessFree := useWitness
			var winners [][]wire.NodeID
			var winnerLP []*quorum.ViewRef
			for _, g := range groups {
				if len(g) == 0 {
					continue
				}
				var l quorum.Lineage
				for _, id := range g {
					if p := lp[id]; p != nil && (l.LP == nil || l.LP.ID.Less(p.ID)) {
						l.LP = p
					}
				}
				if l.LP != nil {
					l.Prev = prev[l.LP.ID]
					l.LPAge = now - installed[l.LP.ID]
				}
				if witnessFree && (newest == nil || slices.ContainsFunc(g, func(id wire.NodeID) bool {
					return slices.Contains(newest.Members, id)
				})) && r.IntN(2) == 0 {
					l.Witness, witnessFree = true, false
				}
				if d := quorum.Decide(c, g, l); d.Primary {
					winners = append(winners, g)
					winnerLP = append(winnerLP, l.LP)
				}
			}
			if len(winners) > 1 {
				t.Fatalf("run %d round %d: %d primary groups %v\nconfig %+v", run, round, len(winners), winners, c)
			}
			if len(winners) == 1 {
				g := winners[0]
				if newest != nil && winnerLP[0] != newest {
					t.Fatalf("run %d round %d: primary %v judged against %v, newest primary view is %v", run, round, g, winnerLP[0], newest)
				}
				v := &quorum.ViewRef{ID: quorum.ViewID{Epoch: round, Coord: g[0]}, Members: g}
				prev[v.ID] = newest
				installed[v.ID] = now
				for _, id := range g {
					lp[id] = v
				}
				newest = v
				primaries++
			}
		}
	}
	if primaries < 1000 {
		t.Errorf("only %d primary views in all runs: the generator is too weak", primaries)
	}
}

// TestValidMatchesValidate: Lease's cheap validity check agrees with
// Validate on random configurations, invalid ones included (no nodes,
// negative or zero votes, an unknown policy, a bad window, two_node with
// the wrong nodes).
func TestValidMatchesValidate(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	policies := []quorum.Policy{quorum.Majority, quorum.LastManStanding, "", "corosync"}
	windows := []time.Duration{-time.Second, 0, window}
	seen := map[bool]int{}
	for range 20000 {
		n := r.IntN(4)
		c := quorum.Config{Votes: map[wire.NodeID]int{}, Policy: policies[r.IntN(len(policies))],
			Window: windows[r.IntN(len(windows))], TwoNode: r.IntN(3) == 0, AutoTieBreaker: r.IntN(2) == 0}
		for range n {
			c.Votes[wire.NodeID(1+r.IntN(maxNodes))] = r.IntN(4) - 1 // -1..2
		}
		want := c.Validate() == nil
		if got := quorum.Valid(c); got != want {
			t.Fatalf("valid(%+v) = %v, Validate says %v (%v)", c, got, want, c.Validate())
		}
		seen[want]++
	}
	if seen[true] == 0 || seen[false] == 0 {
		t.Fatalf("the draw never gave both answers: %v", seen)
	}
}
