package disk_test

// The simulated world of sim_test.go: nodes (one disk.Core per
// incarnation), a virtual clock and event queue, a network of FIFO queues
// per pair, the membership and stack decisions (views, Lost, the lock
// manager's release of a departed holder), the resource manager's
// placement of the server, the driver of each node (the server's start and
// stop, IO with delays, the flush rule) and the backing store.

import (
	"container/heap"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/corral-ha/corral/core/disk"
	"github.com/corral-ha/corral/core/wire"
)

// Timing of the model (virtual time).
const (
	detectMin   = 20 * time.Millisecond  // membership's detection of a change
	detectMax   = 250 * time.Millisecond //
	netDelayMin = 200 * time.Microsecond
	netDelayMax = 5 * time.Millisecond
	netSlowMax  = 80 * time.Millisecond
	healBackoff = time.Second            // what a cut held arrives within this after the heal
	ioDelayMin  = 100 * time.Microsecond // the backing store's latency
	ioDelayMax  = 12 * time.Millisecond
	leaseDur    = time.Second             // a node's lease, renewed while it reaches a majority
	leaseWait   = 1500 * time.Millisecond // survivors' wait for a node without a fence device
	fenceMin    = 50 * time.Millisecond
	fenceMax    = 400 * time.Millisecond
	tickEvery   = 10 * time.Millisecond
	placeEvery  = 50 * time.Millisecond
	lockEvery   = 20 * time.Millisecond
	retry       = 5 * time.Second // disk.Config.Retry
)

const (
	diskName = "d1"
	bs       = 4096 // block size of every request
	nBlocks  = 4    // blocks 0,1 are region 0, blocks 2,3 region 1
	nRegions = 2
)

// simOpts are the harness's knobs, mutations included.
type simOpts struct {
	// core names a core mutation (disk.SetTestMutation in export_test.go):
	// ignore-view-tag, replay-reverse, dup-by-seq, overtake-held,
	// no-retag-at-view
	core string
	// skipFence: the placement starts a new server as soon as the old one
	// left the primary view (no fence, no lease wait) on a raw shared
	// device (no lock on the store): must be caught by checks 1 or 5.
	skipFence bool
	// earlyRelease: the lock manager releases a departed holder's regions
	// at once, without waiting for Fenced nor the fence/lease rule.
	earlyRelease bool
	// cutoffOnly: the only fault is cutting a client off with a write in
	// flight (a scenario for the view tag)
	cutoffOnly bool
}

// ev is one scheduled event.
type ev struct {
	at  time.Duration
	seq uint64
	fn  func()
}

type evq []ev

func (q evq) Len() int { return len(q) }
func (q evq) Less(i, j int) bool {
	if q[i].at != q[j].at {
		return q[i].at < q[j].at
	}
	return q[i].seq < q[j].seq
}
func (q evq) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *evq) Push(x any)   { *q = append(*q, x.(ev)) }
func (q *evq) Pop() any {
	old := *q
	x := old[len(old)-1]
	*q = old[:len(old)-1]
	return x
}

// node is one machine and the corral process on it (one incarnation at a
// time: boot counts them).
type node struct {
	id      wire.NodeID
	boot    uint32
	alive   bool
	paused  bool
	isolate bool // a long pause: membership removes it, circuits reset
	group   int  // partition group
	core    *disk.Core
	dirty   disk.Dirty

	view       disk.View // the last view given
	lost       bool
	lostOnce   bool // told Lost in this incarnation: its client stops for good
	leaseUntil time.Duration
	deferred   []func() // work that arrived while paused

	// the driver's server state
	serving  bool
	stopping bool
	epoch    uint64
	inflight int
	fenced   wire.ViewID
	excl     map[disk.Inc]wire.ViewID // incarnations that left this core's views, at which view

	// the client (this node's export)
	reqs      map[uint64]*req
	nextID    uint64
	unflushed []*wrec // writes acked without FUA, not yet covered by a flush
	waiting   bool    // waits for a region lock
	nextRel   [nRegions]time.Duration
}

