package crm

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/corral-ha/corral/core/wire"
)

// actual is what the coordinator knows one resource does on one node.
type actual struct {
	state ResState
	op    OpID
	act   string
	group string
	err   string
}

// coord is the coordinator's state for one view.
type coord struct {
	view       wire.ViewID
	rebuilding bool
	reported   map[string]bool
	actual     map[string]map[string]*actual // node -> resource
	unfenced   map[string]time.Duration      // node -> when the fence hook is satisfied (-1: on Fenced)
	opN        uint64
	pending    []Action
	events     []Event
	sent       map[string]string // group -> signature of what was last broadcast
	sentUnf    string
	full       bool
	// fencedFrom: groups that ran on a node confirmed fenced in this
	// view; they may start before the takeover wait has passed.
	fencedFrom map[string]bool
	known      map[string]Known // the members' copies of the owner table, its own included

	// per schedule pass: the group index of actual, nodes with a failed stop
	idx        map[string]map[string]map[string]*actual
	stopFailed map[string]bool
}

// coordView starts or ends the coordinator role when the view changes.
func (c *CRM) coordView(old View) {
	v := c.view
	if v.Coordinator != c.cfg.Self || !v.Primary {
		c.co = nil
		return
	}
	if c.co != nil && c.co.view == v.ID {
		return // a lease change
	}
	co := &coord{view: v.ID, rebuilding: true, reported: map[string]bool{}, actual: map[string]map[string]*actual{},
		unfenced: map[string]time.Duration{}, sent: map[string]string{}, fencedFrom: map[string]bool{},
		known: map[string]Known{c.cfg.Self: c.ownerTable()}}
	add := func(n string) { c.addUnfenced(co, n) }
	if c.co != nil {
		// what it coordinated until now (live, newer than any copy)
		for _, n := range sortedKeys(c.co.unfenced) {
			if t := c.co.unfenced[n]; t >= 0 && !contains(v.Members, n) {
				co.unfenced[n] = t
			}
			add(n)
		}
		for _, n := range sortedKeys(c.co.actual) {
			for _, a := range c.co.actual[n] {
				if a.state != Stopped {
					add(n)
					break
				}
			}
		}
	}
	c.co = co
}

// addUnfenced makes co wait for the fence of n, a node that may run
// something and is neither a member nor fenced.
func (c *CRM) addUnfenced(co *coord, n string) {
	if contains(c.view.Members, n) || c.fenced[n] {
		return
	}
	if _, ok := co.unfenced[n]; ok {
		return
	}
	co.unfenced[n] = -1
	if c.cfg.AssumeFenced {
		co.unfenced[n] = c.now + c.cfg.FenceDelay
	}
}

// adoptKnown (every member reported) takes the newest copy of the owner
// table among the members' (its own included; several of that version:
// their union) and waits for the fence of every owner in it that is not a
// member: G4 for a coordinator that restarted or never saw the State
// that named the owner. The newest copy is complete: the coordinator
// that broadcast it took the same step over its own members, so an owner
// named in an older copy and missing from it was seen stopped or fenced.
func (c *CRM) adoptKnown() {
	co := c.co
	var best wire.ViewID
	for _, k := range co.known {
		if viewLess(best, k.View) {
			best = k.View
		}
	}
	for _, n := range sortedKeys(co.known) {
		k := co.known[n]
		if k.View != best {
			continue
		}
		for _, o := range k.Owners {
			if contains(c.view.Members, o.Node) || c.fenced[o.Node] {
				continue
			}
			c.addUnfenced(co, o.Node)
			if o.Group != "" {
				rt := c.rtFor(o.Group)
				if !contains(rt.active, o.Node) {
					rt.active = append(rt.active, o.Node)
				}
			}
		}
	}
}

