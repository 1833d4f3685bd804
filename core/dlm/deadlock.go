package dlm

// This file is the cluster-wide waits-for deadlock search (design 8) and
// Ask/Answer. The search runs on the view's coordinator only: every
// DeadlockTimeout/2 it asks every member for the edges of its master
// copies' requests that have waited at least DeadlockTimeout, finds the
// cycles of the owner graph and completes exactly one request per cycle
// (never a NoDlckWt one) with EDEADLK.

import (
	"cmp"
	"slices"
	"time"

	"github.com/corral-ha/corral/core/wire"
)

// dlRound is one search: the coordinator waits for every member's edges.
type dlRound struct {
	tag      uint64
	deadline time.Duration
	members  []wire.NodeID
	got      map[wire.NodeID]bool
	edges    []edge
}

// dlTick starts a search on the coordinator, or ends one that timed out.
func (d *DLM) dlTick() {
	if d.view.Coord != d.self {
		return
	}
	if d.dl != nil {
		if d.now >= d.dl.deadline {
			d.dlFinish()
		}
		return
	}
	if d.now < d.dlNext {
		return
	}
	d.dlNext = d.now + d.cfg.DeadlockTimeout/2
	d.dlTag++
	d.dl = &dlRound{tag: d.dlTag, deadline: d.now + d.cfg.DeadlockTimeout, members: slices.Clone(d.members), got: map[wire.NodeID]bool{}}
	for _, n := range d.members {
		d.send(n, msg{kind: mkDlQuery, tag: d.dlTag})
	}
}

// waitEdges are this node's master copies' edges for requests that
// waited at least DeadlockTimeout: the waiter's owner waits for the owner
// of every lock whose granted mode (or, ahead in its queue, requested
// mode) is incompatible with its request.
func (d *DLM) waitEdges() []edge {
	var out []edge
	for _, rn := range sortedKeys(d.mast) {
		r := d.mast[rn].r
		add := func(l *lkb, blockers []*lkb, useRq bool) {
			for _, b := range blockers {
				if b == l || b.owner == l.owner {
					continue
				}
				m := b.gr
				if useRq {
					m = b.rq
				}
				if compatible(m, l.rq) {
					continue
				}
				out = append(out, edge{from: l.owner, to: b.owner, rname: rn, lock: l.key, master: d.self, noDlckWt: l.flags&NoDlckWt != 0})
			}
		}
		for i, l := range r.converting {
			if d.now-l.since < d.cfg.DeadlockTimeout {
				continue
			}
			add(l, r.granted, false)
			add(l, r.converting, false)
			add(l, r.converting[:i], true)
		}
		for i, l := range r.waiting {
			if d.now-l.since < d.cfg.DeadlockTimeout {
				continue
			}
			add(l, r.granted, false)
			add(l, r.converting, false)
			add(l, r.converting, true)
			add(l, r.waiting[:i], true)
		}
	}
	return out
}

func (d *DLM) dlEdges(from wire.NodeID, m msg) {
	if d.dl == nil || d.dl.tag != m.tag || d.dl.got[from] {
		return
	}
	d.dl.got[from] = true
	d.dl.edges = append(d.dl.edges, m.edges...)
	if len(d.dl.got) == len(d.dl.members) {
		d.dlFinish()
	}
}

// dlFinish picks the victims and tells their masters.
func (d *DLM) dlFinish() {
	round := d.dl
	d.dl = nil
	for _, v := range pickVictims(round.edges) {
		d.send(v.master, msg{kind: mkDlVictim, rname: v.rname, node: v.lock.Node, id: v.lock.ID})
	}
}

// pickVictims breaks every cycle of the owner graph: it finds a cycle,
// chooses as victim the cycle's waiting lock with the highest (node, id)
// (the youngest on its node) that is not NoDlckWt, drops that lock's
// edges and repeats; a cycle of NoDlckWt locks only is left alone (one of
// its edges is set aside so the search goes on). Exactly one victim per
// cycle found; deterministic for a given set of edges.
func pickVictims(edges []edge) []edge {
	es := slices.Clone(edges)
	slices.SortFunc(es, func(a, b edge) int {
		if c := cmpOwner(a.from, b.from); c != 0 {
			return c
		}
		if c := cmpOwner(a.to, b.to); c != 0 {
			return c
		}
		return cmpKey(a.lock, b.lock)
	})
	var victims []edge
	for {
		cyc := findCycle(es)
		if cyc == nil {
			return victims
		}
		var best *edge
		for i := range cyc {
			e := &cyc[i]
			if e.noDlckWt {
				continue
			}
			if best == nil || cmpKey(e.lock, best.lock) > 0 {
				best = e
			}
		}
		if best == nil {
			drop := cyc[0]
			es = slices.DeleteFunc(es, func(e edge) bool { return e == drop })
			continue
		}
		v := *best
		victims = append(victims, v)
		es = slices.DeleteFunc(es, func(e edge) bool { return e.lock == v.lock })
	}
}

