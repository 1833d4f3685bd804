package shell

import (
	"context"

	"github.com/corral-ha/corral/core/apitypes"
)

func resourcesCommand() *command {
	return &command{
		name:    "resources",
		usage:   "resources [--json]",
		summary: "every resource: agent, group, state and the node it runs on",
		help: "Lists the configured resources. STATE is what the resource does on NODE: stopped,\n" +
			"starting, started, stopping, failed or stop_failed (`cleanup RESOURCE` after fixing it).\n" +
			"On a node without quorum, it says the rows may be stale (--json: \"stale\": true).",
		example: "resources\nresources --json",
		run:     runResources,
	}
}

// Resources fetches GET /v1/resources.
func (c *Client) Resources(ctx context.Context) ([]apitypes.ResourceStatus, error) {
	var out []apitypes.ResourceStatus
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
	stale, err := s.stale(ctx)
	if err != nil {
		return err
	}
	if s.json {
		type row struct {
			apitypes.ResourceStatus
			Stale bool `json:"stale,omitempty"` // no quorum here: may be old
		}
		out := make([]row, 0, len(rs))
		for _, r := range rs {
			out = append(out, row{r, stale})
		}
		return WriteJSON(s.Stdout, out)
	}
	if err := s.staleNotice(stale); err != nil {
		return err
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
