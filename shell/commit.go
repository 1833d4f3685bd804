package shell

import (
	"context"
	"fmt"
	"strings"
)

func commitCommand() *command {
	return &command{
		name:    "commit",
		usage:   "commit [--force] [--json]",
		summary: "apply the staged session as one transaction",
		help: "Verifies the stage (see `verify`), then writes every staged change in one\n" +
			"configuration database transaction that holds only if no staged key changed since\n" +
			"`configure` copied it: otherwise nothing is written and the stage stays open.\n" +
			"--force rebases: it copies the live configuration again, runs the staged commands\n" +
			"again on it, verifies, and commits that.",
		example: "commit\ncommit --force",
		flags:   []flagSpec{{"--force", ""}},
		run:     runCommit,
	}
}

func runCommit(ctx context.Context, s *Shell, a *args) error {
	if err := a.noArgs(); err != nil {
		return err
	}
	st := s.stage
	if st == nil {
		return errNoStage("commit")
	}
	rebased := false
	if a.has("--force") {
		nst, err := rebase(ctx, s, st)
		if err != nil {
			return err
		}
		st, rebased = nst, true
	}
	cs := st.changes()
	if len(cs) > 0 {
		v, err := verifyStage(ctx, s, st)
		if err != nil {
			return err
		}
		if !v.OK {
			return fmt.Errorf("the stage has %d problem(s), nothing written: %s", len(v.Problems), strings.Join(v.Problems, "; "))
		}
	}
	res, err := commitStage(ctx, s, st)
	if err != nil {
		return err // errMoved: the stage stays open
	}
	s.stage = nil
	var keys []string
	for _, c := range cs {
		keys = append(keys, c.Key)
	}
	if s.json {
		if keys == nil {
			keys = []string{}
		}
		return WriteJSON(s.Stdout, map[string]any{"revision": res.Revision, "changes": len(cs), "keys": keys, "rebased": rebased})
	}
	if len(cs) == 0 {
		return writeLine(s, "nothing to commit: the staged session is closed")
	}
	how := ""
	if rebased {
		how = fmt.Sprintf(" (rebased on revision %d)", st.rev)
	}
	return writeLine(s, fmt.Sprintf("committed %d change(s) at revision %d%s: %s", len(cs), res.Revision, how, strings.Join(keys, ", ")))
}
