package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/corral-ha/corral/core/apitypes"
	"github.com/corral-ha/corral/core/bcast"
	"github.com/corral-ha/corral/core/crm"
	"github.com/corral-ha/corral/core/fence"
	"github.com/corral-ha/corral/core/membership"
	"github.com/corral-ha/corral/core/quorum"
	"github.com/corral-ha/corral/core/wire"
	"github.com/corral-ha/corral/lua"
)

// tagFence marks the fence core's broadcast payloads (next to tagApp,
// tagCDB and tagCRM).
const tagFence byte = 4

// keyFence holds the fence core's Persist (fence.Restore at a restart).
var keyFence = []byte("fence")

// fenceRequestWait bounds how long `fence NODE` waits for its request to
// come back through the ordered broadcast (a few heartbeats normally).
const fenceRequestWait = 3 * time.Second

// fenceTickEvery is how often the fence core's timers run.
const fenceTickEvery = 100 * time.Millisecond

// selfFenceStopTimeout bounds the stop of this node's resources when it
// learns it was fenced: it exits after that whatever the agents do.
const selfFenceStopTimeout = 5 * time.Second

// fenceDriver is the node's side of the fence core's contract
// (core/fence/doc.go); all of it runs on the event loop except the device
// calls and the history puts.
type fenceDriver struct {
	f          *fence.Fence
	configured bool // some node has fence levels, or watchdog mode is on
	view       fence.View
	viewSet    bool
	clean      map[wire.ViewID][]string // node_left clean=true per view
	lastTick   time.Duration
	selfFenced bool
}

// openFence builds the fence core and restores what it persisted.
func (n *Node) openFence() error {
	fc := FenceConfig(n.cfg, uint64(n.boot))
	d := &n.fence
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
	b, err := n.store.Get(keyFence)
	if err != nil {
		return err
	}
	if b != nil {
		if err := f.Restore(b); err != nil {
			return fmt.Errorf("fencing: restore the persisted state: %w", err)
		}
	}
	d.f = f
	if !d.configured {
		n.log.Warn("no fence devices configured: a node that leaves is assumed down after the lease wait; configure [fence] for safety")
	}
	return nil
}

// fencingConfigured reports whether the resource manager must wait for
// the fence core's confirmation (else it assumes a node that left is down).
func (n *Node) fencingConfigured() bool { return n.fence.configured }

// fenceMemberEvents notes which nodes left cleanly (membership's
// node_left clean=true) for the View of their install.
func (n *Node) fenceMemberEvents(evs []membership.Event) {
	d := &n.fence
	for _, e := range evs {
		if e.Kind == membership.EventNodeLeft && e.Clean {
			d.clean[e.View] = append(d.clean[e.View], n.names[e.Target])
		}
	}
	for v := range d.clean {
		if v.Epoch+16 < n.mem.Status().View.ID.Epoch {
			delete(d.clean, v)
		}
	}
}

