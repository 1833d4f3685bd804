package whatif

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/corral-ha/corral/core/crm"
	"github.com/corral-ha/corral/core/fence"
	"github.com/corral-ha/corral/core/quorum"
	"github.com/corral-ha/corral/core/wire"
)

// This file is the driver of the simulated nodes: what core/node and
// core/stack do with each core's Ready, with stand-ins for the agents,
// the devices and the ordered broadcast.

func (s *sim) step(st Step) {
	s.last = s.now
	*s.record = append(*s.record, st)
}

func (s *sim) note(text string) {
	if !s.notes[text] {
		s.notes[text] = true
		s.out.Notes = append(s.out.Notes, text)
	}
}

func (s *sim) crmStep(n *snode, in crm.Input) {
	if err := n.c.Step(s.now, in); err != nil && s.err == nil {
		s.err = fmt.Errorf("%s: resource manager: %T: %w", n.name, in, err)
	}
	s.drain(n)
}

func (s *sim) fenceStep(n *snode, in fence.Input) {
	if err := n.f.Step(s.now, in); err != nil && s.err == nil {
		s.err = fmt.Errorf("%s: fence core: %T: %w", n.name, in, err)
	}
	s.drain(n)
}

// drain carries out a node's Readies, the fence core's first (as the
// stack does: its report precedes the resource manager's).
func (s *sim) drain(n *snode) {
	for n.st == up {
		did := false
		if n.f.HasReady() {
			rd := n.f.Ready()
			n.f.Advance()
			s.fenceReady(n, rd)
			did = true
		}
		if n.st == up && n.c.HasReady() {
			rd := n.c.Ready()
			n.c.Advance()
			s.crmReady(n, rd)
			did = true
		}
		if !did {
			return
		}
	}
}

// bcast delivers a payload to every member of the sender's view that is
// still in it, in one order (FIFO through the queue).
func (s *sim) bcast(from *snode, isFence bool, p []byte) {
	v := from.view.ID
	s.at(bcastIn, false, func() {
		for _, name := range s.names {
			n := s.nodes[name]
			if n.st != up || n.view.ID != v {
				continue
			}
			if isFence {
				s.fenceStep(n, fence.Deliver{View: v, Primary: s.primary[v], Payload: p})
			} else {
				s.crmStep(n, crm.Deliver{Payload: p})
			}
		}
	})
}

func (s *sim) isCoord(n *snode) bool { return n.view.Coordinator == n.name && n.view.Primary }

func levelOf(t fence.Target, device string) int {
	for i, l := range t.Levels {
		for _, d := range l {
			if d.Name == device {
				return i + 1
			}
		}
	}
	return 0
}

func (s *sim) fenceReady(n *snode, rd fence.Ready) {
	for _, p := range rd.Broadcast {
		s.bcast(n, true, p)
	}
	for _, c := range rd.Calls {
		c := c
		lvl := levelOf(s.in.Fence.Targets[c.Target], c.Device)
		s.step(Step{Kind: StepFence, Node: c.Target,
			Text: fmt.Sprintf("%s fences %s with device %s (level %d, action %s)", n.name, c.Target, c.Device, lvl, c.Action)})
		s.at(callFor, true, func() {
			// the device powers the target off: what it ran dies with it
			if t := s.nodes[c.Target]; t != nil && t.st != dead {
				s.down(t)
			}
			if n.st == up {
				s.fenceStep(n, fence.Result{Call: c.ID, OK: true})
			}
		})
	}
	for _, e := range rd.Events {
		if e.Kind == fence.EventFailed && n.fview.Coordinator == n.name {
			s.step(Step{Kind: StepFailed, Node: e.Target, Text: fmt.Sprintf("fencing %s with %s failed: %s", e.Target, e.Device, e.Error)})
		}
	}
	for _, c := range rd.Confirmed {
		if n.fview.Coordinator != n.name || !n.fview.Primary {
			continue // the coordinator tells the resource manager
		}
		lvl := levelOf(s.in.Fence.Targets[c.Target], c.Device)
		if f := s.fenced[c.Target]; f == nil || !f.Confirmed {
			s.fenced[c.Target] = &Fenced{Node: c.Target, Confirmed: true, Device: c.Device, Level: lvl, By: c.By}
			how := "device " + c.Device
			if lvl > 0 {
				how += fmt.Sprintf(" (level %d)", lvl)
			}
			if c.Device == fence.DeviceWatchdog {
				how = "the watchdog wait (its watchdog must have reset it)"
			}
			s.step(Step{Kind: StepFenced, Node: c.Target, Text: fmt.Sprintf("%s is confirmed fenced by %s, run by %s", c.Target, how, c.By)})
		}
		s.crmStep(n, crm.Fenced{Node: c.Target})
		s.pairedUp(n, c.Target)
	}
	if rd.SelfFence != "" {
		s.step(Step{Kind: StepFenced, Node: n.name, Text: fmt.Sprintf("%s learns it was fenced and stops: %s", n.name, rd.SelfFence)})
		s.down(n)
	}
}