func (c *CRM) coReport(m *Report) {
	co := c.co
	if m.Full {
		if co.reported[m.Node] && !co.rebuilding {
			return // sent again before it saw our State: nothing new
		}
		na := map[string]*actual{}
		for _, r := range m.Res {
			if r.State != Stopped {
				na[r.Resource] = &actual{state: r.State, op: r.Op, act: r.Action, group: r.Group}
			}
		}
		co.actual[m.Node] = na
		co.reported[m.Node] = true
		delete(co.unfenced, m.Node)
		if co.rebuilding {
			if m.Node != c.cfg.Self {
				co.known[m.Node] = m.Known
			}
			done := true
			for _, n := range c.view.Members {
				if !co.reported[n] {
					done = false
				}
			}
			if done {
				co.rebuilding, co.full = false, true
				c.adoptKnown()
			}
		}
		return
	}
	na := co.actual[m.Node]
	if na == nil {
		na = map[string]*actual{}
		co.actual[m.Node] = na
	}
	for _, r := range m.Res {
		prev := na[r.Resource]
		if prev != nil && !prev.op.Zero() && r.Done != prev.op && r.Op != prev.op && !r.Failure {
			continue // sent before the member took our operation
		}
		prevState := Stopped
		if prev != nil {
			prevState = prev.state
		}
		group := r.Group
		if group == "" && prev != nil {
			group = prev.group
		}
		if r.State == Stopped {
			delete(na, r.Resource)
		} else {
			na[r.Resource] = &actual{state: r.State, op: r.Op, act: r.Action, group: group, err: r.Error}
		}
		switch {
		case r.Failure:
			co.events = append(co.events, Event{Kind: EvResourceFailed, Resource: r.Resource, Group: group, On: m.Node,
				Error: failText(r.Status, r.Error)})
			switch {
			case r.Status == StatusConfig && r.State != StopFailed:
				c.configFailure(group, m.Node, r.Resource, failText(r.Status, r.Error))
			case r.State == Failed:
				c.failure(group, m.Node, r.Resource, failText(r.Status, r.Error))
			}
		case r.State == Started && prevState != Started:
			co.events = append(co.events, Event{Kind: EvResourceStarted, Resource: r.Resource, Group: group, On: m.Node})
		case r.State == Stopped && prevState != Stopped:
			co.events = append(co.events, Event{Kind: EvResourceStopped, Resource: r.Resource, Group: group, On: m.Node})
		}
	}
}

func failText(st Status, e string) string {
	if e == "" {
		return st.String()
	}
	return st.String() + ": " + e
}

func inPeriod(ts []time.Duration, now, period time.Duration) int {
	n := 0
	for _, t := range ts {
		if now-t < period {
			n++
		}
	}
	return n
}

// configFailure handles a failure that is the configuration's, not the
// node's (the agent is unknown, refused the parameters, or answered
// "config", as OCF's "not configured" and "not installed" do): no node
// would do better, so the group is left failed with the reason, never
// restarted nor moved, until a cleanup. Its resources are stopped where
// they run (want ""); the one that failed did not start.
func (c *CRM) configFailure(group, node, res, errText string) {
	rt := c.rt[group]
	if rt == nil || rt.failed != "" {
		return
	}
	rt.failed = fmt.Sprintf("%s failed on %s: configuration error (%s): no node can run it as configured; fix it and run `cleanup %s`",
		res, node, errText, res)
	rt.failedRes, rt.failedOn = res, node
	rt.note = "a configuration error is not retried on any node: it would fail the same way"
}

// failure handles a failed start or monitor of a group's resource.
func (c *CRM) failure(group, node, res, errText string) {
	rt, g := c.rt[group], c.groups[group]
	if rt == nil || node != rt.owner || g.Name == "" {
		return // a copy that should not run: it is stopped anyway
	}
	if g.Policy != "" && rt.policy == nil {
		c.policyN++
		req := PolicyRequest{ID: c.policyN, Kind: PolicyOnFailure, Group: group, Policy: g.Policy, Resource: res, Node: node,
			Failures: inPeriod(rt.restarts, c.now, g.Restart.Period) + 1, Error: errText}
		rt.policy = &policy{req: req, deadline: c.now + c.cfg.PolicyTimeout}
		c.out.Policy = append(c.out.Policy, req)
		return
	}
	c.decide(group, node, res, errText, c.defaultDecision(g, rt), "")
}

func (c *CRM) defaultDecision(g Group, rt *groupRT) string {
	if inPeriod(rt.restarts, c.now, g.Restart.Period) < g.Restart.Max {
		return DecideRestart
	}
	return DecideFailover
}

func (c *CRM) decide(group, node, res, errText, decision, note string) {
	rt, g := c.rt[group], c.groups[group]
	if rt == nil {
		return
	}
	switch decision {
	case DecideRestart:
		rt.restarts = append(rt.restarts, c.now)
		rt.note = fmt.Sprintf("%s failed on %s (%s): restarting it in place (%d of %d restarts in %v)%s", res, node, errText,
			inPeriod(rt.restarts, c.now, g.Restart.Period), g.Restart.Max, g.Restart.Period, note)
	case DecideFailover:
		if n := inPeriod(rt.failovers, c.now, g.Failover.Period); n >= g.Failover.Max {
			rt.failed = fmt.Sprintf("%s failed on %s (%s) after %d failovers in %v (failover.max %d): left failed; run `cleanup %s` to try again",
				res, node, errText, n, g.Failover.Period, g.Failover.Max, res)
			return
		}
		rt.failovers = append(rt.failovers, c.now)
		rt.bans[node] = c.now + g.Failover.Period
		rt.restarts = nil
		rt.choice, rt.policyDone, rt.back = "", false, ""
		rt.note = fmt.Sprintf("%s failed on %s (%s) with no restarts left: failing over (%d of %d failovers in %v)%s", res, node, errText,
			inPeriod(rt.failovers, c.now, g.Failover.Period), g.Failover.Max, g.Failover.Period, note)
	case DecideIgnore:
		if a := c.co.actual[node][res]; a != nil && a.state == Failed {
			a.state = Started
		}
	case DecideStop:
		rt.stopped = true
		rt.failed = fmt.Sprintf("%s failed on %s (%s) and the policy %s stopped the group: run `cleanup %s` to start it again", res, node, errText, g.Policy, res)
	}
}

