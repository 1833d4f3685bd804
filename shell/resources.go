package shell

import (
	"context"

	"github.com/corral-ha/corral/core/node"
)

func resourcesCommand() *command {
	return &command{
		name:    "resources",
		usage:   "resources [--json]",
		summary: "every resource: agent, group, state and the node it runs on",
		help: "Lists the configured resources. STATE is what the resource does on NODE: stopped,\n" +
			"starting, started, stopping, failed or stop_failed (`cleanup RESOURCE` after fixing it).",
		example: "resources\nresources --json",
		run:     runResources,
	}
}

// Resources fetches GET /v1/resources.
func (c *Client) Resources(ctx context.Context) ([]node.ResourceStatus, error) {
	var out []node.ResourceStatus
	err := c.Get(ctx, "/v1/resources", &out)
	return out, err
}

func runResources(ctx context.Context, s *Shell, a *args) error {
	if err := a.noArgs(); err != nil {
		return err
	}
	rs, err := s.Client.Resources(ctx)
	if err != nil {
		return err
	}
	if s.json {
		return WriteJSON(s.Stdout, rs)
	}
	if len(rs) == 0 {
		return writeLine(s, "no resources (add one with `resource add NAME AGENT --group G`)")
	}
	t := newTable("RESOURCE", "AGENT", "GROUP", "STATE", "NODE", "ERROR")
	for _, r := range rs {
		t.row(r.Name, orDash(r.Agent), orDash(r.Group), r.State, orDash(r.Node), orDash(r.Error))
	}
	return t.render(s.Stdout, s.Color)
}
