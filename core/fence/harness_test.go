package fence

import (
	"container/heap"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/corral-ha/corral/core/wire"
)

// The harness runs a cluster of fence state machines on a virtual clock:
// a membership oracle (a view per connected component, the majority side
// primary, leases that start lease·(1+ρ)+margin after an install while an
// old primary keeps its lease up to T_lease after the split), an ordered
// broadcast per view with virtual-synchrony flushes (a message Safe at one
// member is flushed to every survivor; one that was not may be lost, and
// its sender then resubmits it), Go stand-in fence devices with durations
// that kill their target (crash it, reboot it later), hang past their
// deadline or fail, and a watchdog that kills a node W after it lost its
// lease. It checks, at every step, the safety properties of the package.

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
	id      wire.NodeID
	up      bool
	boot    uint64
	inc     int
	f       *Fence
	persist []byte
	view    View
	events  []Event
	conf    map[string][]Confirmed // Confirmed outputs by target
	selfF   string
	history []Record
	pending [][]byte // sent while its view was breaking: resubmitted in the next
	wdGen   int      // watchdog feed generation
	feeding bool     // holds its lease, so feeds its watchdog
}

type hview struct {
	id      wire.ViewID
	members []string
	primary bool
	broken  time.Duration // when the first member left it (-1: not yet)
	lastAt  time.Duration
	msgs    []*hmsg
	flush   map[*hmsg]map[wire.ViewID]bool // flush decision per successor view
}

type hmsg struct {
	from    string
	inc     int
	payload []byte
	safeAt  time.Duration
	done    map[string]bool // delivered to
}

type hcall struct {
	target, device, runner string
	start, end             time.Duration // end 0: open
	ok                     bool
}

type harness struct {
	t            testing.TB
	seed         uint64
	rng          *rand.Rand
	now          time.Duration
	q            hq
	seq          uint64
	names        []string
	nodes        map[string]*hnode
	views        map[wire.ViewID]*hview
	epoch        uint64
	parts        [][]string
	cfg          Config // template (Self, Boot set per node)
	twoNode      bool
	fail         map[string]bool          // device name -> fails
	hang         map[string]bool          // device name -> hangs past its deadline
	lie          map[string]bool          // device name -> says ok without killing
	dur          map[string]time.Duration // device name -> call duration
	calls        []*hcall
	reboot       time.Duration // a killed node starts again after this (<0: stays off)
	wd           time.Duration // watchdog timeout (0: no watchdog)
	jitter       bool
	noRestart    bool                     // a self-fenced node stays down
	frozen       map[string]time.Duration // paused nodes (SIGSTOP, a frozen VM), until when
	stale        map[string]bool          // woke up: membership runs a new view with it
	noLeaseCheck bool                     // the driver does not check the lease when it starts a call (a mutation)
	trace        bool
	failed       bool
}

func newHarness(t testing.TB, n int, seed uint64, cfg Config) *harness {
	h := &harness{t: t, seed: seed, rng: rand.New(rand.NewPCG(seed, seed^0x5eed)), nodes: map[string]*hnode{},
		views: map[wire.ViewID]*hview{}, cfg: cfg, fail: map[string]bool{}, hang: map[string]bool{}, lie: map[string]bool{}, dur: map[string]time.Duration{}, frozen: map[string]time.Duration{}, stale: map[string]bool{},
		reboot: 800 * time.Millisecond, trace: os.Getenv("FENCETRACE") != ""}
	for i := 1; i <= n; i++ {
		name := fmt.Sprintf("n%d", i)
		h.names = append(h.names, name)
		h.nodes[name] = &hnode{name: name, id: wire.NodeID(i)}
	}
	if h.cfg.Targets == nil {
		h.cfg.Targets = map[string]Target{}
		for _, name := range h.names {
			h.cfg.Targets[name] = Target{Levels: [][]Device{{{Name: "pdu-" + name, Driver: "dummy"}}}}
		}
	}
	for _, name := range h.names {
		h.boot(name)
	}
	h.regroup()
	h.at(50*time.Millisecond, h.tick)
	return h
}

