package quorum

import (
	"fmt"
	"strings"

	"github.com/corral-ha/corral/core/wire"
)

// Reasons a view is not primary (Decision.Reason). Other reasons (the window
// rule, an invalid config) carry numbers and are built where they arise.
const (
	ReasonTooFewVotes   = "too few votes"
	ReasonNoTieBreaker  = "no tie-breaker"
	ReasonNoRefVotes    = "the reference set has no votes"
	ReasonWaitForAll    = "waiting for all nodes (wait_for_all)"
	ReasonUnblockNotAll = "unblocked view incomplete"
	refConfigured       = "configured nodes"
	tieByAutoTieBreaker = "lowest node %d (auto_tie_breaker)"
	tieByWitness        = "witness"
)

// Decision is the verdict on a candidate view, with the arithmetic behind it.
type Decision struct {
	Primary bool
	Votes   int    // votes that count (of the reference set)
	Needed  int    // votes needed (half of Total when V has a tie-breaker, else more than half)
	Total   int    // votes of the reference set
	Ref     string // what the view was judged against: "configured nodes" or "last primary view 17/1"
	Reason  string // one short clause why not primary when !Primary
	// TieBreaker names what made exactly half enough ("lowest node 1
	// (auto_tie_breaker)" or "witness"); empty unless a tie was broken.
	TieBreaker string
	// Unblocked: the view was judged against a lineage that descends from
	// a quorum unblock (Lineage.Unblocked under Majority).
	Unblocked bool
}

// tally is one judgement of a view against one reference set.
type tally struct {
	votes, needed, total int
	tie                  string // tie-breaker used, if any
	ok                   bool
	reason               string
}

// judge weighs the members v (sorted, distinct) against the reference set p
// (sorted, distinct): v wins with more than half of p's votes, or with
// exactly half and a tie-breaker on its side: p's lowest voter with
// auto_tie_breaker, else the witness's grant when witness is true.
func (c Config) judge(v, p []wire.NodeID, witness bool) tally {
	t := tally{total: c.VotesOf(p), votes: c.VotesOf(intersect(v, p))}
	if t.total == 0 {
		t.needed = 1
		t.reason = ReasonNoRefVotes
		return t
	}
	breaker := ""
	if t.total%2 == 0 {
		// With auto_tie_breaker the lowest voter alone decides ties, so a
		// witness granting the other side cannot give both halves a tie-breaker.
		if c.AutoTieBreaker {
			if low, ok := c.lowestVoter(p); ok && contains(v, low) {
				breaker = fmt.Sprintf(tieByAutoTieBreaker, low)
			}
		} else if witness {
			breaker = tieByWitness
		}
	}
	t.needed = t.total/2 + 1
	if breaker != "" {
		t.needed = t.total / 2
	}
	t.ok = t.votes >= t.needed
	switch {
	case t.ok && 2*t.votes == t.total:
		t.tie = breaker
	case !t.ok && 2*t.votes == t.total:
		t.reason = ReasonNoTieBreaker
	case !t.ok:
		t.reason = ReasonTooFewVotes
	}
	return t
}

// lowestVoter returns the lowest id of p (sorted) that has votes.
func (c Config) lowestVoter(p []wire.NodeID) (wire.NodeID, bool) {
	for _, id := range p {
		if c.votes(id) > 0 {
			return id, true
		}
	}
	return 0, false
}

func contains(sorted []wire.NodeID, id wire.NodeID) bool {
	for _, x := range sorted {
		if x == id {
			return true
		}
		if x > id {
			break
		}
	}
	return false
}

// twoNodeNeeded is what one view needs under two_node: the votes of the
// weaker of the two nodes, so a view holding either node is quorate.
func (c Config) twoNodeNeeded(conf []wire.NodeID) int {
	need := 0
	for _, id := range conf {
		if v := c.votes(id); v > 0 && (need == 0 || v < need) {
			need = v
		}
	}
	return need
}

