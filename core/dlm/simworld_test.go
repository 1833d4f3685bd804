package dlm_test

// The simulated world of sim_test.go: nodes (one dlm.DLM per incarnation),
// a virtual clock, a network of FIFO-per-pair queues, and the membership
// and stack decisions the DLM is given (views, Primary, Release, Lost),
// made as core/stack makes them (design decisions 4-6 of the DLM brief).

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/corral-ha/corral/core/dlm"
	"github.com/corral-ha/corral/core/wire"
)

// Timing of the model (virtual time).
const (
	leaseWait   = 3 * time.Second // the survivors' takeover wait for a node with no fence device
	detectMin   = 20 * time.Millisecond
	detectMax   = 400 * time.Millisecond
	netDelayMin = 200 * time.Microsecond
	netDelayMax = 20 * time.Millisecond
)

// A run that sends more than this is a message storm (a healthy run
// sends a few thousand messages).
const (
	maxMsgs  = 500000
	maxBytes = 200 << 20
)

// simOpts are the harness's knobs (mutations of the stack model included).
type simOpts struct {
	// earlyRelease puts every departed node in Release at once: the
	// mutation "purge before the fence is confirmed" (or before the lease
	// wait) that the checkers must catch.
	earlyRelease bool
	// noLost never tells a node without a fence device that its lease
	// lapsed (and no watchdog kills it): must be caught too.
	noLost bool
}

type simNode struct {
	id    wire.NodeID
	inc   int // incarnation (boot id); 0 before the first start
	alive bool
	d     *dlm.DLM
	fence bool // a fence device covers this node

	group       int           // partition group: nodes in different groups are cut
	longPause   bool          // paused long enough that membership removed it
	pausedUntil time.Duration // paused (no steps) until then

	views []queuedView // views to give, FIFO

	owners    []*owner
	nextOwner uint64

	// the stack's lease state of this incarnation
	leaseLapsed bool
	gotLost     bool // this incarnation stepped a View with Lost
	lastView    *viewRec
	given       *viewRec // the last view given (queued), with its Release
	givenRel    []wire.NodeID
}

type queuedView struct {
	at  time.Duration
	inc int
	v   dlm.View
}

type msg struct {
	at             time.Duration
	seq            uint64
	from, to       wire.NodeID
	fromInc, toInc int
	cutEpoch       uint64
	payload        []byte
	fromIdx, toIdx int
}

// viewRec is one view the membership installed (a component).
type viewRec struct {
	id      wire.ViewID
	members []wire.NodeID
	incs    []int
	primary bool
	release []wire.NodeID
	recov   map[wire.NodeID]bool // members whose DLM emitted Recovered for it
}

type event struct {
	at  time.Duration
	seq uint64
	fn  func()
}

type world struct {
	seed  int64
	rng   *rand.Rand
	opts  simOpts
	now   time.Duration
	seq   uint64
	nodes []*simNode
	ids   []wire.NodeID
	cfgLV map[string]int

	pairs     [][]msg    // [from*N+to]
	cutEpoch  [][]uint64 // [from][to], bumped when a pair is cut
	events    []event
	epoch     uint64
	quiet     bool
	fenceFail float64

	// stack/membership global facts
	curPrimary   *viewRec
	lastInPrim   []int           // incarnation last seen in a primary view (0 never)
	released     []int           // incarnations up to this one may be released
	needsRel     []int           // a member back with this new incarnation, not yet recovered everywhere
	departedAt   []time.Duration // when it left the primary (-1: a member, or never in one)
	fencing      []bool          // a fence attempt is scheduled
	viewsByEpoch map[uint64]*viewRec
	curViews     []*viewRec

	chk  *checker
	mode clientMode

	trace    []string
	traceN   int
	traceAt  int
	traceAll bool
	failed   error
	failed2  int
	// recoveredIn: the Ready being handled ends a recovery
	recoveredIn int
	bytes       int
	steps       int
	stats       simStats
}

type simStats struct {
	msgs, dropped, grants, completions, crashes, partitions, pauses, fences, fenceFails, lost, views, recovered int
}

