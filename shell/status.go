package shell

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/corral-ha/corral/core/node"
)

// Status fetches the node's status document.
func (c *Client) Status(ctx context.Context) (node.Status, error) {
	var st node.Status
	err := c.Get(ctx, "/v1/status", &st)
	return st, err
}

// runStatus is `status [--json]`.
func runStatus(ctx context.Context, s *Shell, args []string) error {
	if len(args) > 0 {
		return usagef("status takes no arguments (got %q): status [--json]", strings.Join(args, " "))
	}
	st, err := s.Client.Status(ctx)
	if err != nil {
		return err
	}
	if s.json {
		return WriteJSON(s.Stdout, st)
	}
	return RenderStatus(s.Stdout, st)
}

// WriteJSON prints v as one indented JSON document.
func WriteJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// RenderStatus prints the status document as an aligned table for people.
func RenderStatus(w io.Writer, st node.Status) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
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
	fmt.Fprintf(tw, "cluster\t%s\n", st.Cluster)
	fmt.Fprintf(tw, "node\t%s\n", self)
	fmt.Fprintf(tw, "view\t%s (epoch %d)\n", view, st.Epoch)
	fmt.Fprintf(tw, "coordinator\t%s\n", orDash(st.Coordinator))
	fmt.Fprintf(tw, "quorate\t%s\n", quorate)
	fmt.Fprintf(tw, "members\t%s\n", orDash(strings.Join(st.Members, ", ")))
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tID\tSTATE\tREACHABLE\tLINKS UP")
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
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\n", n.Name, n.ID, n.State, reach, links)
	}
	return tw.Flush()
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