func (c *CRM) coPolicyAnswer(a PolicyAnswer) {
	for _, name := range sortedKeys(c.rt) {
		rt := c.rt[name]
		if rt.policy == nil || rt.policy.req.ID != a.ID {
			continue
		}
		req := rt.policy.req
		rt.policy = nil
		switch req.Kind {
		case PolicyChooseOwner:
			rt.policyDone = true
			rt.choice = a.Owner
			if a.Error != "" {
				rt.choice = ""
				rt.note = fmt.Sprintf("policy %s failed (%s): the default chose", req.Policy, a.Error)
			}
		case PolicyOnFailure:
			d, note := a.Decision, ""
			switch d {
			case DecideRestart, DecideFailover, DecideIgnore, DecideStop:
				note = " (policy " + req.Policy + ")"
			default:
				g := c.groups[name]
				note = fmt.Sprintf(" (policy %s answered %q: the default decided)", req.Policy, a.Decision)
				if a.Error != "" {
					note = fmt.Sprintf(" (policy %s failed: %s; the default decided)", req.Policy, a.Error)
				}
				d = c.defaultDecision(g, rt)
			}
			c.decide(name, req.Node, req.Resource, req.Error, d, note)
		}
	}
}

func (c *CRM) coFenced(node string) {
	delete(c.co.unfenced, node)
	for name, rt := range c.rt {
		if contains(rt.active, node) {
			c.co.fencedFrom[name] = true
		}
		rt.active = remove(rt.active, node)
	}
}

func remove(ss []string, s string) []string {
	var out []string
	for _, x := range ss {
		if x != s {
			out = append(out, x)
		}
	}
	return out
}

func (c *CRM) rtFor(name string) *groupRT {
	rt := c.rt[name]
	if rt == nil {
		rt = &groupRT{state: GroupOffline, bans: map[string]time.Duration{}, fresh: true}
		c.rt[name] = rt
	}
	return rt
}

func (c *CRM) coMove(m *Command) {
	if _, ok := c.groups[m.Group]; !ok {
		return
	}
	rt := c.rtFor(m.Group)
	mv := &move{node: m.Node, back: rt.owner}
	if m.Node == "" {
		mv.away = rt.owner
	}
	if m.For > 0 {
		mv.until = c.now + m.For
	} else {
		mv.back = ""
	}
	rt.move, rt.back, rt.choice, rt.policyDone = mv, "", "", false
	if m.Node != "" {
		delete(rt.bans, m.Node) // an administrator's choice overrides an old failure
	}
}

// cleanupTargets says what `cleanup NAME` cleans: a configured resource,
// or a resource the runtime state still shows (a group's row, a resource
// deleted while its stop failed), or a group (every resource of it): what
// `groups` and `resources` show can be cleaned up.
func (c *CRM) cleanupTargets(name string) (group string, res []string, ok bool) {
	if r, ok := c.resources[name]; ok {
		return r.Group, []string{name}, true
	}
	for _, g := range sortedKeys(c.rt) {
		for _, rs := range c.rt[g].res {
			if rs.Resource == name {
				return g, []string{name}, true
			}
		}
	}
	_, configured := c.groups[name]
	rt, running := c.rt[name]
	if !configured && !running {
		return "", nil, false
	}
	seen := map[string]bool{}
	for _, r := range c.members(name) {
		seen[r.Name] = true
	}
	if running {
		for _, rs := range rt.res {
			seen[rs.Resource] = true
		}
	}
	if c.co != nil {
		for _, na := range c.co.actual {
			for r, a := range na {
				if a.group == name {
					seen[r] = true
				}
			}
		}
	}
	return name, sortedKeys(seen), true
}

func (c *CRM) coCleanup(name string) {
	group, res, ok := c.cleanupTargets(name)
	if !ok {
		return
	}
	for _, n := range sortedKeys(c.co.actual) {
		for _, r := range res {
			if a := c.co.actual[n][r]; a != nil && a.state == StopFailed && a.op.Zero() {
				a.state = Failed // try the stop again
			}
		}
	}
	if rt := c.rt[group]; rt != nil {
		rt.restarts, rt.failovers, rt.bans = nil, nil, map[string]time.Duration{}
		rt.failed, rt.stopped, rt.choice, rt.policyDone = "", false, "", false
		rt.failedRes, rt.failedOn = "", ""
		rt.note = "cleaned up: failures and bans forgotten"
	}
}

// ---- scheduling ----

