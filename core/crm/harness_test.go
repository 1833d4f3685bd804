package crm

import (
	"container/heap"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/corral-ha/corral/core/wire"
)

// The harness runs a cluster of CRMs on a virtual clock: an ordered
// broadcast per view (same order on every member; messages of a view end
// with it), Go stand-in agents with durations, monitors, crashes,
// partitions, pauses, and a fence that powers a node off.

type hev struct {
	at  time.Duration
	seq uint64
	fn  func()
}

type hq []*hev

func (q hq) Len() int { return len(q) }
func (q hq) Less(i, j int) bool {
	if q[i].at != q[j].at {
		return q[i].at < q[j].at
	}
	return q[i].seq < q[j].seq
}
func (q hq) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *hq) Push(x any)   { *q = append(*q, x.(*hev)) }
func (q *hq) Pop() any     { o := *q; e := o[len(o)-1]; *q = o[:len(o)-1]; return e }

type hnode struct {
	name    string
	up      bool
	inc     int // incarnation: a crash voids what was in flight
	crm     *CRM
	view    View
	running map[string]bool // the stand-in agents' truth
	broken  map[string]bool // a running resource whose monitor fails
	starts  map[string]int  // in-flight starts, per resource
	mon     map[string]int  // monitor generation per resource
	events  []Event
	known   Known // what it persisted (Ready.Persist), given back at boot
}

type harness struct {
	t       testing.TB
	rng     *rand.Rand
	now     time.Duration
	q       hq
	seq     uint64
	names   []string
	nodes   map[string]*hnode
	kv      map[string][]byte
	epoch   uint64
	parts   [][]string // partition components (nil: all connected)
	paused  map[string]bool
	leaving map[string]bool
	fails   map[string]bool // node/resource: starts fail there; node/resource:stop: stops fail (it keeps running)
	cfg     Config
	jitter  bool
	fence   time.Duration // harness fencing delay; <0: never confirm
	checks  int
	onCheck func()
	// policy stand-in: nil: never answers
	policy  func(PolicyRequest) (PolicyAnswer, time.Duration)
	lastDel map[wire.ViewID]time.Duration
	tod     *time.Duration // fed to every node that boots

	// takeover is the takeover wait: View.Takeover comes this long after
	// a view is installed (continuity_test.go).
	takeover time.Duration

	// config: resources whose every start, stop and monitor fails with
	// StatusConfig on every node (a typo: the agent refuses the
	// parameters; nothing starts)
	config map[string]bool
	// escalated: node/resource for every Ready.StopFailed (the driver
	// would fence that node)
	escalated []string
}

func newHarness(t testing.TB, n int, seed uint64) *harness {
	h := &harness{t: t, rng: rand.New(rand.NewPCG(seed, seed^0x9e37)), nodes: map[string]*hnode{}, kv: map[string][]byte{},
		paused: map[string]bool{}, leaving: map[string]bool{}, fails: map[string]bool{}, config: map[string]bool{}, lastDel: map[wire.ViewID]time.Duration{}, fence: 300 * time.Millisecond,
		takeover: 600 * time.Millisecond}
	for i := 1; i <= n; i++ {
		name := fmt.Sprintf("n%d", i)
		h.names = append(h.names, name)
		h.nodes[name] = &hnode{name: name}
	}
	for _, name := range h.names {
		h.boot(name)
	}
	h.regroup()
	h.at(50*time.Millisecond, h.tick)
	return h
}

func (h *harness) at(d time.Duration, fn func()) {
	h.seq++
	heap.Push(&h.q, &hev{at: h.now + d, seq: h.seq, fn: fn})
}

func (h *harness) boot(name string) {
	nd := h.nodes[name]
	nd.up = true
	nd.inc++
	nd.crm = mustNew(Config{Self: name, AssumeFenced: h.cfg.AssumeFenced, FenceDelay: h.cfg.FenceDelay, PolicyTimeout: h.cfg.PolicyTimeout,
		Known: nd.known})
	nd.running, nd.broken, nd.starts, nd.mon = map[string]bool{}, map[string]bool{}, map[string]int{}, map[string]int{}
	nd.view = View{}
	if h.tod != nil {
		h.step(nd, TimeOfDay{D: *h.tod})
	}
	for _, k := range sortedKeys(h.kv) {
		h.step(nd, ConfigKey{Key: k, Value: h.kv[k]})
	}
}

