package cdb

import (
	"bytes"
	"fmt"
	"math/rand"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/corral-ha/corral/core/sim/simtest"
	"github.com/corral-ha/corral/core/wire"
)

// The harness models the layers below cdb by a scripted ordered delivery:
// each view has one sequence of messages; members Hold (agreed) a prefix,
// persist before acknowledging, and Commit (safe) only what every member
// holds. A view change flushes each old view to its surviving members (up
// to the longest prefix any of them holds), resubmits what was beyond the
// cut, and starts an adoption in a primary view. Persist is written before
// anything else of a Ready, so a crash loses only memory, except a Persist
// that only moves Commit: like core/node, the harness mostly leaves it in
// memory (the next write carries the committed revision), so a crash also
// loses commit marks of entries that were acknowledged.

type hview struct {
	at      int // when it was installed
	id      wire.ViewID
	primary bool
	members []int
	msgs    [][]byte
	held    map[int]int
	commit  map[int]int
}

type hdisk struct {
	snap    []byte
	entries map[uint64]Entry
	commit  uint64
	adopted wire.ViewID
}

type hnode struct {
	id   wire.NodeID
	db   *DB
	up   bool
	disk hdisk
	view *hview
	// checked is the primary view in which the node was last checked
	// against the acknowledged updates (once, when it settled in it: the
	// adopted history is committed then)
	checked wire.ViewID
}

type hop struct {
	client   string
	seq      uint64
	write    bool
	req      Request
	inv, ret int // ret < 0: never returned
	res      Result
	key      string
	found    bool
	val      []byte
	modRev   uint64
	node     int
	ackNode  int
	lin      bool // a linearizable read (Read, then Get once it is done)
}

type harness struct {
	r       *simtest.Run
	rng     *rand.Rand
	n       int
	nodes   []*hnode
	views   []*hview
	epoch   uint64
	primary map[wire.ViewID]bool
	net     []struct {
		from, to int
		m        Message
	}
	now    int
	ops    []*hop
	busy   map[string]*hop
	seqs   map[string]uint64
	acked  map[uint64]reqKey
	ackAt  map[uint64]int // when each acknowledged revision was answered
	trace  []string
	keys   []string
	nwrite int
	// linearizable reads in flight, by id; noWait is the mutation that
	// serves a read without waiting for its index (the check must fail)
	lreads map[uint64]*hop
	nread  uint64
	noWait bool
}

func (h *harness) logf(format string, a ...any) {
	h.trace = append(h.trace, fmt.Sprintf("t=%d ", h.now)+fmt.Sprintf(format, a...))
}

func (h *harness) fatalf(format string, a ...any) {
	tail := h.trace
	if len(tail) > 80 {
		tail = tail[len(tail)-80:]
	}
	for _, l := range tail {
		h.r.Log(l)
	}
	h.r.Fatalf(format, a...)
}

func newHarness(r *simtest.Run, n int) *harness {
	h := &harness{r: r, rng: rand.New(rand.NewSource(r.Seed)), n: n, primary: map[wire.ViewID]bool{},
		busy: map[string]*hop{}, seqs: map[string]uint64{}, acked: map[uint64]reqKey{}, ackAt: map[uint64]int{},
		keys: []string{"/a", "/b", "/c"}, lreads: map[uint64]*hop{}}
	for i := range n {
		nd := &hnode{id: wire.NodeID(i + 1), up: true, disk: hdisk{entries: map[uint64]Entry{}}}
		nd.db = mustNew(Config{Self: nd.id, History: 16, CompactEvery: 1 << 40, ChunkEntries: 3})
		h.nodes = append(h.nodes, nd)
	}
	return h
}