func (n *node) inc() disk.Inc { return disk.Inc{Node: n.id, Boot: n.boot} }
func (n *node) running() bool { return n.alive && !n.paused }

// req is one request of a node's client.
type req struct {
	id      uint64
	op      disk.Op
	block   int
	w       *wrec // a write's record
	mark    uint64
	readMin int   // the least history index a read may return
	own     *wrec // the reader's last acknowledged write to the block
	minWhy  string
	at      time.Duration
}

// wrec is one write request: its tag is in its data.
type wrec struct {
	tag      uint64
	client   disk.Inc
	block    int
	idx      int // its place in the block's history
	fua      bool
	acked    bool
	ackEpoch uint64
	dseq     uint64 // the Dirty sequence after its Wrote
}

// store is the backing store shared by every possible server: the header
// (its epoch), the OFD-like lock, the durable blocks and each machine's
// page cache.
type store struct {
	epoch   uint64
	lock    *disk.Inc
	noLock  bool // a raw shared device: no lock
	durable [nBlocks]uint64
	cache   map[wire.NodeID]map[int]uint64
}

// view is a view the membership installed.
type view struct {
	id      wire.ViewID
	members []disk.Inc
	primary bool
}

func (v *view) has(i disk.Inc) bool { return v != nil && slices.Contains(v.members, i) }

type lockState struct {
	holder *disk.Inc
	since  time.Duration
	queue  []disk.Inc
}

type stats struct {
	msgs, dropped, ios, writes, reads, flushes, eio, crashes, kills, partitions, pauses, fences, views, servers, moves, lost, releases int
}

type world struct {
	seed     int64
	rng      *rand.Rand
	opts     simOpts
	fence    bool // a fence device covers every node
	now      time.Duration
	seq      uint64
	q        evq
	nodes    []*node
	st       store
	viewN    uint64
	pairQ    map[[2]wire.NodeID][]msg
	pairDown map[[2]wire.NodeID]bool
	// resetOnView: circuits between nodes a view separates drop what they
	// hold (else only an incarnation's end does, and a cut only delays)
	resetOnView bool

	prim       *view
	departedAt map[disk.Inc]time.Duration
	fencing    map[disk.Inc]bool
	everIn     map[disk.Inc]bool // incarnations that were in a primary view
	placed     *disk.Inc
	startFails int
	locks      [nRegions]lockState
	active     bool // clients issue requests
	cutOnWrite bool // cut the next client that writes off (cutOff)
	tagN       uint64
	writes     map[uint64]*wrec
	hist       [nBlocks][]*wrec
	secured    [nBlocks]int
	applied    map[[2]uint64]int   // (tag, epoch) -> times applied
	lastIdx    map[[2]uint64]int   // (block, epoch) -> last applied history index
	maxApplied [nBlocks]*wrec      // the applied write of highest index
	epochOf    map[uint64]disk.Inc // epoch -> the server incarnation that took it

	chk    checker
	trace  []string
	traceN int
	traceI int
	all    bool
	failed error
	st2    stats
}

func newWorld(seed int64, opts simOpts) *world {
	w := &world{
		seed:       seed,
		rng:        rand.New(rand.NewPCG(uint64(seed), 0xd15c)),
		opts:       opts,
		pairQ:      map[[2]wire.NodeID][]msg{},
		pairDown:   map[[2]wire.NodeID]bool{},
		departedAt: map[disk.Inc]time.Duration{},
		fencing:    map[disk.Inc]bool{},
		everIn:     map[disk.Inc]bool{},
		writes:     map[uint64]*wrec{},
		applied:    map[[2]uint64]int{},
		lastIdx:    map[[2]uint64]int{},
		epochOf:    map[uint64]disk.Inc{},
		traceN:     400,
	}
	for b := range w.secured {
		w.secured[b] = -1
	}
	w.st.cache = map[wire.NodeID]map[int]uint64{}
	w.st.noLock = opts.skipFence
	n := 3 + w.rng.IntN(3)
	w.fence = w.rng.IntN(2) == 0
	w.resetOnView = w.rng.IntN(3) == 0
	for i := range n {
		w.nodes = append(w.nodes, &node{id: wire.NodeID(i + 1)})
	}
	return w
}

