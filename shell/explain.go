package shell

import (
	"context"
	"encoding/json"
	"net/url"
	"strings"

	"github.com/corral-ha/corral/core/apitypes"
)

func explainCommand() *command {
	return &command{
		name:    "explain",
		usage:   "explain GROUP | explain group GROUP | explain node NODE | explain quorum | explain fence NODE [--json]",
		summary: "why a group, a node, quorum or a fence is as it is, in plain words",
		help: "explain GROUP says where GROUP is and why: its owner and the rule that chose it (preferred\n" +
			"owners, load, a move, failback), or what keeps it from running (a fence it waits for, no\n" +
			"node that may run it, a dependency, failures), with its restart and failover counts.\n" +
			"explain node NODE says why NODE is or is not a member, paused, leaving or fenced, its\n" +
			"links, and the last view change that touched it.\n" +
			"explain quorum gives the arithmetic (votes present and needed, policy, two_node,\n" +
			"wait_for_all, auto_tie_breaker, witness) and which nodes would have to fail together\n" +
			"to lose quorum.\n" +
			"explain fence NODE gives its fence levels and devices, its last fence result, whether\n" +
			"it is confirmed down (at which boot) and what is waited for.\n" +
			"A single name is a group first: when no group has that name, it is a node (explain n1).\n" +
			"A group named node, quorum, fence or group: explain group NAME.\n" +
			"On a node without quorum, it says this may be stale (--json: \"stale\": true).",
		example:  "explain web\nexplain node n3\nexplain quorum\nexplain fence n3 --json",
		subs:     []string{"group", "node", "quorum", "fence"},
		groupArg: true,
		run:      runExplain,
	}
}

func runExplain(ctx context.Context, s *Shell, a *args) error {
	p := a.pos
	switch {
	case len(p) == 1 && p[0] == "quorum":
		var res apitypes.QuorumExplain
		return explainShow(ctx, s, "/v1/quorum/explain", &res, func() string { return res.Text })
	case len(p) == 2 && p[0] == "node":
		var res apitypes.NodeExplain
		return explainShow(ctx, s, "/v1/nodes/"+url.PathEscape(p[1])+"/explain", &res, func() string { return res.Text })
	case len(p) == 2 && p[0] == "fence":
		var res apitypes.FenceExplain
		return explainShow(ctx, s, "/v1/fence/"+url.PathEscape(p[1])+"/explain", &res, func() string { return res.Text })
	case len(p) == 2 && p[0] == "group":
		var res apitypes.ExplainResult
		return explainShow(ctx, s, "/v1/groups/"+url.PathEscape(p[1])+"/explain", &res, func() string { return res.Text })
	case len(p) == 1:
		// a group first, then a node of that name
		var res apitypes.ExplainResult
		err := s.Client.Get(ctx, "/v1/groups/"+url.PathEscape(p[0])+"/explain", &res)
		if notFound(err) {
			var nres apitypes.NodeExplain
			if e := s.Client.Get(ctx, "/v1/nodes/"+url.PathEscape(p[0])+"/explain", &nres); e == nil {
				return explainPrint(ctx, s, nres, nres.Text)
			}
		}
		if err != nil {
			return err
		}
		return explainPrint(ctx, s, res, res.Text)
	}
	return usagef("usage: %s (see `groups`, `nodes`)", a.cmd.usage)
}

// explainShow reads one explanation and prints it (its text, or the
// document with --json).
func explainShow(ctx context.Context, s *Shell, path string, res any, text func() string) error {
	if err := s.Client.Get(ctx, path, res); err != nil {
		return err
	}
	return explainPrint(ctx, s, res, text())
}

// explainPrint prints an explanation, saying first when this node has no
// quorum (what it knows may be old; --json: "stale": true).
func explainPrint(ctx context.Context, s *Shell, res any, text string) error {
	stale, err := s.stale(ctx)
	if err != nil {
		return err
	}
	if s.json {
		doc, err := withStale(res, stale)
		if err != nil {
			return err
		}
		return WriteJSON(s.Stdout, doc)
	}
	if err := s.staleNotice(stale); err != nil {
		return err
	}
	return writeLine(s, strings.TrimRight(text, "\n"))
}

// withStale adds "stale": true to a JSON document when stale.
func withStale(res any, stale bool) (any, error) {
	if !stale {
		return res, nil
	}
	b, err := json.Marshal(res)
	if err != nil {
		return nil, err
	}
	m := map[string]json.RawMessage{}
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	m["stale"] = json.RawMessage("true")
	return m, nil
}