func (w *world) tracef(format string, args ...any) {
	line := fmt.Sprintf("%9.3fs ", w.now.Seconds()) + fmt.Sprintf(format, args...)
	if w.traceAll {
		fmt.Println(line)
	}
	if len(w.trace) < w.traceN {
		w.trace = append(w.trace, line)
		return
	}
	w.trace[w.traceAt] = line
	w.traceAt = (w.traceAt + 1) % w.traceN
}

// traceTail returns the last trace lines, oldest first.
func (w *world) traceTail() []string {
	return append(slices.Clone(w.trace[w.traceAt:]), w.trace[:w.traceAt]...)
}

func (w *world) fail(format string, args ...any) {
	if w.failed == nil {
		w.failed = fmt.Errorf(format, args...)
		w.tracef("FAIL: %v", w.failed)
	}
	w.failed2++
}

func (w *world) at(d time.Duration, fn func()) {
	w.seq++
	w.events = append(w.events, event{at: w.now + d, seq: w.seq, fn: fn})
}

func (w *world) between(lo, hi time.Duration) time.Duration {
	if hi <= lo {
		return lo
	}
	return lo + time.Duration(w.rng.Int64N(int64(hi-lo)))
}

func newWorld(seed int64, n int, opts simOpts) *world {
	w := &world{
		seed:         seed,
		rng:          rand.New(rand.NewPCG(uint64(seed), 0x51a)),
		opts:         opts,
		viewsByEpoch: map[uint64]*viewRec{},
		traceN:       400,
	}
	w.cfgLV = map[string]int{"ls1": 16}
	for i := range n {
		id := wire.NodeID(i + 1)
		w.ids = append(w.ids, id)
		w.nodes = append(w.nodes, &simNode{id: id})
	}
	w.pairs = make([][]msg, n*n)
	w.cutEpoch = make([][]uint64, n)
	for i := range n {
		w.cutEpoch[i] = make([]uint64, n)
	}
	w.lastInPrim = make([]int, n)
	w.released = make([]int, n)
	w.needsRel = make([]int, n)
	w.departedAt = make([]time.Duration, n)
	for i := range w.departedAt {
		w.departedAt[i] = -1
	}
	w.fencing = make([]bool, n)
	w.fenceFail = []float64{0, 0.3, 0.7}[w.rng.IntN(3)]
	switch w.rng.IntN(3) {
	case 0: // every node has a fence device
		for _, nd := range w.nodes {
			nd.fence = true
		}
	case 1: // none (watchdog mode: lease waits and Lost)
	default:
		for _, nd := range w.nodes {
			nd.fence = w.rng.IntN(2) == 0
		}
	}
	w.chk = newChecker(w)
	return w
}

func (w *world) idx(id wire.NodeID) int { return int(id) - 1 }

func (w *world) start(nd *simNode) {
	nd.inc++
	nd.alive = true
	nd.longPause = false
	nd.pausedUntil = 0
	nd.views = nil
	nd.leaseLapsed = false
	nd.gotLost = false
	nd.lastView = nil
	nd.given, nd.givenRel = nil, nil
	cfg := dlm.Config{
		Self:            nd.id,
		Nodes:           slices.Clone(w.ids),
		LVB:             map[string]int{"ls1": w.cfgLV["ls1"]},
		DeadlockTimeout: time.Second,
		Linger:          time.Second,
	}
	d, err := dlm.New(cfg, rand.New(rand.NewPCG(uint64(w.seed), uint64(nd.id)<<32|uint64(nd.inc))))
	if err != nil {
		w.fail("node %d: New: %v", nd.id, err)
		return
	}
	nd.d = d
	nd.owners = nil
	for range 3 {
		w.chk.newOwner(nd)
	}
	w.tracef("node %d starts (incarnation %d, fence device %v)", nd.id, nd.inc, nd.fence)
	w.drain(nd)
}

