package node

import (
	"fmt"
	"strings"
	"time"

	"github.com/corral-ha/corral/core/apitypes"
	"github.com/corral-ha/corral/core/fence"
	"github.com/corral-ha/corral/core/stack"
)

// unblockWait bounds how long QuorumUnblock waits for every member of
// the view to carry the unblock out (its Safe delivery).
const unblockWait = 5 * time.Second

// ConfirmFence is an operator's `fence confirm NODE`: the node is down
// (powered off by hand). In a primary view the fence core records it on
// every member (node_fenced, device manual) and it returns once this node
// sees it; in a view that is not primary it is declared on this node
// (stack.ConfirmFence). Refused for a node that is up (stack.ErrLiveMember).
func (n *Node) ConfirmFence(target string) (apitypes.FenceConfirm, error) {
	out := apitypes.FenceConfirm{Target: target}
	if !slicesHasNode(n, target) {
		return out, fmt.Errorf("node %q: %w (nodes: %s)", target, ErrNotMember, strings.Join(n.fenceTargets(), ", "))
	}
	var err error
	primary := false
	if e := n.do(func() {
		primary = n.st.Membership().Primary
		err = n.st.ConfirmFence(n.now(), fence.Confirm{Target: target})
	}); e != nil {
		return out, e
	}
	if err != nil {
		return out, err
	}
	n.log.Warn("an operator confirmed a node is down (fence confirm)", "target", target, "primary", primary)
	if !primary {
		out.Declared = true
		out.Message = fmt.Sprintf("%s declared down on %s: this node's view is not primary; `quorum unblock` counts it, and it is confirmed fenced cluster-wide once this node is in a primary view", target, n.cfg.Node)
		return out, nil
	}
	for end := time.Now().Add(fenceRequestWait); ; {
		confirmed := false
		if e := n.do(func() {
			for _, ts := range n.st.FenceStatus() {
				if ts.Target == target {
					confirmed = ts.Confirmed
				}
			}
		}); e != nil {
			return out, e
		}
		if confirmed {
			out.Confirmed = true
			out.Message = fmt.Sprintf("%s confirmed fenced: what waited for its fence goes on", target)
			return out, nil
		}
		if time.Now().After(end) {
			return out, fmt.Errorf("the confirmation of %s was sent but not delivered within %v (did the view change?): check `fence` and retry: %w",
				target, fenceRequestWait, fence.ErrCannotFence)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func slicesHasNode(n *Node, name string) bool {
	for _, nd := range n.cfg.Nodes {
		if nd.Name == name {
			return true
		}
	}
	return false
}

// UnblockPlan says what `quorum unblock` would do on this node now.
func (n *Node) UnblockPlan() (apitypes.QuorumUnblock, error) {
	var p stack.UnblockPlan
	if e := n.do(func() { p = n.st.UnblockPlan(n.now()) }); e != nil {
		return apitypes.QuorumUnblock{}, e
	}
	return n.unblockOut(p), nil
}

func (n *Node) unblockOut(p stack.UnblockPlan) apitypes.QuorumUnblock {
	out := apitypes.QuorumUnblock{Cluster: n.cfg.Cluster, View: n.viewName(p.View), Members: p.Members, Expected: p.Expected, Was: p.Was,
		Chain: p.Chain, Blocked: p.Blocked, WrittenOff: []apitypes.UnblockTarget{}}
	if p.Decision.Ref != "" || p.Decision.Reason != "" {
		out.Before = p.Decision.Explain(quorumConfig(n.cfg))
	}
	for _, w := range p.WrittenOff {
		out.WrittenOff = append(out.WrittenOff, apitypes.UnblockTarget{Node: w.Node, Down: w.Down, How: w.How})
	}
	return out
}

// QuorumUnblock is an operator's confirmed `quorum unblock`: refused
// unless every node outside this node's view is known to be down
// (stack.QuorumUnblock); it returns once this node is in a primary view
// of all the unblocked view's members after it (Done), or when its view
// moved without one, or after unblockWait, saying which members hold the
// unblock (Holders, Missing).
func (n *Node) QuorumUnblock() (apitypes.QuorumUnblock, error) {
	var p stack.UnblockPlan
	var err error
	if e := n.do(func() { p, err = n.st.QuorumUnblock(n.now()) }); e != nil {
		return apitypes.QuorumUnblock{}, e
	}
	out := n.unblockOut(p)
	if err != nil {
		return out, err
	}
	n.log.Warn("quorum unblock given by an operator", "view", out.View, "written_off", out.WrittenOff, "expected_votes", out.Expected)
	for end := time.Now().Add(unblockWait); ; {
		var pr stack.UnblockProgress
		var primary bool
		if e := n.do(func() {
			pr = n.st.UnblockProgressOf(p.View, p.Members)
			primary = n.st.Membership().Primary
		}); e != nil {
			return out, e
		}
		out.Done, out.Primary, out.Holders, out.Missing = pr.Done, primary, pr.Holders, pr.Missing
		if pr.Done {
			out.Holders, out.Missing = nil, nil
		}
		// The view moved without a primary view of all its members after
		// it, or time is up: report who holds it, never "done".
		if pr.Done || pr.Moved || time.Now().After(end) {
			return out, nil
		}
		time.Sleep(20 * time.Millisecond)
	}
}
