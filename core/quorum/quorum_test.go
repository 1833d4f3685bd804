package quorum_test

import (
	"strings"
	"testing"
	"time"

	"github.com/corral-ha/corral/core/quorum"
	"github.com/corral-ha/corral/core/wire"
)

func ids(xs ...wire.NodeID) []wire.NodeID { return xs }

// uniform configures nodes 1..n with one vote each.
func uniform(n int) map[wire.NodeID]int {
	m := make(map[wire.NodeID]int, n)
	for i := 1; i <= n; i++ {
		m[wire.NodeID(i)] = 1
	}
	return m
}

func view(epoch uint64, members ...wire.NodeID) *quorum.ViewRef {
	return &quorum.ViewRef{ID: quorum.ViewID{Epoch: epoch, Coord: members[0]}, Members: members}
}

func maj(votes map[wire.NodeID]int) quorum.Config {
	return quorum.Config{Votes: votes, Policy: quorum.Majority}
}

func lms(votes map[wire.NodeID]int) quorum.Config {
	return quorum.Config{Votes: votes, Policy: quorum.LastManStanding, Window: 10 * time.Second}
}

func withATB(c quorum.Config) quorum.Config { c.AutoTieBreaker = true; return c }
func withWFA(c quorum.Config) quorum.Config { c.WaitForAll = true; return c }

// old is an LP age past every window used here.
const old = time.Hour

func TestValidate(t *testing.T) {
	twoNode := maj(uniform(2))
	twoNode.TwoNode = true
	tests := []struct {
		name string
		c    quorum.Config
		want string // substring of the error; "" for valid
	}{
		{"majority", maj(uniform(3)), ""},
		{"last_man_standing", lms(uniform(5)), ""},
		{"zero-vote node", maj(map[wire.NodeID]int{1: 1, 2: 0}), ""},
		{"two_node", twoNode, ""},
		{"unknown policy", quorum.Config{Votes: uniform(3), Policy: "mostly"}, "not a policy"},
		{"empty policy", quorum.Config{Votes: uniform(3)}, "not a policy"},
		{"no nodes", maj(nil), "no configured nodes"},
		{"negative votes", maj(map[wire.NodeID]int{1: 1, 2: -1, 3: 1}), "node 2 has -1 votes"},
		{"no votes", maj(map[wire.NodeID]int{1: 0, 2: 0}), "no node has votes"},
		{"negative window", quorum.Config{Votes: uniform(3), Policy: quorum.Majority, Window: -time.Second}, "must not be negative"},
		{"lms without window", quorum.Config{Votes: uniform(3), Policy: quorum.LastManStanding}, "positive window"},
		{"two_node with three", func() quorum.Config { c := maj(uniform(3)); c.TwoNode = true; return c }(), "exactly 2"},
		{"two_node with one voter", func() quorum.Config {
			c := maj(map[wire.NodeID]int{1: 1, 2: 0})
			c.TwoNode = true
			return c
		}(), "exactly 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.c.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("Validate() = %v, want nil", err)
			case tt.want != "" && err == nil:
				t.Fatalf("Validate() = nil, want error containing %q", tt.want)
			case tt.want != "" && !strings.Contains(err.Error(), tt.want):
				t.Fatalf("Validate() = %v, want error containing %q", err, tt.want)
			}
		})
	}
}

func TestViewID(t *testing.T) {
	a := quorum.ViewID{Epoch: 17, Coord: 1}
	b := quorum.ViewID{Epoch: 17, Coord: 2}
	c := quorum.ViewID{Epoch: 18, Coord: 1}
	if !a.Less(b) || !b.Less(c) || !a.Less(c) || b.Less(a) || c.Less(b) || a.Less(a) {
		t.Errorf("ordering wrong: %v %v %v", a, b, c)
	}
	if got := a.String(); got != "17/1" {
		t.Errorf("String() = %q, want 17/1", got)
	}
}

