package shell

import (
	"context"
	"fmt"
	"strings"
)

func diffCommand() *command {
	return &command{
		name:    "diff",
		usage:   "diff [--json]",
		summary: "what the staged session changes against the live configuration",
		help: "Lists every key the stage adds (+), changes (~, old then new) or deletes (-)\n" +
			"against the revision `configure` copied, and marks the keys whose live value moved\n" +
			"since (commit then fails; commit --force rebases).",
		example: "diff\ndiff --json",
		run:     runDiff,
	}
}

func runDiff(ctx context.Context, s *Shell, a *args) error {
	if err := a.noArgs(); err != nil {
		return err
	}
	st := s.stage
	if st == nil {
		return errNoStage("diff")
	}
	live, rev, err := readLive(ctx, s)
	if err != nil {
		return err
	}
	cs := st.changes()
	for i := range cs {
		cs[i].Moved = live[cs[i].Key].Revision != st.base[cs[i].Key].Revision
	}
	if s.json {
		type change struct {
			Key   string `json:"key"`
			Op    string `json:"op"`
			Old   any    `json:"old,omitempty"`
			New   any    `json:"new,omitempty"`
			Moved bool   `json:"moved"`
		}
		out := []change{}
		for _, c := range cs {
			ch := change{Key: c.Key, Op: c.Op, Moved: c.Moved}
			if c.Op != "add" {
				ch.Old = stageJSONDoc(c.Old)
			}
			if c.Op != "delete" {
				ch.New = stageJSONDoc(c.New)
			}
			out = append(out, ch)
		}
		return WriteJSON(s.Stdout, map[string]any{"revision": st.rev, "live_revision": rev, "changes": out})
	}
	var b strings.Builder
	fmt.Fprintf(&b, "staged at revision %d, live revision %d: %d change(s)", st.rev, rev, len(cs))
	for _, c := range cs {
		moved := ""
		if c.Moved {
			moved = "   (moved live since configure: commit fails, commit --force rebases)"
		}
		switch c.Op {
		case "add":
			fmt.Fprintf(&b, "\n+ %s %s%s", c.Key, c.New, moved)
		case "delete":
			fmt.Fprintf(&b, "\n- %s %s%s", c.Key, c.Old, moved)
		default:
			fmt.Fprintf(&b, "\n~ %s%s\n    - %s\n    + %s", c.Key, moved, c.Old, c.New)
		}
	}
	return writeLine(s, b.String())
}
