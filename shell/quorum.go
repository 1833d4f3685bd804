package shell

import (
	"context"
	"fmt"

	"github.com/corral-ha/corral/core/apitypes"
)

func quorumCommand() *command {
	return &command{
		name:    "quorum",
		usage:   "quorum [--json]",
		summary: "whether this node is quorate, with the arithmetic",
		help: "Shows the installed view's vote count against what it was judged by (the configured\n" +
			"nodes or the last primary view), the policy, and why the view is or is not primary.",
		example: "quorum\nquorum --json",
		run:     runQuorum,
	}
}

func runQuorum(ctx context.Context, s *Shell, a *args) error {
	if err := a.noArgs(); err != nil {
		return err
	}
	var q apitypes.QuorumStatus
	if err := s.Client.Get(ctx, "/v1/quorum", &q); err != nil {
		return err
	}
	if s.json {
		return WriteJSON(s.Stdout, q)
	}
	policy := q.Policy
	if q.TwoNode {
		policy += ", two_node"
	}
	pairs := [][2]string{
		{"quorate", yesNo(q.Quorate)},
		{"primary", yesNo(q.Primary)},
		{"view", orDash(q.View)},
		{"votes", fmt.Sprintf("%d of %d, need %d", q.Votes, q.Total, q.Needed)},
		{"judged by", orDash(q.Reference)},
		{"policy", policy},
	}
	if q.TieBreaker != "" {
		pairs = append(pairs, [2]string{"tie broken by", q.TieBreaker})
	}
	if q.Reason != "" {
		pairs = append(pairs, [2]string{"reason", q.Reason})
	}
	pairs = append(pairs, [2]string{"explanation", q.Explanation})
	return kv(s.Stdout, s.Color, pairs...)
}