func (h *harness) drain(i int) {
	nd := h.nodes[i]
	for nd.db.HasReady() {
		rd := ready(nd.db)
		p := rd.Persist
		if p.Snapshot == nil && p.Truncate == 0 && len(p.Entries) == 0 && p.Adopted == (wire.ViewID{}) && h.rng.Intn(4) != 0 {
			// Like core/node: a Persist that only moves Commit is not
			// written (a crash loses it); the next write carries Rev().
			p.Commit = 0
		} else if !p.Empty() {
			p.Commit = nd.db.Rev()
		}
		if p.Snapshot != nil {
			nd.disk.snap = p.Snapshot
			for r := range nd.disk.entries {
				if r <= p.Base {
					delete(nd.disk.entries, r)
				}
			}
		}
		if p.Truncate != 0 {
			for r := range nd.disk.entries {
				if r >= p.Truncate {
					delete(nd.disk.entries, r)
				}
			}
		}
		for _, e := range p.Entries {
			nd.disk.entries[e.Rev] = e
		}
		if p.Commit != 0 {
			nd.disk.commit = p.Commit
		}
		if p.Adopted != (wire.ViewID{}) {
			nd.disk.adopted = p.Adopted
		}
		for _, m := range rd.Messages {
			var w wire.Writer
			m.Append(&w)
			dm, err := DecodeMessage(wire.NewReader(w))
			if err != nil {
				h.fatalf("message does not decode: %v", err)
			}
			h.net = append(h.net, struct {
				from, to int
				m        Message
			}{i, int(m.To) - 1, dm})
		}
		for _, p := range rd.Broadcast {
			if nd.view != nil {
				nd.view.msgs = append(nd.view.msgs, p)
			}
		}
		for _, rp := range rd.Replies {
			op := h.busy[rp.Client]
			if op == nil || op.seq != rp.Seq {
				continue
			}
			delete(h.busy, rp.Client)
			if rp.Err != nil {
				h.logf("n%d reply %s/%d: %v", nd.id, rp.Client, rp.Seq, rp.Err)
				continue // outcome unknown: the op stays pending
			}
			if rp.Result.Old {
				h.fatalf("current request %s/%d answered as old", rp.Client, rp.Seq)
			}
			op.ret, op.res, op.ackNode = h.now, rp.Result, i
			h.logf("n%d ack %s/%d rev %d ok %v", nd.id, rp.Client, rp.Seq, rp.Result.Rev, rp.Result.OK)
			if k, ok := h.acked[rp.Result.Rev]; ok && k != (reqKey{rp.Client, rp.Seq}) {
				h.fatalf("revision %d acknowledged to %v and %s/%d", rp.Result.Rev, k, rp.Client, rp.Seq)
			}
			h.acked[rp.Result.Rev] = reqKey{rp.Client, rp.Seq}
			h.ackAt[rp.Result.Rev] = h.now
		}
		for _, rr := range rd.Reads {
			op := h.lreads[rr.ID]
			if op == nil {
				h.fatalf("n%d: read %d done but not begun", nd.id, rr.ID)
			}
			delete(h.lreads, rr.ID)
			if rr.Err != nil {
				h.logf("n%d read %d of %s failed: %v", nd.id, rr.ID, op.key, rr.Err)
				continue
			}
			if nd.db.st.rev < rr.Index {
				h.fatalf("n%d: read %d done at rev %d below its index %d", nd.id, rr.ID, nd.db.st.rev, rr.Index)
			}
			kv, found, _ := nd.db.Get(op.key)
			op.ret, op.found, op.val, op.modRev = h.now, found, kv.Value, kv.ModRev
			linServed.Add(1)
			h.ops = append(h.ops, op)
			h.logf("n%d read %d of %s: rev %d (index %d, state %d)", nd.id, rr.ID, op.key, kv.ModRev, rr.Index, nd.db.st.rev)
		}
	}
	h.setQuorum(i)
	nd.db.ReadRound(time.Duration(h.now) * time.Millisecond)
	if h.noWait {
		// the mutation: serve every read now, whatever its index
		for _, r := range nd.db.reads {
			r.known, r.index = true, 0
		}
		nd.db.ReadRound(time.Duration(h.now) * time.Millisecond)
	}
	if nd.db.HasReady() {
		h.drain(i)
	}
}

func (h *harness) setQuorum(i int) {
	nd := h.nodes[i]
	v := nd.view
	q := v != nil && v.primary && !nd.db.CatchingUp()
	votes := 0
	if v != nil {
		votes = len(v.members)
	}
	nd.db.SetQuorum(q, votes, h.n)
	if q && !nd.db.stale() && nd.checked != v.id {
		nd.checked = v.id
		h.checkNode(i)
	}
}