// TestSkipFence is a test-only mutation (the whole-stack simulation's
// TestSimulationDiskCatchesSkipFence): the placement counts a departed
// node as fenced at once, skipping the fence before a takeover. Never
// set outside that test.
var TestSkipFence bool

// schedule runs the coordinator's placement and transitions.
func (c *CRM) schedule() {
	co := c.co
	if co == nil || co.rebuilding || !c.view.Lease || c.view.StaleConfig {
		return
	}
	for _, n := range sortedKeys(co.unfenced) {
		// Without fencing (t >= 0) only the lease protects: a departed node
		// counts as fenced once the takeover wait has passed too (G2).
		if t := co.unfenced[n]; (t >= 0 || TestSkipFence) && c.now >= t && c.view.Takeover {
			c.coFenced(n)
		}
	}
	c.expire()
	names := map[string]bool{}
	for n := range c.groups {
		names[n] = true
	}
	for n := range c.rt {
		names[n] = true
	}
	for _, na := range co.actual {
		for _, a := range na {
			if a.group != "" {
				names[a.group] = true
			}
		}
	}
	for k := range c.bad {
		if strings.HasPrefix(k, GroupPrefix) {
			names[strings.TrimPrefix(k, GroupPrefix)] = true
		}
	}
	co.idx, co.stopFailed = map[string]map[string]map[string]*actual{}, map[string]bool{}
	for n, na := range co.actual {
		for r, a := range na {
			if a.state == StopFailed {
				co.stopFailed[n] = true
			}
			if a.state == Stopped {
				continue
			}
			byNode := co.idx[a.group]
			if byNode == nil {
				byNode = map[string]map[string]*actual{}
				co.idx[a.group] = byNode
			}
			if byNode[n] == nil {
				byNode[n] = map[string]*actual{}
			}
			byNode[n][r] = a
		}
	}
	order, cyc := c.topo(sortedKeys(names))
	load := map[string]int{}
	for _, n := range order {
		c.plan(n, cyc[n], load)
	}
	c.orphans()
	// the State first: a member that takes these Actions has the State
	// that names the nodes they start (G4: its owner table has them)
	c.sendState()
	if len(co.pending) > 0 {
		c.broadcast(&Actions{View: co.view, List: co.pending})
		co.pending = nil
	}
}

// expire drops bans, counts and moves whose time has passed, and answers
// late policies with the default.
func (c *CRM) expire() {
	for _, name := range sortedKeys(c.rt) {
		rt, g := c.rt[name], c.groups[name]
		for n, t := range rt.bans {
			if c.now >= t {
				delete(rt.bans, n)
			}
		}
		if g.Name != "" {
			rt.restarts = trim(rt.restarts, c.now, g.Restart.Period)
			rt.failovers = trim(rt.failovers, c.now, g.Failover.Period)
		}
		if m := rt.move; m != nil && m.until > 0 && c.now >= m.until {
			rt.move, rt.back = nil, m.back
		}
		if m := rt.move; m != nil && m.node != "" && !contains(c.view.Members, m.node) {
			rt.move = nil
		}
		if p := rt.policy; p != nil && c.now >= p.deadline {
			rt.policy = nil
			switch p.req.Kind {
			case PolicyChooseOwner:
				rt.policyDone, rt.choice = true, ""
				rt.note = fmt.Sprintf("policy %s did not answer in %v: the default chose", p.req.Policy, c.cfg.PolicyTimeout)
			case PolicyOnFailure:
				c.decide(name, p.req.Node, p.req.Resource, p.req.Error, c.defaultDecision(g, rt),
					fmt.Sprintf(" (policy %s did not answer in %v: the default decided)", p.req.Policy, c.cfg.PolicyTimeout))
			}
		}
	}
}

func trim(ts []time.Duration, now, period time.Duration) []time.Duration {
	var out []time.Duration
	for _, t := range ts {
		if now-t < period {
			out = append(out, t)
		}
	}
	return out
}

// topo orders groups so that every group comes after the groups it
// depends on; groups in a cycle get the cycle's description.
func (c *CRM) topo(names []string) ([]string, map[string]string) { return topo(c.groups, names) }

// topo orders the groups names of groups so that every group comes after
// the groups it depends on (After); groups in a cycle get the cycle's
// description ("a -> b -> a").
func topo(groups map[string]Group, names []string) ([]string, map[string]string) {
	const (
		white = iota
		grey
		black
	)
	color := map[string]int{}
	cyc := map[string]string{}
	var order, stack []string
	var visit func(n string)
	visit = func(n string) {
		switch color[n] {
		case black:
			return
		case grey:
			i := len(stack) - 1
			for i > 0 && stack[i] != n {
				i--
			}
			loop := append(append([]string{}, stack[i:]...), n)
			for _, m := range loop {
				cyc[m] = strings.Join(loop, " -> ")
			}
			return
		}
		color[n] = grey
		stack = append(stack, n)
		deps := append([]string{}, groups[n].After...)
		sort.Strings(deps)
		for _, d := range deps {
			if _, ok := groups[d]; ok {
				visit(d)
			}
		}
		stack = stack[:len(stack)-1]
		color[n] = black
		order = append(order, n)
	}
	for _, n := range names {
		visit(n)
	}
	return order, cyc
}

