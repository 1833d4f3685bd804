package shell

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/corral-ha/corral/core/apitypes"
)

func groupsCommand() *command {
	return &command{
		name:    "groups",
		usage:   "groups [--json]",
		summary: "every resource group: state, owner, address, and why it is not where its target says",
		help: "Lists the groups the resource manager knows. STATE is online, offline, starting,\n" +
			"stopping, failed or blocked; REASON says why a group is not at its target (\"waiting for\n" +
			"fence of n3\"). ADDRESS is the group's address (its ipaddr resource's, else its owner's).\n" +
			"`explain GROUP` says more. On a node without quorum, it says the rows may be stale\n" +
			"(--json: \"stale\": true in each).",
		example: "groups\ngroups --json",
		run:     runGroups,
	}
}

// Groups fetches GET /v1/groups.
func (c *Client) Groups(ctx context.Context) ([]apitypes.GroupStatus, error) {
	var out []apitypes.GroupStatus
	err := c.Get(ctx, "/v1/groups", &out)
	return out, err
}

// groupsJSON is the `groups --json` shape: [{name, state, owner, address, reason}].
type groupsJSON struct {
	Name    string `json:"name"`
	State   string `json:"state"`
	Owner   string `json:"owner"`
	Address string `json:"address"`
	Reason  string `json:"reason"`
	Target  string `json:"target"`
	// Stale: this node has no quorum, so the row is its last view and may
	// be old (absent when it has quorum).
	Stale bool `json:"stale,omitempty"`
}

func runGroups(ctx context.Context, s *Shell, a *args) error {
	if err := a.noArgs(); err != nil {
		return err
	}
	gs, err := s.Client.Groups(ctx)
	if err != nil {
		return err
	}
	stale, err := s.stale(ctx)
	if err != nil {
		return err
	}
	if s.json {
		out := make([]groupsJSON, 0, len(gs))
		for _, g := range gs {
			out = append(out, groupsJSON{Name: g.Name, State: g.State, Owner: g.Owner, Address: g.Address, Reason: g.Reason, Target: g.Target, Stale: stale})
		}
		return WriteJSON(s.Stdout, out)
	}
	if err := s.staleNotice(stale); err != nil {
		return err
	}
	if len(gs) == 0 {
		return writeLine(s, "no groups (add one with `group add NAME`, then `resource add NAME AGENT --group NAME`)")
	}
	t := newTable("GROUP", "STATE", "OWNER", "ADDRESS", "TARGET", "REASON").color(1)
	for _, g := range gs {
		t.row(g.Name, g.State, orDash(g.Owner), orDash(g.Address), orDash(g.Target), orDash(g.Reason))
	}
	return t.render(s.Stdout, s.Color)
}

// staleLine heads what a node without quorum shows of the cluster.
const staleLine = "stale: this node has no quorum; this is its last view of the cluster\n" +
	"and may be old (a service shown online may be gone): ask a node with quorum"

// stale reports whether this node's view of the cluster may be old: it
// has no quorum (as `cdb get` marks its reads).
func (s *Shell) stale(ctx context.Context) (bool, error) {
	st, err := s.Client.Status(ctx)
	if err != nil {
		return false, err
	}
	return !st.Quorate, nil
}

// staleNotice prints staleLine when stale.
func (s *Shell) staleNotice(stale bool) error {
	if !stale {
		return nil
	}
	return writeLine(s, staleLine)
}

func writeLine(s *Shell, line string) error {
	_, err := s.Stdout.Write([]byte(line + "\n"))
	return err
}

// crmNames fetches group, resource or disk names for completion, at most every 2s.
func (c *completer) crmNames(kind string) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.crmCache == nil {
		c.crmCache = map[string][]string{}
		c.crmFetched = map[string]time.Time{}
	}
	if time.Since(c.crmFetched[kind]) < 2*time.Second && c.crmCache[kind] != nil {
		return c.crmCache[kind]
	}
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	var names []string
	switch kind {
	case "group":
		gs, err := c.s.Client.Groups(ctx)
		if err != nil {
			return c.crmCache[kind]
		}
		for _, g := range gs {
			names = append(names, g.Name)
		}
	case "disk":
		ds, err := c.s.Client.Disks(ctx)
		if err != nil {
			return c.crmCache[kind]
		}
		for _, d := range ds {
			names = append(names, d.Name)
		}
	default:
		rs, err := c.s.Client.Resources(ctx)
		if err != nil {
			return c.crmCache[kind]
		}
		for _, r := range rs {
			names = append(names, r.Name)
		}
	}
	c.crmCache[kind], c.crmFetched[kind] = names, time.Now()
	return names
}

// notFound reports whether err is the API's 404.
func notFound(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.Status == http.StatusNotFound
}