// checkNode, when a member of a primary view has settled in it: every
// update acknowledged before the view was installed is in it, at its
// revision, committed; nothing committed came from a view that was not
// primary.
func (h *harness) checkNode(i int) {
	d := h.nodes[i].db
	for rev, k := range h.acked {
		if h.ackAt[rev] < h.nodes[i].view.at && rev > d.st.rev {
			h.fatalf("G3: n%d in primary view at rev %d lacks acknowledged rev %d (%v)", i+1, d.st.rev, rev, k)
		}
		if e := d.entry(rev); e != nil && (reqKey{e.Update.Client, e.Update.Seq}) != k {
			h.fatalf("G3: n%d has %s/%d at acknowledged rev %d of %v", i+1, e.Update.Client, e.Update.Seq, rev, k)
		}
	}
	for r := d.base + 1; r <= d.st.rev; r++ {
		if !h.primary[d.entry(r).View] {
			h.fatalf("n%d applied rev %d of non-primary view %v", i+1, r, d.entry(r).View)
		}
	}
}

func (h *harness) up() []int {
	var u []int
	for i, nd := range h.nodes {
		if nd.up {
			u = append(u, i)
		}
	}
	return u
}

func (h *harness) viewChange() {
	u := h.up()
	h.rng.Shuffle(len(u), func(a, b int) { u[a], u[b] = u[b], u[a] })
	groups := [][]int{u}
	if len(u) > 1 && h.rng.Intn(3) == 0 {
		c := 1 + h.rng.Intn(len(u)-1)
		groups = [][]int{u[:c], u[c:]}
	}
	h.net = nil
	for _, g := range groups {
		sort.Ints(g)
		h.epoch++
		v := &hview{at: h.now, id: wire.ViewID{Epoch: h.epoch, Coord: wire.NodeID(g[0] + 1)}, primary: 2*len(g) > h.n,
			members: g, held: map[int]int{}, commit: map[int]int{}}
		h.primary[v.id] = v.primary
		h.views = append(h.views, v)
		h.logf("view %v members %v primary %v", v.id, g, v.primary)
		// flush each old view to its survivors in g
		olds := map[*hview][]int{}
		var order []*hview
		for _, i := range g {
			if ov := h.nodes[i].view; ov != nil {
				if _, ok := olds[ov]; !ok {
					order = append(order, ov)
				}
				olds[ov] = append(olds[ov], i)
			}
		}
		for _, i := range g {
			h.nodes[i].view = nil // between views: not quorate
		}
		for _, ov := range order {
			cut := 0
			for _, i := range olds[ov] {
				cut = max(cut, ov.held[i])
			}
			for _, i := range olds[ov] {
				for ov.held[i] < cut {
					dl := Delivery{View: ov.id, Primary: ov.primary, Seq: uint64(ov.held[i] + 1), Payload: ov.msgs[ov.held[i]], Flush: true}
					if err := h.nodes[i].db.Step(0, Hold(dl)); err != nil {
						h.fatalf("flush hold: %v", err)
					}
					ov.held[i]++
					if err := h.nodes[i].db.Step(0, Commit(dl)); err != nil {
						h.fatalf("flush commit: %v", err)
					}
				}
				h.drain(i)
			}
			for _, p := range ov.msgs[cut:] { // bcast resubmits its own unsequenced messages
				u, _ := DecodeUpdate(wire.NewReader(p))
				for _, i := range g {
					if h.nodes[i].id == u.Origin && slicesContains(olds[ov], i) {
						v.msgs = append(v.msgs, p)
					}
				}
			}
		}
		for _, i := range g {
			h.nodes[i].view = v
		}
		if v.primary {
			var cs []Candidate
			for _, i := range g {
				cs = append(cs, Candidate{Node: h.nodes[i].id, Head: h.nodes[i].db.Head()})
			}
			src := ChooseSource(cs)
			h.logf("adopt from n%d (%v)", src, cs)
			for _, i := range g {
				_ = h.nodes[i].db.Step(0, BeginAdopt{View: v.id, Source: src})
			}
		}
		for _, i := range g {
			h.drain(i)
		}
	}
}