// fenceView gives the fence core the installed view and this node's
// lease when they changed; a view only once the node carried out its
// install (the old view's flush deliveries came first).
func (n *Node) fenceView(now time.Duration) {
	d := &n.fence
	ms := n.mem.Status()
	if n.cdb.pending != nil || ms.View.ID != n.cdb.cur || ms.View.ID == (wire.ViewID{}) {
		return
	}
	// a lone two_node view whose incarnation never adopted a history with
	// its peer fences nobody (twonode.go): it could not act afterwards.
	// The view's own lease (a quorum answered in this view), not the
	// takeover wait: fencing an excluded node is what ends the wait.
	primary := ms.Primary && n.twoNodeAlone(ms) != quorum.AloneIdle
	v := fence.View{ID: ms.View.ID, Coordinator: n.names[ms.View.ID.Coord], Primary: primary, Lease: n.mem.ViewLeased(now)}
	for _, id := range ms.View.Members {
		v.Members = append(v.Members, n.names[id])
	}
	v.Clean = slices.Clone(d.clean[v.ID])
	sort.Strings(v.Clean)
	v.Takeover = n.mem.Quorate(now)
	for _, nd := range n.cfg.Nodes {
		if id := wire.NodeID(nd.ID); !slices.Contains(ms.View.Members, id) && n.mem.Reaches(id) {
			v.Reach = append(v.Reach, nd.Name)
		}
	}
	sort.Strings(v.Reach)
	if d.viewSet && v.ID == d.view.ID && v.Primary == d.view.Primary && v.Lease == d.view.Lease &&
		strings.Join(v.Clean, ",") == strings.Join(d.view.Clean, ",") && v.Takeover == d.view.Takeover &&
		strings.Join(v.Reach, ",") == strings.Join(d.view.Reach, ",") {
		return
	}
	first := !d.viewSet || v.ID != d.view.ID
	d.view, d.viewSet = v, true
	if err := d.f.Step(now, v); err != nil {
		n.log.Warn("fencing: view", "err", err)
	}
	if first && v.Primary && v.Coordinator == n.cfg.Node {
		// A new coordinator of the resource manager waits for the fence of
		// every node that left: repeat the confirmations the fence core
		// already holds (the resource manager's Fenced counts per view),
		// once the resource manager has the view too (the fence core got
		// it first).
		n.crmView(now)
		for _, t := range n.fenceTargets() {
			if _, ok := d.f.Confirmed(t); ok && !slices.Contains(v.Members, t) {
				_ = n.crm.c.Step(now, crm.Fenced{Node: t})
			}
		}
	}
}

// fenceTargets names every configured node, sorted.
func (n *Node) fenceTargets() []string {
	var out []string
	for _, nd := range n.cfg.Nodes {
		out = append(out, nd.Name)
	}
	sort.Strings(out)
	return out
}

// fenceDeliver gives a Safe delivery of a fence payload to the fence core.
func (n *Node) fenceDeliver(d bcast.Delivery) {
	if d.Level != bcast.Safe {
		return
	}
	now := n.now()
	if !d.Flush && (!n.fence.viewSet || n.fence.view.ID != d.View) {
		n.fenceView(now)
	}
	in := fence.Deliver{View: d.View, Primary: n.cdb.primary[d.View], Payload: d.Payload[1:], Flush: d.Flush}
	if err := n.fence.f.Step(now, in); err != nil {
		n.log.Warn("undecodable fence message", "view", n.viewName(d.View), "err", err)
	}
}

// fenceTick runs the fence core's timers.
func (n *Node) fenceTick(now time.Duration) {
	d := &n.fence
	n.fenceView(now)
	if now-d.lastTick < fenceTickEvery {
		return
	}
	d.lastTick = now
	d.f.Tick(now)
}

// fenceRound carries out the fence core's Ready (before the resource
// manager's round); it reports whether there was anything.
func (n *Node) fenceRound(now time.Duration, memberEvents []membership.Event) bool {
	d := &n.fence
	if d.selfFenced {
		return false
	}
	n.fenceMemberEvents(memberEvents)
	n.fenceView(now)
	rd := d.f.Ready()
	if rd.Empty() {
		return false
	}
	d.f.Advance()
	if rd.Persist != nil {
		if err := n.store.Put(keyFence, rd.Persist); err != nil {
			// What the broadcasts and calls promise is not durable: stop.
			n.fatal(fmt.Errorf("fencing: cannot persist the fence state: %w", err))
			return true
		}
	}
	for _, p := range rd.Broadcast {
		if _, err := n.bc.Broadcast(append([]byte{tagFence}, p...)); err != nil {
			n.log.Warn("fence broadcast", "err", err)
		}
	}
	for _, c := range rd.Calls {
		n.fenceCall(now, c)
	}
	var stream []Event
	for _, e := range rd.Events {
		stream = append(stream, Event{Kind: e.Kind, View: n.viewName(e.View), Target: e.Target, Device: e.Device, By: e.By, Error: e.Error})
		n.counts.fenceOp(e.Kind)
		switch e.Kind {
		case fence.EventFailed:
			n.log.Warn(e.Kind, "target", e.Target, "device", e.Device, "error", e.Error)
		default:
			n.log.Info(e.Kind, "target", e.Target, "device", e.Device, "by", e.By)
		}
	}
	n.events.append(stream)
	for _, c := range rd.Confirmed {
		if d.view.Coordinator != n.cfg.Node {
			continue // the coordinator tells the resource manager
		}
		n.crmView(now)
		if err := n.crm.c.Step(now, crm.Fenced{Node: c.Target}); err != nil {
			n.log.Warn("fencing: tell the resource manager", "target", c.Target, "err", err)
		}
	}
	for _, r := range rd.History {
		n.fenceHistory(r)
	}
	if rd.SelfFence != "" {
		n.selfFence(rd.SelfFence)
	}
	return true
}