func (h *harness) logf(format string, args ...any) {
	if h.trace {
		fmt.Printf("%8v "+format+"\n", append([]any{h.now}, args...)...)
	}
}

func (h *harness) fatalf(format string, args ...any) {
	h.t.Helper()
	h.failed = true
	h.t.Fatalf("seed %d at %v: %s (replay: go test ./core/fence/ -run %s -seed=%d, FENCETRACE=1 for a trace)",
		h.seed, h.now, fmt.Sprintf(format, args...), h.t.Name(), h.seed)
}

func (h *harness) at(d time.Duration, fn func()) {
	h.seq++
	heap.Push(&h.q, &hev{at: h.now + d, seq: h.seq, fn: fn})
}

func (h *harness) run(d time.Duration) {
	end := h.now + d
	for h.q.Len() > 0 && h.q[0].at <= end {
		e := heap.Pop(&h.q).(*hev)
		h.now = e.at
		e.fn()
	}
	h.now = end
}

func (h *harness) boot(name string) {
	nd := h.nodes[name]
	nd.up = true
	nd.boot++
	nd.inc++
	cfg := h.cfg
	cfg.Self, cfg.Boot = name, nd.boot
	f, err := New(cfg)
	if err != nil {
		h.t.Fatal(err)
	}
	if nd.persist != nil {
		if err := f.Restore(nd.persist); err != nil {
			h.t.Fatalf("%s restore: %v", name, err)
		}
	}
	nd.f, nd.view = f, View{}
	if h.wd > 0 {
		h.countdown(nd) // armed at start: the node must get a lease within W
	}
	if nd.conf == nil {
		nd.conf = map[string][]Confirmed{}
	}
	h.logf("%s boots (boot %d)", name, nd.boot)
}

func (h *harness) crash(name string) {
	nd := h.nodes[name]
	if !nd.up {
		return
	}
	h.logf("%s crashes (boot %d)", name, nd.boot)
	nd.up = false
	nd.inc++
	nd.view = View{}
	nd.pending = nil
	nd.feeding = false
	delete(h.frozen, name)
	delete(h.stale, name)
	for _, c := range h.calls {
		if c.runner == name && c.end == 0 {
			c.end = h.now // its calls die with it
		}
	}
}

func (h *harness) tick() {
	for _, name := range h.names {
		if nd := h.nodes[name]; nd.up && h.frozen[name] == 0 {
			nd.f.Tick(h.now)
			h.ready(nd)
		}
	}
	h.at(50*time.Millisecond, h.tick)
}

func (h *harness) step(nd *hnode, in Input) {
	if until, ok := h.frozen[nd.name]; ok {
		inc := nd.inc
		h.at(until-h.now, func() { // processed, in order, when it wakes up
			if nd.up && nd.inc == inc {
				h.step(nd, in)
			}
		})
		return
	}
	if err := nd.f.Step(h.now, in); err != nil {
		h.fatalf("%s: step %T: %v", nd.name, in, err)
	}
	h.ready(nd)
}

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
			if _, fz := h.frozen[n]; fz {
				continue // alone: nobody hears it
			}
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
	for _, n := range h.names {
		if _, fz := h.frozen[n]; h.nodes[n].up && !seen[n] && !fz {
			comps = append(comps, []string{n})
		}
	}
	return comps
}

func (h *harness) primary(members []string) bool {
	if h.twoNode {
		return len(members) >= 1
	}
	return len(members)*2 > len(h.names)
}