func (h *harness) crash(i int) {
	nd := h.nodes[i]
	h.logf("crash n%d", nd.id)
	nd.up, nd.view = false, nil
	for c, op := range h.busy {
		if op.node == i {
			delete(h.busy, c)
		}
	}
	for id, op := range h.lreads {
		if op.node == i {
			delete(h.lreads, id)
		}
	}
}

func (h *harness) restart(i int) {
	nd := h.nodes[i]
	nd.db = mustNew(Config{Self: nd.id, History: 16, CompactEvery: 1 << 40, ChunkEntries: 3})
	var es []Entry
	for _, e := range nd.disk.entries {
		es = append(es, e)
	}
	sort.Slice(es, func(a, b int) bool { return es[a].Rev < es[b].Rev })
	if err := nd.db.Recover(Persisted{Snapshot: nd.disk.snap, Entries: es, Commit: nd.disk.commit, Adopted: nd.disk.adopted}); err != nil {
		h.fatalf("recover n%d: %v", nd.id, err)
	}
	nd.up = true
	h.logf("restart n%d head %v", nd.id, nd.db.Head())
}

func (h *harness) client() {
	c := fmt.Sprintf("c%d", h.rng.Intn(4))
	i := h.rng.Intn(h.n)
	nd := h.nodes[i]
	if !nd.up {
		return
	}
	if op := h.busy[c]; op != nil {
		if h.now-op.inv > 40 && op.node != i { // give up on that node: retry the same request here
			if _, err := nd.db.Propose(op.req); err == nil {
				h.logf("retry %s/%d on n%d", c, op.seq, nd.id)
				op.node = i
				h.submit(i, op.req)
				h.drain(i)
			}
		}
		return
	}
	key := h.keys[h.rng.Intn(len(h.keys))]
	if h.rng.Intn(4) == 0 {
		h.nread++
		if err := nd.db.Read(h.nread); err != nil {
			return
		}
		h.lreads[h.nread] = &hop{client: c, key: key, inv: h.now, ret: -1, node: i, lin: true}
		h.drain(i)
		return
	}
	if h.rng.Intn(3) == 0 {
		kv, found, stale := nd.db.Get(key)
		if !stale {
			h.ops = append(h.ops, &hop{client: c, key: key, inv: h.now, ret: h.now, found: found, val: kv.Value, modRev: kv.ModRev, node: i})
		}
		return
	}
	h.seqs[c]++
	seq := h.seqs[c]
	var req Request
	h.nwrite++
	val := []byte(fmt.Sprintf("v%d", h.nwrite))
	switch h.rng.Intn(4) {
	case 0:
		req = Del(c, seq, key)
	case 1:
		kv, _, _ := nd.db.Get(key)
		req = CAS(c, seq, key, kv.ModRev, val)
	default:
		req = Set(c, seq, key, val)
	}
	req.Time = int64(h.now)
	p, err := nd.db.Propose(req)
	if err != nil {
		return
	}
	op := &hop{client: c, seq: seq, write: true, req: req, inv: h.now, ret: -1, node: i}
	h.ops = append(h.ops, op)
	h.busy[c] = op
	if p != nil {
		h.submit(i, req)
	}
	h.drain(i)
}

func (h *harness) submit(i int, req Request) {
	if v := h.nodes[i].view; v != nil {
		v.msgs = append(v.msgs, EncodeUpdate(Update{Origin: h.nodes[i].id, Request: req}))
	}
}

