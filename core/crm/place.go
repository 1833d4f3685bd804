package crm

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

func prefRank(g Group, n string) int {
	for i, p := range g.Preferred {
		if p == n {
			return i
		}
	}
	return len(g.Preferred)
}

// current is the node the group runs on now, if one.
func (c *CRM) current(rt *groupRT, ga map[string]map[string]*actual) string {
	if len(ga) == 1 {
		for n := range ga {
			return n
		}
	}
	if len(ga) == 0 && rt.owner != "" && contains(c.view.Members, rt.owner) && rt.state == GroupStarting {
		return rt.owner
	}
	return ""
}

// candidates lists the members that may run the group, best first, and
// says why the others may not.
func (c *CRM) candidates(g Group, rt *groupRT, cur string, colo []string, load map[string]int) ([]string, []string) {
	var cands, excluded []string
	for _, n := range c.view.Members {
		switch {
		case len(g.Possible) > 0 && !contains(g.Possible, n):
			excluded = append(excluded, n+" is not a possible owner")
		case len(colo) > 0 && !contains(colo, n):
			excluded = append(excluded, n+" does not run "+strings.Join(g.After, ", ")+" (it follows its dependency)")
		case rt.bans[n] > c.now:
			excluded = append(excluded, fmt.Sprintf("%s is banned (it failed there; %v left)", n, (rt.bans[n]-c.now).Round(time.Second)))
		case contains(c.view.Leaving, n) || c.isDraining(n):
			excluded = append(excluded, n+" is leaving the cluster")
		case contains(c.view.Paused, n):
			// standby (Pacemaker's): a paused node's groups move away,
			// and none is placed there until it is resumed
			excluded = append(excluded, n+" is paused (standby: resume it to run groups)")
		case c.stopFailedOn(n):
			excluded = append(excluded, "a stop failed on "+n)
		default:
			cands = append(cands, n)
		}
	}
	for _, n := range append(append([]string{}, g.Preferred...), g.Possible...) {
		if !contains(c.view.Members, n) {
			e := n + " is not in the view"
			if !contains(excluded, e) {
				excluded = append(excluded, e)
			}
		}
	}
	sort.SliceStable(cands, func(i, j int) bool {
		a, b := cands[i], cands[j]
		if ra, rb := prefRank(g, a), prefRank(g, b); ra != rb {
			return ra < rb
		}
		if load[a] != load[b] {
			return load[a] < load[b]
		}
		return a < b
	})
	return cands, excluded
}

func (c *CRM) stopFailedOn(n string) bool { return c.co.stopFailed[n] }

// isDraining reports whether n asked for a drain (a clean stop) less than
// DrainHold ago and stayed a member since.
func (c *CRM) isDraining(n string) bool {
	until, ok := c.draining[n]
	return ok && c.now < until
}

// placement is what the coordinator decided for one group in a pass.
type placement struct {
	node string // where it should run; "" nowhere
	// state, when set, is the group's state whatever runs (blocked,
	// failed); "" derives it from what runs (deriveState)
	state  GroupPhase
	reason string
	why    []string
	// policy: it waits for its Lua policy to choose the owner (it shows
	// starting, and nothing starts meanwhile)
	policy bool
	// frozen: its configuration does not parse, so nothing of it is
	// started or stopped until it is fixed
	frozen bool
}

func blocked(reason string, why ...string) placement {
	return placement{state: GroupBlocked, reason: reason, why: why}
}

func runOn(node string, why []string) placement { return placement{node: node, why: why} }

