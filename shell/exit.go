package shell

import "context"

func exitCommand() *command {
	return &command{
		name:    "exit",
		usage:   "exit",
		summary: "leave the shell (Ctrl-D does the same; the node keeps running)",
		help:    "Ends the shell (also `quit`). In a script it stops the script successfully.",
		example: "exit",
		run: func(_ context.Context, _ *Shell, a *args) error {
			if err := a.noArgs(); err != nil {
				return err
			}
			return errExit
		},
	}
}
