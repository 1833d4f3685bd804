package shell

import (
	"context"
	"errors"
)

func cdbCommand() *command {
	return &command{
		name:    "cdb",
		usage:   "cdb ...",
		summary: "the configuration database (not available yet)",
		help: "The configuration database (versioned cluster-wide settings, groups and resources)\n" +
			"is not built yet; this command will read and change it once it exists.",
		example: "cdb get /",
		run: func(context.Context, *Shell, *args) error {
			return errors.New("the configuration database is not available yet: cdb commands come with it; `help` lists what works now")
		},
	}
}
