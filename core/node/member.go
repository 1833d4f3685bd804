package node

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/corral-ha/corral/core/config"
	"github.com/corral-ha/corral/core/membership"
	"github.com/corral-ha/corral/core/quorum"
	"github.com/corral-ha/corral/core/stack"
	"github.com/corral-ha/corral/core/wire"
	"github.com/corral-ha/corral/core/witness"
)

// leaveTimeout bounds a clean leave: past it the node stops anyway (the
// others then see it as failed). A view without the node is usually
// committed within a few heartbeats, but a joining peer's hold (membership
// doc, "Join hold") may defer it up to DeferTimeout (2 s), and a loaded
// machine stretches both: 3 s was passed once by core/node's
// TestTwoNodePeerLeftCleanly in a CI run beside a simulation sweep.
const leaveTimeout = 6 * time.Second

// quorumConfig maps the [quorum] settings to the quorum package.
func quorumConfig(cfg *config.Config) quorum.Config { return stack.QuorumConfig(cfg) }

// witnessWait is how long a coordinator facing a tie waits for the
// witness: a disk witness's first answer takes a lease.
func (n *Node) witnessWait() time.Duration {
	if n.witness == nil {
		return 0
	}
	return n.witness.Timeout()
}

// askWitness asks the arbiter off the loop and hands the answer back to
// membership on the loop.
func (n *Node) askWitness(q membership.WitnessReq) {
	v := witness.View{Epoch: q.View.ID.Epoch, Coord: uint16(q.View.ID.Coord)}
	for _, id := range q.View.Members {
		v.Members = append(v.Members, uint16(id))
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), n.witness.Timeout())
		defer cancel()
		ans, err := n.witness.Ask(ctx, uint16(n.self), v, q.Installed)
		if errors.Is(err, witness.ErrBusy) {
			return
		}
		if err != nil {
			n.log.Warn("witness unreachable", "err", err)
			return
		}
		if !ans.Granted {
			n.log.Info("witness refused its vote", "members", n.nameList(q.View.Members), "reason", ans.Reason)
		}
		lease := time.Duration(ans.LeaseMS) * time.Millisecond
		select {
		case n.reqs <- func() {
			if err := n.st.Step(n.now(), stack.WitnessAnswer{Members: q.View.Members, Granted: ans.Granted, Lease: lease, At: q.At}); err != nil {
				n.log.Warn("witness answer", "err", err)
			}
		}:
		case <-n.done:
		}
	}()
}

func (n *Node) logMemberEvent(e membership.Event) {
	switch e.Kind {
	case membership.EventViewChanged:
		n.log.Info(e.Kind.String(), "view", n.viewName(e.View), "members", n.nameList(e.Members), "primary", e.Primary)
	case membership.EventNodeLeft:
		n.log.Info(e.Kind.String(), "target", n.names[e.Target], "clean", e.Clean)
	case membership.EventQuorumLost, membership.EventQuorumRegained:
		n.log.Info(e.Kind.String(), "votes", e.Votes, "needed", e.Needed)
	case membership.EventLeft:
		n.log.Info("left the cluster cleanly", "view", n.viewName(e.View))
	case membership.EventFlushFailed:
		n.log.Error("ordered broadcast could not complete a view change (a bug: please report it)", "view", n.viewName(e.View), "err", e.Detail)
	case membership.EventQuorumUnblocked:
		n.log.Warn("quorum unblocked by an operator: the nodes outside this view are written off", "view", n.viewName(e.View),
			"members", n.nameList(e.Members), "written_off", n.nameList(e.WrittenOff), "expected_votes", e.Votes, "was", e.Needed, "by", n.names[e.Target])
	case membership.EventConfigDiffers:
		n.nagged[e.Target] = n.now()
		n.logRefused(e.Target, e.Detail)
	default:
		n.log.Info(e.Kind.String(), "target", n.names[e.Target])
	}
}