// groupActual returns the group's resources that are not stopped, by node.
func (c *CRM) groupActual(name string) map[string]map[string]*actual {
	out := map[string]map[string]*actual{}
	for n, ents := range c.co.idx[name] {
		for r, a := range ents {
			if a.state != Stopped {
				if out[n] == nil {
					out[n] = map[string]*actual{}
				}
				out[n][r] = a
			}
		}
	}
	return out
}

func (c *CRM) issue(node, group string, r Resource, act string) {
	co := c.co
	co.opN++
	id := OpID{Epoch: co.view.Epoch, N: co.opN}
	a := Action{Op: id, Node: node, Resource: r.Name, Group: group, Agent: r.Agent, Action: act, Params: r.Params,
		Interval: r.Monitor, MonitorTimeout: r.Timeouts.Monitor}
	switch act {
	case ActStart:
		a.Timeout = r.Timeouts.Start
	case ActStop:
		a.Timeout = r.Timeouts.Stop
	default:
		a.Timeout = r.Timeouts.Monitor
	}
	co.pending = append(co.pending, a)
	na := co.actual[node]
	if na == nil {
		na = map[string]*actual{}
		co.actual[node] = na
	}
	st := Starting
	if act == ActStop {
		st = Stopping
	}
	a2 := &actual{state: st, op: id, act: act, group: group}
	if old := na[r.Name]; old != nil && old.group != group && co.idx[old.group] != nil && co.idx[old.group][node] != nil {
		delete(co.idx[old.group][node], r.Name)
	}
	na[r.Name] = a2
	if co.idx != nil {
		byNode := co.idx[group]
		if byNode == nil {
			byNode = map[string]map[string]*actual{}
			co.idx[group] = byNode
		}
		if byNode[node] == nil {
			byNode[node] = map[string]*actual{}
		}
		byNode[node][r.Name] = a2
	}
}

// dependentsOn reports a group that depends on name and still runs
// something on node.
func (c *CRM) dependentsOn(name, node string) string {
	for _, d := range sortedKeys(c.groups) {
		if !contains(c.groups[d].After, name) {
			continue
		}
		for _, a := range c.co.actual[node] {
			if a.group == d && a.state != Stopped {
				return d
			}
		}
	}
	return ""
}

// waiting is what driving a group waits for.
type waiting struct {
	reason string // for the group's reason; "" nothing
	// stopFailed: a stop of one of its resources failed there ("stop of
	// R failed on N"); it waits for a cleanup or a fence
	stopFailed bool
}

func waitFor(reason string) waiting { return waiting{reason: reason} }

// stopOn stops the group's resources on node in reverse start order, one
// at a time. It returns what it waits for (nothing when nothing runs
// there).
func (c *CRM) stopOn(name, node string, res []Resource, ents map[string]*actual) waiting {
	if len(ents) == 0 {
		return waiting{}
	}
	if d := c.dependentsOn(name, node); d != "" {
		return waitFor("group " + d + " (which depends on it) is stopping on " + node)
	}
	inOrder := map[string]bool{}
	for _, r := range res {
		inOrder[r.Name] = true
	}
	// resources no longer in the group first, then the group's in reverse
	var seq []string
	for _, r := range sortedKeys(ents) {
		if !inOrder[r] {
			seq = append(seq, r)
		}
	}
	for i := len(res) - 1; i >= 0; i-- {
		seq = append(seq, res[i].Name)
	}
	for _, r := range seq {
		a := ents[r]
		if a == nil {
			continue
		}
		if !a.op.Zero() {
			return waitFor(r + " is " + a.state.String() + " on " + node)
		}
		if a.state == StopFailed {
			return waiting{reason: "stop of " + r + " failed on " + node, stopFailed: true}
		}
		rc, ok := c.resources[r]
		if !ok {
			rc = Resource{Name: r, Timeouts: Timeouts{Stop: DefaultStopTimeout}} // the member knows its agent
		}
		c.issue(node, name, rc, ActStop)
		return waitFor("stopping " + r + " on " + node)
	}
	return waiting{}
}