// down takes a node out: crashed, or powered off by its fence. Its
// resources die with its process.
func (s *sim) down(n *snode) {
	n.st = dead
	delete(s.running, n.name)
}

func (s *sim) crmReady(n *snode, rd crm.Ready) {
	for _, p := range rd.Broadcast {
		s.bcast(n, false, p)
	}
	for _, a := range rd.Exec {
		s.exec(n, a)
	}
	for _, p := range rd.Policy {
		p := p
		s.note(fmt.Sprintf("group %s names the Lua policy %s: the simulation does not run policies, so the built-in default chose (as when a policy does not answer)", p.Group, p.Policy))
		s.at(0, true, func() {
			if n.st == up {
				s.crmStep(n, crm.PolicyAnswer{ID: p.ID, Error: "not run by the simulation"})
			}
		})
	}
	for _, f := range rd.StopFailed {
		// the stack's escalation: ask for this node's own fence
		s.step(Step{Kind: StepFailed, Node: n.name, Resource: f.Resource,
			Text: fmt.Sprintf("the stop of %s failed on %s: it asks for its own fence", f.Resource, n.name)})
		if n.view.Primary && s.fenceOn {
			s.fenceStep(n, fence.Request{Target: n.name, Reason: "stop of " + f.Resource + " failed"})
		}
	}
	if rd.Changed && s.isCoord(n) {
		s.groupSteps(n)
	}
}

// groupSteps records every group whose state, owner or reason changed
// on the coordinator since it last said.
func (s *sim) groupSteps(n *snode) {
	for _, g := range n.c.Groups() {
		old, ok := s.groups[g.Name]
		s.groups[g.Name] = g
		blockedWhy := (g.State == crm.GroupBlocked || g.State == crm.GroupFailed) && old.Reason != g.Reason
		if ok && old.State == g.State && old.Owner == g.Owner && !blockedWhy {
			continue
		}
		if s.baseline {
			continue
		}
		text := fmt.Sprintf("%s is %s", g.Name, g.State)
		if g.Owner != "" {
			text += " on " + g.Owner
		}
		if g.Reason != "" {
			text += ": " + g.Reason
		}
		s.step(Step{Kind: StepGroup, Group: g.Name, State: string(g.State), Node: g.Owner, Text: text, Why: whyLines(n.c.Explain(g.Name))})
	}
}

// whyLines are the "- reason." lines of explain GROUP.
func whyLines(text string) []string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if r, ok := strings.CutPrefix(l, "- "); ok {
			out = append(out, strings.TrimSuffix(r, "."))
		}
	}
	return out
}