func (h *harness) step() {
	h.now++
	switch x := h.rng.Intn(100); {
	case x < 30:
		h.client()
	case x < 55: // agreed
		i := h.rng.Intn(h.n)
		nd := h.nodes[i]
		v := nd.view
		if !nd.up || v == nil || nd.db.CatchingUp() || v.held[i] >= len(v.msgs) {
			return
		}
		dl := Delivery{View: v.id, Primary: v.primary, Seq: uint64(v.held[i] + 1), Payload: v.msgs[v.held[i]]}
		if err := nd.db.Step(0, Hold(dl)); err != nil {
			h.fatalf("hold: %v", err)
		}
		v.held[i]++
		h.drain(i)
	case x < 78: // safe
		i := h.rng.Intn(h.n)
		nd := h.nodes[i]
		v := nd.view
		if !nd.up || v == nil {
			return
		}
		stable := len(v.msgs)
		for _, m := range v.members {
			stable = min(stable, v.held[m])
		}
		if v.commit[i] >= stable {
			return
		}
		dl := Delivery{View: v.id, Primary: v.primary, Seq: uint64(v.commit[i] + 1), Payload: v.msgs[v.commit[i]]}
		if err := nd.db.Step(0, Commit(dl)); err != nil {
			h.fatalf("commit: %v", err)
		}
		v.commit[i]++
		h.drain(i)
	case x < 95:
		if len(h.net) == 0 {
			return
		}
		m := h.net[0]
		h.net = h.net[1:]
		if h.nodes[m.to].up && h.nodes[m.from].up && h.nodes[m.to].view == h.nodes[m.from].view {
			_ = h.nodes[m.to].db.Step(0, Receive{From: h.nodes[m.from].id, Msg: m.m})
			h.drain(m.to)
		}
	default:
		u := h.up()
		switch y := h.rng.Intn(3); {
		case y == 0 && len(u) > 1:
			h.crash(u[h.rng.Intn(len(u))])
		case y == 1 && len(u) < h.n:
			for i, nd := range h.nodes {
				if !nd.up {
					h.restart(i)
					break
				}
			}
		}
		h.viewChange()
	}
}

func (h *harness) run(steps int) {
	h.viewChange()
	for range steps {
		h.step()
	}
	// heal: everyone up, one view, finish everything
	for i, nd := range h.nodes {
		if !nd.up {
			h.restart(i)
		}
	}
	h.viewChange()
	for h.views[len(h.views)-1].members == nil || len(h.views[len(h.views)-1].members) != h.n {
		h.viewChange()
	}
	h.settle()
	h.finalCheck()
}

// settle delivers everything without faults or new requests.
func (h *harness) settle() {
	for progress := true; progress; {
		progress = false
		for len(h.net) > 0 {
			m := h.net[0]
			h.net = h.net[1:]
			_ = h.nodes[m.to].db.Step(0, Receive{From: h.nodes[m.from].id, Msg: m.m})
			h.drain(m.to)
			progress = true
		}
		v := h.nodes[0].view
		for _, i := range v.members {
			for v.held[i] < len(v.msgs) {
				if err := h.nodes[i].db.Step(0, Hold(Delivery{View: v.id, Primary: v.primary, Seq: uint64(v.held[i] + 1), Payload: v.msgs[v.held[i]]})); err != nil {
					h.fatalf("settle hold: %v", err)
				}
				v.held[i]++
				h.drain(i)
				progress = true
			}
		}
		for _, i := range v.members {
			for v.commit[i] < len(v.msgs) {
				if err := h.nodes[i].db.Step(0, Commit(Delivery{View: v.id, Primary: v.primary, Seq: uint64(v.commit[i] + 1), Payload: v.msgs[v.commit[i]]})); err != nil {
					h.fatalf("settle commit: %v", err)
				}
				v.commit[i]++
				h.drain(i)
				progress = true
			}
		}
	}
}

func (h *harness) finalCheck() {
	// the same committed history on every node
	var ref *DB
	for _, nd := range h.nodes {
		if nd.db.CatchingUp() {
			h.fatalf("n%d still catching up at the end", nd.id)
		}
		if ref == nil || nd.db.st.rev > ref.st.rev {
			ref = nd.db
		}
	}
	for _, nd := range h.nodes {
		for r := uint64(1); r <= nd.db.st.rev; r++ {
			a, b := nd.db.entry(r), ref.entry(r)
			if a.View != b.View || a.Seq != b.Seq || a.Update.Client != b.Update.Client || a.Update.Seq != b.Update.Seq {
				h.fatalf("n%d and n%d differ at committed rev %d", nd.id, ref.cfg.Self, r)
			}
		}
	}
	var hist []Entry
	for r := uint64(1); r <= ref.st.rev; r++ {
		hist = append(hist, *ref.entry(r))
	}
	if err := checkLinearizable(h.ops, hist); err != nil {
		h.fatalf("linearizability: %v", err)
	}
}