func (w *world) tracef(format string, args ...any) {
	line := fmt.Sprintf("%9.4fs ", w.now.Seconds()) + fmt.Sprintf(format, args...)
	if w.all {
		fmt.Println(line)
	}
	if len(w.trace) < w.traceN {
		w.trace = append(w.trace, line)
		return
	}
	w.trace[w.traceI] = line
	w.traceI = (w.traceI + 1) % w.traceN
}

func (w *world) traceTail() []string {
	return append(slices.Clone(w.trace[w.traceI:]), w.trace[:w.traceI]...)
}

func (w *world) fail(format string, args ...any) {
	if w.failed == nil {
		w.failed = fmt.Errorf(format, args...)
		w.tracef("FAIL: %v", w.failed)
	}
}

func (w *world) at(d time.Duration, fn func()) {
	w.seq++
	heap.Push(&w.q, ev{at: w.now + d, seq: w.seq, fn: fn})
}

func (w *world) between(lo, hi time.Duration) time.Duration {
	if hi <= lo {
		return lo
	}
	return lo + time.Duration(w.rng.Int64N(int64(hi-lo)))
}

// runUntil runs events until end (or a failure).
func (w *world) runUntil(end time.Duration) {
	for w.failed == nil && len(w.q) > 0 && w.q[0].at <= end {
		e := heap.Pop(&w.q).(ev)
		w.now = e.at
		e.fn()
	}
	if w.now < end {
		w.now = end
	}
}

// onNode runs fn on n's incarnation boot when it runs: deferred while it
// is paused, dropped once that incarnation died.
func (w *world) onNode(n *node, boot uint32, fn func()) {
	if !n.alive || n.boot != boot {
		return
	}
	if n.paused {
		n.deferred = append(n.deferred, fn)
		return
	}
	fn()
	w.pump(n)
}

// ---- nodes: start, crash, pause ----

func (w *world) start(n *node) {
	n.boot++
	n.alive, n.paused, n.isolate = true, false, false
	c, err := disk.New(disk.Config{Self: n.inc(), Window: 4, Retry: retry, DupCache: 16})
	if err != nil {
		w.fail("node %d: New: %v", n.id, err)
		return
	}
	n.core = c
	n.dirty = disk.Dirty{}
	n.view = disk.View{}
	n.lost, n.lostOnce = false, false
	n.leaseUntil = 0
	n.deferred = nil
	n.serving, n.stopping, n.epoch, n.inflight = false, false, 0, 0
	n.fenced = wire.ViewID{}
	n.excl = map[disk.Inc]wire.ViewID{}
	n.reqs = map[uint64]*req{}
	n.unflushed = nil
	n.waiting = false
	w.tracef("node %d starts (boot %d)", n.id, n.boot)
	if err := c.Step(w.now, disk.Define{Disks: []disk.Disk{{Name: diskName, Size: nBlocks * bs}}}); err != nil {
		w.fail("node %d: Define: %v", n.id, err)
	}
	w.pump(n)
	boot := n.boot
	var tick func()
	tick = func() {
		if !n.alive || n.boot != boot {
			return
		}
		w.onNode(n, boot, func() { n.core.Tick(w.now) })
		w.at(tickEvery, tick)
	}
	w.at(w.between(0, tickEvery), tick)
	var client func()
	client = func() {
		if !n.alive || n.boot != boot {
			return
		}
		w.onNode(n, boot, func() { w.clientStep(n) })
		w.at(w.between(5*time.Millisecond, 40*time.Millisecond), client)
	}
	w.at(w.between(0, 40*time.Millisecond), client)
	w.topologyChanged()
}

