package shell

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/corral-ha/corral/core/apitypes"
)

func viewsCommand() *command {
	return &command{
		name:    "views",
		usage:   "views [--since N] [--limit N] [--json]",
		summary: "the history of views this node installed (view_changed events)",
		help: "Lists the views this node installed, oldest first: the view id (epoch/coordinator),\n" +
			"whether it was primary and its members. --limit N shows the last N; --since N starts\n" +
			"after event sequence number N.",
		example: "views\nviews --limit 5 --json",
		flags:   []flagSpec{{"--since", "N"}, {"--limit", "N"}},
		run:     runViews,
	}
}

// query builds ?since=N&limit=M from a command's flags.
func sinceLimitQuery(a *args) (string, error) {
	var q []string
	for _, f := range []string{"--since", "--limit"} {
		if v, ok := a.flags[f]; ok {
			if _, err := strconv.ParseUint(v, 10, 64); err != nil {
				return "", usagef("%s %q: give a number: %s", f, v, a.cmd.usage)
			}
			q = append(q, strings.TrimPrefix(f, "--")+"="+v)
		}
	}
	if len(q) == 0 {
		return "", nil
	}
	return "?" + strings.Join(q, "&"), nil
}

func runViews(ctx context.Context, s *Shell, a *args) error {
	if err := a.noArgs(); err != nil {
		return err
	}
	q, err := sinceLimitQuery(a)
	if err != nil {
		return err
	}
	var evs []apitypes.Event
	if err := s.Client.Get(ctx, "/v1/views"+q, &evs); err != nil {
		return err
	}
	if s.json {
		return WriteJSON(s.Stdout, evs)
	}
	if len(evs) == 0 {
		fmt.Fprintln(s.Stdout, "no views recorded yet")
		return nil
	}
	t := newTable("SEQ", "TIME", "VIEW", "PRIMARY", "MEMBERS").color(3)
	for _, e := range evs {
		primary := "-"
		if e.Primary != nil {
			primary = yesNo(*e.Primary)
		}
		t.row(fmt.Sprint(e.Seq), e.Time, orDash(e.View), primary, orDash(strings.Join(e.Members, ", ")))
	}
	return t.render(s.Stdout, s.Color)
}