// checkLinearizable checks the recorded client calls against a sequential
// model replaying hist (the committed history). Writes are placed at their
// revision; a read of key at state modRev may be placed anywhere from modRev
// to just before the next change of key. Real-time order: an op that
// returned before another was invoked is placed no later (strictly earlier
// when the second is a write).
func checkLinearizable(ops []*hop, hist []Entry) error {
	model := newState(0)
	at := map[reqKey]uint64{}
	results := map[uint64]Result{}
	states := map[string]map[uint64]kst{} // key -> rev that changed it -> state
	changes := map[string][]uint64{}
	for _, e := range hist {
		res, evs := model.apply(e)
		results[e.Rev] = res
		if _, dup := at[reqKey{e.Update.Client, e.Update.Seq}]; !dup && !res.Old {
			at[reqKey{e.Update.Client, e.Update.Seq}] = e.Rev
		}
		for _, ev := range evs {
			if states[ev.Key] == nil {
				states[ev.Key] = map[uint64]kst{}
			}
			states[ev.Key][e.Rev] = kst{!ev.Deleted, ev.Value}
			changes[ev.Key] = append(changes[ev.Key], e.Rev)
		}
	}
	type iv struct {
		op     *hop
		lo, hi uint64
	}
	const inf = ^uint64(0)
	var ivs []iv
	var reads []*hop
	for _, op := range ops {
		if op.write {
			rev, ok := at[reqKey{op.client, op.seq}]
			if !ok {
				if op.ret >= 0 {
					return fmt.Errorf("acknowledged %s/%d (rev %d) is not in the history", op.client, op.seq, op.res.Rev)
				}
				continue // never took effect, never acknowledged
			}
			if op.ret >= 0 && (rev != op.res.Rev || results[rev] != op.res) {
				return fmt.Errorf("%s/%d answered %+v, the model gives rev %d %+v", op.client, op.seq, op.res, rev, results[rev])
			}
			ivs = append(ivs, iv{op, rev, rev})
			continue
		}
		// a local read: its value is in the committed history (nothing
		// unadopted is ever seen) and it is not older than what this node
		// acknowledged before it
		if op.found {
			st, ok := states[op.key][op.modRev]
			if !ok || !st.found || !bytes.Equal(st.val, op.val) {
				return fmt.Errorf("read of %s saw %q at rev %d, not in the history", op.key, op.val, op.modRev)
			}
		}
		reads = append(reads, op)
		if op.lin {
			// a linearizable read is placed among every op in real time:
			// from the state it saw to just before the key's next change
			hi := inf
			for _, r := range changes[op.key] {
				if r > op.modRev {
					hi = r - 1
					break
				}
			}
			if !op.found {
				hi = inf // absent: absentFrom finds the point
			}
			ivs = append(ivs, iv{op, op.modRev, hi})
		}
	}
	for _, rd := range reads {
		for _, w := range ops {
			if !w.write || w.ret < 0 || w.ret >= rd.inv || w.ackNode != rd.node || !w.res.OK {
				continue
			}
			for _, o := range w.req.Then {
				if o.Key == rd.key && w.res.Rev > rd.modRev && (rd.found || o.Kind == OpPut) {
					if !rd.found {
						// absent is fine if a later delete acknowledged here explains it
						later := false
						for _, r := range changes[rd.key] {
							if r > w.res.Rev && !states[rd.key][r].found {
								later = true
							}
						}
						if later {
							continue
						}
					}
					return fmt.Errorf("read of %s on n%d at t=%d saw rev %d, older than rev %d acknowledged there at t=%d",
						rd.key, rd.node+1, rd.inv, rd.modRev, w.res.Rev, w.ret)
				}
			}
		}
	}
	sort.SliceStable(ivs, func(a, b int) bool { return ivs[a].op.inv < ivs[b].op.inv })
	low := make([]uint64, len(ivs))
	for j := range ivs {
		l := ivs[j].lo
		for k := 0; k < j; k++ {
			p := ivs[k].op
			if p.ret >= 0 && p.ret < ivs[j].op.inv {
				w := low[k]
				if ivs[j].op.write {
					w++
				}
				l = max(l, w)
			}
		}
		if ivs[j].op.write && l > ivs[j].lo {
			return fmt.Errorf("write %s/%d at rev %d but an op that returned before it was invoked is at %d",
				ivs[j].op.client, ivs[j].op.seq, ivs[j].lo, l)
		}
		if !ivs[j].op.write && !ivs[j].op.found {
			// absent at point l or later, before ret: find a point >= l where key is absent
			l = absentFrom(changes[ivs[j].op.key], states[ivs[j].op.key], l)
			if l == inf {
				return fmt.Errorf("read of %s by %s at t=%d saw it absent, but it never is again", ivs[j].op.key, ivs[j].op.client, ivs[j].op.inv)
			}
		}
		if l > ivs[j].hi {
			return fmt.Errorf("read of %s by %s at t=%d saw rev %d but must be at %d or later (stale read)",
				ivs[j].op.key, ivs[j].op.client, ivs[j].op.inv, ivs[j].op.modRev, l)
		}
		low[j] = l
	}
	// a read that saw a write must be placed after it was invoked: reads at
	// rev lo need the write of lo invoked before the read returned
	inv := map[uint64]int{}
	for _, op := range ops {
		if rev, ok := at[reqKey{op.client, op.seq}]; ok && op.write {
			inv[rev] = op.inv
		}
	}
	for _, op := range ops {
		if !op.write && op.found {
			if t, ok := inv[op.modRev]; ok && t > op.ret {
				return fmt.Errorf("read of %s saw rev %d before its write was invoked", op.key, op.modRev)
			}
		}
	}
	return nil
}

