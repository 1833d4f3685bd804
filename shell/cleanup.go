package shell

import (
	"context"
	"net/url"

	"github.com/corral-ha/corral/core/apitypes"
)

func cleanupCommand() *command {
	return &command{
		name:    "cleanup",
		usage:   "cleanup RESOURCE|GROUP [--json]",
		summary: "forget a resource's failures: its group's counts, bans and failed state",
		help: "Forgets the failures of RESOURCE's group (restart and failover counts, the\n" +
			"nodes it is kept off, a failed state) and retries a stop that failed. Fix the\n" +
			"cause first. It takes any resource or group that `groups` or `resources`\n" +
			"shows, deleted ones still stopping included; a GROUP cleans up every resource\n" +
			"of it.",
		example:     "cleanup web",
		resourceArg: true,
		run:         runCleanup,
	}
}

func runCleanup(ctx context.Context, s *Shell, a *args) error {
	if len(a.pos) != 1 {
		return usagef("usage: %s (see `resources`)", a.cmd.usage)
	}
	var res apitypes.CleanupResult
	if err := s.Client.Post(ctx, "/v1/resources/"+url.PathEscape(a.pos[0])+"/cleanup", nil, &res); err != nil {
		return err
	}
	if s.json {
		return WriteJSON(s.Stdout, res)
	}
	return writeLine(s, "cleaned up "+res.Resource)
}
