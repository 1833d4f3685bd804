package shell

import (
	"context"
	"fmt"
	"net/url"

	"github.com/corral-ha/corral/core/api"
)

func pauseCommand() *command {
	return &command{
		name:    "pause",
		usage:   "pause NODE [--json]",
		summary: "pause a node: it stays a member but gives up its work (maintenance)",
		help: "Asks NODE (any node, by name) to pause. A paused node stays in the view and keeps\n" +
			"quorum votes but runs no resources; `resume NODE` brings it back. The next view\n" +
			"shows the new state: check with `nodes`.",
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
	var res api.ActionResult
	if err := s.Client.Post(ctx, "/v1/nodes/"+url.PathEscape(name)+"/"+verb, nil, &res); err != nil {
		return err
	}
	if s.json {
		return WriteJSON(s.Stdout, res)
	}
	_, err := fmt.Fprintln(s.Stdout, res.Message)
	return err
}