// plan decides one group's owner and drives it one step towards it: it
// decides (placeGroup), drives (driveGroup), derives the group's state
// from what then runs (deriveState) and emits the events of the change
// (emitEvents).
func (c *CRM) plan(name, cycle string, load map[string]int) {
	rt := c.rtFor(name)
	_, configured := c.groups[name]
	res := c.members(name)
	prevState, prevOwner, fresh := rt.state, rt.owner, rt.fresh
	rt.fresh = false
	ga := c.groupActual(name)
	p := c.placeGroup(name, cycle, rt, res, ga, load)
	w, ga := c.driveGroup(name, rt, p, res, ga)
	c.deriveState(rt, p, w, res, ga)
	if p.node != "" {
		load[p.node]++
	}
	c.emitEvents(name, rt, prevState, prevOwner, fresh)
	if rt.state == GroupOnline {
		arrived(rt)
	}
	if !configured && len(rt.active) == 0 {
		delete(c.rt, name)
	}
}

// placeGroup decides where the group should run, or why it runs nowhere.
func (c *CRM) placeGroup(name, cycle string, rt *groupRT, res []Resource, ga map[string]map[string]*actual, load map[string]int) placement {
	g, configured := c.groups[name]
	badKey := ""
	for _, k := range sortedKeys(c.bad) {
		if k == GroupPrefix+name || c.badGroup(k) == name {
			badKey = k
			break
		}
	}
	switch {
	case badKey != "":
		p := blocked("config: "+c.bad[badKey], "its configuration does not parse, so nothing is changed until it is fixed")
		p.frozen = true
		return p
	case !configured:
		return placement{why: []string{"it is no longer configured: stopping what is left of it"}}
	case cycle != "":
		return blocked("dependency cycle: "+cycle,
			"groups that depend on each other in a circle can never start; remove one of the 'after' entries")
	case len(res) == 0:
		return placement{reason: "it has no resources",
			why: []string{"no resource names it as its group (resource add NAME AGENT --group " + name + ")"}}
	case g.Target == TargetStopped:
		return placement{why: []string{"its target is stopped (start " + name + " sets it to started)"}}
	case rt.failed != "":
		return placement{state: GroupFailed, reason: rt.failed}
	}
	return c.choose(g, rt, ga, load)
}

// driveGroup issues the next actions towards the placement (none when it
// is frozen) and updates the group's active nodes: where it runs now, and
// departed nodes that ran it and are not fenced yet. ga is what runs of
// the group before; it returns what the drive waits for and what runs of
// the group after these actions.
func (c *CRM) driveGroup(name string, rt *groupRT, p placement, res []Resource, ga map[string]map[string]*actual) (waiting, map[string]map[string]*actual) {
	// keep departed, unfenced nodes in the active list until fenced
	active := map[string]bool{}
	for n := range ga {
		active[n] = true
	}
	for _, n := range rt.active {
		if _, unf := c.co.unfenced[n]; unf {
			active[n] = true
		}
	}
	var w waiting
	if !p.frozen {
		w = c.drive(name, p.node, res, ga)
	}
	ga = c.groupActual(name)
	rt.active = nil
	for _, n := range sortedKeys(active) {
		if ga[n] != nil || !contains(c.view.Members, n) {
			rt.active = append(rt.active, n)
		}
	}
	for _, n := range sortedKeys(ga) {
		if !active[n] {
			rt.active = append(rt.active, n)
		}
	}
	return w, ga
}

// deriveState sets the group's state, owner, reason, explanation and
// resource rows from the placement, what the drive waits for and what
// runs of it (ga).
func (c *CRM) deriveState(rt *groupRT, p placement, w waiting, res []Resource, ga map[string]map[string]*actual) {
	state, reason := p.state, p.reason
	if state != GroupFailed {
		if r, ok := c.failedStop(w, ga); ok {
			state, reason = GroupBlocked, r
		}
	}
	if state == "" {
		state, reason = phase(rt, p, w, reason, isOnline(rt, p.node, res, ga))
	}
	owner := ""
	switch {
	case state == GroupOnline || state == GroupStarting:
		owner = p.node
	case len(rt.active) == 1 && contains(c.view.Members, rt.active[0]):
		owner = rt.active[0]
	}
	rt.state, rt.owner, rt.reason = state, owner, reason
	why := p.why
	if rt.note != "" {
		why = append(why, rt.note)
	}
	rt.why = strings.Join(why, "\n")
	rt.res = resRows(rt, p.node, res, ga)
}

// failedStop reports whether a stop of the group failed somewhere, and
// the reason the group is blocked for (the last such stop's).
func (c *CRM) failedStop(w waiting, ga map[string]map[string]*actual) (reason string, ok bool) {
	for _, node := range sortedKeys(ga) {
		for _, r := range sortedKeys(ga[node]) {
			e := ga[node][r]
			if e.state != StopFailed {
				continue
			}
			ok = true
			switch {
			case !c.cfg.AssumeFenced:
				// the failing node asks for its own fence (or fences
				// itself when it lost its lease): the group waits for it
				reason = fmt.Sprintf("stop of %s failed on %s: waiting for fence of %s (or run `cleanup` on %s once it is stopped by hand)", r, node, node, r)
			case w.stopFailed:
				reason = fmt.Sprintf("%s; run `cleanup` on it once it is stopped by hand, or fence the node", w.reason)
			default:
				reason = "a stop failed (" + e.err + "); run `cleanup` on the resource once it is stopped by hand, or fence the node"
			}
		}
	}
	return reason, ok
}