// choose decides where a group that should run goes.
func (c *CRM) choose(g Group, rt *groupRT, ga map[string]map[string]*actual, load map[string]int) placement {
	var colo, why []string
	for _, d := range g.After {
		if _, ok := c.groups[d]; !ok {
			return blocked("it depends on group " + d + ", which is not configured")
		}
		if c.groups[d].Target == TargetStopped {
			return blocked("group " + d + ", which it depends on, has target stopped (start " + d + ")")
		}
		drt := c.rt[d]
		if drt == nil || drt.state != GroupOnline {
			st, rs := GroupOffline, ""
			if drt != nil {
				st, rs = drt.state, drt.reason
			}
			if st == GroupFailed || st == GroupBlocked {
				return blocked(fmt.Sprintf("group %s, which it depends on, is %s: %s", d, st, rs))
			}
			return placement{reason: "waiting for group " + d + " to be online (it is " + string(st) + ")",
				why: []string{"it depends on " + d + " and starts after it, on the same node"}}
		}
		if len(colo) > 0 && !contains(colo, drt.owner) {
			return blocked("the groups it depends on run on different nodes (" + strings.Join(append(colo, drt.owner), ", ") + ")")
		}
		colo = append(colo, drt.owner)
	}
	for _, n := range rt.active {
		if _, unf := c.co.unfenced[n]; unf {
			return blocked("waiting for fence of "+n,
				n+" left the view uncleanly while it ran the group: it may still run it until it is fenced")
		}
	}
	cur := c.current(rt, ga)
	cands, excluded := c.candidates(g, rt, cur, colo, load)
	if len(colo) > 0 {
		why = append(why, "it follows "+strings.Join(g.After, ", ")+" onto "+colo[0])
	}
	if len(cands) == 0 {
		return blocked("no node can run it: "+strings.Join(excluded, "; "), why...)
	}
	if m := rt.move; m != nil {
		left := ""
		if m.until > 0 {
			left = " (the move expires in " + (m.until - c.now).Round(time.Second).String() + ")"
		}
		if m.node != "" {
			if contains(cands, m.node) {
				return runOn(m.node, append(why, "an administrator moved it to "+m.node+left))
			}
			why = append(why, "an administrator moved it to "+m.node+", which cannot run it now")
		} else if contains(cands, m.away) {
			if len(cands) == 1 {
				return blocked("moved away from "+m.away+" and no other node can run it: "+strings.Join(excluded, "; "), why...)
			}
			cands = remove(cands, m.away)
			why = append(why, "an administrator moved it away from "+m.away+left)
			if cur == m.away {
				cur = ""
			}
		}
	}
	if rt.back != "" {
		if contains(cands, rt.back) {
			return runOn(rt.back, append(why, "a move expired: it goes back to "+rt.back))
		}
		rt.back = ""
	}
	if cur != "" && contains(cands, cur) {
		best := cands[0]
		if len(g.Preferred) > 0 && prefRank(g, best) < prefRank(g, cur) && rt.state == GroupOnline && rt.owner == cur {
			switch g.Failback.Mode {
			case FailbackImmediate:
				rt.back = best
				return runOn(best, append(why, "it fails back to "+best+", a more preferred owner (failback immediate)"))
			case FailbackWindow:
				win := fmtClock(g.Failback.From) + "-" + fmtClock(g.Failback.To)
				if c.todSet && g.Failback.inWindow(c.tod) {
					rt.back = best
					return runOn(best, append(why, "it fails back to "+best+", a more preferred owner, in its failback window "+win))
				}
				why = append(why, "it will fail back to "+best+" in its failback window "+win)
			default:
				why = append(why, best+" is preferred, but failback is never: it stays")
			}
		}
		why = append(why, "it stays on "+cur+", where it runs")
		if len(excluded) > 0 {
			why = append(why, "not on: "+strings.Join(excluded, "; "))
		}
		return runOn(cur, why)
	}
	if rt.choice != "" {
		if contains(cands, rt.choice) {
			return runOn(rt.choice, append(why, "policy "+g.Policy+" chose "+rt.choice))
		}
		why = append(why, "policy "+g.Policy+" chose "+rt.choice+", which cannot run it: the default chose")
		rt.choice, rt.policyDone = "", true
	}
	if g.Policy != "" && !rt.policyDone {
		if rt.policy == nil {
			c.policyN++
			req := PolicyRequest{ID: c.policyN, Kind: PolicyChooseOwner, Group: g.Name, Policy: g.Policy, Candidates: cands}
			for _, n := range cands {
				req.Load = append(req.Load, NodeLoad{Node: n, Groups: load[n]})
			}
			rt.policy = &policy{req: req, deadline: c.now + c.cfg.PolicyTimeout}
			c.out.Policy = append(c.out.Policy, req)
		}
		return placement{reason: "waiting for policy " + g.Policy + " to choose an owner", why: why, policy: true}
	}
	best := cands[0]
	switch {
	case prefRank(g, best) < len(g.Preferred):
		why = append(why, best+" is its most preferred owner that can run it")
	default:
		why = append(why, fmt.Sprintf("%s is the least loaded node that can run it (%d groups)", best, load[best]))
	}
	if len(excluded) > 0 {
		why = append(why, "not on: "+strings.Join(excluded, "; "))
	}
	return runOn(best, why)
}