// exec is the stand-in executor: every call answers after callFor, with
// success unless a fault says otherwise.
func (s *sim) exec(n *snode, a crm.Action) {
	probe := a.Action == crm.ActMonitor
	if !probe {
		kind := StepStart
		if a.Action == crm.ActStop {
			kind = StepStop
		}
		text := fmt.Sprintf("%s %s of group %s on %s", a.Action, a.Resource, a.Group, n.name)
		if kind == StepStop && !n.view.Primary {
			kind = StepSelfStop
			text += " (it is in no primary view: it stops what it runs)"
		}
		s.step(Step{Kind: kind, Node: n.name, Group: a.Group, Resource: a.Resource, Text: text})
	}
	s.at(callFor, true, func() {
		if n.st != up {
			return // a dead or frozen node answers nothing
		}
		done := crm.ActionDone{Op: a.Op, Resource: a.Resource, Action: a.Action, Status: crm.StatusOK}
		live := s.running[n.name][a.Resource]
		switch a.Action {
		case crm.ActMonitor:
			switch live {
			case crm.Started, crm.Starting:
			case crm.Failed, crm.StopFailed:
				done.Status, done.Error = crm.StatusFailed, "it failed here (live state)"
			default:
				done.Status = crm.StatusNotRunning
			}
		case crm.ActStart:
			if n.fail[a.Resource] {
				done.Status, done.Error = crm.StatusFailed, "simulated failure"
				s.step(Step{Kind: StepFailed, Node: n.name, Group: a.Group, Resource: a.Resource,
					Text: fmt.Sprintf("the start of %s fails on %s (simulated)", a.Resource, n.name)})
			}
		case crm.ActStop:
			if live == crm.StopFailed {
				done.Status, done.Error = crm.StatusFailed, "its stop failed before (live state)"
			}
		}
		s.setRunning(n.name, a.Resource, a.Action, done.Status)
		s.crmStep(n, done)
	})
}

func (s *sim) setRunning(node, res, act string, st crm.Status) {
	m := s.running[node]
	if m == nil {
		m = map[string]crm.ResState{}
		s.running[node] = m
	}
	switch {
	case act == crm.ActStart && st == crm.StatusOK:
		m[res] = crm.Started
	case act == crm.ActStart:
		m[res] = crm.Failed
	case act == crm.ActStop && st == crm.StatusOK:
		delete(m, res)
	case act == crm.ActStop:
		m[res] = crm.StopFailed
	}
}

// ---- views ----

func (s *sim) ids(names []string) []wire.NodeID {
	var out []wire.NodeID
	for _, n := range names {
		out = append(out, s.nodes[n].id)
	}
	return out
}

// install gives the members a view: the live one (baseline, id given) or
// a new one. It returns the view's side.
func (s *sim) install(members []string, id wire.ViewID, primary, takeover bool) {
	sort.Slice(members, func(i, j int) bool { return s.nodes[members[i]].id < s.nodes[members[j]].id })
	coord := members[0]
	if id == (wire.ViewID{}) {
		id = wire.ViewID{Epoch: s.epoch, Coord: s.nodes[coord].id}
	} else {
		coord = s.nameOf(id.Coord)
	}
	s.primary[id] = primary
	var paused, leaving []string
	for _, m := range members {
		if slices.Contains(s.in.Paused, m) {
			paused = append(paused, m)
		}
		if slices.Contains(s.in.Leaving, m) {
			leaving = append(leaving, m)
		}
	}
	alone := s.in.Quorum.TwoNode && len(members) == 1 && primary
	for _, m := range members {
		n := s.nodes[m]
		n.alone = alone
		n.fview = fence.View{ID: id, Members: slices.Clone(members), Coordinator: coord, Primary: primary, Lease: primary, Takeover: takeover}
		// a lone two_node view fences its peer and is primary for nothing
		// else until the peer is confirmed fenced (core/stack twonode.go):
		// its config DB does not settle, so its resource manager keeps
		// what it runs and places nothing (StaleConfig)
		n.view = crm.View{ID: id, Members: slices.Clone(members), Coordinator: coord, Primary: primary, Lease: primary, Takeover: primary && takeover,
			Paused: paused, Leaving: leaving, StaleConfig: alone}
	}
	for _, m := range members {
		n := s.nodes[m]
		s.fenceStep(n, n.fview)
		s.crmStep(n, n.view)
	}
	if primary && !takeover {
		wait := fence.Config{Lease: s.in.Fence.Lease, Margin: s.in.Fence.Margin, Drift: s.in.Fence.Drift}
		if wait.Lease == 0 {
			wait.Lease, wait.Margin, wait.Drift = fence.DefaultLease, fence.DefaultMargin, fence.DefaultDrift
		}
		s.at(wait.TakeoverWait(), true, func() {
			for _, m := range members {
				n := s.nodes[m]
				if n.st != up || n.view.ID != id {
					continue
				}
				n.fview.Takeover = true
				s.fenceStep(n, n.fview)
				if n.view.Primary {
					n.view.Takeover = true
					s.crmStep(n, n.view)
				}
			}
		})
	}
}

