package stack_test

import (
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/corral-ha/corral/core/bcast"
	"github.com/corral-ha/corral/core/cdb"
	"github.com/corral-ha/corral/core/conn"
	"github.com/corral-ha/corral/core/crm"
	"github.com/corral-ha/corral/core/disk"
	"github.com/corral-ha/corral/core/fence"
	"github.com/corral-ha/corral/core/membership"
	"github.com/corral-ha/corral/core/sim"
	"github.com/corral-ha/corral/core/stack"
	"github.com/corral-ha/corral/core/wire"
)

// simNode is one incarnation of a node: the stack, driven the way
// core/node's loop drives it (persist, fsync, then send), on the simulated
// network, clock and disk.
//
// The loop: packets and requests wait in pkts and reqs while a round's
// fsyncs run (until busyTill); a tick that falls in it waits too. A round
// takes a tick (if due), then up to simGather queued inputs, then executes
// Ready until it is empty. Every write of a round takes a simulated fsync
// time (the round's wait grows by it): what the round sends or answers
// after a write leaves when that write's fsync ends, and never if the node
// crashes first.
type simNode struct {
	w  *simWorld
	h  *sim.Host
	st *stack.Stack
	dk *simStore

	view wire.View // installed
	prim bool      // its primary flag
	inst time.Duration
	rev  uint64 // committed revisions checked so far

	pkts     []simPkt
	reqs     []func()
	tickDue  bool
	busyTill time.Duration
	wait     time.Duration

	// the executor's stand-in: monitors running (resource -> generation)
	monitors map[string]uint64
	monGen   uint64
	dead     bool

	lockers []*simLocker // its lock clients (simlock_test.go)
}

type simPkt struct {
	link int
	data []byte
}

const simGather = 64

var simClusterKey = []byte("0123456789abcdef0123456789abcdef")

func (nd *simNode) live() bool {
	return !nd.dead && nd.w.nodes[nd.h.ID()] == nd && nd.w.s.Process(nd.h.ID()) == sim.Process(nd)
}

func (nd *simNode) Tick(time.Duration) {
	nd.tickDue = true
	nd.run()
}

func (nd *simNode) Receive(_ time.Duration, link int, _ sim.Addr, data []byte) {
	nd.pkts = append(nd.pkts, simPkt{link, data})
	nd.run()
}

// request runs f on the loop: now, or after the round that is writing.
func (nd *simNode) request(f func()) {
	nd.reqs = append(nd.reqs, f)
	nd.run()
}

// later runs f on the loop after d (an answer from off the loop).
func (nd *simNode) later(d time.Duration, f func()) {
	nd.w.s.After(d, func() {
		if nd.live() {
			nd.request(f)
		}
	})
}

func (nd *simNode) step(in stack.Input) {
	if err := nd.st.Step(nd.h.Now(), in); err != nil {
		if _, ok := in.(stack.Packet); ok {
			return // a dropped packet (conn's DropError): the network's
		}
		nd.w.logf("n%d: step %T: %v", nd.h.ID(), in, err)
	}
}

func (nd *simNode) run() {
	w := nd.w
	for nd.live() && w.s.Now() >= nd.busyTill && (nd.tickDue || len(nd.pkts) > 0 || len(nd.reqs) > 0) {
		if w.s.Paused(nd.h.ID()) {
			w.s.After(time.Millisecond, nd.run)
			return
		}
		if nd.tickDue {
			nd.tickDue = false
			for _, p := range nd.pkts {
				nd.step(stack.Packet{Link: p.link, Data: p.data})
			}
			nd.pkts = nil
			nd.st.Tick(nd.h.Now())
		}
		for range simGather {
			if len(nd.pkts) == 0 && len(nd.reqs) == 0 {
				break
			}
			if len(nd.reqs) == 0 || (len(nd.pkts) > 0 && w.rng.IntN(2) == 0) {
				p := nd.pkts[0]
				nd.pkts = nd.pkts[1:]
				nd.step(stack.Packet{Link: p.link, Data: p.data})
			} else {
				f := nd.reqs[0]
				nd.reqs = nd.reqs[1:]
				f()
			}
			if !nd.live() {
				return
			}
		}
		nd.execute()
		if nd.wait > 0 {
			nd.busyTill = w.s.Now() + nd.wait
			w.s.After(nd.wait, nd.run)
			nd.wait = 0
		}
	}
}

// send hands a packet to the network now, or when the round's writes so
// far are durable.
func (nd *simNode) send(p conn.Packet) {
	h, to := nd.h, sim.Addr{Node: int(p.To), Link: p.ToLink}
	if nd.wait == 0 {
		h.Send(p.Link, to, p.Data)
		return
	}
	nd.w.s.After(nd.wait, func() {
		if nd.live() {
			h.Send(p.Link, to, p.Data)
		}
	})
}

