package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"sort"
	"strings"
	"time"

	"github.com/corral-ha/corral/core/apitypes"
	"github.com/corral-ha/corral/core/crm"
	"github.com/corral-ha/corral/core/fence"
	"github.com/corral-ha/corral/core/stack"
	"github.com/corral-ha/corral/lua"
)

// keyFence holds the fence core's Persist (fence.Restore at a restart).
var keyFence = []byte("fence")

// fenceRequestWait bounds how long `fence NODE` waits for its request to
// come back through the ordered broadcast (a few heartbeats normally).
const fenceRequestWait = 3 * time.Second

// selfFenceStopTimeout bounds the stop of this node's resources when it
// learns it was fenced: it exits after that whatever the agents do.
const selfFenceStopTimeout = 5 * time.Second

// fenceTargets names every configured node, sorted.
func (n *Node) fenceTargets() []string {
	var out []string
	for _, nd := range n.cfg.Nodes {
		out = append(out, nd.Name)
	}
	sort.Strings(out)
	return out
}

// fenceCall runs one device call off the loop (the stack made it while
// this node held its lease); its result comes back on the loop.
func (n *Node) fenceCall(c fence.Call) {
	now := n.now()
	if !n.st.ViewLeased(now) {
		// The stack judged the lease when it made the call, before the
		// Ready's fsync: a disk stall may have outlasted it since.
		n.log.Warn("fencing: not calling the device: this node lost its lease", "target", c.Target, "device", c.Device)
		res := fence.Result{Call: c.ID, OK: false, Error: "the runner lost its lease before the call"}
		if err := n.st.Step(now, stack.FenceResult(res)); err != nil {
			n.log.Warn("fencing: call result", "target", c.Target, "err", err)
		}
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
			if err := n.st.Step(n.now(), stack.FenceResult(res)); err != nil {
				n.log.Warn("fencing: call result", "target", c.Target, "err", err)
			}
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

// stopHere stops, through their agents, the resources the resource
// manager says run on this node, each bounded by deadline (on the loop:
// the node is stopping). what prefixes the log line of a failed stop.
func (n *Node) stopHere(deadline time.Time, what string) {
	for _, r := range n.st.Resources() {
		if r.Node != n.cfg.Node || r.State == "stopped" || r.Agent == "" {
			continue
		}
		params := map[string]string{}
		if kv, found, _ := n.st.CDBGet(crm.ResourcePrefix + r.Name); found {
			if res, err := crm.ParseResource(r.Name, kv.Value); err == nil {
				params = maps.Clone(res.Params)
				if params == nil {
					params = map[string]string{}
				}
			}
		}
		params[InstanceParam] = r.Name
		ctx, cancel := context.WithDeadline(context.WithValue(context.Background(), onLoopKey{}, true), deadline)
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
	var configured bool
	if err := n.do(func() { ts, configured = n.st.FenceStatus(), n.st.FenceConfigured() }); err != nil {
		return FenceStatus{}, err
	}
	st := FenceStatus{Configured: configured, Action: n.cfg.Fence.Action, Targets: []FenceTarget{}, Devices: []FenceDevice{}, Levels: []FenceLevelOf{}}
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
	if e := n.do(func() { err = n.st.Fence(n.now(), node, reason) }); e != nil {
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
			for _, ts := range n.st.FenceStatus() {
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