func TestDecide(t *testing.T) {
	// Last man standing on 5 nodes: 5 -> 3 -> 2 -> 1, each view judged
	// against the previous one; auto_tie_breaker lets 1 of {1,2} go on.
	lp5 := view(1, 1, 2, 3, 4, 5)
	lp3 := view(2, 1, 2, 3)
	lp2 := view(3, 1, 2)
	lp1 := view(4, 1)
	chain := withATB(lms(uniform(5)))

	// An acknowledged but never installed proposal X = 6/1 that added nodes
	// 6..10 to L = 5/1 {1..5}; only 1 and 6..10 acknowledged it.
	lpL := view(5, 1, 2, 3, 4, 5)
	lpX := view(6, 1, 2, 3, 6, 7, 8, 9, 10)

	twoNode := maj(uniform(2))
	twoNode.TwoNode = true

	tests := []struct {
		name    string
		c       quorum.Config
		members []wire.NodeID
		l       quorum.Lineage
		primary bool
		votes   int
		needed  int
		total   int
		ref     string
		reason  string // substring; checked when !primary
	}{
		// majority
		{"majority 2 of 3", maj(uniform(3)), ids(1, 2), quorum.Lineage{}, true, 2, 2, 3, "configured nodes", ""},
		{"majority 1 of 3", maj(uniform(3)), ids(3), quorum.Lineage{}, false, 1, 2, 3, "configured nodes", "too few votes"},
		{"majority duplicates count once", maj(uniform(3)), ids(1, 1, 1), quorum.Lineage{}, false, 1, 2, 3, "configured nodes", "too few votes"},
		{"majority unknown ids count 0", maj(uniform(3)), ids(1, 9, 10), quorum.Lineage{}, false, 1, 2, 3, "configured nodes", "too few votes"},
		{"majority empty view", maj(uniform(3)), nil, quorum.Lineage{}, false, 0, 2, 3, "configured nodes", "too few votes"},
		{"majority ignores LP", maj(uniform(5)), ids(1, 2), quorum.Lineage{LP: lp3, LPAge: old}, false, 2, 3, 5, "configured nodes", "too few votes"},

		// even splits of 4
		{"2-2 no tie-breaker, low half", maj(uniform(4)), ids(1, 2), quorum.Lineage{}, false, 2, 3, 4, "configured nodes", "no tie-breaker"},
		{"2-2 no tie-breaker, high half", maj(uniform(4)), ids(3, 4), quorum.Lineage{}, false, 2, 3, 4, "configured nodes", "no tie-breaker"},
		{"2-2 atb, half with lowest", withATB(maj(uniform(4))), ids(2, 1), quorum.Lineage{}, true, 2, 2, 4, "configured nodes", ""},
		{"2-2 atb, other half", withATB(maj(uniform(4))), ids(3, 4), quorum.Lineage{}, false, 2, 3, 4, "configured nodes", "no tie-breaker"},
		{"2-2 witness on high half", maj(uniform(4)), ids(3, 4), quorum.Lineage{Witness: true}, true, 2, 2, 4, "configured nodes", ""},
		{"2-2 witness on high half, low half", maj(uniform(4)), ids(1, 2), quorum.Lineage{}, false, 2, 3, 4, "configured nodes", "no tie-breaker"},
		{"2-2 witness on low half", maj(uniform(4)), ids(1, 2), quorum.Lineage{Witness: true}, true, 2, 2, 4, "configured nodes", ""},
		{"2-2 witness partitioned, low half", maj(uniform(4)), ids(1, 2), quorum.Lineage{Witness: false}, false, 2, 3, 4, "configured nodes", "no tie-breaker"},
		{"2-2 witness partitioned, high half", maj(uniform(4)), ids(3, 4), quorum.Lineage{Witness: false}, false, 2, 3, 4, "configured nodes", "no tie-breaker"},
		{"witness never makes less than half enough", maj(uniform(4)), ids(4), quorum.Lineage{Witness: true}, false, 1, 2, 4, "configured nodes", "too few votes"},
		{"witness irrelevant with odd total", maj(uniform(5)), ids(4, 5), quorum.Lineage{Witness: true}, false, 2, 3, 5, "configured nodes", "too few votes"},
		{"atb decides, witness on the other half", withATB(maj(uniform(4))), ids(3, 4), quorum.Lineage{Witness: true}, false, 2, 3, 4, "configured nodes", "no tie-breaker"},
		{"atb decides, half with lowest", withATB(maj(uniform(4))), ids(1, 2), quorum.Lineage{}, true, 2, 2, 4, "configured nodes", ""},
		{"atb never makes less than half enough", withATB(maj(uniform(4))), ids(1), quorum.Lineage{}, false, 1, 2, 4, "configured nodes", "too few votes"},

		// zero-vote and unequal votes
		{"zero-vote node adds nothing", maj(map[wire.NodeID]int{1: 0, 2: 1, 3: 1, 4: 1}), ids(1, 2), quorum.Lineage{}, false, 1, 2, 3, "configured nodes", "too few votes"},
		{"zero-vote node absent", maj(map[wire.NodeID]int{1: 0, 2: 1, 3: 1, 4: 1}), ids(2, 3), quorum.Lineage{}, true, 2, 2, 3, "configured nodes", ""},
		{"atb skips zero-vote lowest id", withATB(maj(map[wire.NodeID]int{1: 0, 2: 1, 3: 1})), ids(1, 3), quorum.Lineage{}, false, 1, 2, 2, "configured nodes", "no tie-breaker"},
		{"atb lowest voter", withATB(maj(map[wire.NodeID]int{1: 0, 2: 1, 3: 1})), ids(2), quorum.Lineage{}, true, 1, 1, 2, "configured nodes", ""},
		{"heavy node alone", maj(map[wire.NodeID]int{1: 3, 2: 1, 3: 1}), ids(1), quorum.Lineage{}, true, 3, 3, 5, "configured nodes", ""},
		{"light nodes together", maj(map[wire.NodeID]int{1: 3, 2: 1, 3: 1}), ids(2, 3), quorum.Lineage{}, false, 2, 3, 5, "configured nodes", "too few votes"},
		{"unequal tie without atb", maj(map[wire.NodeID]int{1: 2, 2: 1, 3: 1}), ids(1), quorum.Lineage{}, false, 2, 3, 4, "configured nodes", "no tie-breaker"},
		{"unequal tie with atb", withATB(maj(map[wire.NodeID]int{1: 2, 2: 1, 3: 1})), ids(1), quorum.Lineage{}, true, 2, 2, 4, "configured nodes", ""},
		{"unequal tie with atb, other side", withATB(maj(map[wire.NodeID]int{1: 2, 2: 1, 3: 1})), ids(2, 3), quorum.Lineage{}, false, 2, 3, 4, "configured nodes", "no tie-breaker"},

		// last man standing: cold start, then 5 -> 3 -> 2 -> 1
		{"lms cold start 2 of 5", chain, ids(1, 2), quorum.Lineage{}, false, 2, 3, 5, "configured nodes", "too few votes"},
		{"lms cold start 5 of 5", chain, ids(1, 2, 3, 4, 5), quorum.Lineage{}, true, 5, 3, 5, "configured nodes", ""},
		{"lms 5 -> 3", chain, ids(1, 2, 3), quorum.Lineage{LP: lp5, LPAge: old}, true, 3, 3, 5, "last primary view 1/1", ""},
		{"lms 5 -> the 2 dropped", chain, ids(4, 5), quorum.Lineage{LP: lp5, LPAge: old}, false, 2, 3, 5, "last primary view 1/1", "too few votes"},
		{"lms 3 -> 2", chain, ids(1, 2), quorum.Lineage{LP: lp3, Prev: lp5, LPAge: old}, true, 2, 2, 3, "last primary view 2/1", ""},
		{"lms 2 -> 1 with the lowest id", chain, ids(1), quorum.Lineage{LP: lp2, Prev: lp3, LPAge: old}, true, 1, 1, 2, "last primary view 3/1", ""},
		{"lms 2 -> 1 without the lowest id", chain, ids(2), quorum.Lineage{LP: lp2, Prev: lp3, LPAge: old}, false, 1, 2, 2, "last primary view 3/1", "no tie-breaker"},
		{"lms 2 -> 1 without atb", lms(uniform(5)), ids(1), quorum.Lineage{LP: lp2, Prev: lp3, LPAge: old}, false, 1, 2, 2, "last primary view 3/1", "no tie-breaker"},
		// The dropped nodes meet: 2 (LP 3/1), 3 (LP 2/1), 4 and 5 (LP 1/1) hold
		// 4 of 5 configured votes, but their newest LP is 3/1 = {1,2}.
		{"lms dropped 2,3,4,5 meet", chain, ids(2, 3, 4, 5), quorum.Lineage{LP: lp2, Prev: lp3, LPAge: old}, false, 1, 2, 2, "last primary view 3/1", "no tie-breaker"},
		// 3 (LP 2/1) with 4 and 5 (LP 1/1): 3 of the old 5 would do, 1 of 3 does not.
		{"lms dropped 3,4,5 meet", chain, ids(3, 4, 5), quorum.Lineage{LP: lp3, Prev: lp5, LPAge: old}, false, 1, 2, 3, "last primary view 2/1", "too few votes"},
		{"lms dropped 3,4,5 against the older LP (what the rule forbids)", chain, ids(3, 4, 5), quorum.Lineage{LP: lp5, LPAge: old}, true, 3, 3, 5, "last primary view 1/1", ""},
		{"lms dropped 4,5 meet", chain, ids(4, 5), quorum.Lineage{LP: lp5, LPAge: old}, false, 2, 3, 5, "last primary view 1/1", "too few votes"},
		{"lms last man brings the others back", chain, ids(1, 2, 3, 4, 5), quorum.Lineage{LP: lp1, Prev: lp2, LPAge: old}, true, 1, 1, 1, "last primary view 4/1", ""},
		{"lms witness breaks a tie of the LP", lms(uniform(5)), ids(2), quorum.Lineage{LP: lp2, LPAge: old, Witness: true}, true, 1, 1, 2, "last primary view 3/1", ""},
		{"lms LP without votes", lms(map[wire.NodeID]int{1: 1, 2: 1, 3: 0}), ids(1, 3), quorum.Lineage{LP: view(2, 3), LPAge: old}, false, 0, 1, 0, "last primary view 2/3", "no votes"},
		{"lms LP duplicates and unknown ids", lms(uniform(3)), ids(1), quorum.Lineage{LP: view(2, 1, 1, 9), LPAge: old}, true, 1, 1, 1, "last primary view 2/1", ""},

		// the window
		{"window: young LP, shrink blocked", chain, ids(1, 2), quorum.Lineage{LP: lp3, Prev: lp5, LPAge: 3 * time.Second}, false, 2, 2, 3, "last primary view 2/1", "window: last primary view 2/1 is 3s old (window 10s) and the view holds 2 of 5 votes of the primary view 1/1 before it, need 3"},
		{"window: LP exactly the window old", chain, ids(1, 2), quorum.Lineage{LP: lp3, Prev: lp5, LPAge: 10 * time.Second}, true, 2, 2, 3, "last primary view 2/1", ""},
		{"window: young LP, no shrink", chain, ids(1, 2, 3), quorum.Lineage{LP: lp3, Prev: lp5, LPAge: 0}, true, 3, 2, 3, "last primary view 2/1", ""},
		{"window: young LP, Prev unknown", chain, ids(1, 2), quorum.Lineage{LP: lp3, LPAge: 0}, true, 2, 2, 3, "last primary view 2/1", ""},
		{"window: young LP, tie with Prev broken by atb", withATB(lms(uniform(4))), ids(1, 2), quorum.Lineage{LP: view(2, 1, 2, 3), Prev: view(1, 1, 2, 3, 4), LPAge: time.Second}, true, 2, 2, 3, "last primary view 2/1", ""},
		{"window: young LP, tie with Prev without atb", lms(uniform(4)), ids(1, 2), quorum.Lineage{LP: view(2, 1, 2, 3), Prev: view(1, 1, 2, 3, 4), LPAge: time.Second}, false, 2, 2, 3, "last primary view 2/1", "2 of 4 votes"},
		// Ambiguous proposal: H = {2,3,4} holds L only and wins 3 of 5; G =
		// {1,6..10} holds X and would win 6 of 8, so X comes with Prev = L
		// and age 0, and G must also win L: 1 of 5.
		{"ambiguous proposal: the side without it", lms(uniform(10)), ids(2, 3, 4), quorum.Lineage{LP: lpL, LPAge: old}, true, 3, 3, 5, "last primary view 5/1", ""},
		{"ambiguous proposal: the side with it", lms(uniform(10)), ids(1, 6, 7, 8, 9, 10), quorum.Lineage{LP: lpX, Prev: lpL, LPAge: 0}, false, 6, 5, 8, "last primary view 6/1", "1 of 5 votes"},
		// Issue 15: W = {1..5} (6/1) was promised by 1, 2 and 3 only; the last
		// installed primary may be W or V = {3,4,5} (5/3). {1,2,3} must win
		// both: 1 of 3 of V. {1,3,4} wins both.
		{"promised LP: the view must win the last view known installed", lms(uniform(5)), ids(1, 2, 3), quorum.Lineage{LP: view(6, 1, 2, 3, 4, 5), LPAge: 0, Also: []quorum.ViewRef{{ID: quorum.ViewID{Epoch: 5, Coord: 3}, Members: ids(3, 4, 5)}}}, false, 3, 3, 5, "last primary view 6/1", "holds 1 of 3 votes of view 5/3, need 2"},
		{"promised LP: a view winning both", lms(uniform(5)), ids(1, 3, 4), quorum.Lineage{LP: view(6, 1, 2, 3, 4, 5), LPAge: 0, Also: []quorum.ViewRef{{ID: quorum.ViewID{Epoch: 5, Coord: 3}, Members: ids(3, 4, 5)}}}, true, 3, 3, 5, "last primary view 6/1", ""},
		{"promised LP: every view that may be the last", lms(uniform(5)), ids(1, 2, 4), quorum.Lineage{LP: view(7, 1, 2, 4), LPAge: 0, Also: []quorum.ViewRef{*view(5, 1, 2, 3, 4, 5), *view(6, 3, 4, 5)}}, false, 3, 2, 3, "last primary view 7/1", "1 of 3 votes of view 6/3"},
		{"promised LP, nothing known installed: the configured nodes", lms(uniform(5)), ids(1, 2), quorum.Lineage{LP: view(1, 1, 2, 3), LPAge: 0, Also: []quorum.ViewRef{{}}}, false, 2, 2, 3, "last primary view 1/1", "2 of 5 votes of configured nodes"},
		{"Also is ignored under majority", maj(uniform(5)), ids(1, 2, 3), quorum.Lineage{LP: view(6, 1, 2, 3, 4, 5), Also: []quorum.ViewRef{*view(5, 4, 5)}}, true, 3, 3, 5, "configured nodes", ""},

		// wait_for_all
		{"wait_for_all before AllSeen", withWFA(maj(uniform(3))), ids(1, 2), quorum.Lineage{}, false, 2, 2, 3, "configured nodes", "waiting for all nodes (wait_for_all)"},
		{"wait_for_all after AllSeen", withWFA(maj(uniform(3))), ids(1, 2), quorum.Lineage{AllSeen: true}, true, 2, 2, 3, "configured nodes", ""},
		{"wait_for_all, all in the view", withWFA(maj(uniform(3))), ids(3, 2, 1), quorum.Lineage{}, true, 3, 2, 3, "configured nodes", ""},
		{"wait_for_all, too few votes first", withWFA(maj(uniform(3))), ids(1), quorum.Lineage{}, false, 1, 2, 3, "configured nodes", "too few votes"},
		{"wait_for_all waits for zero-vote nodes", withWFA(maj(map[wire.NodeID]int{1: 1, 2: 1, 3: 1, 4: 0})), ids(1, 2, 3), quorum.Lineage{}, false, 3, 2, 3, "configured nodes", "wait_for_all"},
		{"wait_for_all, lms", withWFA(lms(uniform(3))), ids(1, 2), quorum.Lineage{LP: view(1, 1, 2, 3), LPAge: old}, false, 2, 2, 3, "last primary view 1/1", "wait_for_all"},

		// two_node
		{"two_node node 1 after AllSeen", twoNode, ids(1), quorum.Lineage{AllSeen: true}, true, 1, 1, 2, "configured nodes", ""},
		{"two_node node 2 after AllSeen", twoNode, ids(2), quorum.Lineage{AllSeen: true}, true, 1, 1, 2, "configured nodes", ""},
		{"two_node node 1 before AllSeen", twoNode, ids(1), quorum.Lineage{}, false, 1, 1, 2, "configured nodes", "wait_for_all"},
		{"two_node node 2 before AllSeen", twoNode, ids(2), quorum.Lineage{}, false, 1, 1, 2, "configured nodes", "wait_for_all"},
		{"two_node both before AllSeen", twoNode, ids(1, 2), quorum.Lineage{}, true, 2, 1, 2, "configured nodes", ""},
		{"two_node nobody", twoNode, ids(3), quorum.Lineage{AllSeen: true}, false, 0, 1, 2, "configured nodes", "too few votes"},

		// invalid config
		{"invalid config", quorum.Config{Votes: uniform(3), Policy: "mostly"}, ids(1, 2, 3), quorum.Lineage{AllSeen: true}, false, 0, 0, 0, "", "invalid quorum config"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := quorum.Decide(tt.c, tt.members, tt.l)
			if d.Primary != tt.primary || d.Votes != tt.votes || d.Needed != tt.needed || d.Total != tt.total || d.Ref != tt.ref {
				t.Errorf("Decide = %+v\nwant primary=%v votes=%d needed=%d total=%d ref=%q", d, tt.primary, tt.votes, tt.needed, tt.total, tt.ref)
			}
			if tt.primary && d.Reason != "" {
				t.Errorf("primary with reason %q", d.Reason)
			}
			if !tt.primary && !strings.Contains(d.Reason, tt.reason) {
				t.Errorf("reason %q, want it to contain %q", d.Reason, tt.reason)
			}
		})
	}
}

