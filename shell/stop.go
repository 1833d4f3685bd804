package shell

import "context"

func stopCommand() *command {
	return &command{
		name:    "stop",
		usage:   "stop GROUP [--json]",
		summary: "set a group's target to stopped (in the configuration database)",
		help: "Sets GROUP's target to stopped: the resource manager stops its resources in reverse\n" +
			"order (after the groups that depend on it). `start GROUP` undoes it.",
		example:  "stop web",
		groupArg: true,
		run:      func(ctx context.Context, s *Shell, a *args) error { return groupTarget(ctx, s, a, "stop") },
	}
}
