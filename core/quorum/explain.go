package quorum

import (
	"fmt"
	"slices"
	"strings"

	"github.com/corral-ha/corral/core/wire"
)

// Loss bounds: the search judges at most MaxLossJudged candidate views and
// lists at most MaxLossSets sets (a 256-node majority cluster has more
// minimal sets than anyone reads).
const (
	MaxLossSets   = 16
	MaxLossJudged = 1 << 14
)

// Loss says which members of a primary view would have to fail together
// for the survivors' view to be no longer primary.
type Loss struct {
	// Sets are the minimal sets of members whose failure loses quorum
	// (no proper subset does), smallest first, each sorted; at most
	// MaxLossSets of them.
	Sets [][]wire.NodeID
	// Fewest is how many members must fail at least; 0 when the search
	// stopped before finding a set (Truncated).
	Fewest int
	// Truncated: there are more sets than listed, or the search judged
	// MaxLossJudged views and stopped.
	Truncated bool
	// Witness: a witness is configured and the search assumed it grants
	// its vote to the survivors (it grants to a view holding a member of
	// its last primary view, which survivors of v are).
	Witness bool
}

// Survivors is the lineage a view made of survivors of the installed
// primary view v is judged with once v has been installed longer than the
// window: v is the last primary view (LP), every configured node has been
// seen (a primary v passed wait_for_all), and the witness grants its vote
// when one is configured.
func Survivors(c Config, v ViewRef, witness bool) Lineage {
	lp := ViewRef{ID: v.ID, Members: dedup(v.Members)}
	return Lineage{LP: &lp, LPAge: c.Window, AllSeen: true, Witness: witness}
}

// LossSets finds the minimal sets of members of the primary view v whose
// failure leaves a view that Decide does not judge primary, with the
// lineage Survivors gives. Failures are searched by increasing size; a
// superset of a set found is not a minimal set and is skipped. v not
// primary (or an invalid config) gives no sets: there is no quorum to
// lose.
func LossSets(c Config, v ViewRef, witness bool) Loss {
	members := dedup(v.Members)
	loss := Loss{Witness: witness}
	if c.Validate() != nil || len(members) == 0 {
		return loss
	}
	l := Survivors(c, v, witness)
	judged := 0
	var all [][]wire.NodeID
	for k := 1; k <= len(members); k++ {
		stop := false
		combinations(len(members), k, func(idx []int) bool {
			fail := make([]wire.NodeID, len(idx))
			for i, j := range idx {
				fail[i] = members[j]
			}
			for _, s := range all {
				if subset(s, fail) {
					return true
				}
			}
			if judged >= MaxLossJudged {
				stop = true
				return false
			}
			judged++
			survivors := slices.DeleteFunc(slices.Clone(members), func(id wire.NodeID) bool { return slices.Contains(fail, id) })
			if !Decide(c, survivors, l).Primary {
				all = append(all, fail)
			}
			return true
		})
		if stop {
			loss.Truncated = true
			break
		}
	}
	if len(all) > 0 {
		loss.Fewest = len(all[0])
	}
	if len(all) > MaxLossSets {
		all, loss.Truncated = all[:MaxLossSets], true
	}
	loss.Sets = all
	return loss
}

// combinations calls f with every k-subset of 0..n-1 (as ascending
// indices) in lexicographic order until f returns false.
func combinations(n, k int, f func([]int) bool) {
	idx := make([]int, k)
	for i := range idx {
		idx[i] = i
	}
	for {
		if !f(idx) {
			return
		}
		i := k - 1
		for i >= 0 && idx[i] == n-k+i {
			i--
		}
		if i < 0 {
			return
		}
		idx[i]++
		for j := i + 1; j < k; j++ {
			idx[j] = idx[j-1] + 1
		}
	}
}

// subset reports whether every id of sorted a is in sorted b.
func subset(a, b []wire.NodeID) bool {
	return len(intersect(a, b)) == len(a)
}

// Explanation is the quorum arithmetic of a view in plain sentences, for
// `explain quorum`: the verdict (Decision, exactly as Decide gives it),
// the options that took part, and what failures would lose quorum.
type Explanation struct {
	Decision Decision
	Loss     Loss
	Lines    []string
}

// Explain renders d, the verdict Decide gave on the view v (the caller
// has the lineage: membership keeps it), and, when v is primary, which
// failures would lose quorum (LossSets). name renders a node id (nil: the
// id). witness: a witness is configured.
func Explain(c Config, v ViewRef, d Decision, witness bool, name func(wire.NodeID) string) Explanation {
	if name == nil {
		name = func(id wire.NodeID) string { return fmt.Sprint(id) }
	}
	names := func(ids []wire.NodeID) string {
		var out []string
		for _, id := range ids {
			out = append(out, name(id))
		}
		return strings.Join(out, ", ")
	}
	e := Explanation{Decision: d}
	add := func(format string, a ...any) { e.Lines = append(e.Lines, fmt.Sprintf(format, a...)) }
	if d.Ref == "" {
		add("The view is not primary: %s.", d.Reason)
		return e
	}
	verdict := "is primary"
	if !d.Primary {
		verdict = "is not primary"
	}
	add("The view of %s %s: its members hold %d of the %d votes of the %s, and it needs %d.",
		names(dedup(v.Members)), verdict, d.Votes, d.Total, d.Ref, d.Needed)
	switch {
	case c.TwoNode:
		add("Policy two_node: either of the two nodes alone is quorate (it implies wait_for_all); a node alone fences its peer before it acts.")
	case c.Policy == LastManStanding:
		add("Policy last_man_standing: a view is judged against the last primary view its members know, so the cluster may shrink one step at a time (window %s).", c.Window)
	default:
		add("Policy majority: every view is judged against all configured nodes; the votes needed never shrink.")
	}
	if c.WaitForAll && !c.TwoNode {
		add("wait_for_all: after a cold start no view is primary until every configured node has been in one view.")
	}
	if c.AutoTieBreaker {
		add("auto_tie_breaker: with exactly half of the votes, the half holding the lowest voting node wins.")
	} else if witness {
		add("A witness breaks ties: with exactly half of the votes, the half the witness grants its vote wins.")
	}
	if d.TieBreaker != "" {
		add("The tie was broken by the %s.", d.TieBreaker)
	}
	if !d.Primary {
		if d.Reason != "" && d.Reason != ReasonTooFewVotes {
			add("Why not: %s.", d.Reason)
		}
		if d.Votes < d.Needed {
			add("It lacks %d vote(s): nodes must come back (or join) before anything runs.", d.Needed-d.Votes)
		}
		return e
	}
	e.Loss = LossSets(c, v, witness)
	var sets []string
	for _, s := range e.Loss.Sets {
		sets = append(sets, "{"+names(s)+"}")
	}
	assume := ""
	if witness && !c.AutoTieBreaker {
		assume = " (assuming the witness answers)"
	}
	switch {
	case len(sets) == 0 && e.Loss.Truncated:
		add("Losing quorum takes more failures than were searched (%d views judged).", MaxLossJudged)
	case len(sets) == 0:
		add("No failure of its members loses quorum.")
	default:
		more := ""
		if e.Loss.Truncated {
			more = ", and more"
		}
		add("Quorum is lost if %d node(s) fail together%s; the smallest such sets: %s%s.", e.Loss.Fewest, assume, strings.Join(sets, " "), more)
	}
	return e
}

// Text is the explanation as one paragraph per line.
func (e Explanation) Text() string {
	return strings.Join(e.Lines, "\n") + "\n"
}
