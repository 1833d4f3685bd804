package node

import (
	"fmt"
	"slices"
	"strings"

	"github.com/corral-ha/corral/core/apitypes"
	"github.com/corral-ha/corral/core/membership"
	"github.com/corral-ha/corral/core/quorum"
	"github.com/corral-ha/corral/core/wire"
)

// This file answers `explain node NAME`, `explain quorum` and `explain
// fence NAME` (issue 23). The node gathers what it knows on its loop (the
// status document, membership, fencing state, events, the fence history);
// the sentences are built by the pure functions explainNode and
// explainFence below, and the quorum arithmetic by quorum.Explain.

// The API documents are defined in core/apitypes.
type (
	// NodeExplain is apitypes.NodeExplain.
	NodeExplain = apitypes.NodeExplain //nolint:revive // node.Explain is the group explanation; this is one node's
	// QuorumExplain is apitypes.QuorumExplain.
	QuorumExplain = apitypes.QuorumExplain
	// FenceExplain is apitypes.FenceExplain.
	FenceExplain = apitypes.FenceExplain
)

// nodeFacts is what explainNode needs, gathered by ExplainNode.
type nodeFacts struct {
	Self        string // this node's name
	Node        NodeStatus
	Member      bool
	Coordinator bool
	View        string // the installed view, "" before the first
	Primary     bool
	Refused     string       // its quorum settings differ: what differs
	Fence       *FenceTarget // its fencing state, nil when it has none
	Last        *Event       // the last event that changed its membership
}

// membershipKinds are the events that change a node's membership.
var membershipKinds = []string{
	membership.EventNodeJoined.String(), membership.EventNodeLeft.String(),
	membership.EventNodePaused.String(), membership.EventNodeResumed.String(), "node_fenced",
}

// lastChange returns the last event of evs that changed name's
// membership: a node_* event about it, or a view change that added or
// removed it (against the view change before it).
func lastChange(evs []Event, name string) *Event {
	var last *Event
	var prev []string
	seen := false
	for i := range evs {
		e := &evs[i]
		switch {
		case e.Kind == membership.EventViewChanged.String():
			in := slices.Contains(e.Members, name)
			if seen && in != slices.Contains(prev, name) {
				last = e
			}
			prev, seen = e.Members, true
		case e.Target == name && slices.Contains(membershipKinds, e.Kind):
			last = e
		}
	}
	return last
}

// explainNode says in sentences why a node is or is not a member.
func explainNode(f nodeFacts) NodeExplain {
	ns := f.Node
	x := NodeExplain{Node: ns.Name, State: ns.State, Member: f.Member, Self: ns.Name == f.Self, Coordinator: f.Coordinator,
		Reachable: ns.Reachable, Refused: f.Refused, Links: ns.Links, Fence: f.Fence, LastChange: f.Last}
	var b strings.Builder
	line := func(format string, a ...any) { fmt.Fprintf(&b, format+"\n", a...) }
	who := ns.Name
	if x.Self {
		who += " (this node)"
	}
	view := "no view yet"
	if f.View != "" {
		view = "view " + f.View
		if !f.Primary {
			view += ", which is not primary"
		}
	}
	switch {
	case f.Member:
		role := ""
		if f.Coordinator {
			role = ", and its coordinator"
		}
		line("%s is a member of %s%s.", who, view, role)
		switch ns.State {
		case membership.StatePaused.String():
			line("It is paused: it stays a member (its votes count) but starts nothing new, and its groups move away; `resume %s` brings it back.", ns.Name)
		case membership.StateLeaving.String():
			line("It is leaving the cluster cleanly: its groups move away, then the next view is without it.")
		case membership.StateOnline.String():
			line("It is online: it may run groups.")
		default:
			line("Its state is %s.", ns.State)
		}
	case ns.State == membership.StateFenced.String():
		line("%s is not a member: it was fenced. Restarted, it rejoins with a higher boot id.", who)
	case f.Refused != "":
		line("%s is not a member: it is reachable but refused because its quorum settings differ (%s); make [quorum], [timers] lease/margin/drift and [[nodes]] the same on every node.", who, f.Refused)
	case ns.Reachable:
		line("%s is reachable but not a member of %s: it joins with the next view the coordinator proposes.", who, view)
	default:
		line("%s is not a member of %s: no link to it is up from here, so it is down, paused by its host, or cut off.", who, view)
	}
	if !x.Self {
		if len(ns.Links) == 0 {
			line("Links: none heard from it yet.")
		} else {
			var ls []string
			for _, l := range ns.Links {
				s := fmt.Sprintf("link %d to its link %d ", l.Local, l.Remote)
				switch {
				case l.Up:
					s += "up"
					if l.RTT != "" {
						s += " (rtt " + l.RTT + ")"
					}
				case l.In:
					s += "down (heard from it, it does not hear us)"
				case l.Out:
					s += "down (it hears us, we do not hear it)"
				default:
					s += "down"
				}
				ls = append(ls, s)
			}
			line("Links: %s.", strings.Join(ls, "; "))
		}
	}
	if t := f.Fence; t != nil && t.State != "" {
		switch {
		case t.Confirmed:
			line("Fencing: confirmed fenced at boot %d by %s (`explain fence %s`).", t.Boot, t.Device, ns.Name)
		default:
			line("Fencing: %s (`explain fence %s`).", t.State, ns.Name)
		}
	}
	if e := f.Last; e != nil {
		what := e.Kind
		if e.Kind == membership.EventViewChanged.String() {
			if slices.Contains(e.Members, ns.Name) {
				what = "view change that added it"
			} else {
				what = "view change without it"
			}
		}
		if e.Clean != nil {
			what += fmt.Sprintf(" (clean: %v)", *e.Clean)
		}
		line("Last membership change: %s in view %s at %s (event %d).", what, e.View, e.Time, e.Seq)
	}
	x.Text = b.String()
	return x
}

