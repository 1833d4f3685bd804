package stack

import (
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"time"

	"github.com/corral-ha/corral/core/bcast"
	"github.com/corral-ha/corral/core/crm"
	"github.com/corral-ha/corral/core/fence"
	"github.com/corral-ha/corral/core/membership"
	"github.com/corral-ha/corral/core/quorum"
	"github.com/corral-ha/corral/core/wire"
)

// fenceTickEvery is how often the fence core's timers run.
const fenceTickEvery = 100 * time.Millisecond

// fenceState is the stack's side of the fence core's contract
// (core/fence/doc.go).
type fenceState struct {
	f          *fence.Fence
	configured bool // some node has fence levels, or watchdog mode is on
	view       fence.View
	viewSet    bool
	clean      map[wire.ViewID][]string // node_left clean=true per view
	lastTick   time.Duration
	selfFenced bool
	repeated   wire.ViewID // the view whose confirmations fenceRepeat gave the resource manager
}

// openFence builds the fence core and restores what it persisted.
func (s *Stack) openFence(saved []byte) error {
	fc := s.cfg.Fence
	d := &s.fence
	d.clean = map[wire.ViewID][]string{}
	for _, t := range fc.Targets {
		if len(t.Levels) > 0 || t.Watchdog {
			d.configured = true
		}
	}
	f, err := fence.New(fc)
	if err != nil {
		return fmt.Errorf("fencing: %w: fix [fence] in the config file", err)
	}
	if saved != nil {
		if err := f.Restore(saved); err != nil {
			return fmt.Errorf("fencing: restore the persisted state: %w", err)
		}
	}
	d.f = f
	if !d.configured {
		s.logf(slog.LevelWarn, "no fence devices configured: a node that leaves is assumed down after the lease wait; configure [fence] for safety")
	}
	return nil
}

// fenceMemberEvents notes which nodes left cleanly (membership's
// node_left clean=true) for the View of their install.
func (s *Stack) fenceMemberEvents(evs []membership.Event) {
	d := &s.fence
	for _, e := range evs {
		if e.Kind == membership.EventNodeLeft && e.Clean {
			d.clean[e.View] = append(d.clean[e.View], s.names[e.Target])
		}
	}
	for v := range d.clean {
		if iv, _ := s.mem.Installed(); v.Epoch+16 < iv.ID.Epoch {
			delete(d.clean, v)
		}
	}
}

// fenceView gives the fence core the installed view and this node's
// lease when they changed; a view only once the stack carried out its
// install (the old view's flush deliveries came first).
func (s *Stack) fenceView(now time.Duration) {
	d := &s.fence
	iv, iprimary := s.mem.Installed()
	if s.cdb.pending != nil || iv.ID != s.cdb.cur || iv.ID == (wire.ViewID{}) {
		return
	}
	// a lone two_node view whose incarnation never adopted a history with
	// its peer fences nobody (twonode.go): it could not act afterwards.
	// The view's own lease (a quorum answered in this view), not the
	// takeover wait: fencing an excluded node is what ends the wait.
	primary := iprimary
	if primary && s.qc.TwoNode {
		primary = s.twoNodeAlone(s.mem.Status()) != quorum.AloneIdle
	}
	lease, takeover := s.mem.ViewLeased(now), s.mem.Quorate(now)
	// Asked every round: compare before building (a view id names one
	// member list, so the members need no comparing).
	clean := d.clean[iv.ID]
	var reach []string
	for _, nd := range s.cfg.Nodes {
		if !slices.Contains(iv.Members, nd.ID) && s.mem.Reaches(nd.ID) {
			reach = append(reach, nd.Name)
		}
	}
	sort.Strings(reach)
	if d.viewSet && iv.ID == d.view.ID && primary == d.view.Primary && lease == d.view.Lease &&
		takeover == d.view.Takeover && sameNames(clean, d.view.Clean) && slices.Equal(reach, d.view.Reach) {
		return
	}
	v := fence.View{ID: iv.ID, Coordinator: s.names[iv.ID.Coord], Primary: primary, Lease: lease, Takeover: takeover, Reach: reach}
	for _, id := range iv.Members {
		v.Members = append(v.Members, s.names[id])
	}
	v.Clean = slices.Clone(clean)
	sort.Strings(v.Clean)
	d.view, d.viewSet = v, true
	if err := d.f.Step(now, v); err != nil {
		s.logf(slog.LevelWarn, "fencing: view", "err", err)
	}
	s.fenceRepeat(now)
}