// pairedUp: a lone two_node view's peer was confirmed fenced: the view
// becomes primary for the resource manager too.
func (s *sim) pairedUp(n *snode, target string) {
	if !n.alone || target == n.name {
		return
	}
	n.alone = false
	n.view.StaleConfig = false
	s.crmStep(n, n.view)
}

func (s *sim) nameOf(id wire.NodeID) string {
	for _, name := range s.names {
		if s.nodes[name].id == id {
			return name
		}
	}
	return fmt.Sprint(id)
}

// apply applies the faults, then installs the views they cause.
func (s *sim) apply(f Faults) {
	if f.Stage != nil {
		var keys crm.ConfigKeys
		all := map[string]bool{}
		for k := range s.in.Config {
			all[k] = true
		}
		for k := range f.Stage {
			if strings.HasPrefix(k, crm.ResourcePrefix) || strings.HasPrefix(k, crm.GroupPrefix) {
				all[k] = true
			}
		}
		for _, k := range sortedKeys(all) {
			old, had := s.in.Config[k]
			v, has := f.Stage[k]
			switch {
			case had && !has:
				keys = append(keys, crm.ConfigKey{Key: k})
			case has && (!had || string(old) != string(v)):
				keys = append(keys, crm.ConfigKey{Key: k, Value: nonNil(v)})
			}
		}
		s.step(Step{Kind: StepFault, Text: fmt.Sprintf("the staged change is committed (%d key(s) of /resources/ and /groups/ change)", len(keys))})
		for _, name := range s.names {
			if n := s.nodes[name]; n.st == up && len(keys) > 0 {
				s.crmStep(n, keys)
			}
		}
	}
	for _, spec := range f.Fail {
		res, node, _ := s.resolveRes(spec)
		if node == "" {
			for _, name := range s.names {
				if st, ok := s.running[name][res]; ok && st != crm.Stopped {
					node = name
					break
				}
			}
		}
		if node == "" {
			s.step(Step{Kind: StepFault, Resource: res, Text: fmt.Sprintf("%s runs nowhere: its failure changes nothing now; its starts will fail on every node it is tried on", res)})
			for _, name := range s.names {
				s.nodes[name].fail[res] = true
			}
			continue
		}
		n := s.nodes[node]
		n.fail[res] = true
		s.step(Step{Kind: StepFault, Node: node, Resource: res, Text: fmt.Sprintf("%s fails on %s (its monitor reports it failed, and every start of it there fails)", res, node)})
		if n.st == up {
			s.running[node][res] = crm.Failed
			s.crmStep(n, crm.MonitorFailed{Resource: res, Status: crm.StatusFailed, Error: "simulated failure"})
		}
	}
	if len(f.Kill) == 0 && len(f.Pause) == 0 && len(f.Partition) == 0 {
		// the view stays: its side, judged as the nodes judged it
		lp := quorum.ViewRef{ID: quorum.ViewID{Epoch: s.in.View.Epoch, Coord: s.in.View.Coord}, Members: s.ids(s.in.Members)}
		d := quorum.Decide(s.in.Quorum, s.ids(s.in.Members), quorum.Survivors(s.in.Quorum, lp, s.in.Witness))
		members := slices.Clone(s.in.Members)
		sort.Slice(members, func(i, j int) bool { return s.nodes[members[i]].id < s.nodes[members[j]].id })
		s.out.Sides = append(s.out.Sides, Side{Members: members, Coordinator: s.nameOf(s.in.View.Coord), Primary: s.in.Primary, Quorum: d.Explain(s.in.Quorum)})
		s.out.Quorate = s.in.Primary
		if s.in.Primary {
			s.out.Primary = s.nameOf(s.in.View.Coord)
		}
		return
	}
	for _, k := range f.Kill {
		s.step(Step{Kind: StepFault, Node: k, Text: k + " crashes (its resources die with its process)"})
		s.down(s.nodes[k])
	}
	for _, p := range f.Pause {
		s.step(Step{Kind: StepFault, Node: p, Text: p + " is paused by its host past its lease: the others evict it like a crashed node, but it may resume and go on running what it ran, so it must be fenced before its groups move"})
		s.nodes[p].st = frozen
		s.note(p + " is paused, not dead: until it is fenced, what it ran may still be running; nothing of it starts elsewhere before the fence (or, without fencing, before the takeover wait, by which time it has lost its lease and, when it resumes, stops on its own)")
	}
	sides := f.Partition
	if len(sides) == 0 {
		sides = [][]string{s.in.Members}
	}
	s.epoch++
	var comps [][]string
	for _, side := range sides {
		var c []string
		for _, m := range side {
			if s.nodes[m].st == up {
				c = append(c, m)
			}
		}
		if len(c) > 0 {
			sort.Slice(c, func(i, j int) bool { return s.nodes[c[i]].id < s.nodes[c[j]].id })
			comps = append(comps, c)
		}
	}
	// the witness goes to the side with the lowest member of the last
	// primary view (in reality: whichever side asks first)
	witnessTo := -1
	if s.in.Witness {
		low := wire.NodeID(0)
		for i, c := range comps {
			for _, m := range c {
				if id := s.nodes[m].id; slices.Contains(s.in.Members, m) && (low == 0 || id < low) {
					low, witnessTo = id, i
				}
			}
		}
		if len(comps) > 1 {
			s.note("a quorum witness is configured: the simulation grants it to the side with the lowest node id of the last primary view; in reality the side that asks first gets it")
		}
	}
	lp := quorum.ViewRef{ID: quorum.ViewID{Epoch: s.in.View.Epoch, Coord: s.in.View.Coord}, Members: s.ids(s.in.Members)}
	for i, c := range comps {
		l := quorum.Survivors(s.in.Quorum, lp, i == witnessTo)
		d := quorum.Decide(s.in.Quorum, s.ids(c), l)
		side := Side{Members: c, Coordinator: c[0], Primary: d.Primary, Quorum: d.Explain(s.in.Quorum)}
		s.out.Sides = append(s.out.Sides, side)
		if d.Primary {
			s.out.Quorate = true
			if s.out.Primary == "" {
				s.out.Primary = c[0]
			}
		}
		var gone []string
		for _, m := range s.in.Members {
			if !slices.Contains(c, m) {
				gone = append(gone, m)
			}
		}
		verb := "install"
		if len(c) == 1 {
			verb = "installs"
		}
		text := fmt.Sprintf("%s %s view %d/%d", strings.Join(c, ", "), verb, s.epoch, s.nodes[c[0]].id)
		if len(gone) > 0 {
			text += " without " + strings.Join(gone, ", ")
		}
		text += ": " + side.Quorum
		s.step(Step{Kind: StepView, Node: c[0], Text: text})
		s.install(slices.Clone(c), wire.ViewID{}, d.Primary, false)
	}
	if len(comps) == 0 {
		s.note("no member is left running")
	}
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// finalGroups is what the primary side's coordinator says of every
// group (or, with no primary side, what the last word was).
func (s *sim) finalGroups() map[string]crm.GroupView {
	for _, name := range s.names {
		n := s.nodes[name]
		if n.st == up && s.isCoord(n) {
			out := map[string]crm.GroupView{}
			for _, g := range n.c.Groups() {
				out[g.Name] = g
			}
			return out
		}
	}
	return nil
}

// finish builds the summary: groups before and after, fences, notes.
func (s *sim) finish(before map[string]crm.GroupView) {
	after := s.finalGroups()
	var primaries []string
	for _, sd := range s.out.Sides {
		if sd.Primary {
			primaries = append(primaries, sd.Coordinator)
		}
	}
	if len(primaries) > 1 {
		s.note("two_node: both sides are quorate and race to fence each other; fence_delay decides (the node with the delay waits, so its peer wins)")
		for _, c := range primaries {
			if s.nodes[c].st == up {
				s.out.Primary = c
				break
			}
		}
	}
	names := map[string]bool{}
	for k := range before {
		names[k] = true
	}
	for k := range after {
		names[k] = true
	}
	for _, name := range sortedKeys(names) {
		b, a := before[name], after[name]
		g := Group{Name: name, BeforeState: string(b.State), BeforeOwner: b.Owner, State: string(a.State), Owner: a.Owner, Reason: a.Reason}
		if after == nil {
			g.State, g.Owner, g.Reason = string(crm.GroupOffline), "", "no side of the cluster is primary: every node stops what it runs"
		} else if _, ok := after[name]; !ok {
			g.State, g.Reason = "", "no longer configured"
		}
		g.Moved = g.BeforeOwner != "" && g.Owner != "" && g.BeforeOwner != g.Owner
		s.out.Groups = append(s.out.Groups, g)
	}
	// nodes out of the primary view that no fence confirmed
	if after != nil {
		for _, name := range s.names {
			if s.fenced[name] != nil || !slices.Contains(s.in.Members, name) {
				continue
			}
			in := false
			for _, sd := range s.out.Sides {
				if sd.Primary && slices.Contains(sd.Members, name) {
					in = true
				}
			}
			if in {
				continue
			}
			f := &Fenced{Node: name}
			t := s.in.Fence.Targets[name]
			switch {
			case !s.fenceOn:
				f.Why = "no fencing is configured: it is assumed down once the takeover wait has passed"
			case len(t.Levels) == 0 && !t.Watchdog:
				f.Why = "it has no fence device and watchdog mode is off: what it ran stays blocked until `fence confirm " + name + "`"
				s.step(Step{Kind: StepNoFence, Node: name, Text: name + " cannot be fenced: " + f.Why})
			default:
				f.Why = "its fence did not complete"
			}
			s.fenced[name] = f
		}
	}
	for _, name := range sortedKeys(s.fenced) {
		f := s.fenced[name]
		s.out.Fenced = append(s.out.Fenced, *f)
		if f.Confirmed && s.in.Fence.Action != fence.ActionOff {
			s.note(fmt.Sprintf("%s is fenced with %s: it comes back with a new boot id and rejoins; a group moves back to it only if its failback says so (not simulated)", name, actionOf(s.in.Fence.Action)))
		}
	}
	if s.out.Fenced == nil {
		s.out.Fenced = []Fenced{}
	}
	if s.out.Notes == nil {
		s.out.Notes = []string{}
	}
	if s.out.Steps == nil {
		s.out.Steps = []Step{}
	}
	if s.out.Underway == nil {
		s.out.Underway = []Step{}
	}
	if s.out.Sides == nil {
		s.out.Sides = []Side{}
	}
	if !s.out.Quiet {
		s.note(fmt.Sprintf("the cluster was still changing after %v of simulated time: the simulation stopped there", MaxTime))
	}
}

func actionOf(a string) string {
	if a == "" {
		return fence.ActionReboot
	}
	return a
}
