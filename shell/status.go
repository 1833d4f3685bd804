package shell

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/corral-ha/corral/core/apitypes"
)

func statusCommand() *command {
	return &command{
		name:    "status",
		usage:   "status [--json]",
		summary: "the cluster as this node sees it: view, quorum, nodes and links",
		help: "Shows the installed view (epoch and coordinator), whether this node is quorate and why,\n" +
			"the members, and every configured node with its state, reachability and links up.\n" +
			"On a node without quorum, it says the states may be stale (--json: \"stale\": true).",
		example: "status\nstatus --json",
		run:     runStatus,
	}
}

// Status fetches the node's status document.
func (c *Client) Status(ctx context.Context) (apitypes.Status, error) {
	var st apitypes.Status
	err := c.Get(ctx, "/v1/status", &st)
	return st, err
}

// runStatus is `status [--json]`.
func runStatus(ctx context.Context, s *Shell, a *args) error {
	if err := a.noArgs(); err != nil {
		return err
	}
	st, err := s.Client.Status(ctx)
	if err != nil {
		return err
	}
	if s.json {
		return WriteJSON(s.Stdout, struct {
			apitypes.Status
			Stale bool `json:"stale,omitempty"` // no quorum here: the states may be old
		}{st, !st.Quorate})
	}
	if err := s.staleNotice(!st.Quorate); err != nil {
		return err
	}
	return renderStatus(s.Stdout, st, s.Color)
}

// WriteJSON prints v as one indented JSON document.
func WriteJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// RenderStatus prints the status document as an aligned table for people.
func RenderStatus(w io.Writer, st apitypes.Status) error { return renderStatus(w, st, false) }

func renderStatus(w io.Writer, st apitypes.Status, color bool) error {
	self := st.Node
	for _, n := range st.Nodes {
		if n.Name == st.Node {
			self = fmt.Sprintf("%s (id %d, boot %d, up %s)", n.Name, n.ID, st.Boot, orDash(st.Uptime))
		}
	}
	view := "none yet"
	if st.View != "" {
		view = st.View
	}
	quorate := yesNo(st.Quorate)
	if st.Quorum != "" {
		quorate += " (" + st.Quorum + ")"
	}
	if err := kv(w, color,
		[2]string{"cluster", st.Cluster},
		[2]string{"node", self},
		[2]string{"view", fmt.Sprintf("%s (epoch %d)", view, st.Epoch)},
		[2]string{"coordinator", orDash(st.Coordinator)},
		[2]string{"quorate", quorate},
		[2]string{"members", orDash(strings.Join(st.Members, ", "))},
	); err != nil {
		return err
	}
	fmt.Fprintln(w)
	t := newTable("NODE", "ID", "STATE", "REACHABLE", "LINKS UP").color(2, 3)
	for _, n := range st.Nodes {
		links, reach := "-", yesNo(n.Reachable)
		if n.Name == st.Node {
			reach = "self"
		} else {
			up := 0
			for _, l := range n.Links {
				if l.Up {
					up++
				}
			}
			links = fmt.Sprintf("%d/%d", up, len(n.Links))
		}
		t.row(n.Name, fmt.Sprint(n.ID), n.State, reach, links)
	}
	return t.render(w, color)
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