// fsyncTime draws one write's fsync time: usually 0.2-3 ms, sometimes a
// busy disk's 3-30 ms.
func (nd *simNode) fsyncTime() time.Duration {
	rng := nd.w.rng
	if rng.IntN(10) == 0 {
		return time.Duration(3+rng.IntN(27)) * time.Millisecond
	}
	return time.Duration(200+rng.IntN(2800)) * time.Microsecond
}

func attests(m bcast.Message) bool {
	switch m.(type) {
	case *bcast.Ack, *bcast.Stable:
		return true
	}
	return false
}

// execute runs Ready until it is empty, as core/node's loop does.
func (nd *simNode) execute() {
	w, id := nd.w, nd.h.ID()
	for nd.live() {
		rd := nd.st.Ready()
		now := nd.h.Now()
		if rd.Empty() {
			nd.st.Advance(now)
			break
		}
		for _, l := range rd.Logs {
			nd.log(l)
		}
		// obligation: an Ack or a Stable says what this node holds: all
		// of it is written (durable when the round's writes so far are)
		for _, o := range rd.Sent {
			if attests(o.Msg) {
				if h := nd.db().Head(); h.Rev > 0 && !nd.dk.cdbOnDisk(h.Rev) {
					w.fatalf("n%d sends %T %+v while its log up to revision %d is not on its disk", id, o.Msg, o.Msg, h.Rev)
				}
			}
		}
		for _, p := range rd.Packets {
			nd.send(p)
		}
		for _, r := range rd.EarlyReplies {
			nd.reply(r)
		}
		nd.persist(rd.Persist)
		for _, p := range rd.After {
			nd.send(p)
		}
		for _, e := range rd.Events {
			nd.event(e)
		}
		for _, q := range rd.Witness {
			nd.askWitness(q)
		}
		for _, a := range rd.Agent {
			nd.agent(a)
		}
		for _, p := range rd.Policy {
			nd.step(stack.PolicyAnswer{ID: p.ID, Error: "no policy host in the simulation"})
		}
		for _, c := range rd.FenceCalls {
			nd.fenceCall(c)
		}
		for _, r := range rd.FenceHistory {
			nd.later(0, func() {
				_ = nd.st.Propose(nd.h.Now(), cdb.Request{Client: "", Then: []cdb.Op{{Kind: cdb.OpPut, Key: r.Key, Value: r.Value}}})
			})
		}
		for _, r := range rd.Replies {
			nd.reply(r)
		}
		nd.readsDone(rd.Reads)
		nd.dlmReady(&rd)
		if w.dsk != nil {
			w.dsk.ready(nd, &rd)
		}
		if rd.SelfFence != "" {
			w.logf("n%d fences itself: %s", id, rd.SelfFence)
			nd.crashSoon()
		}
		if rd.Stop != nil && rd.SelfFence == "" {
			if !strings.HasPrefix(rd.Stop.Error(), "fenced") {
				w.fatalf("n%d stopped: %v", id, rd.Stop)
			}
			w.logf("n%d stops: %v", id, rd.Stop)
			nd.crashSoon()
		}
		nd.st.Advance(now)
		if rd.SelfFence != "" || rd.Stop != nil {
			break
		}
	}
	w.checkDB(nd)
	w.checkActing()
	w.checkRuns()
}

// log forwards the stack's log; an error-level line fails the run (the
// stack logs its bugs that way), but for the escalation of a failed stop
// and a self-fence, which the fault schedule causes.
func (nd *simNode) log(l stack.Log) {
	s := fmt.Sprint(l.Msg, " ", l.Args)
	nd.w.logf("n%d %s", nd.h.ID(), s)
	if l.Level >= slog.LevelError && !strings.HasPrefix(l.Msg, "stop failed") && !strings.HasPrefix(l.Msg, "fenced") &&
		!strings.Contains(s, "stopping the node [err fenced") && (nd.w.allowErr == "" || !strings.Contains(s, nd.w.allowErr)) {
		nd.w.fatalf("n%d logged an error: %s", nd.h.ID(), s)
	}
}

// persist writes one Ready's Persist, in its fields' order, each as one
// write with its own fsync.
func (nd *simNode) persist(p stack.Persist) {
	if p.CDB != nil {
		nd.write(nd.dk.cdbOps(p.CDB))
	}
	if p.Membership != nil {
		nd.write([]simKV{{keyMembership, p.Membership.Marshal()}})
	}
	if p.Fence != nil {
		nd.write([]simKV{{keyFence, p.Fence}})
	}
	if p.CRM != nil {
		nd.write([]simKV{{keyCRM, crm.EncodeKnown(*p.CRM)}})
	}
}