func (n *Node) viewName(v wire.ViewID) string { return n.st.ViewName(v) }

func (n *Node) nameList(ids []wire.NodeID) []string {
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		out = append(out, n.names[id])
	}
	return out
}

// SetState asks for this node's own state: online (resume), paused or
// leaving.
func (n *Node) SetState(s membership.State) error {
	var err error
	if e := n.do(func() { err = n.st.SetState(n.now(), s) }); e != nil {
		return e
	}
	return err
}

// SetNodeState asks a node, this one or another, by name, for a state:
// online (resume), paused or leaving. Another node is asked over its
// circuit; the view that follows shows the result.
func (n *Node) SetNodeState(name string, s membership.State) error {
	if s != membership.StateOnline && s != membership.StatePaused && s != membership.StateLeaving {
		return fmt.Errorf("node: state %v cannot be asked for: use online, paused or leaving", s)
	}
	var target wire.NodeID
	for id, nm := range n.names {
		if nm == name {
			target = id
		}
	}
	if target == 0 {
		return fmt.Errorf("node: no node named %q in the node list", name)
	}
	if target == n.self {
		return n.SetState(s)
	}
	var err error
	if e := n.do(func() {
		err = n.st.AskState(n.now(), target, s)
	}); e != nil {
		return e
	}
	return err
}

// Leave leaves the cluster cleanly: it moves its groups away (drain, up
// to config.DrainTimeout), then tells the others and waits (up to ctx and
// leaveTimeout) until a view without this node is committed. When its
// groups could not be moved away in time it does not leave cleanly: the
// others then fence it before they start what it may still run. The node
// keeps running; Close it afterwards.
func (n *Node) Leave(ctx context.Context) error {
	if err := n.drainGroups(ctx); err != nil {
		return err
	}
	if err := n.SetState(membership.StateLeaving); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, leaveTimeout)
	defer cancel()
	select {
	case <-n.left:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("node: leave not confirmed within %v; stopping anyway", leaveTimeout)
	case <-n.loopDone:
		return ErrClosed
	}
}

// drainPoll is how often a clean stop checks what still runs here.
const drainPoll = 50 * time.Millisecond

// drainStopTimeout bounds the last local stops of a clean stop whose
// drain timed out.
const drainStopTimeout = 5 * time.Second

// ErrDrain is returned by Leave when the node's groups did not move away
// in time (a stop hangs or failed): it does not leave cleanly.
var ErrDrain = errors.New("node: groups still run here")

// drainGroups is the first half of a clean stop: the coordinator is asked
// (crm.Drain, again at every view change) to stop this node's groups
// here through their agents and start them elsewhere; it waits, up to
// config.DrainTimeout, until this node runs nothing, with a log line per
// group. Without a primary view nobody can move them, but this node
// stops them itself as its lease lapses (crm): it waits for that too.
func (n *Node) drainGroups(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, config.DrainTimeout)
	defer cancel()
	var asked wire.ViewID
	var here []string
	var askErr error
	first := true
	for {
		var running []string
		owners := map[string]string{}
		if e := n.do(func() {
			running = n.st.Running()
			if len(running) == 0 {
				return
			}
			if id := n.st.Membership().View.ID; id != asked {
				if err := n.st.Drain(n.now()); err != nil {
					askErr = err
				} else {
					asked, askErr = id, nil
				}
			}
			for _, g := range n.st.Groups() {
				owners[g.Name] = g.Owner
			}
		}); e != nil {
			return e
		}
		if first {
			first = false
			for _, g := range running {
				n.log.Info("clean stop: moving group away before leaving", "group", g)
			}
			if askErr != nil {
				n.log.Warn("clean stop: cannot ask the coordinator; waiting for this node to stop its groups itself", "err", askErr)
			}
		}
		for _, g := range here {
			if !slices.Contains(running, g) {
				args := []any{"group", g}
				if o := owners[g]; o != "" && o != n.cfg.Node {
					args = append(args, "now_on", o)
				}
				n.log.Info("clean stop: group stopped here", args...)
			}
		}
		here = running
		if len(running) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			for _, g := range running {
				n.log.Error("clean stop: group still runs here; not leaving cleanly, so the others fence this node before they start it", "group", g)
			}
			// what the coordinator did not stop, stop here (best effort,
			// bounded): nothing is left running behind this node
			_ = n.do(func() { n.stopHere(time.Now().Add(drainStopTimeout), "clean stop") })
			return fmt.Errorf("%w after %v: %s (see the log; the others fence this node before they take them over)",
				ErrDrain, config.DrainTimeout, strings.Join(running, ", "))
		case <-n.loopDone:
			return ErrClosed
		case <-time.After(drainPoll):
		}
	}
}

