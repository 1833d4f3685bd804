package shell

import "context"

func leaveCommand() *command {
	return &command{
		name:    "leave",
		usage:   "leave [--json]",
		summary: "make this node leave the cluster cleanly",
		help: "The node the shell is connected to moves its groups to other nodes (each stopped\n" +
			"there through its agents, up to 30 s), then tells the others it is leaving and\n" +
			"waits until a view without it is committed; the others then do not treat it as\n" +
			"failed. Stopping the agent (SIGTERM, `demo stop`) does the same. Its agent keeps\n" +
			"running; `resume NODE` brings it back, or stop the agent.",
		example: "leave",
		run: func(ctx context.Context, s *Shell, a *args) error {
			if err := a.noArgs(); err != nil {
				return usagef("leave acts on the node this shell is connected to; to move another node out use its shell (corral shell --socket ...): %v", err)
			}
			st, err := s.Client.Status(ctx)
			if err != nil {
				return err
			}
			return s.postAction(ctx, st.Node, "leave")
		},
	}
}