// regroup gives a new view to every component whose members changed. The
// members of a primary view install after a short settle; a node whose new
// view is not primary notices up to T_lease later (it kept its lease).
func (h *harness) regroup() {
	for _, c := range h.components() {
		cur := h.nodes[c[0]].view
		same := true
		for _, n := range c {
			v := h.nodes[n].view
			if v.ID != cur.ID || strings.Join(v.Members, ",") != strings.Join(c, ",") || h.stale[n] {
				same = false
			}
		}
		if same {
			continue
		}
		h.epoch++
		id := wire.ViewID{Epoch: h.epoch, Coord: h.nodes[c[0]].id}
		hv := &hview{id: id, members: c, primary: h.primary(c), broken: -1, flush: map[*hmsg]map[wire.ViewID]bool{}}
		h.views[id] = hv
		for _, n := range c {
			nd, inc := h.nodes[n], h.nodes[n].inc
			d := 20 * time.Millisecond
			if !hv.primary && h.jitter {
				d = time.Duration(h.rng.Int64N(int64(h.cfg.Lease)))
			}
			h.at(d, func() {
				if nd.up && nd.inc == inc && slices.Equal(h.componentOf(n), c) {
					h.install(nd, hv)
				}
			})
		}
	}
}

func (h *harness) componentOf(n string) []string {
	for _, c := range h.components() {
		if slices.Contains(c, n) {
			return c
		}
	}
	return nil
}

// install moves nd from its view to hv: the old view breaks, its
// undelivered messages are flushed (or lost) the same way for every member
// of hv, the new View is given, and the lease follows later.
func (h *harness) install(nd *hnode, hv *hview) {
	if _, fz := h.frozen[nd.name]; nd.view.ID == hv.id || fz {
		return
	}
	h.leaseLost(nd)
	if old := h.views[nd.view.ID]; old != nil {
		if old.broken < 0 {
			old.broken = h.now
		}
		var resend []*hmsg
		for _, m := range old.msgs {
			if m.done[nd.name] {
				continue
			}
			fl := old.flush[m]
			if fl == nil {
				fl = map[wire.ViewID]bool{}
				old.flush[m] = fl
			}
			dec, ok := fl[hv.id]
			if !ok {
				dec = m.safeAt <= old.broken || len(m.done) > 0 || h.rng.IntN(2) == 0
				fl[hv.id] = dec
			}
			if dec {
				m.done[nd.name] = true
				h.step(nd, Deliver{View: old.id, Primary: old.primary, Payload: m.payload, Flush: true})
				if !nd.up {
					return
				}
			} else if m.from == nd.name && m.inc == nd.inc {
				resend = append(resend, m)
			}
		}
		pend := nd.pending
		nd.pending = nil
		inc := nd.inc
		defer func() {
			if !nd.up || nd.inc != inc {
				return
			}
			for _, m := range resend {
				h.send(nd, m.payload)
			}
			for _, p := range pend {
				h.send(nd, p)
			}
		}()
	}
	v := View{ID: hv.id, Members: hv.members, Coordinator: hv.members[0], Primary: hv.primary}
	nd.view = v
	delete(h.stale, nd.name)
	h.logf("%s installs %d/%d %v primary=%v", nd.name, hv.id.Epoch, hv.id.Coord, hv.members, hv.primary)
	h.step(nd, v)
	if hv.primary {
		inc := nd.inc
		wait := time.Duration(float64(h.cfg.Lease)*(1+h.cfg.Drift)) + h.cfg.Margin
		h.at(wait, func() {
			if _, fz := h.frozen[nd.name]; nd.up && nd.inc == inc && nd.view.ID == hv.id && !fz {
				v.Lease, v.Takeover = true, true
				nd.view = v
				nd.feeding = true
				nd.wdGen++
				h.step(nd, v)
			}
		})
	}
}

// leaseLost starts the watchdog's countdown: W later the node dies unless
// it got a lease again.
func (h *harness) leaseLost(nd *hnode) {
	if h.wd == 0 || !nd.feeding {
		return
	}
	nd.feeding = false
	h.countdown(nd)
}

func (h *harness) countdown(nd *hnode) {
	nd.wdGen++
	gen, inc := nd.wdGen, nd.inc
	h.at(h.wd, func() {
		if nd.up && nd.inc == inc && nd.wdGen == gen {
			h.logf("%s: watchdog fires", nd.name)
			h.crash(nd.name)
			h.regroup()
			if h.reboot >= 0 {
				h.at(h.reboot, func() { h.restart(nd.name) })
			}
		}
	})
}

func (h *harness) restart(name string) {
	if h.nodes[name].up {
		return
	}
	h.boot(name)
	h.regroup()
}

