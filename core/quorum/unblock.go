package quorum

import (
	"errors"
	"fmt"
	"slices"

	"github.com/corral-ha/corral/core/wire"
)

// Errors of PlanUnblock, wrapped with the details.
var (
	// ErrNothingToUnblock: the view is primary already.
	ErrNothingToUnblock = errors.New("quorum: the view is primary: nothing to unblock")
	// ErrUnblockTwoNode: two_node has its own rule for a lone node.
	ErrUnblockTwoNode = errors.New("quorum: two_node: a lone node acts once its peer is confirmed fenced")
	// ErrUnblockNoVotes: the surviving view holds no votes.
	ErrUnblockNoVotes = errors.New("quorum: the view holds no votes")
)

// Unblock is what an operator's quorum unblock does to the view it is
// given in (package documentation, "Unblock").
type Unblock struct {
	View       ViewRef       // the surviving view: it becomes the reference
	WrittenOff []wire.NodeID // every configured node outside View, sorted
	Expected   int           // the votes of View: what the reference holds from now on
	Was        int           // the votes the view was judged against (configured nodes, or LP under last_man_standing)
	Chain      bool          // under Majority: the reference follows the primary views from here (Lineage.Unblocked)
	Decision   Decision      // the view's decision before the unblock
}

// PlanUnblock says what an unblock given in view v (not primary, judged
// with lineage l) does: which nodes it writes off and the new expected
// votes; or why it cannot be given. It is pure: the caller (membership,
// at the operator's input) applies it.
func PlanUnblock(c Config, v ViewRef, primary bool, l Lineage) (Unblock, error) {
	if err := c.Validate(); err != nil {
		return Unblock{}, fmt.Errorf("quorum: unblock: %w", err)
	}
	if c.TwoNode {
		return Unblock{}, fmt.Errorf("%w: use fence confirm on the peer instead", ErrUnblockTwoNode)
	}
	d := Decide(c, v.Members, l)
	if primary {
		return Unblock{}, fmt.Errorf("%w (%s)", ErrNothingToUnblock, d.Explain(c))
	}
	members := dedup(v.Members)
	u := Unblock{View: ViewRef{ID: v.ID, Members: members}, Expected: c.VotesOf(members), Was: d.Total, Decision: d}
	if u.Expected == 0 {
		return Unblock{}, fmt.Errorf("%w: give the surviving nodes votes", ErrUnblockNoVotes)
	}
	for _, id := range c.Nodes() {
		if !slices.Contains(members, id) {
			u.WrittenOff = append(u.WrittenOff, id)
		}
	}
	u.Chain = c.Policy == Majority && !c.judge(members, c.Nodes(), false).ok
	return u, nil
}

// ContinuesUnblock reports whether a primary view of members, judged
// against an unblocked lineage, keeps the lineage unblocked: under
// Majority, while the view would not be primary by the plain majority of
// the configured votes (a tie counts only with auto_tie_breaker, never
// with the witness). Once a view holds that majority again, the rule is
// the configured nodes' once more.
func ContinuesUnblock(c Config, members []wire.NodeID) bool {
	return c.Policy == Majority && !c.TwoNode && !c.judge(dedup(members), c.Nodes(), false).ok
}
