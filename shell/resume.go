package shell

import "context"

func resumeCommand() *command {
	return &command{
		name:    "resume",
		usage:   "resume NODE [--json]",
		summary: "bring a paused (or departed) node back online",
		help: "Asks NODE to be online again after `pause` (or to rejoin after `leave`). The next\n" +
			"view shows it online: check with `nodes`.",
		example: "resume n2",
		nodeArg: true,
		run:     func(ctx context.Context, s *Shell, a *args) error { return s.nodeAction(ctx, a, "resume") },
	}
}