// absentFrom is the first point >= l at which key is absent.
type kst struct {
	found bool
	val   []byte
}

func absentFrom(changes []uint64, states map[uint64]kst, l uint64) uint64 {
	cur := uint64(0) // the change in force at l
	for _, r := range changes {
		if r <= l {
			cur = r
		}
	}
	if cur == 0 || !states[cur].found {
		return l
	}
	for _, r := range changes {
		if r > l && !states[r].found {
			return r
		}
	}
	return ^uint64(0)
}

func TestSimulation(t *testing.T) {
	start := time.Now()
	seeds := simtest.SeedsN(1000)
	for _, n := range []int{3, 5} {
		t.Run(fmt.Sprintf("nodes=%d", n), func(t *testing.T) {
			simtest.SweepSeeds(t, seeds, func(r *simtest.Run) {
				newHarness(r, n).run(400)
			})
		})
	}
	t.Logf("%d seeds x 2 cluster sizes in %v, %d linearizable reads served", len(seeds), time.Since(start), linServed.Load())
	if linServed.Load() == 0 {
		t.Fatal("no linearizable read was served")
	}
}

// TestSimulationReadNoWait: the same runs with reads served before this
// node's state reaches their index find a stale read (the checker sees
// what the index is for).
func TestSimulationReadNoWait(t *testing.T) {
	for seed := int64(1); seed <= 300; seed++ {
		c := &catchTB{TB: t}
		func() {
			defer func() {
				if p := recover(); p != nil && p != c {
					panic(p)
				}
			}()
			h := newHarness(&simtest.Run{TB: c, Seed: seed}, 3)
			h.noWait = true
			h.run(400)
		}()
		if strings.HasPrefix(c.failed, "linearizability: read of") {
			t.Logf("seed %d: %s", seed, c.failed)
			return
		}
		if c.failed != "" {
			t.Fatalf("seed %d failed otherwise: %s", seed, c.failed)
		}
	}
	t.Fatal("300 seeds served reads without waiting for their index and the checker found no stale read")
}

// linServed counts the linearizable reads served (a test that checks
// none proves nothing).
var linServed atomic.Int64

// catchTB records the first Fatalf of a run instead of failing the test.
type catchTB struct {
	testing.TB
	failed string
}

func (c *catchTB) Log(...any) {}
func (c *catchTB) Helper()    {}
func (c *catchTB) Fatalf(format string, a ...any) {
	c.failed = fmt.Sprintf(format, a...)
	panic(c)
}

func slicesContains(s []int, x int) bool {
	for _, v := range s {
		if v == x {
			return true
		}
	}
	return false
}