// crash kills a node's incarnation: its DLM and its clients are gone;
// what is in flight to or from it is lost (checked at delivery by
// incarnation).
func (w *world) crash(nd *simNode, why string) {
	if !nd.alive {
		return
	}
	w.stats.crashes++
	w.tracef("node %d (incarnation %d) dies: %s", nd.id, nd.inc, why)
	w.chk.nodeDied(nd)
	nd.alive = false
	nd.d = nil
	nd.views = nil
	w.recompute()
}

// connected reports whether membership sees a and b as connected.
func (w *world) connected(a, b *simNode) bool {
	return a.alive && b.alive && !a.longPause && !b.longPause && a.group == b.group
}

// cut drops what is in flight between a and b (both ways).
func (w *world) cutPair(a, b int) {
	w.cutEpoch[a][b]++
	w.cutEpoch[b][a]++
}

// ---- network ----

func (w *world) send(from *simNode, o dlm.Out) {
	ti := w.idx(o.To)
	if ti < 0 || ti >= len(w.nodes) {
		w.fail("node %d sends to unknown node %d", from.id, o.To)
		return
	}
	to := w.nodes[ti]
	fi := w.idx(from.id)
	w.stats.msgs++
	w.bytes += len(o.Payload)
	if w.stats.msgs > maxMsgs || w.bytes > maxBytes {
		w.fail("runaway: %d messages, %d bytes sent (limits %d, %d): a message storm", w.stats.msgs, w.bytes, maxMsgs, maxBytes)
		return
	}
	if !w.connected(from, to) && from != to {
		w.stats.dropped++
		return
	}
	q := w.pairs[fi*len(w.nodes)+ti]
	at := w.now + w.between(netDelayMin, netDelayMax)
	if len(q) > 0 && q[len(q)-1].at > at {
		at = q[len(q)-1].at
	}
	w.seq++
	w.pairs[fi*len(w.nodes)+ti] = append(q, msg{
		at: at, seq: w.seq, from: from.id, to: to.id, fromInc: from.inc, toInc: to.inc,
		cutEpoch: w.cutEpoch[fi][ti], payload: o.Payload, fromIdx: fi, toIdx: ti,
	})
}

func (w *world) deliverDue() {
	n := len(w.nodes)
	for w.failed == nil {
		best := -1
		for p := range w.pairs {
			q := w.pairs[p]
			if len(q) == 0 || q[0].at > w.now {
				continue
			}
			if best < 0 || q[0].at < w.pairs[best][0].at || (q[0].at == w.pairs[best][0].at && q[0].seq < w.pairs[best][0].seq) {
				// a paused receiver keeps its queue (FIFO) until it wakes
				if w.nodes[p%n].pausedUntil > w.now {
					continue
				}
				best = p
			}
		}
		if best < 0 {
			return
		}
		m := w.pairs[best][0]
		w.pairs[best] = w.pairs[best][1:]
		from, to := w.nodes[m.fromIdx], w.nodes[m.toIdx]
		if !from.alive || from.inc != m.fromInc || !to.alive || to.inc != m.toInc ||
			w.cutEpoch[m.fromIdx][m.toIdx] != m.cutEpoch || !w.connected(from, to) && from != to {
			w.stats.dropped++
			continue
		}
		if err := to.d.Step(w.now, dlm.Receive{From: m.from, Payload: m.payload}); err != nil {
			w.tracef("node %d: Receive from %d: %v", to.id, m.from, err)
		}
		w.drain(to)
	}
}

// ---- the driver: Ready ----

func (w *world) drain(nd *simNode) {
	for guard := 0; nd.alive && nd.d != nil && nd.d.HasReady(); guard++ {
		if guard > 1000 {
			w.fail("node %d: HasReady stays true after 1000 Ready/Advance rounds", nd.id)
			return
		}
		rd := nd.d.Ready()
		for _, o := range rd.Messages {
			w.send(nd, o)
		}
		// A completion before any blocking notice of the same lock.
		w.recoveredIn = len(rd.Events)
		for _, c := range rd.Completions {
			w.chk.completion(nd, c)
		}
		w.recoveredIn = 0
		for _, b := range rd.Blocking {
			w.chk.blocking(nd, b)
		}
		for _, e := range rd.Events {
			w.recovered(nd, e)
		}
		for _, a := range rd.Answers {
			w.chk.answer(nd, a)
		}
		nd.d.Advance()
		w.chk.checkAll()
	}
}