// down ends n's incarnation: crash (the machine: its page cache is lost)
// or kill (the process: the page cache survives and is written back).
func (w *world) down(n *node, machine bool, why string) {
	if !n.alive {
		return
	}
	w.tracef("node %d (boot %d) %s", n.id, n.boot, why)
	n.alive = false
	n.paused = false
	if machine {
		delete(w.st.cache, n.id)
	} else {
		w.writeBack(n.id)
	}
	if w.st.lock != nil && w.st.lock.Node == n.id {
		w.st.lock = nil
	}
	if w.placed != nil && w.placed.Node == n.id && w.placed.Boot == n.boot && !w.opts.skipFence {
		// the resource manager sees the server's process gone (or the
		// fence done): it may place it elsewhere at once
		w.placed = nil
	}
	n.reqs = nil
	w.topologyChanged()
}

func (w *world) writeBack(id wire.NodeID) {
	for b, t := range w.st.cache[id] {
		w.st.durable[b] = t
	}
	delete(w.st.cache, id)
}

func (w *world) pause(n *node, d time.Duration) {
	if !n.running() {
		return
	}
	long := d > detectMax
	w.tracef("node %d pauses for %v (long %v)", n.id, d, long)
	n.paused = true
	boot := n.boot
	if long {
		n.isolate = true
		w.topologyChanged()
	}
	w.at(d, func() {
		if !n.alive || n.boot != boot || !n.paused {
			return
		}
		w.tracef("node %d resumes", n.id)
		n.paused = false
		// the stack's first act after a pause: its own lease lapsed?
		w.leaseCheck(n)
		for len(n.deferred) > 0 && n.alive && n.boot == boot && !n.paused {
			fn := n.deferred[0]
			n.deferred = n.deferred[1:]
			fn()
			w.pump(n)
		}
		if n.isolate {
			n.isolate = false
			w.reconnect()
			w.topologyChanged()
		}
	})
}

// ---- network ----

// msg is a message on a circuit.
type msg struct {
	at      time.Duration
	from    disk.Inc
	toBoot  uint32
	payload []byte
}

func pair(a, b wire.NodeID) [2]wire.NodeID { return [2]wire.NodeID{a, b} }

func (w *world) node(id wire.NodeID) *node { return w.nodes[int(id)-1] }

func (w *world) connected(a, b *node) bool {
	return a.alive && b.alive && !a.isolate && !b.isolate && a.group == b.group
}

// send queues a message on the circuit from -> o.To: reliable and in
// order while both incarnations live and membership keeps them together
// (held across a short cut); a circuit that membership separated drops
// what it holds and what is sent on it.
func (w *world) send(from *node, o disk.Out) {
	if int(o.To) < 1 || int(o.To) > len(w.nodes) || o.To == from.id {
		w.fail("node %d sends a message to node %d", from.id, o.To)
		return
	}
	to := w.node(o.To)
	p := pair(from.id, o.To)
	if w.pairDown[p] || !to.alive {
		w.st2.dropped++
		return
	}
	w.st2.msgs++
	at := w.now + w.between(netDelayMin, netDelayMax)
	if w.rng.IntN(10) == 0 {
		at += w.between(0, netSlowMax) // a slow path: retransmits
	}
	if q := w.pairQ[p]; len(q) > 0 && at < q[len(q)-1].at {
		at = q[len(q)-1].at
	}
	w.pairQ[p] = append(w.pairQ[p], msg{at: at, from: from.inc(), toBoot: to.boot, payload: slices.Clone(o.Payload)})
	w.at(at-w.now, func() { w.deliver(p) })
}