// fenceCall runs one device call off the loop, only if this node holds
// its lease by the real clock now (after a pause the last View is stale);
// its result comes back on the loop.
func (n *Node) fenceCall(now time.Duration, c fence.Call) {
	if !n.mem.ViewLeased(now) {
		n.log.Warn("fencing: not calling the device: this node lost its lease", "target", c.Target, "device", c.Device)
		_ = n.fence.f.Step(now, fence.Result{Call: c.ID, OK: false, Error: "the runner lost its lease before the call"})
		return
	}
	timeout := c.Timeout
	if c.Deadline > 0 {
		timeout = min(timeout, c.Deadline-now)
	}
	if timeout <= 0 {
		timeout = fence.DefaultTimeout
	}
	host := n.Lua()
	n.log.Info("fence call", "target", c.Target, "device", c.Device, "driver", c.Driver, "action", c.Action)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		start := time.Now()
		out, err := host.RunFence(ctx, c.Driver, c.Action, c.Target, c.Params)
		n.counts.luaCall(lua.KindFence, luaResult(ctx, out, err), time.Since(start))
		cancel()
		res := fence.Result{Call: c.ID, OK: err == nil && out.Status == lua.StatusOK}
		n.counts.fenceCall(c.Action, res.OK)
		if !res.OK {
			switch {
			case err != nil:
				res.Error = err.Error()
			case out.Message != "":
				res.Error = out.Message
			default:
				res.Error = "the driver answered " + out.Status.String()
			}
		}
		n.post(func() {
			if !res.OK {
				n.log.Warn("fence call failed", "target", c.Target, "device", c.Device, "error", res.Error)
			}
			_ = n.fence.f.Step(n.now(), res)
		})
	}()
}

// fenceHistory puts one history record in the config DB, off the loop.
func (n *Node) fenceHistory(r fence.Record) {
	go func() {
		for try := 0; try < 5; try++ {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			_, err := n.CDBSet(ctx, r.Key, r.Value)
			cancel()
			if err == nil || errors.Is(err, ErrClosed) {
				return
			}
			n.log.Warn("fencing: history record", "key", r.Key, "err", err)
			select {
			case <-time.After(time.Second):
			case <-n.done:
				return
			}
		}
	}()
}

// selfFence stops this node's resources and the node (fatal): it learned
// it was fenced at its own boot id, so it comes back only with a new one.
func (n *Node) selfFence(why string) {
	n.fence.selfFenced = true
	n.log.Error("fenced: stopping the resources and the node", "reason", why)
	n.stopHere(time.Now().Add(selfFenceStopTimeout), "fenced")
	n.fatal(fmt.Errorf("fenced: %s", why))
}