func (w *world) recovered(nd *simNode, e dlm.Recovered) {
	w.stats.recovered++
	w.tracef("node %d: recovered view %d/%d members %v purged %v resources %d took %v",
		nd.id, e.View.Epoch, e.View.Coord, e.Members, e.Purged, e.Resources, e.Took)
	vr := w.viewsByEpoch[e.View.Epoch]
	if vr == nil {
		w.fail("node %d: Recovered for a view never given: %+v", nd.id, e.View)
		return
	}
	if !vr.primary {
		w.fail("node %d: Recovered for a non-primary view %d", nd.id, e.View.Epoch)
		return
	}
	vr.recov[nd.id] = true
	for i, m := range vr.members {
		if !vr.recov[m] {
			return
		}
		_ = i
	}
	for i, m := range vr.members {
		mi := w.idx(m)
		if w.needsRel[mi] == vr.incs[i] {
			w.needsRel[mi] = 0
		}
	}
}

// ---- membership and the stack's decisions ----

// recompute installs new views for components whose membership changed.
func (w *world) recompute() {
	groups := map[int][]*simNode{}
	var keys []int
	for _, nd := range w.nodes {
		if !nd.alive || nd.longPause {
			continue
		}
		if _, ok := groups[nd.group]; !ok {
			keys = append(keys, nd.group)
		}
		groups[nd.group] = append(groups[nd.group], nd)
	}
	sort.Ints(keys)
	var prim *viewRec
	var cur []*viewRec
	for _, g := range keys {
		comp := groups[g]
		same := true
		for _, nd := range comp {
			lv := nd.lastView
			if lv == nil || len(lv.members) != len(comp) {
				same = false
				break
			}
			for i, m := range lv.members {
				if m != comp[i].id || lv.incs[i] != comp[i].inc {
					same = false
				}
			}
		}
		if same {
			vr := comp[0].lastView
			cur = append(cur, vr)
			if vr.primary {
				prim = vr
			}
			continue
		}
		w.epoch++
		vr := &viewRec{
			id:      wire.ViewID{Epoch: w.epoch, Coord: comp[0].id},
			primary: 2*len(comp) > len(w.nodes),
			recov:   map[wire.NodeID]bool{},
		}
		for _, nd := range comp {
			vr.members = append(vr.members, nd.id)
			vr.incs = append(vr.incs, nd.inc)
			nd.lastView = vr
		}
		w.viewsByEpoch[vr.id.Epoch] = vr
		w.stats.views++
		cur = append(cur, vr)
		if vr.primary {
			prim = vr
		}
	}
	w.curViews = cur
	w.curPrimary = prim
	// Primary membership facts.
	inPrim := make([]bool, len(w.nodes))
	if prim != nil {
		for i, m := range prim.members {
			mi := w.idx(m)
			inPrim[mi] = true
			inc := prim.incs[i]
			if w.lastInPrim[mi] != 0 && w.lastInPrim[mi] < inc {
				// back with a higher boot id: the old incarnation is dead
				if w.released[mi] < inc-1 {
					w.released[mi] = inc - 1
				}
				w.needsRel[mi] = inc
			}
			w.lastInPrim[mi] = inc
			if w.released[mi] >= inc {
				// released after a lease wait and back: whatever it
				// holds from now on needs a new release
				w.released[mi] = inc - 1
			}
			w.departedAt[mi] = -1
			w.nodes[mi].leaseLapsed = false
			w.nodes[mi].gotLost = false // a later departure needs a new Lost
		}
	}
	for i, nd := range w.nodes {
		if inPrim[i] || w.lastInPrim[i] == 0 || w.departedAt[i] >= 0 {
			continue
		}
		w.departedAt[i] = w.now
		w.tracef("node %d (incarnation %d) departed from the primary", nd.id, w.lastInPrim[i])
		if nd.fence {
			w.scheduleFence(i)
		} else {
			depAt := w.now
			inc := w.lastInPrim[i]
			if nd.alive && !w.opts.noLost {
				lapse := w.between(100*time.Millisecond, leaseWait*7/10)
				w.at(lapse, func() { w.lapse(nd, inc, depAt) })
			}
			w.at(leaseWait, func() { w.leaseExpired(i, inc, depAt) })
		}
	}
	// Give every member its view (FIFO per node).
	for _, vr := range w.curViews {
		vr.release = w.release(vr)
		for _, m := range vr.members {
			nd := w.nodes[w.idx(m)]
			if nd.given == vr && slices.Equal(nd.givenRel, vr.release) {
				continue
			}
			w.giveView(nd, vr)
		}
	}
}