func (w *world) deliver(p [2]wire.NodeID) {
	from, to := w.node(p[0]), w.node(p[1])
	for len(w.pairQ[p]) > 0 && w.pairQ[p][0].at <= w.now && w.connected(from, to) {
		m := w.pairQ[p][0]
		w.pairQ[p] = w.pairQ[p][1:]
		if !from.alive || from.boot != m.from.Boot || to.boot != m.toBoot {
			w.st2.dropped++
			continue
		}
		w.onNode(to, m.toBoot, func() {
			if err := to.core.Step(w.now, disk.Receive{From: m.from, Payload: m.payload}); err != nil {
				w.tracef("node %d: Receive from %v: %v", to.id, m.from, err)
			}
		})
	}
}

// reconnect delivers what cuts held, after a retransmission backoff.
func (w *world) reconnect() {
	for _, a := range w.nodes {
		for _, b := range w.nodes {
			p := pair(a.id, b.id)
			q := w.pairQ[p]
			if len(q) == 0 || !w.connected(a, b) {
				continue
			}
			at := w.now + w.between(0, healBackoff)
			for i := range q {
				if q[i].at < at {
					q[i].at = at
				}
			}
			w.at(at-w.now, func() { w.deliver(p) })
		}
	}
}

// resetCircuits is conn's reaction to membership: circuits between
// nodes it separated drop what they hold.
func (w *world) resetCircuits() {
	for _, a := range w.nodes {
		for _, b := range w.nodes {
			if a == b {
				continue
			}
			p := pair(a.id, b.id)
			if w.connected(a, b) {
				w.pairDown[p] = false
				continue
			}
			w.pairDown[p] = true
			w.st2.dropped += len(w.pairQ[p])
			w.pairQ[p] = nil
		}
	}
}

// ---- membership: views, leases, Lost ----

// topologyChanged schedules the membership's reaction.
func (w *world) topologyChanged() {
	w.at(w.between(detectMin, detectMax), w.installViews)
}

func (w *world) installViews() {
	if w.failed != nil {
		return
	}
	if w.resetOnView {
		w.resetCircuits()
	}
	seen := map[wire.NodeID]bool{}
	var newPrim *view
	for _, n := range w.nodes {
		if seen[n.id] || !n.alive || n.isolate {
			continue
		}
		var comp []*node
		for _, m := range w.nodes {
			if !seen[m.id] && w.connected(n, m) {
				seen[m.id] = true
				comp = append(comp, m)
			}
		}
		var members []disk.Inc
		for _, m := range comp {
			members = append(members, m.inc())
		}
		primary := 2*len(comp) > len(w.nodes)
		same := true
		for _, m := range comp {
			if !slices.Equal(m.view.Members, members) || m.view.Primary != primary || m.lost {
				same = false
			}
		}
		if same {
			if primary {
				newPrim = w.prim
			}
			continue
		}
		w.viewN++
		v := &view{id: wire.ViewID{Epoch: w.viewN, Coord: comp[0].id}, members: members, primary: primary}
		w.st2.views++
		w.tracef("view %d %v primary %v", v.id.Epoch, members, primary)
		if primary {
			newPrim = v
		}
		for _, m := range comp {
			w.giveView(m, disk.View{ID: v.id, Members: slices.Clone(members), Primary: primary})
			if primary {
				m.leaseUntil = w.now + leaseDur
			}
		}
	}
	if newPrim != w.prim {
		if w.prim != nil {
			for _, i := range w.prim.members {
				if !newPrim.has(i) {
					if _, ok := w.departedAt[i]; !ok {
						w.departedAt[i] = w.now
					}
				}
			}
		}
		if newPrim != nil {
			for _, i := range newPrim.members {
				delete(w.departedAt, i)
				w.everIn[i] = true
			}
			// the new primary view's coordinator fences every live
			// incarnation that was in a primary view and is not in it
			for _, i := range sortedIncs(w.everIn) {
				if !newPrim.has(i) {
					w.maybeFence(i)
				}
			}
		}
		w.prim = newPrim
	}
}