// stopHere stops, through their agents, the resources the resource
// manager says run on this node, each bounded by deadline (on the loop:
// the node is stopping). what prefixes the log line of a failed stop.
func (n *Node) stopHere(deadline time.Time, what string) {
	for _, r := range n.crm.c.Resources() {
		if r.Node != n.cfg.Node || r.State == "stopped" || r.Agent == "" {
			continue
		}
		params := map[string]string{}
		if kv, found, _ := n.cdb.db.Get(crm.ResourcePrefix + r.Name); found {
			if res, err := crm.ParseResource(r.Name, kv.Value); err == nil {
				params = maps.Clone(res.Params)
				if params == nil {
					params = map[string]string{}
				}
			}
		}
		params[InstanceParam] = r.Name
		ctx, cancel := context.WithDeadline(context.Background(), deadline)
		_, err := n.crm.exec.RunAgent(ctx, r.Agent, crm.ActStop, params)
		cancel()
		if err != nil {
			n.log.Error(what+": stop failed", "resource", r.Name, "err", err)
		}
	}
}

// ---- requests from the API ----

// The API documents are defined in core/apitypes (so the shell reads them
// without importing the driver).
type (
	// FenceStatus is apitypes.FenceStatus.
	FenceStatus = apitypes.FenceStatus
	// FenceTarget is apitypes.FenceTarget.
	FenceTarget = apitypes.FenceTarget
	// FenceDevice is apitypes.FenceDevice.
	FenceDevice = apitypes.FenceDevice
	// FenceLevelOf is apitypes.FenceLevelOf.
	FenceLevelOf = apitypes.FenceLevelOf
	// FenceRecord is apitypes.FenceRecord.
	FenceRecord = apitypes.FenceRecord
)

// TimeLayout is apitypes.TimeLayout.
const TimeLayout = apitypes.TimeLayout

// FenceStatus returns every node's fencing state and the devices.
func (n *Node) FenceStatus() (FenceStatus, error) {
	var ts []fence.TargetStatus
	if err := n.do(func() { ts = n.fence.f.Status() }); err != nil {
		return FenceStatus{}, err
	}
	st := FenceStatus{Configured: n.fence.configured, Action: n.cfg.Fence.Action, Targets: []FenceTarget{}, Devices: []FenceDevice{}, Levels: []FenceLevelOf{}}
	for _, t := range ts {
		st.Targets = append(st.Targets, FenceTarget{Target: t.Target, Boot: t.Boot, State: t.State, Confirmed: t.Confirmed, Op: t.Op,
			Reason: t.Reason, Device: t.Device, Attempts: t.Attempts, Error: t.Error})
	}
	for _, d := range n.cfg.Fence.Devices {
		fd := FenceDevice{Name: d.Name, Driver: d.Driver, Targets: d.Targets, Params: []string{}}
		for k := range d.Params {
			fd.Params = append(fd.Params, k)
		}
		sort.Strings(fd.Params)
		st.Devices = append(st.Devices, fd)
	}
	fc := FenceConfig(n.cfg, uint64(n.boot))
	for _, name := range n.fenceTargets() {
		t := fc.Targets[name]
		lv := FenceLevelOf{Node: name, Levels: [][]string{}, Watchdog: t.Watchdog}
		if t.Delay > 0 {
			lv.Delay = t.Delay.String()
		}
		for _, l := range t.Levels {
			var names []string
			for _, d := range l {
				names = append(names, d.Name)
			}
			lv.Levels = append(lv.Levels, names)
		}
		st.Levels = append(st.Levels, lv)
	}
	return st, nil
}