func (w *world) giveView(nd *simNode, vr *viewRec) {
	at := w.now + w.between(detectMin, detectMax)
	if len(nd.views) > 0 && nd.views[len(nd.views)-1].at > at {
		at = nd.views[len(nd.views)-1].at
	}
	v := dlm.View{
		ID:      vr.id,
		Members: slices.Clone(vr.members),
		Primary: vr.primary,
		Release: slices.Clone(vr.release),
		Lost:    nd.leaseLapsed,
	}
	nd.views = append(nd.views, queuedView{at: at, inc: nd.inc, v: v})
	nd.given, nd.givenRel = vr, v.Release
}

// release is Release for a view: departed nodes whose every incarnation
// that was ever in a primary view is confirmed fenced, superseded by a
// newer one, or past the lease wait (having been told Lost, or dead);
// and members back with a higher boot id until every member recovered a
// view that includes them.
func (w *world) release(vr *viewRec) []wire.NodeID {
	var out []wire.NodeID
	for i, nd := range w.nodes {
		if k := slices.Index(vr.members, nd.id); k >= 0 {
			if w.needsRel[i] != 0 && w.needsRel[i] == vr.incs[k] {
				out = append(out, nd.id)
			}
			continue
		}
		if w.opts.earlyRelease || w.lastInPrim[i] == 0 || w.released[i] >= w.lastInPrim[i] {
			out = append(out, nd.id)
		}
	}
	return out
}

// factsChanged re-gives the current views whose Release grew.
func (w *world) factsChanged() {
	for _, vr := range w.curViews {
		rel := w.release(vr)
		grew := false
		for _, n := range rel {
			if !slices.Contains(vr.release, n) {
				grew = true
			}
		}
		if !grew {
			continue
		}
		vr.release = rel
		for _, m := range vr.members {
			nd := w.nodes[w.idx(m)]
			if nd.alive && nd.lastView == vr {
				w.giveView(nd, vr)
			}
		}
	}
}

// lapse: a node with no fence device lost its lease (it left the primary
// at depAt and has not come back): the stack tells its DLM Lost.
func (w *world) lapse(nd *simNode, inc int, depAt time.Duration) {
	i := w.idx(nd.id)
	if !nd.alive || nd.inc != inc || w.departedAt[i] != depAt {
		return
	}
	nd.leaseLapsed = true
	w.stats.lost++
	w.tracef("node %d: lease lapsed: Lost", nd.id)
	vr := nd.lastView
	v := dlm.View{Lost: true}
	if vr != nil {
		v.ID, v.Members, v.Primary, v.Release = vr.id, slices.Clone(vr.members), false, slices.Clone(vr.release)
	}
	at := w.now
	if len(nd.views) > 0 && nd.views[len(nd.views)-1].at > at {
		at = nd.views[len(nd.views)-1].at
	}
	nd.views = append(nd.views, queuedView{at: at, inc: nd.inc, v: v})
}

