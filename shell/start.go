package shell

import (
	"context"
	"fmt"
	"net/url"

	"github.com/corral-ha/corral/core/apitypes"
)

func startCommand() *command {
	return &command{
		name:    "start",
		usage:   "start GROUP [--json]",
		summary: "set a group's target to started (in the configuration database)",
		help: "Sets GROUP's target to started: the resource manager places it and starts its\n" +
			"resources in order. The target is kept in the configuration database.",
		example:  "start web",
		groupArg: true,
		run:      func(ctx context.Context, s *Shell, a *args) error { return groupTarget(ctx, s, a, "start") },
	}
}

// groupTarget is start and stop: POST /v1/groups/NAME/VERB.
func groupTarget(ctx context.Context, s *Shell, a *args, verb string) error {
	if len(a.pos) != 1 {
		return usagef("usage: %s (see `groups`)", a.cmd.usage)
	}
	var res apitypes.GroupAction
	if err := s.Client.Post(ctx, "/v1/groups/"+url.PathEscape(a.pos[0])+"/"+verb, nil, &res); err != nil {
		return err
	}
	if s.json {
		return WriteJSON(s.Stdout, res)
	}
	target := "started"
	if verb == "stop" {
		target = "stopped"
	}
	return writeLine(s, fmt.Sprintf("%s: target %s (see `groups`)", res.Group, target))
}