// Quorate reports whether this node may act as primary now.
func (n *Node) Quorate() (bool, error) {
	var q bool
	err := n.do(func() { q = n.st.Quorate(n.now()) })
	return q, err
}

// membershipStatus fills the view fields and one node's state.
func (n *Node) membershipStatus(st *Status, ns *NodeStatus) {
	ms := n.st.Membership()
	if st.Epoch == 0 && ms.View.ID.Epoch != 0 {
		st.Epoch = ms.View.ID.Epoch
		st.Coordinator = n.names[ms.View.ID.Coord]
		st.View = n.viewName(ms.View.ID)
	}
	st.Primary = ms.Primary
	st.Quorate = n.st.Quorate(n.now())
	st.Quorum = ms.Decision.Explain(quorumConfig(n.cfg))
	if ms.Decision.Ref != "" && ms.View.ID.Epoch == 0 {
		st.Quorum = "no view yet; " + st.Quorum
	}
	if alone, why := n.st.Alone(); alone {
		st.Quorum += "; " + why
	}
	st.Members = n.nameList(ms.View.Members)
	id := wire.NodeID(ns.ID)
	switch s, in := ms.States[id]; {
	case id == n.self:
		ns.State = ms.Self.String()
		if agreed, in := ms.States[id]; in && (ms.Self == membership.StatePaused || ms.Self == membership.StateOnline) {
			// paused or resumed once a view says so, as the others see it
			// (automation waits for that before it goes on)
			ns.State = agreed.String()
		}
	case in:
		ns.State = s.String()
	case ns.Reachable:
		ns.State = membership.StateJoining.String()
	default:
		ns.State = membership.StateOffline.String()
	}
}

// settingsNagEvery is how often a peer refused for different quorum
// settings is named again in the log while it stays reachable and refused
// (membership says it once per change; once a minute keeps it in sight
// without a line per packet).
const settingsNagEvery = time.Minute

func (n *Node) logRefused(peer wire.NodeID, detail string) {
	n.log.Warn("refusing a node whose quorum settings differ: make [quorum], [timers] lease/margin/drift and [[nodes]] the same on every node",
		"peer", n.names[peer], "differs", detail)
}

// nagRefused names again, at most once per nagEvery, each reachable peer
// that membership still refuses for different quorum settings.
func (n *Node) nagRefused(now time.Duration) {
	if len(n.nagged) == 0 { // every refusal is first an EventConfigDiffers
		return
	}
	refused := n.st.Membership().Refused
	for id := range n.nagged {
		if _, ok := refused[id]; !ok {
			delete(n.nagged, id) // it agrees now (or was never refused)
		}
	}
	if len(refused) == 0 {
		return
	}
	reachable := map[wire.NodeID]bool{}
	for _, p := range n.st.Peers() {
		reachable[p.ID] = p.Reachable
	}
	for _, id := range slices.Sorted(maps.Keys(refused)) {
		last, ok := n.nagged[id]
		if !reachable[id] || (ok && now-last < n.nagEvery) {
			continue
		}
		n.nagged[id] = now
		n.logRefused(id, refused[id])
	}
}