const (
	keyMembership = "membership"
	keyFence      = "fence"
	keyCRM        = "crm"
)

func (nd *simNode) write(ops []simKV) {
	nd.wait += nd.fsyncTime()
	nd.dk.write(ops, nd.wait)
}

// reply hands an answer to its client when the round's writes so far are
// durable (never if the node crashes first). Checked: an applied update is
// on this node's disk by then (persist, fsync, then answer).
func (nd *simNode) reply(r stack.Reply) {
	w := nd.w
	if r.Err == nil && !nd.dk.cdbOnDisk(r.Result.Rev) {
		w.fatalf("n%d answers %s seq %d (revision %d) before the update is on its disk", nd.h.ID(), r.Client, r.Seq, r.Result.Rev)
	}
	cr := cdb.Reply{Client: r.Client, Seq: r.Seq, Result: r.Result, Err: r.Err}
	w.s.After(nd.wait, func() {
		if !nd.live() {
			return
		}
		for _, c := range w.clients {
			c.answer(nd, cr)
		}
	})
}

// crashSoon crashes this incarnation (it stopped: a self-fence) and starts
// the node again a while later.
func (nd *simNode) crashSoon() {
	w, id := nd.w, nd.h.ID()
	w.s.After(0, func() {
		if nd.live() {
			w.s.Crash(id)
			w.s.After(time.Duration(300+w.rng.IntN(1500))*time.Millisecond, func() { w.restartIfFaulting(id) })
		}
	})
}

// event records what the checks need.
func (nd *simNode) event(e stack.Event) {
	w, id := nd.w, nd.h.ID()
	switch {
	case e.Member != nil:
		m := e.Member
		if m.Kind == membership.EventViewChanged {
			w.checkInstalled(id, m.View, m.Members, m.Primary)
			nd.view = wire.View{ID: m.View, Members: append([]wire.NodeID{}, m.Members...)}
			nd.prim = m.Primary
			nd.inst = w.s.Now()
			w.logf("n%d installs %v primary=%v members %v", id, m.View, m.Primary, m.Members)
		} else if m.Kind != membership.EventQuorumLost && m.Kind != membership.EventQuorumRegained {
			w.logf("n%d %v", id, m)
		}
	case e.CRM != nil:
		w.stats.events++
		c := e.CRM
		w.logf("n%d %s group=%s resource=%s owner=%s on=%s reason=%s", id, c.Kind, c.Group, c.Resource, c.Owner, c.On, c.Reason)
	case e.Fence != nil:
		f := e.Fence
		w.logf("n%d %s target=%s by=%s error=%s", id, f.Kind, f.Target, f.By, f.Error)
	case e.DLM != nil:
		w.lk.recoveries++
		w.logf("n%d dlm_recovered view %v members %v purged %v resources %d", id, e.DLM.View, e.DLM.Members, e.DLM.Purged, e.DLM.Resources)
	}
}

// askWitness asks the simulated witness; its answer comes back a round
// trip later, or never while it is down.
func (nd *simNode) askWitness(q membership.WitnessReq) {
	w := nd.w
	if w.witness == nil || w.witness.down {
		return
	}
	d := time.Duration(1+w.rng.IntN(10)) * time.Millisecond
	w.s.After(d/2, func() {
		if w.witness.down {
			return
		}
		ok := w.witness.ask(w.s.Now(), q.View.Members, q.Installed)
		nd.later(d/2, func() {
			nd.step(stack.WitnessAnswer{Members: q.View.Members, Granted: ok, Lease: w.witness.lease, At: q.At})
		})
	})
}

// agent runs one agent call on the stand-in executor: it takes a while
// (5-100 ms), a start makes the resource run (from the call on, for G4),
// a stop ends it unless stops fail on this node (then it keeps running)
// or hang (until the call's timeout, then fail), a monitor (a probe)
// finds what runs. A started resource with an
// interval is monitored until it is stopped or started again; a monitor
// of a resource that a fault made disappear fails.
func (nd *simNode) agent(a crm.Action) {
	w, id, boot := nd.w, nd.h.ID(), nd.h.Boot()
	if a.Agent == disk.Agent && w.dsk != nil {
		w.dsk.agent(nd, a)
		return
	}
	w.stats.actions++
	key := fmt.Sprintf("%d/%s", id, a.Resource)
	if a.Action == crm.ActStart || a.Action == crm.ActStop {
		delete(nd.monitors, a.Resource)
	}
	switch a.Action {
	case crm.ActStart:
		w.checkMayStart(nd, a.Resource)
		delete(w.gone, key)
		w.agentStart(id, boot, a.Resource)
	case crm.ActStop:
		w.checkSelfStop(nd, a.Resource, a.Op.Epoch != 0)
	}
	d := time.Duration(5+w.rng.IntN(100)) * time.Millisecond
	var mode stopMode
	if a.Action == crm.ActStop {
		mode = w.failStops[id]
	}
	fail := mode != stopOK
	if mode == stopHang {
		d = a.Timeout
		if d <= 0 {
			d = crm.DefaultStopTimeout
		}
	}
	w.s.After(d, func() {
		if !nd.live() {
			return
		}
		st := crm.StatusOK
		switch a.Action {
		case crm.ActStop:
			if fail {
				st = crm.StatusFailed
				if mode == stopHang {
					st = crm.StatusTimeout
				}
				w.stats.stopFails++
			} else {
				w.agentStopped(id, boot, a.Resource)
			}
		case crm.ActMonitor:
			if !nd.runs(a.Resource) {
				st = crm.StatusNotRunning
			}
		}
		nd.request(func() {
			nd.step(stack.AgentResult{Op: a.Op, Resource: a.Resource, Action: a.Action, Status: st})
			if a.Action == crm.ActStart && a.Interval > 0 {
				nd.monitor(a)
			}
		})
	})
}

