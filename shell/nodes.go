package shell

import (
	"context"
	"fmt"
	"strings"

	"github.com/corral-ha/corral/core/apitypes"
)

func nodesCommand() *command {
	return &command{
		name:    "nodes",
		usage:   "nodes [--json]",
		summary: "every configured node: state, membership, reachability, links",
		help: "Lists the configured nodes as this node sees them. STATE is joining, online, paused,\n" +
			"leaving, offline or fenced; ROLE marks this node (self) and the coordinator.",
		example: "nodes\nnodes --json",
		run:     runNodes,
	}
}

// Nodes fetches GET /v1/nodes.
func (c *Client) Nodes(ctx context.Context) ([]apitypes.NodeInfo, error) {
	var out []apitypes.NodeInfo
	err := c.Get(ctx, "/v1/nodes", &out)
	return out, err
}

func runNodes(ctx context.Context, s *Shell, a *args) error {
	if err := a.noArgs(); err != nil {
		return err
	}
	ns, err := s.Client.Nodes(ctx)
	if err != nil {
		return err
	}
	if s.json {
		return WriteJSON(s.Stdout, ns)
	}
	t := newTable("NODE", "ID", "STATE", "MEMBER", "REACHABLE", "LINKS UP", "ROLE").color(2, 3, 4)
	for _, n := range ns {
		var role []string
		if n.Self {
			role = append(role, "self")
		}
		if n.Coordinator {
			role = append(role, "coordinator")
		}
		reach, links := yesNo(n.Reachable), fmt.Sprintf("%d/%d", n.LinksUp, n.Links)
		if n.Self {
			reach, links = "self", "-"
		}
		t.row(n.Name, fmt.Sprint(n.ID), n.State, yesNo(n.Member), reach, links, orDash(strings.Join(role, ", ")))
	}
	return t.render(s.Stdout, s.Color)
}