func sortedIncs(m map[disk.Inc]bool) []disk.Inc {
	out := make([]disk.Inc, 0, len(m))
	for i := range m {
		out = append(out, i)
	}
	slices.SortFunc(out, func(a, b disk.Inc) int {
		if a.Node != b.Node {
			return int(a.Node) - int(b.Node)
		}
		return int(a.Boot) - int(b.Boot)
	})
	return out
}

func (w *world) giveView(n *node, v disk.View) {
	boot := n.boot
	w.onNode(n, boot, func() {
		// the server's record of who left its views (check 2)
		for _, i := range n.view.Members {
			if !slices.Contains(v.Members, i) {
				if _, ok := n.excl[i]; !ok {
					n.excl[i] = v.ID
				}
			}
		}
		for _, i := range v.Members {
			delete(n.excl, i)
		}
		n.view = v
		n.lost = v.Lost
		if v.Lost {
			n.lostOnce = true
		}
		if err := n.core.Step(w.now, v); err != nil {
			w.fail("node %d: View: %v", n.id, err)
		}
	})
}

// leaseTick renews the leases of nodes that reach a majority and tells
// those whose lease lapsed (Lost without a fence device).
func (w *world) leaseTick() {
	for _, n := range w.nodes {
		if !n.running() {
			continue
		}
		if w.prim.has(n.inc()) && !n.isolate {
			n.leaseUntil = w.now + leaseDur
		}
		w.leaseCheck(n)
	}
}

func (w *world) leaseCheck(n *node) {
	if !n.running() || w.now < n.leaseUntil || n.leaseUntil == 0 {
		return
	}
	if n.view.Primary || (!w.fence && !n.lost) {
		w.tracef("node %d: lease lapsed (lost %v)", n.id, !w.fence)
		if !w.fence {
			w.st2.lost++
		}
		w.giveView(n, disk.View{ID: n.view.ID, Members: slices.Clone(n.view.Members), Primary: false, Lost: !w.fence})
		w.pump(n)
	}
	// the driver's monitor: no lease, no serving
	if n.serving && !n.stopping {
		w.driverStop(n, "lease lapsed")
	}
}

// maybeFence fences a departed live incarnation (a fence device covers
// every node in the fence configuration): the machine is powered off.
func (w *world) maybeFence(i disk.Inc) {
	if !w.fence || w.fencing[i] {
		return
	}
	n := w.node(i.Node)
	if !n.alive || n.boot != i.Boot {
		return
	}
	w.fencing[i] = true
	w.at(w.between(fenceMin, fenceMax), func() {
		delete(w.fencing, i)
		if w.prim.has(i) || !n.alive || n.boot != i.Boot {
			return
		}
		w.st2.fences++
		w.down(n, true, "fenced (powered off)")
		w.at(w.between(300*time.Millisecond, 1500*time.Millisecond), func() {
			if !n.alive {
				w.start(n)
			}
		})
	})
}

// ---- the resource manager's placement and the driver's server ----

func (w *world) dead(i disk.Inc) bool {
	n := w.node(i.Node)
	return !n.alive || n.boot != i.Boot
}

func (w *world) placeTick() {
	if w.prim == nil || w.failed != nil {
		return
	}
	if w.placed != nil {
		p := *w.placed
		pn := w.node(p.Node)
		if w.prim.has(p) && !w.dead(p) {
			if !pn.serving && !pn.stopping && pn.running() {
				w.driverStart(pn)
			}
			return
		}
		// the server left the primary view: exclude it first
		if !w.opts.skipFence && !w.dead(p) {
			if w.fence {
				w.maybeFence(p)
				return
			}
			if at, ok := w.departedAt[p]; !ok || w.now < at+leaseWait {
				return
			}
		}
		w.tracef("placement: %v excluded (dead %v)", p, w.dead(p))
		w.placed = nil
	}
	var cands []*node
	for _, i := range w.prim.members {
		if n := w.node(i.Node); n.running() && n.boot == i.Boot && !n.stopping && !n.lost {
			cands = append(cands, n)
		}
	}
	if len(cands) == 0 {
		return
	}
	n := cands[w.rng.IntN(len(cands))]
	inc := n.inc()
	w.placed = &inc
	w.driverStart(n)
}