func (h *harness) tick() {
	for _, name := range h.names {
		nd := h.nodes[name]
		if nd.up {
			nd.crm.Tick(h.now)
			h.ready(nd)
		}
	}
	h.at(100*time.Millisecond, h.tick)
}

func (h *harness) step(nd *hnode, in Input) {
	if err := nd.crm.Step(h.now, in); err != nil {
		h.t.Fatalf("%v %s: step %T: %v", h.now, nd.name, in, err)
	}
	h.ready(nd)
}

// components returns the connected components of the up nodes.
func (h *harness) components() [][]string {
	var comps [][]string
	seen := map[string]bool{}
	parts := h.parts
	if parts == nil {
		parts = [][]string{h.names}
	}
	for _, p := range parts {
		var c []string
		for _, n := range p {
			if h.nodes[n].up && !seen[n] {
				c = append(c, n)
				seen[n] = true
			}
		}
		if len(c) > 0 {
			sort.Strings(c)
			comps = append(comps, c)
		}
	}
	return comps
}

// regroup installs a new view in every component that changed.
func (h *harness) regroup() {
	for _, c := range h.components() {
		nd0 := h.nodes[c[0]]
		same := true
		for _, n := range c {
			v := h.nodes[n].view
			if v.ID != nd0.view.ID || strings.Join(v.Members, ",") != strings.Join(c, ",") {
				same = false
			}
		}
		var paused, leaving []string
		for _, n := range c {
			if h.paused[n] {
				paused = append(paused, n)
			}
			if h.leaving[n] {
				leaving = append(leaving, n)
			}
		}
		if same && strings.Join(nd0.view.Paused, ",") == strings.Join(paused, ",") &&
			strings.Join(nd0.view.Leaving, ",") == strings.Join(leaving, ",") {
			continue
		}
		id := nd0.view.ID
		if !same {
			h.epoch++
			id = wire.ViewID{Epoch: h.epoch, Coord: 1}
		}
		primary := len(c)*2 > len(h.names)
		v := View{ID: id, Members: c, Coordinator: c[0], Primary: primary, Lease: primary, Paused: paused, Leaving: leaving}
		if same {
			v.Takeover = primary && nd0.view.Takeover
		}
		for _, n := range c {
			nd := h.nodes[n]
			nd.view = v
			h.step(nd, v)
		}
		if primary && !v.Takeover {
			h.takeoverLater(v)
		}
	}
}

// ready carries out a node's Ready.
func (h *harness) ready(nd *hnode) {
	for nd.up && nd.crm.HasReady() {
		rd := nd.crm.Ready()
		nd.crm.Advance()
		if rd.Persist != nil {
			nd.known = *rd.Persist // written before anything else of this Ready
		}
		for _, p := range rd.Broadcast {
			h.bcast(nd, p)
		}
		for _, a := range rd.Exec {
			h.exec(nd, a)
		}
		for _, p := range rd.Policy {
			h.askPolicy(nd, p)
		}
		nd.events = append(nd.events, rd.Events...)
		for _, f := range rd.StopFailed {
			h.escalated = append(h.escalated, nd.name+"/"+f.Resource)
		}
	}
	h.check()
}

func (h *harness) delay() time.Duration {
	if !h.jitter {
		return time.Millisecond
	}
	return time.Duration(1+h.rng.IntN(5)) * time.Millisecond
}

// bcast delivers p to every member of the sender's view, in one order:
// one delay for the whole view keeps the order (the queue is FIFO on ties).
func (h *harness) bcast(from *hnode, p []byte) {
	v := from.view
	d := h.delay()
	// one total order per view: never before the view's last delivery
	if last := h.lastDel[v.ID]; h.now+d < last {
		d = last - h.now
	}
	h.lastDel[v.ID] = h.now + d
	if tr := os.Getenv("CRMTRACE"); tr != "" {
		m, _ := Decode(p)
		if s := fmt.Sprintf("%+v", m); strings.Contains(s, tr) {
			fmt.Printf("%v %s view %v: %T %s\n", h.now, from.name, v.ID, m, s)
		}
	}
	for _, n := range v.Members {
		nd, inc := h.nodes[n], h.nodes[n].inc
		h.at(d, func() {
			if nd.up && nd.inc == inc && nd.view.ID == v.ID {
				h.step(nd, Deliver{Payload: p})
			}
		})
	}
}

