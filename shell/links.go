package shell

import (
	"context"
	"fmt"
	"time"

	"github.com/corral-ha/corral/core/apitypes"
)

func linksCommand() *command {
	return &command{
		name:    "links",
		usage:   "links [--json]",
		summary: "every path to every peer: state and round-trip time",
		help: "One line per path (this node's link to the peer's link). STATE is up (both ways),\n" +
			"in-only (we hear the peer, it does not hear us), out-only, or down. RTT is the smoothed\n" +
			"heartbeat round trip.",
		example: "links\nlinks --json",
		run:     runLinks,
	}
}

// pathState names a path's state.
func pathState(l apitypes.Link) string {
	switch {
	case l.Up:
		return "up"
	case l.In:
		return "in-only"
	case l.Out:
		return "out-only"
	}
	return "down"
}

func runLinks(ctx context.Context, s *Shell, a *args) error {
	if err := a.noArgs(); err != nil {
		return err
	}
	var ls []apitypes.Link
	if err := s.Client.Get(ctx, "/v1/links", &ls); err != nil {
		return err
	}
	if s.json {
		return WriteJSON(s.Stdout, ls)
	}
	if len(ls) == 0 {
		fmt.Fprintln(s.Stdout, "no paths yet: this node has not heard from any peer (see `nodes`)")
		return nil
	}
	t := newTable("PEER", "LINK", "REMOTE LINK", "STATE", "RTT").color(3)
	for _, l := range ls {
		t.row(l.Peer, fmt.Sprint(l.Local), fmt.Sprint(l.Remote), pathState(l), shortRTT(l.RTT))
	}
	return t.render(s.Stdout, s.Color)
}

// shortRTT rounds a round-trip time for the table: 1.099035ms -> 1.1ms.
func shortRTT(s string) string {
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return orDash(s)
	}
	switch {
	case d >= time.Second:
		d = d.Round(10 * time.Millisecond)
	case d >= time.Millisecond:
		d = d.Round(10 * time.Microsecond)
	default:
		d = d.Round(time.Microsecond)
	}
	return d.String()
}
