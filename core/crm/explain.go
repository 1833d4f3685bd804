package crm

import (
	"fmt"
	"strings"
	"time"
)

// GroupView is a group as the shell shows it.
type GroupView struct {
	Name      string
	State     GroupPhase
	Owner     string
	Reason    string
	Target    string
	Address   string // the group's configured address, or its ipaddr resource's; "" then the owner's
	Service   *Service
	Resources []ResStatus
}

// ResourceView is a resource as the shell shows it.
type ResourceView struct {
	Name  string
	Agent string
	Group string
	State string // on its group's owner, or where it still runs
	Node  string
	Error string // a config error
}

// Groups lists every group, configured or still running, by name.
func (c *CRM) Groups() []GroupView {
	names := map[string]bool{}
	for n := range c.groups {
		names[n] = true
	}
	for n := range c.rt {
		names[n] = true
	}
	for k := range c.bad {
		if strings.HasPrefix(k, GroupPrefix) {
			names[strings.TrimPrefix(k, GroupPrefix)] = true
		}
	}
	var out []GroupView
	for _, n := range sortedKeys(names) {
		g := c.groups[n]
		v := GroupView{Name: n, State: GroupOffline, Target: g.Target, Address: c.address(n), Service: g.Service}
		if rt := c.rt[n]; rt != nil {
			v.State, v.Owner, v.Reason, v.Resources = rt.state, rt.owner, rt.reason, rt.res
		} else if e, ok := c.bad[GroupPrefix+n]; ok {
			v.State, v.Reason = GroupBlocked, "config: "+e
		} else if c.view.ID.Epoch == 0 || !c.view.Primary {
			v.Reason = "this node is not in a primary view"
		}
		if len(v.Resources) == 0 {
			for _, r := range c.members(n) {
				v.Resources = append(v.Resources, ResStatus{Resource: r.Name})
			}
		}
		out = append(out, v)
	}
	return out
}

// address is a group's address from its configuration: "address", else
// an ipaddr resource's "ip" (or "address") parameter.
func (c *CRM) address(group string) string {
	if a := c.groups[group].Address; a != "" {
		return a
	}
	for _, r := range c.members(group) {
		if r.Agent == "ipaddr" {
			if ip := r.Params["ip"]; ip != "" {
				return ip
			}
			if ip := r.Params["address"]; ip != "" {
				return ip
			}
		}
	}
	return ""
}

// Resources lists every resource, by name.
func (c *CRM) Resources() []ResourceView {
	var out []ResourceView
	status := map[string]ResStatus{}
	why := map[string]string{} // a failed resource of a failed group: the reason
	for _, rt := range c.rt {
		for _, rs := range rt.res {
			status[rs.Resource] = rs
			if rs.State == Failed && rt.failed != "" {
				why[rs.Resource] = rt.failed
			}
		}
	}
	names := map[string]bool{}
	for n := range c.resources {
		names[n] = true
	}
	for k := range c.bad {
		if strings.HasPrefix(k, ResourcePrefix) {
			names[strings.TrimPrefix(k, ResourcePrefix)] = true
		}
	}
	for _, n := range sortedKeys(names) {
		r := c.resources[n]
		v := ResourceView{Name: n, Agent: r.Agent, Group: r.Group, State: Stopped.String()}
		if e, ok := c.bad[ResourcePrefix+n]; ok {
			v.State, v.Error, v.Group = "blocked", e, c.badGroups[ResourcePrefix+n]
		}
		if rs, ok := status[n]; ok && rs.Node != "" {
			v.State, v.Node = rs.State.String(), rs.Node
		}
		if e, ok := why[n]; ok && v.Error == "" {
			v.Error = e
		}
		out = append(out, v)
	}
	return out
}

// Running lists the groups of which this node runs (or starts or
// stops) a resource, sorted: what a clean stop waits for (Drain).
func (c *CRM) Running() []string {
	set := map[string]bool{}
	for _, l := range c.local {
		if l.state != Stopped || !l.op.Zero() {
			set[l.res.Group] = true
		}
	}
	return sortedKeys(set)
}

// HasGroup reports whether a group is configured.
func (c *CRM) HasGroup(name string) bool { _, ok := c.groups[name]; return ok }

// CanCleanup reports whether `cleanup NAME` names something: a
// configured resource, one the runtime state still shows, or a group.
func (c *CRM) CanCleanup(name string) bool { _, _, ok := c.cleanupTargets(name); return ok }

// HasResource reports whether a resource is configured.
func (c *CRM) HasResource(name string) bool { _, ok := c.resources[name]; return ok }