// isOnline reports whether every resource of the group runs started on
// want, and nothing of it elsewhere.
func isOnline(rt *groupRT, want string, res []Resource, ga map[string]map[string]*actual) bool {
	if want == "" || len(rt.active) != 1 || rt.active[0] != want || len(ga[want]) != len(res) {
		return false
	}
	for _, r := range res {
		if a := ga[want][r.Name]; a == nil || a.state != Started || !a.op.Zero() {
			return false
		}
	}
	return true
}

// phase derives the state of a group that the placement leaves to what
// runs, and its reason when the placement gave none.
func phase(rt *groupRT, p placement, w waiting, reason string, online bool) (GroupPhase, string) {
	switch {
	case p.policy:
		return GroupStarting, reason
	case online:
		return GroupOnline, reason
	case p.node != "":
		state := GroupStarting
		for _, n := range rt.active {
			if n != p.node {
				state = GroupStopping
				if reason == "" {
					reason = "moving from " + n + " to " + p.node
				}
			}
		}
		if reason == "" {
			reason = w.reason
		}
		return state, reason
	case len(rt.active) > 0:
		if reason == "" {
			reason = w.reason
		}
		return GroupStopping, reason
	}
	return GroupOffline, reason
}

// resRows lists where each of the group's resources is, in start order,
// then what still runs of it that it no longer lists.
func resRows(rt *groupRT, want string, res []Resource, ga map[string]map[string]*actual) []ResStatus {
	var rows []ResStatus
	for _, r := range res {
		rs := ResStatus{Resource: r.Name}
		if rt.failed != "" && rt.failedRes == r.Name {
			rs.Node, rs.State = rt.failedOn, Failed // it did not start: shown failed where it failed
		}
		for _, n := range sortedKeys(ga) {
			if a := ga[n][r.Name]; a != nil {
				rs.Node, rs.State = n, a.state
				if n == want {
					break
				}
			}
		}
		rows = append(rows, rs)
	}
	// and what still runs of it that it no longer lists (a deleted
	// resource, or one of a deleted group, still stopping or whose stop
	// failed): shown, so it can be named to cleanup
	inRes := map[string]bool{}
	for _, r := range res {
		inRes[r.Name] = true
	}
	for _, n := range sortedKeys(ga) {
		for _, r := range sortedKeys(ga[n]) {
			if !inRes[r] {
				inRes[r] = true
				rows = append(rows, ResStatus{Resource: r, Node: n, State: ga[n][r].state})
			}
		}
	}
	return rows
}

// emitEvents records the events of the group's change from prevState on
// prevOwner to its state now; fresh: this coordinator had no record of
// the group before this pass.
func (c *CRM) emitEvents(name string, rt *groupRT, prevState GroupPhase, prevOwner string, fresh bool) {
	state, owner := rt.state, rt.owner
	if state == GroupOnline && fresh {
		// This coordinator has no record of the group (it restarted, or
		// never got a State) and finds it online at its first pass: it
		// was online before (a start of its own goes through starting
		// first), so nothing changed and no event is due; a node's join
		// that makes it coordinator must not look like a reshuffle.
		rt.lastOnline = owner
	} else if state == GroupOnline && prevState != GroupOnline {
		c.co.events = append(c.co.events, Event{Kind: EvGroupOnline, Group: name, Owner: owner})
		if rt.lastOnline != "" && rt.lastOnline != owner {
			c.co.events = append(c.co.events, Event{Kind: EvGroupMoved, Group: name, From: rt.lastOnline, To: owner})
		}
		rt.lastOnline = owner
	}
	if prevState == GroupOnline && state != GroupOnline {
		c.co.events = append(c.co.events, Event{Kind: EvGroupOffline, Group: name, Owner: prevOwner, Reason: rt.reason})
	}
}

// arrived forgets, once the group is online, what brought it there: the
// policy's choice, a move away that it honoured, a one-shot return.
func arrived(rt *groupRT) {
	rt.choice, rt.policyDone = "", false
	if m := rt.move; m != nil && m.node == "" && m.until == 0 && rt.owner != m.away {
		rt.move = nil
	}
	if rt.back == rt.owner {
		rt.back = ""
	}
}

// badGroup returns the group a resource key with a parse error names, if
// its JSON says so.
func (c *CRM) badGroup(key string) string {
	if !strings.HasPrefix(key, ResourcePrefix) {
		return ""
	}
	return c.badGroups[key]
}