// runs reports whether a resource runs on this incarnation (for probes
// and monitors).
func (nd *simNode) runs(res string) bool {
	m := nd.w.chk.running[res]
	return m != nil && m[nd.h.ID()] == nd.h.Boot() && !nd.w.gone[fmt.Sprintf("%d/%s", nd.h.ID(), res)]
}

func (nd *simNode) monitor(a crm.Action) {
	nd.monGen++
	gen := nd.monGen
	nd.monitors[a.Resource] = gen
	var next func()
	next = func() {
		if !nd.live() || nd.monitors[a.Resource] != gen {
			return
		}
		if nd.runs(a.Resource) {
			nd.w.s.After(a.Interval, next)
			return
		}
		nd.request(func() {
			if nd.monitors[a.Resource] != gen {
				return
			}
			delete(nd.monitors, a.Resource)
			nd.w.stats.monitorFails++
			nd.step(stack.MonitorFailed{Resource: a.Resource, Status: crm.StatusNotRunning, Error: "gone"})
		})
	}
	nd.w.s.After(a.Interval, next)
}

// fenceCall runs one device call on the simulated power switch: some time
// later it powers the target off (a crash) and answers success; or it
// fails; or it hangs until the call's timeout fails it.
func (nd *simNode) fenceCall(c fence.Call) {
	w := nd.w
	var tid int
	if _, err := fmt.Sscanf(c.Target, "n%d", &tid); err != nil || tid < 1 || tid > w.n {
		w.fatalf("n%d: fence call for %q", nd.h.ID(), c.Target)
	}
	w.checkMayFence(nd, c.Target)
	mode := w.fenceMode
	w.logf("n%d fence call: %s %s (device %v)", nd.h.ID(), c.Action, c.Target, mode)
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = fence.DefaultTimeout
	}
	switch mode {
	case fenceOK:
		w.s.After(time.Duration(10+w.rng.IntN(200))*time.Millisecond, func() {
			w.stats.fences++
			if w.s.Process(tid) != nil {
				w.s.Crash(tid)
			}
			w.logf("%s is off (fenced by n%d)", c.Target, nd.h.ID())
			w.s.After(time.Duration(300+w.rng.IntN(1500))*time.Millisecond, func() { w.restartIfFaulting(tid) })
			nd.later(0, func() { nd.step(stack.FenceResult{Call: c.ID, OK: true}) })
		})
	case fenceFail:
		nd.later(time.Duration(10+w.rng.IntN(200))*time.Millisecond, func() {
			w.stats.fenceFails++
			nd.step(stack.FenceResult{Call: c.ID, OK: false, Error: "the device refused"})
		})
	case fenceHang:
		nd.later(timeout, func() {
			w.stats.fenceFails++
			nd.step(stack.FenceResult{Call: c.ID, OK: false, Error: "timed out"})
		})
	}
}

// restartIfFaulting starts a node a device or a self-fence powered off,
// as its watchdog or an operator would (once faults stop, the world
// restarts every node anyway).
func (w *simWorld) restartIfFaulting(id int) {
	if !w.keepDown[id] || !w.faulting {
		w.restart(id)
	}
}

// crashed: the incarnation is gone: its pending writes are lost and its
// resources die with it.
func (nd *simNode) crashed() {
	w, id := nd.w, nd.h.ID()
	nd.dead = true
	if w.dsk != nil {
		w.dsk.crashed(id)
	}
	if lost := nd.dk.crashed(); lost > 0 {
		w.stats.ioLost++
		w.logf("n%d crashed with %d writes whose fsync had not ended: lost", id, lost)
	}
	w.died(id)
}