// leaseExpired: the survivors' wait for a node with no fence device is
// over: the watchdog has killed it unless it was told Lost.
func (w *world) leaseExpired(i, inc int, depAt time.Duration) {
	if w.departedAt[i] != depAt {
		return // it came back meanwhile
	}
	if w.curPrimary == nil {
		// nobody holds a lease to release it with: look again later
		w.at(100*time.Millisecond, func() { w.leaseExpired(i, inc, depAt) })
		return
	}
	nd := w.nodes[i]
	if nd.alive && nd.inc == inc && !nd.gotLost && !w.opts.noLost {
		w.crash(nd, "watchdog (lease wait over and Lost not yet taken)")
	}
	if w.released[i] < inc {
		w.released[i] = inc
	}
	w.tracef("node %d (incarnation %d): lease wait over, released", nd.id, inc)
	w.factsChanged()
}

func (w *world) scheduleFence(i int) {
	if w.fencing[i] {
		return
	}
	w.fencing[i] = true
	w.at(w.between(100*time.Millisecond, time.Second), func() { w.fenceAttempt(i) })
}

func (w *world) fenceAttempt(i int) {
	w.fencing[i] = false
	nd := w.nodes[i]
	if w.departedAt[i] < 0 || w.released[i] >= w.lastInPrim[i] {
		return
	}
	if w.curPrimary == nil {
		w.scheduleFence(i)
		return
	}
	if !w.quiet && w.rng.Float64() < w.fenceFail {
		w.stats.fenceFails++
		w.tracef("fence device of node %d fails", nd.id)
		w.scheduleFence(i)
		return
	}
	w.stats.fences++
	w.tracef("node %d fenced (confirmed)", nd.id)
	inc := nd.inc
	if nd.alive {
		w.crash(nd, "fenced")
		w.at(w.between(500*time.Millisecond, 3*time.Second), func() { w.restart(nd) })
	}
	if w.released[i] < inc {
		w.released[i] = inc
	}
	if w.released[i] < w.lastInPrim[i] {
		w.released[i] = w.lastInPrim[i]
	}
	w.factsChanged()
}

func (w *world) restart(nd *simNode) {
	if nd.alive {
		return
	}
	w.start(nd)
	w.recompute()
}

// deliverViews gives each node the views that are due.
func (w *world) deliverViews() {
	for _, nd := range w.nodes {
		for nd.alive && len(nd.views) > 0 && nd.views[0].at <= w.now && nd.pausedUntil <= w.now && !nd.longPause && w.failed == nil {
			qv := nd.views[0]
			nd.views = nd.views[1:]
			if qv.inc != nd.inc {
				continue
			}
			v := qv.v
			w.tracef("node %d: view %d/%d members %v primary %v release %v lost %v",
				nd.id, v.ID.Epoch, v.ID.Coord, v.Members, v.Primary, v.Release, v.Lost)
			if err := nd.d.Step(w.now, v); err != nil {
				w.fail("node %d: View: %v", nd.id, err)
				return
			}
			if v.Lost {
				nd.gotLost = true
			}
			w.drain(nd)
		}
	}
}

// ---- faults ----