func TestDecideDoesNotModifyInputs(t *testing.T) {
	members := ids(3, 1, 2, 1)
	lp := view(2, 3, 2, 1)
	quorum.Decide(withATB(lms(uniform(3))), members, quorum.Lineage{LP: lp, Prev: view(1, 2, 1, 3), LPAge: 0})
	if members[0] != 3 || members[3] != 1 || lp.Members[0] != 3 || lp.Members[2] != 1 {
		t.Errorf("inputs were reordered: %v %v", members, lp.Members)
	}
}

func TestLease(t *testing.T) {
	twoNode := maj(uniform(2))
	twoNode.TwoNode = true
	v123 := quorum.ViewRef{ID: quorum.ViewID{Epoch: 7, Coord: 1}, Members: ids(1, 2, 3)}
	v12 := quorum.ViewRef{ID: quorum.ViewID{Epoch: 8, Coord: 1}, Members: ids(1, 2)}
	v1234 := quorum.ViewRef{ID: quorum.ViewID{Epoch: 9, Coord: 1}, Members: ids(1, 2, 3, 4)}
	tests := []struct {
		name   string
		c      quorum.Config
		v      quorum.ViewRef
		ackers []wire.NodeID
		want   bool
	}{
		{"lms 2 of view of 3", lms(uniform(5)), v123, ids(1, 2), true},
		{"lms 1 of view of 3", lms(uniform(5)), v123, ids(3), false},
		{"lms duplicates count once", lms(uniform(5)), v123, ids(3, 3, 3), false},
		{"lms ackers outside the view", lms(uniform(5)), v123, ids(1, 4, 5), false},
		{"lms tie with atb, lowest side", withATB(lms(uniform(5))), v12, ids(1), true},
		{"lms tie with atb, other side", withATB(lms(uniform(5))), v12, ids(2), false},
		{"lms tie without atb", lms(uniform(5)), v12, ids(1), false},
		{"majority 3 of 5", maj(uniform(5)), v123, ids(1, 2, 3), true},
		{"majority 2 of 5", maj(uniform(5)), v123, ids(1, 2), false},
		{"majority ackers outside the view", maj(uniform(5)), v123, ids(1, 2, 4), false},
		{"majority tie with atb", withATB(maj(uniform(4))), v1234, ids(1, 4), true},
		{"majority tie without atb", maj(uniform(4)), v1234, ids(1, 4), false},
		{"wait_for_all does not apply", withWFA(maj(uniform(3))), v123, ids(1, 2), true},
		{"window does not apply", lms(uniform(5)), v12, ids(1, 2), true},
		{"two_node requester alone", twoNode, v12, ids(2), true},
		{"two_node nobody", twoNode, v12, nil, false},
		{"zero-vote ackers", lms(map[wire.NodeID]int{1: 1, 2: 1, 3: 0}), v123, ids(3), false},
		{"invalid config", quorum.Config{Votes: uniform(3)}, v123, ids(1, 2, 3), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := quorum.Lease(tt.c, tt.v, tt.ackers); got != tt.want {
				t.Errorf("Lease(%v, %v) = %v, want %v", tt.v.Members, tt.ackers, got, tt.want)
			}
		})
	}
}

