package shell

import (
	"context"
	"fmt"
	"net/url"
	"time"

	"github.com/corral-ha/corral/core/apitypes"
)

func moveCommand() *command {
	return &command{
		name:    "move",
		usage:   "move GROUP [NODE] [--for DURATION] [--json]",
		summary: "move a group to a node (or away from its owner), for good or for a while",
		help: "Moves GROUP to NODE, or away from its current owner when no node is given. With --for\n" +
			"the move expires and the group goes back to where it was; without it the group stays\n" +
			"on NODE while NODE can run it. The move is stopped and started in order (push).",
		example:  "move web n2 --for 30s\nmove web",
		flags:    []flagSpec{{"--for", "DURATION"}},
		groupArg: true,
		run:      runMove,
	}
}

func runMove(ctx context.Context, s *Shell, a *args) error {
	if len(a.pos) < 1 || len(a.pos) > 2 {
		return usagef("usage: %s", a.cmd.usage)
	}
	req := apitypes.MoveRequest{}
	if len(a.pos) == 2 {
		req.Node = a.pos[1]
	}
	if v, ok := a.flags["--for"]; ok {
		if d, err := time.ParseDuration(v); err != nil || d <= 0 {
			return usagef("--for %q: give a duration such as 30s or 10m", v)
		}
		req.For = v
	}
	var res apitypes.GroupAction
	if err := s.Client.Post(ctx, "/v1/groups/"+url.PathEscape(a.pos[0])+"/move", req, &res); err != nil {
		return err
	}
	if s.json {
		return WriteJSON(s.Stdout, res)
	}
	where := "away from its owner"
	if req.Node != "" {
		where = "to " + req.Node
	}
	if req.For != "" {
		where += " for " + req.For
	}
	return writeLine(s, fmt.Sprintf("moving %s %s (see `groups`, `explain %s`)", res.Group, where, res.Group))
}
