package shell

import (
	"context"
	"fmt"
	"net/url"

	"github.com/corral-ha/corral/core/apitypes"
)

func pauseCommand() *command {
	return &command{
		name:    "pause",
		usage:   "pause NODE [--json]",
		summary: "pause a node: it stays a member but gives up its work (standby)",
		help: "Asks NODE (any node, by name) to pause, like Pacemaker's standby. A paused node\n" +
			"stays in the view and keeps its quorum votes but runs no resources: its groups\n" +
			"move to other nodes (each stopped there through its agents first; a group no\n" +
			"other node can run stays stopped, and `explain` says why), and no group is\n" +
			"placed on it until `resume NODE`. Groups do not move back by themselves after\n" +
			"the resume (only a preferred owner with failback, or `move`, brings them).\n" +
			"The next view shows the new state: check with `nodes` and `groups`.",
		example: "pause n2\nnodes",
		nodeArg: true,
		run:     func(ctx context.Context, s *Shell, a *args) error { return s.nodeAction(ctx, a, "pause") },
	}
}

// nodeAction is pause, resume and leave: POST /v1/nodes/NAME/VERB.
func (s *Shell) nodeAction(ctx context.Context, a *args, verb string) error {
	if len(a.pos) != 1 {
		return usagef("%s needs one node name: %s (see `nodes`)", verb, a.cmd.usage)
	}
	return s.postAction(ctx, a.pos[0], verb)
}

func (s *Shell) postAction(ctx context.Context, name, verb string) error {
	var res apitypes.ActionResult
	if err := s.Client.Post(ctx, "/v1/nodes/"+url.PathEscape(name)+"/"+verb, nil, &res); err != nil {
		return err
	}
	if s.json {
		return WriteJSON(s.Stdout, res)
	}
	_, err := fmt.Fprintln(s.Stdout, res.Message)
	return err
}