// Decide judges whether the view made of members, whose members know l, is
// primary under c. See the package documentation for the rules.
func Decide(c Config, members []wire.NodeID, l Lineage) Decision {
	if err := c.Validate(); err != nil {
		return Decision{Reason: "invalid quorum config: " + oneLine(err)}
	}
	v := dedup(members)
	conf := c.Nodes()
	var d Decision
	switch {
	case c.TwoNode:
		d.Ref = refConfigured
		d.Total = c.VotesOf(conf)
		d.Votes = c.VotesOf(intersect(v, conf))
		d.Needed = c.twoNodeNeeded(conf)
		d.Primary = d.Votes >= d.Needed
		if !d.Primary {
			d.Reason = ReasonTooFewVotes
		}
	default:
		lms := c.Policy == LastManStanding
		if c.Policy == Majority && l.Unblocked && l.LP != nil {
			// an unblocked lineage: the reference follows the primary
			// views from the unblock on, as under last_man_standing
			lms, d.Unblocked = true, true
		}
		ref, refName := conf, refConfigured
		if lms && l.LP != nil {
			ref, refName = dedup(l.LP.Members), "last primary view "+l.LP.ID.String()
		}
		t := c.judge(v, ref, l.Witness)
		d = Decision{Primary: t.ok, Votes: t.votes, Needed: t.needed, Total: t.total,
			Ref: refName, Reason: t.reason, TieBreaker: t.tie, Unblocked: d.Unblocked}
		if d.Primary && lms && l.LP != nil {
			for _, a := range l.Also {
				members, name := dedup(a.Members), "view "+a.ID.String()
				if a.ID == (ViewID{}) && len(a.Members) == 0 {
					members, name = conf, refConfigured
				}
				if a.Whole && len(intersect(v, members)) != len(members) {
					d.Primary = false
					d.Reason = fmt.Sprintf("%s: last primary view %s is only acknowledged, not known installed, and the view does not hold every member of the unblocked view %s before it",
						ReasonUnblockNotAll, l.LP.ID, a.ID)
					break
				}
				if w := c.judge(v, members, l.Witness); !w.ok {
					d.Primary = false
					d.Reason = fmt.Sprintf("last primary view %s is only acknowledged, not known installed, and the view holds %d of %d votes of %s, need %d",
						l.LP.ID, w.votes, w.total, name, w.needed)
					break
				}
			}
		}
		if d.Primary && lms && l.LP != nil && l.Prev != nil && l.LPAge < c.Window {
			if w := c.judge(v, dedup(l.Prev.Members), l.Witness); !w.ok {
				d.Primary = false
				d.Reason = fmt.Sprintf("window: last primary view %s is %s old (window %s) and the view holds %d of %d votes of the primary view %s before it, need %d",
					l.LP.ID, l.LPAge, c.Window, w.votes, w.total, l.Prev.ID, w.needed)
			}
		}
	}
	if d.Primary && l.UnblockedView && l.LP != nil {
		if lp := dedup(l.LP.Members); len(intersect(v, lp)) != len(lp) {
			d.Primary = false
			d.Reason = fmt.Sprintf("%s: the unblocked view %s is not followed by a primary view yet, and this view does not hold all of its members", ReasonUnblockNotAll, l.LP.ID)
		}
	}
	if d.Primary && (c.WaitForAll || c.TwoNode) && !l.AllSeen && len(intersect(v, conf)) != len(conf) {
		d.Primary = false
		d.Reason = ReasonWaitForAll
	}
	if !d.Primary {
		d.TieBreaker = ""
	}
	return d
}

// Lease reports whether the nodes that acknowledged a lease request (ackers,
// the requester included) are a quorum for acting in view v. Only ackers that
// are members of v count. They are judged as Decide would judge a view made
// of them, against v itself (last_man_standing) or the configured nodes
// (majority), with auto_tie_breaker on the reference's lowest voter and
// without the witness; under two_node one acker with votes suffices.
// wait_for_all and the window do not apply to leases.
func Lease(c Config, v ViewRef, ackers []wire.NodeID) bool {
	return lease(c, v, ackers, false)
}

// LeaseUnblocked is Lease for a view that was judged against an unblocked
// lineage (Lineage.Unblocked, Decision.Unblocked): its ackers are judged
// against v itself, as under last_man_standing, whatever the policy.
func LeaseUnblocked(c Config, v ViewRef, ackers []wire.NodeID) bool {
	return lease(c, v, ackers, true)
}

func lease(c Config, v ViewRef, ackers []wire.NodeID, unblocked bool) bool {
	if !c.valid() {
		return false
	}
	members := dedup(v.Members)
	a := intersect(dedup(ackers), members)
	switch {
	case c.TwoNode:
		return c.VotesOf(a) > 0
	case c.Policy == LastManStanding || unblocked:
		return c.judge(a, members, false).ok
	default:
		return c.judge(a, c.Nodes(), false).ok
	}
}

// Explain renders the decision for the shell, e.g.
//
//	primary: 2 of 3 votes of configured nodes, need 2; policy majority
//	not primary: 1 of 3 votes of last primary view 17/1, need 2; policy last_man_standing
//	not primary: 2 of 4 votes of configured nodes, need 3; policy majority; no tie-breaker
//	primary: 2 of 4 votes of configured nodes, need 2; policy majority; tie broken by lowest node 1 (auto_tie_breaker)
//
// The reason is appended when it says more than the numbers do.
func (d Decision) Explain(c Config) string {
	var b strings.Builder
	if d.Primary {
		b.WriteString("primary")
	} else {
		b.WriteString("not primary")
	}
	if d.Ref == "" {
		if d.Reason != "" {
			b.WriteString(": " + d.Reason)
		}
		return b.String()
	}
	fmt.Fprintf(&b, ": %d of %d votes of %s, need %d; policy %s", d.Votes, d.Total, d.Ref, d.Needed, c.Policy)
	if c.TwoNode {
		b.WriteString(", two_node")
	}
	if d.Unblocked {
		b.WriteString("; unblocked by an operator (quorum unblock)")
	}
	if d.TieBreaker != "" {
		b.WriteString("; tie broken by " + d.TieBreaker)
	}
	if !d.Primary && d.Reason != "" && d.Reason != ReasonTooFewVotes {
		b.WriteString("; " + d.Reason)
	}
	return b.String()
}

func oneLine(err error) string {
	return strings.ReplaceAll(err.Error(), "\n", "; ")
}
