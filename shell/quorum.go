package shell

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/corral-ha/corral/core/apitypes"
)

func quorumCommand() *command {
	return &command{
		name:    "quorum",
		usage:   "quorum [--json] | quorum unblock [--yes] [--json]",
		summary: "whether this node is quorate, with the arithmetic; unblock a cluster that lost quorum for good",
		help: "Shows the installed view's vote count against what it was judged by (the configured\n" +
			"nodes or the last primary view), the policy, and why the view is or is not primary.\n" +
			"`quorum unblock` recovers a cluster that lost quorum for good (like `pcs quorum unblock`):\n" +
			"on a surviving node whose view is not primary, it writes off every configured node outside\n" +
			"the view and makes the view's own votes the expected votes, so the view becomes primary;\n" +
			"it also ends a wait_for_all wait. It shows what it will do first and is refused unless\n" +
			"every written-off node is known to be down (confirmed fenced, or declared down with\n" +
			"`fence confirm NODE --yes`): if those nodes are running and unblock their side too, the\n" +
			"cluster has two primaries (split brain). The interactive shell asks you to type the\n" +
			"cluster's name; elsewhere give --yes. Every member logs it and records quorum_unblocked.\n" +
			"See `corral help operations` (\"A cluster that lost quorum for good\").",
		example: "quorum\nquorum --json\nquorum unblock\nquorum unblock --yes",
		subs:    []string{"unblock"},
		flags:   []flagSpec{{"--yes", ""}},
		run:     runQuorum,
	}
}

func runQuorum(ctx context.Context, s *Shell, a *args) error {
	if len(a.pos) == 1 && a.pos[0] == "unblock" {
		return quorumUnblock(ctx, s, a)
	}
	if err := a.noArgs(); err != nil {
		return err
	}
	if a.has("--yes") {
		return usagef("--yes goes with quorum unblock")
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

// ErrUnblockNotDone says `quorum unblock` was sent but not every member of
// the view carried it out before the view moved or the wait ended.
var ErrUnblockNotDone = errors.New("quorum unblock not carried out by every member")

// quorumUnblock is `quorum unblock [--yes]`: show the plan (GET
// /v1/quorum/unblock), refuse what the node would refuse, ask (or take
// --yes), then POST it.
func quorumUnblock(ctx context.Context, s *Shell, a *args) error {
	var p apitypes.QuorumUnblock
	if err := s.Client.Get(ctx, "/v1/quorum/unblock", &p); err != nil {
		return err
	}
	if p.Blocked != "" {
		if s.json {
			if err := WriteJSON(s.Stdout, p); err != nil {
				return err
			}
		} else if err := writeUnblockPlan(s, p); err != nil {
			return err
		}
		return usagef("quorum unblock refused: %s", p.Blocked)
	}
	if !a.has("--yes") {
		if s.readLine == nil {
			if !s.json {
				if err := writeUnblockPlan(s, p); err != nil {
					return err
				}
			}
			return usagef("quorum unblock writes off %s: check they are down, then add --yes (quorum unblock --yes)", unblockNames(p))
		}
		if err := writeUnblockPlan(s, p); err != nil {
			return err
		}
		ans, err := s.readLine(fmt.Sprintf("WARNING: if %s are running and unblock their side too, there are two primaries and data may be corrupted.\nType the cluster's name (%s) to unblock: ", unblockNames(p), p.Cluster))
		if err != nil {
			return err
		}
		if strings.TrimSpace(ans) != p.Cluster {
			return writeLine(s, "not unblocked")
		}
	}
	var res apitypes.QuorumUnblock
	if err := s.Client.Post(ctx, "/v1/quorum/unblock", apitypes.QuorumUnblockRequest{Yes: true}, &res); err != nil {
		return err
	}
	if s.json {
		return WriteJSON(s.Stdout, res)
	}
	if res.Done {
		return writeLine(s, fmt.Sprintf("quorum unblocked: %s written off, expected votes %d; this node's view is primary", unblockNames(res), res.Expected))
	}
	if err := writeLine(s, fmt.Sprintf("quorum unblock sent in view %s (%s written off) but not carried out by every member: held by %s, not by %s",
		res.View, unblockNames(res), orDash(strings.Join(res.Holders, ", ")), orDash(strings.Join(res.Missing, ", ")))); err != nil {
		return err
	}
	return fmt.Errorf("quorum unblock not carried out by every member of view %s; only a view of all its members becomes primary: "+
		"see `quorum` and `events`, and retry `quorum unblock` once the survivors are in one view: %w", res.View, ErrUnblockNotDone)
}

func unblockNames(p apitypes.QuorumUnblock) string {
	var names []string
	for _, w := range p.WrittenOff {
		names = append(names, w.Node)
	}
	if len(names) == 0 {
		return "no node"
	}
	return strings.Join(names, ", ")
}

func writeUnblockPlan(s *Shell, p apitypes.QuorumUnblock) error {
	pairs := [][2]string{
		{"cluster", p.Cluster},
		{"view", orDash(p.View)},
		{"members", orDash(strings.Join(p.Members, ", "))},
		{"now", orDash(p.Before)},
		{"expected votes", fmt.Sprintf("%d (was %d)", p.Expected, p.Was)},
	}
	for _, w := range p.WrittenOff {
		state := "down: " + w.How
		if !w.Down {
			state = "NOT KNOWN DOWN: " + w.How
		}
		pairs = append(pairs, [2]string{"writes off " + w.Node, state})
	}
	if p.Chain {
		pairs = append(pairs, [2]string{"after", "the views are judged against this one, then against the primary views that follow, until one holds a majority of all configured votes again"})
	}
	return kv(s.Stdout, s.Color, pairs...)
}