// sameNames reports whether names, in any order, are sorted.
func sameNames(names, sorted []string) bool {
	if len(names) != len(sorted) {
		return false
	}
	if len(names) == 0 {
		return true
	}
	c := slices.Clone(names)
	sort.Strings(c)
	return slices.Equal(c, sorted)
}

// fenceRepeat: a new coordinator of the resource manager waits for the
// fence of every node that left; repeat the confirmations the fence core
// holds (the resource manager's Fenced counts per view), once per view,
// once the resource manager has the view too (the fence core got it
// first) and the fence core settled in it: every member's report, with
// the boot ids it knows, is merged then. Before that, a confirmation may
// be of an incarnation that has since restarted, rejoined and run groups
// (this node missed its boot id: it was away or down), and a Fenced for
// it would let the group start beside it (G4).
func (s *Stack) fenceRepeat(now time.Duration) {
	d := &s.fence
	v := d.view
	if !d.viewSet || !v.Primary || v.Coordinator != s.self || d.repeated == v.ID || !d.f.Settled() {
		return
	}
	d.repeated = v.ID
	s.crmView(now)
	ids := map[string]wire.NodeID{}
	for _, nd := range s.cfg.Nodes {
		ids[nd.Name] = nd.ID
	}
	for _, t := range s.fenceTargets() {
		// a confirmation holds only at an incarnation no newer than the
		// one conn last talked to (fenceDownAt): the fence core's boot id
		// lags conn's when a restarted node was cut off before its reports
		// reached the fence core
		cb, ok := d.f.Confirmed(t)
		if ok && !slices.Contains(v.Members, t) && fenceDownAt(cb, true, false, 0, s.seenBoot(ids[t]), false) {
			s.crmStep(now, crm.Fenced{Node: t}, "tell the resource manager a node is fenced")
		}
	}
}

// seenBoot is the boot id conn last saw of a peer (0 before any contact).
func (s *Stack) seenBoot(id wire.NodeID) uint32 {
	if p, ok := s.conn.Peer(id); ok {
		return p.Boot
	}
	return 0
}

// fenceTargets names every configured node, sorted.
func (s *Stack) fenceTargets() []string {
	var out []string
	for _, nd := range s.cfg.Nodes {
		out = append(out, nd.Name)
	}
	sort.Strings(out)
	return out
}

// fenceDeliver gives a Safe delivery of a fence payload to the fence core.
func (s *Stack) fenceDeliver(d bcast.Delivery) {
	if d.Level != bcast.Safe {
		return
	}
	now := s.now
	if !d.Flush && (!s.fence.viewSet || s.fence.view.ID != d.View) {
		s.fenceView(now)
	}
	in := fence.Deliver{View: d.View, Primary: s.cdb.primary[d.View], Payload: d.Payload[1:], Flush: d.Flush}
	if err := s.fence.f.Step(now, in); err != nil {
		s.logf(slog.LevelWarn, "undecodable fence message", "view", s.ViewName(d.View), "err", err)
	}
}

// fenceTick runs the fence core's timers.
func (s *Stack) fenceTick(now time.Duration) {
	d := &s.fence
	s.fenceView(now)
	if now-d.lastTick < fenceTickEvery {
		return
	}
	d.lastTick = now
	d.f.Tick(now)
}

// fenceRound takes the fence core's Ready (before the resource manager's
// round): its Persist (Ready.Persist.Fence) before its broadcasts and
// calls; it reports whether there was anything.
func (s *Stack) fenceRound(now time.Duration, memberEvents []membership.Event) bool {
	d := &s.fence
	if d.selfFenced {
		return false
	}
	s.fenceMemberEvents(memberEvents)
	s.fenceView(now)
	s.fenceRepeat(now)
	s.fenceDeclared(now)
	rd := d.f.Ready()
	if rd.Empty() {
		return false
	}
	d.f.Advance()
	if rd.Persist != nil {
		s.rd.Persist.Fence = rd.Persist
	}
	for _, p := range rd.Broadcast {
		if _, err := s.bc.Broadcast(append([]byte{tagFence}, p...)); err != nil {
			s.logf(slog.LevelWarn, "fence broadcast", "err", err)
		}
	}
	for _, c := range rd.Calls {
		s.fenceCall(now, c)
	}
	for _, e := range rd.Events {
		s.rd.Events = append(s.rd.Events, Event{View: e.View, Fence: &e})
		switch e.Kind {
		case fence.EventFailed:
			s.logf(slog.LevelWarn, e.Kind, "target", e.Target, "device", e.Device, "error", e.Error)
		default:
			s.logf(slog.LevelInfo, e.Kind, "target", e.Target, "device", e.Device, "by", e.By)
		}
	}
	for _, c := range rd.Confirmed {
		if d.view.Coordinator != s.self {
			continue // the coordinator tells the resource manager
		}
		s.crmView(now)
		if err := s.crm.c.Step(now, crm.Fenced{Node: c.Target}); err != nil {
			s.logf(slog.LevelWarn, "fencing: tell the resource manager", "target", c.Target, "err", err)
		}
	}
	s.rd.FenceHistory = append(s.rd.FenceHistory, rd.History...)
	if rd.SelfFence != "" {
		s.selfFence(rd.SelfFence)
	}
	return true
}