func (h *harness) dur(base time.Duration) time.Duration {
	if !h.jitter {
		return base
	}
	return base/2 + time.Duration(h.rng.Int64N(int64(base)))
}

// exec runs an action on the node's stand-in agent.
func (h *harness) exec(nd *hnode, a Action) {
	inc := nd.inc
	if tr := os.Getenv("CRMTRACE"); tr != "" && strings.Contains(a.Resource, tr) {
		fmt.Printf("%v %s exec %+v\n", h.now, nd.name, a)
	}
	key := nd.name + "/" + a.Resource
	switch a.Action {
	case ActStart:
		nd.starts[a.Resource]++
		h.at(h.dur(200*time.Millisecond), func() {
			if tr := os.Getenv("CRMTRACE"); tr != "" && strings.Contains(a.Resource, tr) {
				fmt.Printf("%v %s start done up=%v inc=%d/%d local=%+v\n", h.now, nd.name, nd.up, nd.inc, inc, nd.crm.local[a.Resource])
			}
			if !nd.up || nd.inc != inc {
				return
			}
			nd.starts[a.Resource]--
			st, msg := StatusOK, ""
			if h.config[a.Resource] {
				st, msg = StatusConfig, "stand-in: no parameter cmd (parameters: command)"
			} else if h.fails[key] {
				st, msg = StatusFailed, "stand-in start fails on "+nd.name
			} else {
				nd.running[a.Resource] = true
				nd.broken[a.Resource] = false
			}
			h.step(nd, ActionDone{Op: a.Op, Resource: a.Resource, Action: a.Action, Status: st, Error: msg})
			if st == StatusOK && a.Interval > 0 {
				nd.mon[a.Resource]++
				h.monitor(nd, a.Resource, a.Interval, nd.mon[a.Resource])
			}
		})
	case ActStop:
		h.checkStop(nd, a)
		nd.mon[a.Resource]++
		h.at(h.dur(100*time.Millisecond), func() {
			if !nd.up || nd.inc != inc {
				return
			}
			if h.config[a.Resource] { // the same check fails the stop
				h.step(nd, ActionDone{Op: a.Op, Resource: a.Resource, Action: a.Action, Status: StatusConfig, Error: "stand-in: no parameter cmd"})
				return
			}
			if h.fails[key+":stop"] { // it keeps running
				h.step(nd, ActionDone{Op: a.Op, Resource: a.Resource, Action: a.Action, Status: StatusFailed, Error: "stand-in stop fails on " + nd.name})
				return
			}
			nd.running[a.Resource], nd.broken[a.Resource] = false, false
			h.step(nd, ActionDone{Op: a.Op, Resource: a.Resource, Action: a.Action, Status: StatusOK})
		})
	case ActMonitor:
		h.at(h.dur(10*time.Millisecond), func() {
			if !nd.up || nd.inc != inc {
				return
			}
			st := StatusNotRunning
			if nd.running[a.Resource] {
				st = StatusOK
			}
			h.step(nd, ActionDone{Op: a.Op, Resource: a.Resource, Action: a.Action, Status: st})
		})
	}
}

func (h *harness) monitor(nd *hnode, res string, every time.Duration, gen int) {
	inc := nd.inc
	h.at(every, func() {
		if !nd.up || nd.inc != inc || nd.mon[res] != gen {
			return
		}
		if !nd.running[res] || nd.broken[res] {
			h.step(nd, MonitorFailed{Resource: res, Status: StatusNotRunning, Error: "stand-in: not running"})
			return // the executor stops monitoring after a failure
		}
		h.monitor(nd, res, every, gen)
	})
}

func (h *harness) askPolicy(nd *hnode, p PolicyRequest) {
	if h.policy == nil {
		return
	}
	a, d := h.policy(p)
	inc := nd.inc
	h.at(d, func() {
		if nd.up && nd.inc == inc {
			h.step(nd, a)
		}
	})
}

