package shell

import (
	"context"
	"fmt"
)

func abortCommand() *command {
	return &command{
		name:    "abort",
		usage:   "abort [--json]",
		summary: "drop the staged session (nothing is written)",
		help:    "Drops the stage `configure` opened, with every staged change; the cluster is untouched.",
		example: "abort",
		run:     runAbort,
	}
}

func runAbort(_ context.Context, s *Shell, a *args) error {
	if err := a.noArgs(); err != nil {
		return err
	}
	st := s.stage
	if st == nil {
		return errNoStage("abort")
	}
	s.stage = nil
	n := len(st.changes())
	if s.json {
		return WriteJSON(s.Stdout, map[string]any{"dropped": n})
	}
	return writeLine(s, fmt.Sprintf("staged session dropped (%d change(s) not applied)", n))
}