// ExplainNode says why the configured node name is or is not a member.
func (n *Node) ExplainNode(name string) (NodeExplain, error) {
	var f nodeFacts
	found := false
	err := n.do(func() {
		st := n.statusDoc()
		ms := n.st.Membership()
		f.Self, f.View, f.Primary = st.Node, st.View, st.Primary
		for _, ns := range st.Nodes {
			if ns.Name != name {
				continue
			}
			found = true
			f.Node = ns
			id := wire.NodeID(ns.ID)
			f.Member = slices.Contains(ms.View.Members, id)
			f.Coordinator = f.Member && ms.View.ID.Coord == id
			f.Refused = ms.Refused[id]
		}
		for _, t := range n.st.FenceStatus() {
			if t.Target == name {
				f.Fence = &FenceTarget{Target: t.Target, Boot: t.Boot, State: t.State, Confirmed: t.Confirmed, Op: t.Op,
					Reason: t.Reason, Device: t.Device, Attempts: t.Attempts, Error: t.Error}
			}
		}
	})
	if err != nil {
		return NodeExplain{}, err
	}
	if !found {
		return NodeExplain{}, fmt.Errorf("no node %q (nodes: %s): %w", name, strings.Join(n.fenceTargets(), ", "), ErrNotFound)
	}
	evs, err := n.Events(0, 0)
	if err != nil {
		return NodeExplain{}, err
	}
	f.Last = lastChange(evs, name)
	return explainNode(f), nil
}

// ExplainQuorum gives the installed view's quorum arithmetic in sentences
// and which members would have to fail together to lose quorum.
func (n *Node) ExplainQuorum() (QuorumExplain, error) {
	q, err := n.QuorumDoc()
	if err != nil {
		return QuorumExplain{}, err
	}
	var x QuorumExplain
	err = n.do(func() {
		ms := n.st.Membership()
		qc := quorumConfig(n.cfg)
		witness := n.cfg.Quorum.Witness.Disk != "" || n.cfg.Quorum.Witness.Arbiter != ""
		name := func(id wire.NodeID) string { return n.names[id] }
		v := quorum.ViewRef{ID: quorum.ViewID{Epoch: ms.View.ID.Epoch, Coord: ms.View.ID.Coord}, Members: ms.View.Members}
		x = QuorumExplain{QuorumStatus: q, WaitForAll: qc.WaitForAll, AutoTieBreaker: qc.AutoTieBreaker, Witness: witness,
			Members: n.nameList(ms.View.Members), LossSets: [][]string{}}
		if ms.View.ID.Epoch == 0 {
			x.Text = "This node has installed no view yet: it has not found enough nodes to form one, or is still starting.\n"
			return
		}
		e := quorum.Explain(qc, v, ms.Decision, witness, name)
		for _, s := range e.Loss.Sets {
			x.LossSets = append(x.LossSets, n.nameList(s))
		}
		x.Fewest, x.Truncated = e.Loss.Fewest, e.Loss.Truncated
		x.Text = e.Text()
		if alone, why := n.st.Alone(); alone {
			x.Text += "Two nodes, one alone: " + why + ".\n"
		}
		if ms.Primary && !q.Quorate {
			x.Text += "This node does not act yet: it does not hold the view's lease, or the takeover wait has not passed.\n"
		}
	})
	return x, err
}