// run advances the virtual clock by d.
func (h *harness) run(d time.Duration) {
	end := h.now + d
	for len(h.q) > 0 && h.q[0].at <= end {
		e := heap.Pop(&h.q).(*hev)
		h.now = e.at
		e.fn()
	}
	h.now = end
}

// ---- faults and commands ----

func (h *harness) put(key string, v any) {
	var b []byte
	switch v := v.(type) {
	case string:
		b = []byte(v)
	case nil:
	default:
		var err error
		if b, err = json.Marshal(v); err != nil {
			h.t.Fatal(err)
		}
	}
	if b == nil {
		delete(h.kv, key)
	} else {
		h.kv[key] = b
	}
	for _, n := range h.names {
		if nd := h.nodes[n]; nd.up {
			h.step(nd, ConfigKey{Key: key, Value: b})
		}
	}
}

func (h *harness) crash(name string) {
	nd := h.nodes[name]
	nd.up = false
	nd.inc++
	nd.running = map[string]bool{} // processes die with the node
	h.regroup()
	h.fenceLater(name)
}

// fenceLater confirms a node's fence (it is off, or powered off now)
// through the coordinator of the primary component.
func (h *harness) fenceLater(name string) {
	if h.cfg.AssumeFenced {
		// no fence device: a watchdog outside the process kills a node
		// cut off from the primary view within the wait the survivors
		// keep (FenceDelay), which is what AssumeFenced relies on
		h.at(h.cfg.FenceDelay/2, func() {
			if nd := h.nodes[name]; nd.up && !h.inPrimary(name) {
				nd.up = false
				nd.inc++
				nd.running = map[string]bool{}
				h.regroup()
			}
		})
		return
	}
	if h.fence < 0 {
		return
	}
	h.at(h.fence, func() {
		nd := h.nodes[name]
		if nd.up {
			if h.inPrimary(name) {
				return // it came back into the primary view: nothing to fence
			}
			nd.up = false // power it off
			nd.inc++
			nd.running = map[string]bool{}
			h.regroup()
		}
		for _, c := range h.components() {
			if len(c)*2 > len(h.names) {
				h.step(h.nodes[c[0]], Fenced{Node: name})
			}
		}
	})
}

func (h *harness) inPrimary(name string) bool {
	for _, c := range h.components() {
		if len(c)*2 > len(h.names) && contains(c, name) {
			return true
		}
	}
	return false
}

func (h *harness) restart(name string) {
	h.boot(name)
	h.regroup()
}

func (h *harness) partition(parts ...[]string) {
	var was []string
	for _, c := range h.components() {
		if len(c)*2 > len(h.names) {
			was = c
		}
	}
	h.parts = parts
	h.regroup()
	for _, n := range was {
		if !h.inPrimary(n) {
			h.fenceLater(n)
		}
	}
}

func (h *harness) heal() {
	h.parts = nil
	h.regroup()
}

func (h *harness) pause(name string, on bool) {
	h.paused[name] = on
	h.regroup()
}

func (h *harness) coordinator() *hnode {
	for _, c := range h.components() {
		if len(c)*2 > len(h.names) {
			return h.nodes[c[0]]
		}
	}
	return nil
}

func (h *harness) gview(name string) GroupView {
	co := h.coordinator()
	if co == nil {
		h.t.Fatalf("no primary component")
	}
	for _, g := range co.crm.Groups() {
		if g.Name == name {
			return g
		}
	}
	h.t.Fatalf("no group %s", name)
	return GroupView{}
}

// ---- invariants ----