func (h *harness) send(nd *hnode, p []byte) {
	hv := h.views[nd.view.ID]
	if hv == nil || hv.broken >= 0 {
		nd.pending = append(nd.pending, p) // bcast holds it for the next view
		return
	}
	d := time.Millisecond
	if h.jitter {
		d = time.Duration(1+h.rng.IntN(8)) * time.Millisecond
	}
	at := max(h.now+d, hv.lastAt)
	hv.lastAt = at
	m := &hmsg{from: nd.name, inc: nd.inc, payload: p, safeAt: at, done: map[string]bool{}}
	hv.msgs = append(hv.msgs, m)
	h.at(at-h.now, func() {
		if hv.broken >= 0 && hv.broken < at {
			return // the view broke first: flushed or lost at the installs
		}
		for _, n := range hv.members {
			mn := h.nodes[n]
			if mn.up && mn.view.ID == hv.id && !m.done[n] {
				m.done[n] = true
				h.step(mn, Deliver{View: hv.id, Primary: hv.primary, Payload: p})
			}
		}
	})
}

func (h *harness) ready(nd *hnode) {
	for nd.up && nd.f.HasReady() {
		rd := nd.f.Ready()
		nd.f.Advance()
		if rd.Persist != nil {
			nd.persist = rd.Persist
		}
		for _, c := range rd.Confirmed {
			h.confirmed(nd, c)
		}
		nd.events = append(nd.events, rd.Events...)
		nd.history = append(nd.history, rd.History...)
		for _, e := range rd.Events {
			h.logf("%s event %s target=%s device=%s by=%s err=%s", nd.name, e.Kind, e.Target, e.Device, e.By, e.Error)
		}
		if rd.SelfFence != "" {
			nd.selfF = rd.SelfFence
			h.logf("%s self-fences: %s", nd.name, rd.SelfFence)
			h.crash(nd.name)
			h.regroup()
			if name := nd.name; !h.noRestart { // the service manager starts it again
				h.at(500*time.Millisecond, func() { h.restart(name) })
			}
			return
		}
		for _, p := range rd.Broadcast {
			h.send(nd, p)
		}
		for _, c := range rd.Calls {
			h.call(nd, c)
		}
	}
}

// confirmed checks G4 at the moment a node says target is fenced.
func (h *harness) confirmed(nd *hnode, c Confirmed) {
	h.logf("%s: confirmed %s fenced at boot %d by %s (%s)", nd.name, c.Target, c.Boot, c.Device, c.By)
	nd.conf[c.Target] = append(nd.conf[c.Target], c)
	tn := h.nodes[c.Target]
	if tn.up && tn.boot == c.Boot && !h.lie[c.Device] {
		h.fatalf("%s confirmed %s fenced at boot %d (%s) while it runs", nd.name, c.Target, c.Boot, c.Device)
	}
	if c.Device != DeviceWatchdog && c.Device != DeviceManual {
		found := false
		for _, hc := range h.calls {
			if hc.target == c.Target && hc.device == c.Device && hc.ok && hc.end > 0 && hc.end <= h.now {
				found = true
			}
		}
		if !found {
			h.fatalf("%s confirmed %s by %s without a successful call of it", nd.name, c.Target, c.Device)
		}
	}
	if c.Device == DeviceWatchdog && h.wd == 0 {
		h.fatalf("%s confirmed %s by watchdog, but no watchdog runs", nd.name, c.Target)
	}
}