func (w *world) randomFault() {
	var alive []*simNode
	for _, nd := range w.nodes {
		if nd.alive {
			alive = append(alive, nd)
		}
	}
	if len(alive) == 0 {
		return
	}
	nd := alive[w.rng.IntN(len(alive))]
	switch r := w.rng.IntN(100); {
	case r < 20: // crash and restart later
		w.crash(nd, "crash")
		w.at(w.between(300*time.Millisecond, 4*time.Second), func() { w.restart(nd) })
	case r < 25: // leave cleanly (the node stops; the stack releases it at once), come back later
		i := w.idx(nd.id)
		inc := nd.inc
		w.crash(nd, "left cleanly")
		if w.lastInPrim[i] == inc && w.released[i] < inc {
			w.released[i] = inc
		}
		w.factsChanged()
		w.at(w.between(300*time.Millisecond, 4*time.Second), func() { w.restart(nd) })
	case r < 50: // partition into 2 (sometimes 3) groups, healed later
		ng := 2
		if len(w.nodes) >= 5 && w.rng.IntN(3) == 0 {
			ng = 3
		}
		for _, x := range w.nodes {
			x.group = w.rng.IntN(ng)
		}
		w.stats.partitions++
		w.applyGroups()
		w.tracef("partition: %s", w.groupString())
		w.recompute()
		w.at(w.between(300*time.Millisecond, 5*time.Second), func() {
			for _, x := range w.nodes {
				x.group = 0
			}
			w.tracef("partition healed")
			w.recompute()
		})
	case r < 62: // long pause: membership removes it, what is in flight is lost
		if nd.longPause {
			return
		}
		w.stats.pauses++
		nd.longPause = true
		until := w.now + w.between(300*time.Millisecond, 5*time.Second)
		nd.pausedUntil = until
		for j := range w.nodes {
			w.cutPair(w.idx(nd.id), j)
		}
		w.tracef("node %d paused (long) until %.3fs", nd.id, until.Seconds())
		inc := nd.inc
		w.recompute()
		w.at(until-w.now, func() {
			if nd.alive && nd.inc == inc && nd.longPause {
				nd.longPause = false
				w.tracef("node %d wakes", nd.id)
				w.recompute()
			}
		})
	case r < 80: // short pause: no view change, messages wait
		w.stats.pauses++
		until := w.now + w.between(5*time.Millisecond, 150*time.Millisecond)
		if until > nd.pausedUntil {
			nd.pausedUntil = until
		}
		w.tracef("node %d paused (short) until %.3fs", nd.id, until.Seconds())
	default: // a client process dies
		w.chk.ownerDies(nd)
	}
}

func (w *world) applyGroups() {
	for a := range w.nodes {
		for b := range w.nodes {
			if a < b && w.nodes[a].group != w.nodes[b].group {
				w.cutPair(a, b)
			}
		}
	}
}

func (w *world) groupString() string {
	var sb strings.Builder
	for _, nd := range w.nodes {
		fmt.Fprintf(&sb, "%d:%d ", nd.id, nd.group)
	}
	return sb.String()
}

// runEvents runs the scheduled events that are due, in (time, seq) order.
func (w *world) runEvents() {
	for w.failed == nil {
		best := -1
		for i, e := range w.events {
			if e.at > w.now {
				continue
			}
			if best < 0 || e.at < w.events[best].at || e.at == w.events[best].at && e.seq < w.events[best].seq {
				best = i
			}
		}
		if best < 0 {
			return
		}
		e := w.events[best]
		w.events = append(w.events[:best], w.events[best+1:]...)
		e.fn()
	}
}

// step advances the world by one small slice of virtual time.
func (w *world) step(mode clientMode) {
	w.mode = mode
	w.steps++
	w.now += w.between(time.Millisecond, 12*time.Millisecond)
	w.runEvents()
	w.deliverViews()
	w.deliverDue()
	for _, nd := range w.nodes {
		if !nd.alive || nd.pausedUntil > w.now || nd.longPause || w.failed != nil {
			continue
		}
		nd.d.Tick(w.now)
		w.drain(nd)
		w.chk.act(nd, mode)
	}
	// Nodes past a long pause wake even with no event pending.
	for _, nd := range w.nodes {
		if nd.longPause && nd.pausedUntil <= w.now && nd.alive {
			nd.longPause = false
			w.recompute()
		}
	}
}

// quietDown stops every fault: heal, wake, restart; fence devices work.
func (w *world) quietDown() {
	w.quiet = true
	w.tracef("quiet: faults stop")
	for _, nd := range w.nodes {
		nd.group = 0
		if nd.longPause {
			nd.longPause = false
		}
		nd.pausedUntil = 0
	}
	for _, nd := range w.nodes {
		if !nd.alive {
			w.start(nd)
		}
	}
	w.recompute()
}

// clientMode is what clients do in a step.
type clientMode int

const (
	clientsActive clientMode = iota // random operations
	clientsHold                     // nothing new: hold what they have
	clientsDrain                    // release whatever they are granted
)

// quietEnough: nothing in flight and no view waiting to be given.
func (w *world) quietEnough() bool {
	for _, q := range w.pairs {
		if len(q) > 0 {
			return false
		}
	}
	for _, nd := range w.nodes {
		if len(nd.views) > 0 {
			return false
		}
	}
	return true
}