// driverStart is the disk agent's start on n: lock, header, Serve.
func (w *world) driverStart(n *node) {
	if n.serving || n.stopping {
		return
	}
	if !w.st.noLock && w.st.lock != nil && *w.st.lock != n.inc() {
		if !w.dead(*w.st.lock) {
			w.startFails++
			w.tracef("node %d: start fails: the store is locked by %v", n.id, *w.st.lock)
			w.placed = nil
			return
		}
		w.st.lock = nil
	}
	// check 3 at every takeover: what the new server sees keeps every
	// secured write
	w.checkSecuredOn(n, "takeover by node "+fmt.Sprint(n.id))
	if !w.st.noLock {
		inc := n.inc()
		w.st.lock = &inc
	}
	w.st.epoch++
	n.epoch = w.st.epoch
	n.serving = true
	w.epochOf[n.epoch] = n.inc()
	w.st2.servers++
	w.tracef("node %d (boot %d) serves at epoch %d", n.id, n.boot, n.epoch)
	if err := n.core.Step(w.now, disk.Serve{Disk: diskName, Epoch: n.epoch}); err != nil {
		w.fail("node %d: Serve: %v", n.id, err)
	}
	w.pump(n)
}

// driverStop is the agent's stop: Unserve, wait for the IO in flight,
// fdatasync, unlock.
func (w *world) driverStop(n *node, why string) {
	if !n.serving || n.stopping {
		return
	}
	w.tracef("node %d stops serving epoch %d: %s", n.id, n.epoch, why)
	n.stopping = true
	if err := n.core.Step(w.now, disk.Unserve{Disk: diskName}); err != nil {
		w.fail("node %d: Unserve: %v", n.id, err)
	}
	w.pump(n)
	w.maybeStopped(n)
}

func (w *world) maybeStopped(n *node) {
	if !n.stopping || n.inflight > 0 {
		return
	}
	w.writeBack(n.id)
	if w.st.lock != nil && *w.st.lock == n.inc() {
		w.st.lock = nil
	}
	n.serving, n.stopping = false, false
	w.tracef("node %d stopped (epoch %d)", n.id, n.epoch)
	if w.placed != nil && *w.placed == n.inc() {
		w.placed = nil
	}
}

// move is `disk move`: a clean stop, then the placement picks a node.
func (w *world) move() {
	if w.placed == nil {
		return
	}
	n := w.node(w.placed.Node)
	if n.running() && n.serving && n.boot == w.placed.Boot {
		w.st2.moves++
		w.driverStop(n, "move")
	}
}

// ---- the driver: Ready ----

func (w *world) pump(n *node) {
	for i := 0; n.alive && !n.paused && n.core.HasReady(); i++ {
		if i > 1000 {
			w.fail("node %d: HasReady never ends", n.id)
			return
		}
		rd := n.core.Ready()
		n.core.Advance()
		for _, o := range rd.Messages {
			w.send(n, o)
		}
		for _, io := range rd.IO {
			w.issue(n, io)
		}
		for _, d := range rd.Done {
			w.done(n, d)
		}
		for _, e := range rd.Events {
			w.tracef("node %d event %s %s server %v epoch %d %s", n.id, e.Kind, e.Disk, e.Server, e.Epoch, e.Reason)
		}
		for _, s := range rd.Stale {
			// re-read the header
			if s == diskName && n.serving && !n.stopping && w.st.epoch > n.epoch {
				w.driverStop(n, fmt.Sprintf("stale: the header has epoch %d", w.st.epoch))
			}
		}
		if rd.Fenced != (wire.ViewID{}) {
			n.fenced = rd.Fenced
		}
	}
}

