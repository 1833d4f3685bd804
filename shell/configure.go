package shell

import (
	"context"
	"fmt"
)

func configureCommand() *command {
	return &command{
		name:    "configure",
		usage:   "configure [--json]",
		summary: "open a staged session: changes wait for commit",
		help: "Copies the configuration database's /resources/, /groups/, /fence/ and /settings/ at\n" +
			"their current revision into a stage held by this shell. Until `commit` or `abort`,\n" +
			"`resource add|del`, `group add|del` and `set` change the stage, not the cluster (the\n" +
			"other commands still show the live cluster). `diff` shows the staged change, `verify`\n" +
			"checks it whole, `commit` applies it as one transaction (refused if a staged key\n" +
			"changed meanwhile; `commit --force` re-reads the live configuration and runs the\n" +
			"staged commands again on it), `abort` drops it. The stage lives in this shell: use\n" +
			"the interactive shell or a script (corral shell -f FILE); a script that ends with a\n" +
			"stage open fails.",
		example: "configure\nresource add app process command='sleep 600' --group web\ndiff\nverify\ncommit",
		run:     runConfigure,
	}
}

func runConfigure(ctx context.Context, s *Shell, a *args) error {
	if err := a.noArgs(); err != nil {
		return err
	}
	if !s.session {
		return usagef("configure needs a session that runs several commands: the interactive shell, or a script (corral shell -f FILE)")
	}
	if s.stage != nil {
		return usagef("a staged session is already open (copied at revision %d): commit or abort it first", s.stage.rev)
	}
	st, err := openStage(ctx, s)
	if err != nil {
		return err
	}
	s.stage = st
	if s.json {
		return WriteJSON(s.Stdout, map[string]any{"revision": st.rev, "keys": len(st.base)})
	}
	return writeLine(s, fmt.Sprintf("staged session opened at revision %d: resource, group and set now change the stage; diff, verify, commit or abort", st.rev))
}
