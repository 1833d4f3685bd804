package shell

import (
	"context"
	"fmt"

	"github.com/corral-ha/corral/core/api"
)

func reloadCommand() *command {
	return &command{
		name:    "reload",
		usage:   "reload [--json]",
		summary: "re-read the node's Lua scripts",
		help: "Reads every script again (the built-in ones and those of [lua] paths) and says which\n" +
			"were added, changed or removed. If a script does not load (a syntax error, a bad meta(),\n" +
			"a missing function) it names the file and line and changes nothing: the scripts loaded\n" +
			"before stay in use. Calls already running finish with the old scripts. Reload each\n" +
			"node whose files you changed.",
		example: "reload",
		run:     runReload,
	}
}

func runReload(ctx context.Context, s *Shell, a *args) error {
	if err := a.noArgs(); err != nil {
		return err
	}
	var res api.ReloadResult
	if err := s.Client.Post(ctx, "/v1/lua/reload", nil, &res); err != nil {
		return err
	}
	if s.json {
		return WriteJSON(s.Stdout, res)
	}
	_, err := fmt.Fprintf(s.Stdout, "%s (%d scripts)\n", res.Message, res.Scripts)
	return err
}