// explainFence says in sentences how name is fenced, how its last fence
// went and what is waited for. member: it is a member of the installed
// view.
func explainFence(name string, fs FenceStatus, hist []FenceRecord, member bool) FenceExplain {
	x := FenceExplain{Node: name, Levels: [][]string{}, Devices: []FenceDevice{}}
	var b strings.Builder
	line := func(format string, a ...any) { fmt.Fprintf(&b, format+"\n", a...) }
	used := map[string]bool{}
	for _, l := range fs.Levels {
		if l.Node != name {
			continue
		}
		x.Levels, x.Watchdog, x.Delay = l.Levels, l.Watchdog, l.Delay
		for _, lv := range l.Levels {
			for _, d := range lv {
				used[d] = true
			}
		}
	}
	for _, d := range fs.Devices {
		if used[d.Name] {
			x.Devices = append(x.Devices, d)
		}
	}
	switch {
	case len(x.Levels) > 0:
		var ls []string
		for i, lv := range x.Levels {
			ls = append(ls, fmt.Sprintf("level %d: %s", i+1, strings.Join(lv, " and ")))
		}
		line("%s is fenced by %s (levels are tried in order; every device of a level must succeed).", name, strings.Join(ls, "; "))
		for _, d := range x.Devices {
			line("Device %s uses the %s fence driver.", d.Name, d.Driver)
		}
		if fs.Action != "" {
			line("A device call asks for %s.", fs.Action)
		}
	case x.Watchdog:
		line("%s has no fence device: in watchdog mode it counts as fenced once its watchdog must have fired (the lease and the watchdog timeout, with margin, after the view without it).", name)
	default:
		line("%s has no fence device and watchdog mode is off: no device confirms it fenced; configure [fence] levels for it (`corral help config`), or, once you know it is down, `fence confirm %s` (`corral help operations`).", name, name)
	}
	if x.Watchdog && len(x.Levels) > 0 {
		line("Watchdog mode is on too: a fence is confirmed by a device or by the watchdog wait, whichever comes first.")
	}
	if x.Delay != "" {
		line("Fencing it waits %s first (its fence_delay: the preferred survivor of a two-node split).", x.Delay)
	}
	for _, t := range fs.Targets {
		if t.Target == name {
			t := t
			x.Target = &t
		}
	}
	for i := len(hist) - 1; i >= 0; i-- {
		if hist[i].Target == name {
			r := hist[i]
			x.Last = &r
			break
		}
	}
	if t := x.Target; t != nil && t.State != "" {
		switch {
		case t.Confirmed:
			line("It is confirmed fenced at boot %d (by %s): what it owned may start elsewhere; restarted, it rejoins with a higher boot id.", t.Boot, t.Device)
		case t.State == "pending":
			x.Waiting = "the coordinator of a primary view holding its lease"
			line("A fence of it is pending (%s): waiting for %s before the devices run.", t.Reason, x.Waiting)
		case t.State == "in progress":
			x.Waiting = "device " + t.Device
			line("A fence of it is in progress (%s): waiting for device %s (attempt %d).", t.Reason, t.Device, t.Attempts)
		case t.State == "failed":
			x.Waiting = "a fence that succeeds"
			line("Its last fence failed after %d attempt(s): %s. What it owned stays stopped until a fence succeeds (it is retried) or it rejoins.", t.Attempts, t.Error)
			line("If you know %s is down (you powered it off), `fence confirm %s` declares it fenced and what waits for it goes on; declaring a running node fenced risks data corruption (`corral help operations`).", name, name)
		case t.State == "done":
			line("Its last fence is done (boot %d), and it has come back since.", t.Boot)
		default:
			line("Fencing state: %s.", t.State)
		}
	} else {
		line("No fence of it is in progress.")
	}
	if r := x.Last; r != nil {
		when := ""
		if r.Time != "" {
			when = " at " + r.Time
		}
		switch r.State {
		case "done":
			line("Last result%s: fenced at boot %d by device %s, run by %s (%s).", when, r.Boot, r.Device, r.By, r.Reason)
		default:
			line("Last result%s: %s at boot %d: %s (%s).", when, r.State, r.Boot, r.Error, r.Reason)
		}
	} else {
		line("The fence history has no operation on it.")
	}
	if member && x.Waiting == "" {
		line("It is a member of the installed view: nothing waits for its fence.")
	}
	x.Text = b.String()
	return x
}

// ExplainFence says how the configured node name is fenced, how its last
// fence went, whether it is confirmed down, and what is waited for.
func (n *Node) ExplainFence(name string) (FenceExplain, error) {
	known := false
	for _, nd := range n.cfg.Nodes {
		known = known || nd.Name == name
	}
	if !known {
		return FenceExplain{}, fmt.Errorf("no node %q (nodes: %s): %w", name, strings.Join(n.fenceTargets(), ", "), ErrNotFound)
	}
	fs, err := n.FenceStatus()
	if err != nil {
		return FenceExplain{}, err
	}
	hist, err := n.FenceHistory()
	if err != nil {
		hist = nil // no quorum for the read: explain what this node knows
	}
	var member bool
	if err := n.do(func() {
		ms := n.st.Membership()
		for _, id := range ms.View.Members {
			member = member || n.names[id] == name
		}
	}); err != nil {
		return FenceExplain{}, err
	}
	return explainFence(name, fs, hist, member), nil
}