// findCycle returns the edges of one cycle, or nil.
func findCycle(es []edge) []edge {
	adj := map[Owner][]int{}
	var owners []Owner
	for i, e := range es {
		if _, ok := adj[e.from]; !ok {
			owners = append(owners, e.from)
		}
		adj[e.from] = append(adj[e.from], i)
	}
	slices.SortFunc(owners, cmpOwner)
	const (
		white = 0
		grey  = 1
		black = 2
	)
	color := map[Owner]int{}
	var path []int // edge indexes on the DFS path
	var found []edge
	var visit func(o Owner) bool
	visit = func(o Owner) bool {
		color[o] = grey
		for _, i := range adj[o] {
			to := es[i].to
			switch color[to] {
			case grey:
				// The cycle: from the edge leaving `to` on the path to i.
				start := len(path)
				for j := len(path) - 1; j >= 0; j-- {
					if es[path[j]].from == to {
						start = j
						break
					}
				}
				for _, k := range path[start:] {
					found = append(found, es[k])
				}
				found = append(found, es[i])
				return true
			case white:
				path = append(path, i)
				if visit(to) {
					return true
				}
				path = path[:len(path)-1]
			}
		}
		color[o] = black
		return false
	}
	for _, o := range owners {
		if color[o] == white && visit(o) {
			return found
		}
	}
	return nil
}

func cmpOwner(a, b Owner) int {
	if c := cmp.Compare(a.Node, b.Node); c != 0 {
		return c
	}
	return cmp.Compare(a.ID, b.ID)
}

func cmpKey(a, b lkey) int {
	if c := cmp.Compare(a.Node, b.Node); c != 0 {
		return c
	}
	return cmp.Compare(a.ID, b.ID)
}

// victim completes a waiting request with EDEADLK (the engine's cancel:
// a conversion keeps its granted mode).
func (d *DLM) victim(m msg) {
	mr := d.mast[m.rname]
	if mr == nil {
		return
	}
	k := lkey{Node: m.node, ID: m.id}
	l := mr.r.find(k)
	if l == nil || l.q == qGranted || l.flags&NoDlckWt != 0 {
		return // granted or gone since the search
	}
	effs, err := mr.r.deadlockVictim(k)
	if err != nil {
		return
	}
	d.emit(mr.r, effs)
	d.idleCheck(mr)
}

// pendingAsk gathers an Ask's answers.
type pendingAsk struct {
	tag      uint64
	ls       string
	deadline time.Duration
	members  []wire.NodeID
	got      map[wire.NodeID]bool
	res      []ResourceInfo
}

func (d *DLM) ask(a Ask) {
	members := d.members
	if !slices.Contains(members, d.self) {
		members = append(slices.Clone(members), d.self)
		slices.Sort(members)
	}
	pa := &pendingAsk{tag: a.Tag, ls: a.Lockspace, deadline: d.now + askTimeout, members: members, got: map[wire.NodeID]bool{}}
	d.asks[a.Tag] = pa
	for _, n := range members {
		d.send(n, msg{kind: mkAsk, tag: a.Tag, rname: rname{ls: a.Lockspace}})
	}
}

func (d *DLM) answer(from wire.NodeID, m msg) {
	pa := d.asks[m.tag]
	if pa == nil || pa.got[from] || !slices.Contains(pa.members, from) {
		return
	}
	pa.got[from] = true
	pa.res = append(pa.res, m.res...)
	if len(pa.got) == len(pa.members) {
		d.answerDone(pa)
	}
}

func (d *DLM) answerDone(pa *pendingAsk) {
	delete(d.asks, pa.tag)
	var missing []wire.NodeID
	for _, n := range pa.members {
		if !pa.got[n] {
			missing = append(missing, n)
		}
	}
	sortInfos(pa.res)
	d.out.Answers = append(d.out.Answers, Answer{Tag: pa.tag, Resources: pa.res, Missing: missing})
}

func (d *DLM) askTick() {
	var due []uint64
	for tag, pa := range d.asks {
		if d.now >= pa.deadline {
			due = append(due, tag)
		}
	}
	slices.Sort(due)
	for _, tag := range due {
		d.answerDone(d.asks[tag])
	}
}