// Explain says in plain words why a group runs where it runs, or why it
// does not run.
func (c *CRM) Explain(name string) string {
	g, configured := c.groups[name]
	rt := c.rt[name]
	var b strings.Builder
	if e, ok := c.bad[GroupPrefix+name]; ok {
		fmt.Fprintf(&b, "Group %s has a configuration error: %s\n", name, e)
		return b.String()
	}
	if !configured && rt == nil {
		return fmt.Sprintf("There is no group %s. %s.\n", name, c.known("groups", c.groups))
	}
	switch {
	case c.co != nil && c.co.rebuilding:
		b.WriteString("This node coordinates a new view and is still collecting every member's report; nothing is scheduled until it has them all.\n")
	case rt == nil && !c.view.Primary:
		b.WriteString("This node is not in a primary view: nothing runs until it is part of one.\n")
	case rt == nil:
		b.WriteString("The coordinator has not said anything about this group yet.\n")
	}
	if rt != nil {
		switch rt.state {
		case GroupOnline:
			fmt.Fprintf(&b, "Group %s is online on %s.\n", name, rt.owner)
		case GroupStarting:
			fmt.Fprintf(&b, "Group %s is starting on %s.\n", name, rt.owner)
		case GroupStopping:
			fmt.Fprintf(&b, "Group %s is stopping", name)
			if len(rt.active) > 0 {
				fmt.Fprintf(&b, " on %s", strings.Join(rt.active, ", "))
			}
			b.WriteString(".\n")
		default:
			fmt.Fprintf(&b, "Group %s is %s.\n", name, rt.state)
		}
		if rt.reason != "" {
			fmt.Fprintf(&b, "Reason: %s.\n", rt.reason)
		}
		for _, l := range strings.Split(rt.why, "\n") {
			if l != "" {
				fmt.Fprintf(&b, "- %s.\n", l)
			}
		}
	}
	if configured {
		fmt.Fprintf(&b, "Target: %s.", g.Target)
		if len(g.Preferred) > 0 {
			fmt.Fprintf(&b, " Preferred owners: %s (failback %s).", strings.Join(g.Preferred, ", "), g.Failback.Mode)
		}
		if len(g.Possible) > 0 {
			fmt.Fprintf(&b, " Possible owners: %s.", strings.Join(g.Possible, ", "))
		}
		if len(g.After) > 0 {
			fmt.Fprintf(&b, " Starts after: %s.", strings.Join(g.After, ", "))
		}
		if g.Policy != "" {
			fmt.Fprintf(&b, " Policy: %s.", g.Policy)
		}
		b.WriteString("\n")
		if rt != nil {
			fmt.Fprintf(&b, "Restarts in place: %d of %d in the last %v; failovers: %d of %d in the last %v.\n",
				inPeriod(rt.restarts, c.now, g.Restart.Period), g.Restart.Max, g.Restart.Period,
				inPeriod(rt.failovers, c.now, g.Failover.Period), g.Failover.Max, g.Failover.Period)
		}
	}
	if rt != nil {
		for _, n := range sortedKeys(rt.bans) {
			if left := rt.bans[n] - c.now; left > 0 {
				fmt.Fprintf(&b, "It is kept off %s for %v more because it failed there (cleanup forgets it).\n", n, left.Round(time.Second))
			}
		}
		if m := rt.move; m != nil {
			switch {
			case m.node != "":
				fmt.Fprintf(&b, "An administrator moved it to %s", m.node)
			default:
				fmt.Fprintf(&b, "An administrator moved it away from %s", m.away)
			}
			if m.until > 0 {
				fmt.Fprintf(&b, " for %v more", (m.until - c.now).Round(time.Second))
				if m.back != "" {
					fmt.Fprintf(&b, "; then it goes back to %s", m.back)
				}
			}
			b.WriteString(".\n")
		}
		if len(rt.res) > 0 {
			var parts []string
			for _, rs := range rt.res {
				if rs.Node == "" {
					parts = append(parts, rs.Resource+" (stopped)")
				} else {
					parts = append(parts, fmt.Sprintf("%s (%s on %s)", rs.Resource, rs.State, rs.Node))
				}
			}
			fmt.Fprintf(&b, "Resources in start order: %s.\n", strings.Join(parts, ", "))
		}
	}
	return b.String()
}

// Snapshot is this node's copy of the runtime state as a full State
// (every group, the nodes waiting for a fence; View is the owner table's
// version) and its owner table: what a what-if simulation (core/whatif)
// starts a cluster of resource managers from. It changes nothing.
func (c *CRM) Snapshot() (State, Known) {
	st := State{View: c.knownView, Full: true}
	for _, name := range sortedKeys(c.rt) {
		st.Groups = append(st.Groups, c.toState(name, c.rt[name]))
	}
	unf := c.unfenced
	if c.co != nil {
		unf = c.co.unfenced
	}
	st.Unfenced = sortedKeys(unf)
	return st, c.ownerTable()
}