// fenceCall hands one device call to the driver, only if this node holds
// its lease by the clock now (after a pause the last View is stale); its
// result comes back as a FenceResult.
func (s *Stack) fenceCall(now time.Duration, c fence.Call) {
	if !s.mem.ViewLeased(now) {
		s.logf(slog.LevelWarn, "fencing: not calling the device: this node lost its lease", "target", c.Target, "device", c.Device)
		if err := s.fence.f.Step(now, fence.Result{Call: c.ID, OK: false, Error: "the runner lost its lease before the call"}); err != nil {
			s.logf(slog.LevelWarn, "fencing: call result", "target", c.Target, "err", err)
		}
		return
	}
	s.rd.FenceCalls = append(s.rd.FenceCalls, c)
}

// selfFence stops this node: it learned it was fenced at its own boot
// id, so it comes back only with a new one (the driver stops its
// resources first).
func (s *Stack) selfFence(why string) {
	s.fence.selfFenced = true
	s.logf(slog.LevelError, "fenced: stopping the resources and the node", "reason", why)
	s.rd.SelfFence = why
	s.fatal(fmt.Errorf("fenced: %s", why))
}

// stopFailed escalates a stop that failed or timed out on this node: the
// resource may still run, so its group must not start elsewhere until
// this node is fenced (the resource manager keeps it blocked, "waiting
// for fence of" this node). While this node holds its lease and a fence
// device can reach it, it asks the coordinator for its own fence (the
// fence core's Request); else (no lease: no coordinator to ask; or
// watchdog mode only) it fences itself: it stops its resources and the
// node, and its watchdog, no longer fed, resets it. Without any fencing
// configured nothing can stop it: the group stays blocked until
// `cleanup`.
func (s *Stack) stopFailed(now time.Duration, resource, why string) {
	d := &s.fence
	if !d.configured || d.selfFenced {
		return
	}
	reason := fmt.Sprintf("stop of %s failed on %s (%s)", resource, s.self, why)
	if !s.mem.Leased(now) {
		s.selfFence(reason + "; this node lost its lease: fencing itself")
		return
	}
	if len(s.cfg.Fence.Targets[s.self].Levels) == 0 {
		s.selfFence(reason + "; no fence device reaches this node: fencing itself")
		return
	}
	if err := d.f.Step(now, fence.Request{Target: s.self, Reason: reason}); err != nil {
		s.selfFence(fmt.Sprintf("%s; the fence request failed (%v): fencing itself", reason, err))
		return
	}
	s.logf(slog.LevelError, "stop failed: asked for the fence of this node", "resource", resource, "reason", reason)
}

// Fence asks for a fence of node (`fence NODE`, this node included): the
// coordinator runs it (core/fence/doc.go "Requests").
func (s *Stack) Fence(now time.Duration, node, reason string) error {
	if s.stop != nil {
		return ErrStopped
	}
	s.advanceClock(now)
	return s.fence.f.Step(now, fence.Request{Target: node, Reason: reason})
}

// ConfirmFence records an operator's confirmation that node is down
// (fence.Confirm; `fence confirm NODE`). In a primary view the fence core
// broadcasts it and every member records node_fenced. In a view that is
// not primary (the fence core takes nothing there) it is declared here
// (confirmDeclared): quorum unblock counts it, and the next primary view
// confirms it through the fence core (fenceDeclared).
func (s *Stack) ConfirmFence(now time.Duration, c fence.Confirm) error {
	if s.stop != nil {
		return ErrStopped
	}
	s.advanceClock(now)
	s.fenceView(now)
	if err := s.confirmable(c.Target); err != nil {
		return err
	}
	if !s.mem.Status().Primary {
		return s.confirmDeclared(c)
	}
	return s.fence.f.Step(now, c)
}