func blockData(tag uint64) []byte {
	b := make([]byte, bs)
	if tag == 0 {
		return b // never written: zeros
	}
	binary.BigEndian.PutUint64(b, tag)
	for i := 8; i < bs; i++ {
		b[i] = byte(tag) ^ byte(i)
	}
	return b
}

func parseBlock(b []byte) (uint64, bool) {
	if len(b) != bs {
		return 0, false
	}
	tag := binary.BigEndian.Uint64(b)
	if tag == 0 {
		for _, x := range b {
			if x != 0 {
				return 0, false
			}
		}
		return 0, true
	}
	for i := 8; i < bs; i++ {
		if b[i] != byte(tag)^byte(i) {
			return 0, false
		}
	}
	return tag, true
}

// issue runs one IO on the backing store after a delay (spanning view
// changes); a paused process runs it when it resumes.
func (w *world) issue(n *node, io disk.IO) {
	w.st2.ios++
	n.inflight++
	boot, epoch := n.boot, n.epoch
	if !n.serving {
		w.fail("node %d: IO %d while not serving", n.id, io.ID)
		return
	}
	var run func()
	run = func() {
		if !n.alive || n.boot != boot {
			return
		}
		if n.paused {
			n.deferred = append(n.deferred, run)
			return
		}
		res := w.execute(n, epoch, io)
		n.inflight--
		if err := n.core.Step(w.now, res); err != nil {
			w.fail("node %d: IODone %d: %v", n.id, io.ID, err)
		}
		w.pump(n)
		w.maybeStopped(n)
	}
	w.at(w.between(ioDelayMin, ioDelayMax), run)
}

func (w *world) visible(id wire.NodeID, b int) uint64 {
	if t, ok := w.st.cache[id][b]; ok {
		return t
	}
	return w.st.durable[b]
}

func (w *world) execute(n *node, epoch uint64, io disk.IO) disk.IODone {
	if io.Disk != diskName {
		w.fail("node %d: IO on disk %q", n.id, io.Disk)
		return disk.IODone{ID: io.ID, Err: disk.EIO}
	}
	switch io.Op {
	case disk.OpRead:
		if io.Off%bs != 0 || io.Len != bs || io.Off >= nBlocks*bs {
			w.fail("node %d: IO read off %d len %d: the clients only read whole blocks", n.id, io.Off, io.Len)
			return disk.IODone{ID: io.ID, Err: disk.EINVAL}
		}
		return disk.IODone{ID: io.ID, Data: blockData(w.visible(n.id, int(io.Off/bs)))}
	case disk.OpWrite:
		if io.Off%bs != 0 || io.Len != bs || io.Off >= nBlocks*bs || len(io.Data) != bs {
			w.fail("node %d: IO write off %d len %d data %d", n.id, io.Off, io.Len, len(io.Data))
			return disk.IODone{ID: io.ID, Err: disk.EINVAL}
		}
		tag, ok := parseBlock(io.Data)
		b := int(io.Off / bs)
		if !ok || w.writes[tag] == nil || w.writes[tag].block != b {
			w.fail("node %d: IO write of garbled data (tag %d) at block %d", n.id, tag, b)
			return disk.IODone{ID: io.ID, Err: disk.EIO}
		}
		w.tracef("node %d applies tag %d of %v to block %d at epoch %d (FUA %v)", n.id, tag, w.writes[tag].client, b, epoch, io.FUA)
		w.chk.applied(w, n, epoch, w.writes[tag])
		if w.st.cache[n.id] == nil {
			w.st.cache[n.id] = map[int]uint64{}
		}
		w.st.cache[n.id][b] = tag
		if io.FUA {
			w.writeBack(n.id)
		}
		return disk.IODone{ID: io.ID}
	case disk.OpFlush:
		w.writeBack(n.id)
		return disk.IODone{ID: io.ID}
	default:
		w.fail("node %d: IO op %d the clients never send", n.id, io.Op)
		return disk.IODone{ID: io.ID, Err: disk.EINVAL}
	}
}