// drive issues the next actions that bring the group towards want ("" for
// nowhere); it returns what it waits for.
func (c *CRM) drive(name, want string, res []Resource, ga map[string]map[string]*actual) waiting {
	var wait waiting
	for _, n := range sortedKeys(ga) {
		if n == want || !contains(c.view.Members, n) {
			continue
		}
		if w := c.stopOn(name, n, res, ga[n]); w.reason != "" && wait.reason == "" {
			wait = w
		}
	}
	if want == "" {
		return wait
	}
	for n := range ga {
		if n != want {
			if wait.reason == "" {
				wait = waitFor("waiting for it to stop on " + n)
			}
			return wait // never on two nodes
		}
	}
	ents := ga[want]
	for _, r := range sortedKeys(ents) {
		if a := ents[r]; !a.op.Zero() {
			return waitFor(r + " is " + a.state.String() + " on " + want)
		}
	}
	// a failed resource: stop it and everything after it, then start again
	fi := -1
	for i, r := range res {
		if a := ents[r.Name]; a != nil && a.state == Failed {
			fi = i
			break
		}
	}
	inGroup := map[string]bool{}
	for _, r := range res {
		inGroup[r.Name] = true
	}
	for _, r := range sortedKeys(ents) {
		if !inGroup[r] && fi < 0 {
			fi = len(res) // a stray resource of the group: stop it
		}
	}
	if fi >= 0 {
		tail := res[min(fi, len(res)):]
		sub := map[string]*actual{}
		for r, a := range ents {
			if !inGroup[r] {
				sub[r] = a
			}
		}
		for _, r := range tail {
			if a := ents[r.Name]; a != nil {
				sub[r.Name] = a
			}
		}
		if w := c.stopOn(name, want, tail, sub); w.reason != "" {
			return w
		}
	}
	for _, r := range res {
		a := ents[r.Name]
		if a != nil && a.state == Started {
			continue
		}
		if a == nil || a.state == Stopped {
			if !c.view.Takeover && len(ents) == 0 && !c.co.fencedFrom[name] {
				// Before the takeover wait only a fenced node's groups
				// start: a node this view excluded may run anything else
				// until its lease lapsed (what this coordinator knows of
				// the others may be incomplete).
				return waitFor("waiting for the takeover wait (departed nodes' leases lapse)")
			}
			c.issue(want, name, r, ActStart)
			return waitFor("starting " + r.Name + " on " + want)
		}
		return waitFor(r.Name + " is " + a.state.String() + " on " + want)
	}
	return waiting{}
}

// orphans stops resources that belong to no configured group.
func (c *CRM) orphans() {
	for _, n := range sortedKeys(c.co.actual) {
		if !contains(c.view.Members, n) {
			continue
		}
		na := c.co.actual[n]
		for _, r := range sortedKeys(na) {
			a := na[r]
			if a.state == Stopped || a.state == StopFailed || !a.op.Zero() {
				continue
			}
			if a.group != "" {
				if _, ok := c.rt[a.group]; ok {
					continue // plan handles it
				}
			}
			rc, ok := c.resources[r]
			if !ok {
				rc = Resource{Name: r, Timeouts: Timeouts{Stop: DefaultStopTimeout}}
			}
			c.issue(n, a.group, rc, ActStop)
		}
	}
}

func signature(g GroupState) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s|%s|%s|%s|%s|%v|%d|%d|%v|%v", g.State, g.Owner, g.Reason, g.Why, g.Failed, g.Active, len(g.Restarts), len(g.Failovers), g.Stopped, g.Res)
	for _, x := range g.Bans {
		b.WriteString("|" + x.Node)
	}
	if m := g.Move; m != nil {
		fmt.Fprintf(&b, "|move %s %s %s %v", m.Node, m.Away, m.Back, m.Left > 0)
	}
	return b.String()
}

// sendState broadcasts what changed since the last State.
func (c *CRM) sendState() {
	co := c.co
	st := &State{View: co.view, Full: co.full}
	for _, name := range sortedKeys(c.rt) {
		gs := c.toState(name, c.rt[name])
		sig := signature(gs)
		if co.full || co.sent[name] != sig {
			st.Groups = append(st.Groups, gs)
			co.sent[name] = sig
		}
	}
	for _, name := range sortedKeys(co.sent) {
		if _, ok := c.rt[name]; !ok {
			st.Removed = append(st.Removed, name)
			delete(co.sent, name)
		}
	}
	st.Unfenced = sortedKeys(co.unfenced)
	unf := strings.Join(st.Unfenced, ",")
	st.Events = co.events
	co.events = nil
	if !co.full && len(st.Groups) == 0 && len(st.Removed) == 0 && len(st.Events) == 0 && unf == co.sentUnf {
		return
	}
	co.full = false
	co.sentUnf = unf
	c.unfenced = map[string]time.Duration{}
	for _, n := range st.Unfenced {
		c.unfenced[n] = -1
	}
	c.learned(co.view)
	c.out.Changed = true
	c.broadcast(st)
}