// check: a group never runs on two nodes of one primary view, and (G4)
// never on a node of the primary view while it may still run on a node
// excluded from it: what the stand-in agents run, starts in flight
// included. An excluded node that is up is never confirmed fenced here
// (the harness's fence powers a node off before it confirms).
func (h *harness) check() {
	h.checks++
	groupsOn := func(nd *hnode) []string {
		seen := map[string]bool{}
		var out []string
		for _, m := range []map[string]bool{nd.running, nil} {
			rs := sortedKeys(m)
			if m == nil {
				rs = sortedKeys(nd.starts)
			}
			for _, r := range rs {
				if nd.running[r] || nd.starts[r] > 0 {
					if g := groupOf(h.kv, r); !seen[g] {
						seen[g] = true
						out = append(out, g)
					}
				}
			}
		}
		return out
	}
	for _, c := range h.components() {
		if len(c)*2 <= len(h.names) {
			continue
		}
		on := map[string][]string{}
		for _, n := range c {
			for _, g := range groupsOn(h.nodes[n]) {
				on[g] = append(on[g], n)
			}
		}
		for _, g := range sortedKeys(on) {
			if ns := on[g]; len(ns) > 1 {
				h.t.Fatalf("%v: group %s runs on %v in one primary view %v", h.now, g, ns, c)
			}
		}
		for _, n := range h.names {
			nd := h.nodes[n]
			if !nd.up || contains(c, n) {
				continue
			}
			for _, g := range groupsOn(nd) {
				if ns := on[g]; len(ns) > 0 {
					h.t.Fatalf("%v: G4: group %s runs on %v of the primary view %v while %s, excluded and not fenced, still runs it", h.now, g, ns, c, n)
				}
			}
		}
	}
	h.checkTakeover()
	if h.onCheck != nil {
		h.onCheck()
	}
}

var groupCache = map[string]string{}

func groupOf(kv map[string][]byte, res string) string {
	k := res + "\x00" + string(kv[ResourcePrefix+res])
	if g, ok := groupCache[k]; ok {
		return g
	}
	g := groupOf1(kv, res)
	groupCache[k] = g
	return g
}

func groupOf1(kv map[string][]byte, res string) string {
	var j struct {
		Group string `json:"group"`
	}
	_ = json.Unmarshal(kv[ResourcePrefix+res], &j)
	if j.Group == "" {
		return "?" + res
	}
	return j.Group
}

// converged checks G7: every group is at its target or says why not;
// every online group's resources run on its owner only; every member of
// the primary view has the coordinator's group states.
func (h *harness) converged() error {
	co := h.coordinator()
	if co == nil {
		return fmt.Errorf("no primary view")
	}
	gs := co.crm.Groups()
	for _, g := range gs {
		want := "online"
		if g.Target == TargetStopped {
			want = "offline"
		}
		switch {
		case g.State == want:
		case (g.State == "blocked" || g.State == "failed") && g.Reason != "":
		default:
			return fmt.Errorf("group %s is %s (%s), target %s", g.Name, g.State, g.Reason, g.Target)
		}
		if g.State == "online" {
			for _, rs := range g.Resources {
				for _, n := range h.names {
					nd := h.nodes[n]
					if !nd.up {
						continue
					}
					if nd.running[rs.Resource] != (n == g.Owner) {
						return fmt.Errorf("group %s online on %s but %s runs=%v on %s", g.Name, g.Owner, rs.Resource, nd.running[rs.Resource], n)
					}
				}
			}
		}
	}
	for _, n := range co.view.Members {
		other := h.nodes[n].crm.Groups()
		for i := range gs {
			if i >= len(other) || other[i].State != gs[i].State || other[i].Owner != gs[i].Owner {
				return fmt.Errorf("%s sees %+v, the coordinator %+v", n, other, gs)
			}
		}
	}
	return nil
}

// ---- config helpers ----

type jres struct {
	Agent   string            `json:"agent"`
	Group   string            `json:"group"`
	Params  map[string]string `json:"params,omitempty"`
	Monitor string            `json:"monitor,omitempty"`
}

func (h *harness) resource(name, group string) {
	h.put(ResourcePrefix+name, jres{Agent: "dummy", Group: group, Monitor: "1s"})
}

func (h *harness) group(name string, v map[string]any) {
	h.put(GroupPrefix+name, v)
}

func (h *harness) events(node string) []string {
	var out []string
	for _, e := range h.nodes[node].events {
		s := e.Kind + " " + e.Group
		switch e.Kind {
		case EvResourceStarted, EvResourceStopped, EvResourceFailed:
			s = e.Kind + " " + e.Resource + " on " + e.On
		case EvGroupOnline:
			s += " on " + e.Owner
		case EvGroupMoved:
			s += " " + e.From + "->" + e.To
		}
		out = append(out, s)
	}
	return out
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
