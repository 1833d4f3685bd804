package shell

import (
	"context"
	"net/url"
	"strings"

	"github.com/corral-ha/corral/core/apitypes"
)

func explainCommand() *command {
	return &command{
		name:    "explain",
		usage:   "explain GROUP [--json]",
		summary: "why a group runs where it runs, or why it does not run, in plain words",
		help: "Says where GROUP is and why: its owner and the rule that chose it (preferred owners,\n" +
			"load, a move, failback), or what keeps it from running (a fence it waits for, no node\n" +
			"that may run it, a dependency, failures), with its restart and failover counts.\n" +
			"On a node without quorum, it says this may be stale (--json: \"stale\": true).",
		example:  "explain web",
		groupArg: true,
		run:      runExplain,
	}
}

func runExplain(ctx context.Context, s *Shell, a *args) error {
	if len(a.pos) != 1 {
		return usagef("usage: %s (see `groups`)", a.cmd.usage)
	}
	var res apitypes.ExplainResult
	if err := s.Client.Get(ctx, "/v1/groups/"+url.PathEscape(a.pos[0])+"/explain", &res); err != nil {
		return err
	}
	stale, err := s.stale(ctx)
	if err != nil {
		return err
	}
	if s.json {
		return WriteJSON(s.Stdout, struct {
			apitypes.ExplainResult
			Stale bool `json:"stale,omitempty"` // no quorum here: may be old
		}{res, stale})
	}
	if err := s.staleNotice(stale); err != nil {
		return err
	}
	return writeLine(s, strings.TrimRight(res.Text, "\n"))
}