// call runs a stand-in device: it may fail, hang past its deadline, or
// kill the target halfway through. Two open calls on one target fail the
// test.
func (h *harness) call(nd *hnode, c Call) {
	if !h.noLeaseCheck && !h.holdsLease(nd) {
		h.logf("%s: lease lost before the call on %s started", nd.name, c.Target)
		inc := nd.inc
		h.at(time.Millisecond, func() {
			if nd.up && nd.inc == inc {
				h.step(nd, Result{Call: c.ID, Error: "lease lost before the call started"})
			}
		})
		return
	}
	for _, o := range h.calls {
		if o.target == c.Target && o.end == 0 {
			h.fatalf("two concurrent fences of %s: %s on %s (since %v) and %s on %s", c.Target, o.device, o.runner, o.start, c.Device, nd.name)
		}
	}
	hc := &hcall{target: c.Target, device: c.Device, runner: nd.name, start: h.now}
	h.calls = append(h.calls, hc)
	h.logf("%s calls %s %s %s", nd.name, c.Device, c.Action, c.Target)
	dur := 100 * time.Millisecond
	if h.jitter {
		dur = time.Duration(20+h.rng.IntN(400)) * time.Millisecond
		if h.rng.IntN(3) == 0 {
			dur = time.Duration(h.rng.Int64N(int64(c.Timeout))) // slow: still running at a view change
		}
	}
	if d, ok := h.dur[c.Device]; ok {
		dur = d
	}
	ok := !h.fail[c.Device]
	if h.hang[c.Device] {
		dur, ok = 10*c.Timeout, false
	}
	end := min(dur, c.Timeout)
	inc := nd.inc
	if ok && !h.lie[c.Device] {
		h.at(dur/2, func() {
			if hc.end != 0 {
				return
			}
			tn := h.nodes[c.Target]
			if tn.up {
				h.crash(c.Target)
				h.regroup()
			}
			if c.Action == ActionReboot && h.reboot >= 0 {
				h.at(h.reboot, func() { h.restart(c.Target) })
			}
		})
	}
	h.at(end, func() {
		if hc.end != 0 {
			return // the runner died
		}
		hc.end, hc.ok = h.now, ok && dur <= c.Timeout
		if nd.up && nd.inc == inc {
			res := Result{Call: c.ID, OK: hc.ok}
			if !hc.ok {
				res.Error = "stand-in " + c.Device + " failed"
				if dur > c.Timeout {
					res.Error = "stand-in " + c.Device + ": stopped at its deadline"
				}
			}
			h.step(nd, res)
		}
	})
}

// holdsLease is the lease by the real clock: the node's view has its
// lease and nobody left it more than T_lease/(1+ρ) ago (the others stopped
// acknowledging then).
func (h *harness) holdsLease(nd *hnode) bool {
	hv := h.views[nd.view.ID]
	if hv == nil || !nd.view.Lease {
		return false
	}
	return hv.broken < 0 || h.now-hv.broken < time.Duration(float64(h.cfg.Lease)/(1+h.cfg.Drift))
}

// freeze pauses a node for d: it processes nothing, nobody hears it; then
// it wakes up with what queued meanwhile, its view and lease flag stale.
func (h *harness) freeze(name string, d time.Duration) {
	if !h.nodes[name].up {
		return
	}
	h.logf("%s freezes for %v", name, d)
	until := h.now + d
	h.frozen[name] = until
	h.leaseLost(h.nodes[name]) // a frozen node feeds no watchdog
	h.regroup()
	inc := h.nodes[name].inc
	h.at(d, func() {
		if h.frozen[name] == until {
			delete(h.frozen, name)
			h.stale[name] = true
			h.logf("%s wakes up", name)
			if h.nodes[name].inc == inc {
				h.regroup()
			}
		}
	})
}

func (h *harness) partition(parts ...[]string) {
	h.logf("partition %v", parts)
	h.parts = parts
	h.regroup()
}

func (h *harness) heal() {
	h.logf("heal")
	h.parts = nil
	h.regroup()
}

// coordinator is the coordinator of the primary view, if one is settled.
func (h *harness) coordinator() *hnode {
	for _, n := range h.names {
		nd := h.nodes[n]
		if nd.up && nd.view.Primary && nd.view.Coordinator == n {
			return nd
		}
	}
	return nil
}

func (h *harness) status(from, target string) TargetStatus {
	for _, s := range h.nodes[from].f.Status() {
		if s.Target == target {
			return s
		}
	}
	return TargetStatus{}
}

func (h *harness) kinds(n string, target string) []string {
	var out []string
	for _, e := range h.nodes[n].events {
		if e.Target == target {
			out = append(out, e.Kind+":"+e.Device)
		}
	}
	return out
}