// FenceHistory returns the fence history in the config DB, oldest first
// (in the order the records were written).
func (n *Node) FenceHistory() ([]FenceRecord, error) {
	kvs, _, _, err := n.CDBList(fence.HistoryPrefix)
	if err != nil {
		return nil, err
	}
	hist, err := n.CDBHistory(-1)
	if err != nil {
		return nil, err
	}
	times := make(map[uint64]int64, len(hist))
	for _, c := range hist {
		times[c.Rev] = c.Time
	}
	out := []FenceRecord{}
	for _, kv := range kvs {
		r := FenceRecord{Key: kv.Key}
		if err := json.Unmarshal(kv.Value, &r); err != nil {
			r.Error = fmt.Sprintf("bad history record: %v", err)
		}
		r.Key, r.Revision = kv.Key, kv.ModRev
		if t := times[kv.ModRev]; t != 0 {
			r.Time = time.Unix(0, t).UTC().Format(TimeLayout)
		}
		out = append(out, r)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Revision != out[j].Revision {
			return out[i].Revision < out[j].Revision
		}
		return out[i].Key < out[j].Key
	})
	return out, nil
}

// ErrNotMember is returned for a fence request against an unknown node.
var ErrNotMember = errors.New("not a configured node")

// Fence asks for a fence of node (`fence NODE`, this node included): the
// coordinator runs it (a fence of the coordinator: the next one, see
// core/fence/doc.go "Requests"). It returns once the request shows
// pending here, or says why it cannot be carried out.
func (n *Node) Fence(node, reason string) error {
	known := false
	for _, nd := range n.cfg.Nodes {
		known = known || nd.Name == node
	}
	if !known {
		return fmt.Errorf("node %q: %w (nodes: %s)", node, ErrNotMember, strings.Join(n.fenceTargets(), ", "))
	}
	if reason == "" {
		reason = "manual"
	}
	var err error
	if e := n.do(func() { err = n.fence.f.Step(n.now(), fence.Request{Target: node, Reason: reason}) }); e != nil {
		return e
	}
	if err != nil {
		return err
	}
	// The request goes through the ordered broadcast: answer once this
	// node sees it pending (or already carried out), so that `fence` and
	// the events show it when the command returns.
	for end := time.Now().Add(fenceRequestWait); ; {
		var st fence.TargetStatus
		if e := n.do(func() {
			for _, ts := range n.fence.f.Status() {
				if ts.Target == node {
					st = ts
				}
			}
		}); e != nil {
			if node == n.cfg.Node {
				return nil // this node stops for its own fence: it was carried out
			}
			return e
		}
		if st.State == fence.StatePending || st.State == fence.StateInProgress || st.Confirmed {
			return nil
		}
		if time.Now().After(end) {
			return fmt.Errorf("the request for %s was sent but not delivered within %v (did the view change?): check `fence` and retry: %w",
				node, fenceRequestWait, fence.ErrCannotFence)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stopFailed escalates a stop that failed or timed out on this node (on
// the loop): the resource may still run, so its group must not start
// elsewhere until this node is fenced (the resource manager keeps it
// blocked, "waiting for fence of" this node). While this node holds its
// lease and a fence device can reach it, it asks the coordinator for its
// own fence (the fence core's Request); else (no lease: no coordinator to
// ask; or watchdog mode only) it fences itself: it stops its resources
// and the node, and its watchdog, no longer fed, resets it. Without any
// fencing configured nothing can stop it: the group stays blocked until
// `cleanup`.
func (n *Node) stopFailed(resource, why string) {
	d := &n.fence
	if !d.configured || d.selfFenced {
		return
	}
	now := n.now()
	reason := fmt.Sprintf("stop of %s failed on %s (%s)", resource, n.cfg.Node, why)
	if !n.mem.Leased(now) {
		n.selfFence(reason + "; this node lost its lease: fencing itself")
		return
	}
	if len(FenceConfig(n.cfg, uint64(n.boot)).Targets[n.cfg.Node].Levels) == 0 {
		n.selfFence(reason + "; no fence device reaches this node: fencing itself")
		return
	}
	if err := d.f.Step(now, fence.Request{Target: n.cfg.Node, Reason: reason}); err != nil {
		n.selfFence(fmt.Sprintf("%s; the fence request failed (%v): fencing itself", reason, err))
		return
	}
	n.log.Error("stop failed: asked for the fence of this node", "resource", resource, "reason", reason)
}