func TestExplain(t *testing.T) {
	twoNode := maj(uniform(2))
	twoNode.TwoNode = true
	tests := []struct {
		name    string
		c       quorum.Config
		members []wire.NodeID
		l       quorum.Lineage
		want    string
	}{
		{"majority primary", maj(uniform(3)), ids(1, 2), quorum.Lineage{},
			"primary: 2 of 3 votes of configured nodes, need 2; policy majority"},
		{"lms not primary", lms(uniform(5)), ids(3), quorum.Lineage{LP: view(17, 1, 2, 3), LPAge: old},
			"not primary: 1 of 3 votes of last primary view 17/1, need 2; policy last_man_standing"},
		{"lms primary", lms(uniform(5)), ids(1, 2, 3), quorum.Lineage{LP: view(17, 1, 2, 3, 4, 5), LPAge: old},
			"primary: 3 of 5 votes of last primary view 17/1, need 3; policy last_man_standing"},
		{"tie without breaker", maj(uniform(4)), ids(3, 4), quorum.Lineage{},
			"not primary: 2 of 4 votes of configured nodes, need 3; policy majority; no tie-breaker"},
		{"tie broken by atb", withATB(maj(uniform(4))), ids(1, 4), quorum.Lineage{},
			"primary: 2 of 4 votes of configured nodes, need 2; policy majority; tie broken by lowest node 1 (auto_tie_breaker)"},
		{"tie broken by witness", maj(uniform(4)), ids(3, 4), quorum.Lineage{Witness: true},
			"primary: 2 of 4 votes of configured nodes, need 2; policy majority; tie broken by witness"},
		{"no tie, witness not mentioned", maj(uniform(4)), ids(2, 3, 4), quorum.Lineage{Witness: true},
			"primary: 3 of 4 votes of configured nodes, need 2; policy majority"},
		{"wait_for_all", withWFA(maj(uniform(3))), ids(1, 2), quorum.Lineage{},
			"not primary: 2 of 3 votes of configured nodes, need 2; policy majority; waiting for all nodes (wait_for_all)"},
		{"two_node", twoNode, ids(2), quorum.Lineage{AllSeen: true},
			"primary: 1 of 2 votes of configured nodes, need 1; policy majority, two_node"},
		{"window", lms(uniform(5)), ids(1, 2), quorum.Lineage{LP: view(18, 1, 2, 3), Prev: view(17, 1, 2, 3, 4, 5), LPAge: 4 * time.Second},
			"not primary: 2 of 3 votes of last primary view 18/1, need 2; policy last_man_standing; window: last primary view 18/1 is 4s old (window 10s) and the view holds 2 of 5 votes of the primary view 17/1 before it, need 3"},
		{"invalid", quorum.Config{Votes: uniform(3), Policy: quorum.Majority, Window: -1}, ids(1, 2), quorum.Lineage{},
			"not primary: invalid quorum config: quorum: window -1ns must not be negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := quorum.Decide(tt.c, tt.members, tt.l).Explain(tt.c); got != tt.want {
				t.Errorf("Explain =\n  %q\nwant\n  %q", got, tt.want)
			}
		})
	}
}
