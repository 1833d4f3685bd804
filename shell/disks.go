package shell

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/corral-ha/corral/core/apitypes"
)

func disksCommand() *command {
	return &command{
		name:    "disks",
		usage:   "disks [--json]",
		summary: "the served disks: server, epoch, state, clients, size",
		help: "Lists every served disk as this node sees it. SERVER is the node that serves it (- while\n" +
			"none does); EPOCH counts the servers it has had (each new server writes one more into\n" +
			"the backing store's header, and requests of an older epoch are refused); STATE is\n" +
			"serving, recovering (a server is awaited: requests wait), stopped, or its group's state\n" +
			"when the resource manager could not start it, with the reason below the table (a\n" +
			"stale server still holding the backing store's lock, a fence awaited); CLIENTS are\n" +
			"the nodes with requests in flight to the server. --json adds the backing store, the\n" +
			"group and this node's request counters.",
		example: "disks\ndisks --json",
		run:     runDisks,
	}
}

func runDisks(ctx context.Context, s *Shell, a *args) error {
	if err := a.noArgs(); err != nil {
		return err
	}
	ds, err := s.Client.Disks(ctx)
	if err != nil {
		return err
	}
	if s.json {
		return WriteJSON(s.Stdout, ds)
	}
	if len(ds) == 0 {
		return writeLine(s, "no disks (add one with `disk add NAME --backing PATH --size SIZE --servers n1,n2`)")
	}
	return renderDisks(s, ds)
}

// renderDisks writes the disks table, then each disk's reason.
func renderDisks(s *Shell, ds []apitypes.DiskStatus) error {
	t := newTable("NAME", "SERVER", "EPOCH", "STATE", "CLIENTS", "SIZE").color(3)
	var reasons []string
	for _, d := range ds {
		server, epoch := "-", "-"
		if d.Server != nil {
			server = *d.Server
		}
		if d.Epoch > 0 {
			epoch = strconv.FormatUint(d.Epoch, 10)
		}
		t.row(d.Name, server, epoch, d.State, orDash(strings.Join(d.Clients, ",")), apitypes.FormatSize(d.Size))
		if d.Reason != "" {
			reasons = append(reasons, fmt.Sprintf("%s: %s", d.Name, d.Reason))
		}
	}
	if err := t.render(s.Stdout, s.Color); err != nil {
		return err
	}
	for _, r := range reasons {
		if err := writeLine(s, r); err != nil {
			return err
		}
	}
	return nil
}
