package dlm

// This file is recovery at a primary view change (doc.go, "Recovery"):
// four stages, each ended by a barrier over the view's members (a stage
// is done when every member's message of that stage for this view came).

import (
	"slices"

	"github.com/corral-ha/corral/core/wire"
)

// The recovery stages.
const (
	stageDir     = 1 // masters tell directory nodes what they master
	stageMasters = 2 // process nodes ask directory nodes who masters their names
	stageLocks   = 3 // process copies go to the masters, which rebuild
	stageDone    = 4 // every master rebuilt
)

// recovery is one recovery's state (for one view id).
type recovery struct {
	view    wire.ViewID
	members []wire.NodeID
	stage   int
	got     map[wire.NodeID]bool // who reported the current stage
	held    []fromMsg            // messages of a later stage
	asked   map[wire.NodeID][]rname
	masters map[rname]wire.NodeID
	dir     map[wire.NodeID][]rname     // stage 1 reports, by reporter
	rebuilt map[wire.NodeID]wire.ViewID // stage 1: the last view each member rebuilt its master copies in
	locks   map[wire.NodeID][]reclock
}

// stepView takes a View input.
func (d *DLM) stepView(v View) {
	if v.Lost {
		d.lose()
	}
	if v.ID != d.view || d.viewAt == 0 {
		d.viewAt = d.now
	}
	if v.ID != d.view {
		d.view = v.ID
		d.running = false
		d.recovered = false
		d.rec = nil
		d.recMsgs = nil
		d.deferred = nil
		d.dl = nil
		d.removing = map[rname][]fromMsg{}
		// What was in flight is resent after the recovery: the master
		// copies it went to are rebuilt from confirmed state.
		for _, p := range d.sortedLocks() {
			for _, o := range p.sent {
				o.sent = false
			}
			p.todo = append(p.sent, p.todo...)
			p.sent = nil
		}
		for _, pn := range d.names {
			pn.looking = false
			pn.known = false
		}
		for rn, pn := range d.names {
			if len(pn.locks) == 0 {
				delete(d.names, rn)
			}
		}
		fut := d.future
		d.future = nil
		d.members = slices.Clone(v.Members)
		for _, f := range fut {
			d.handle(f.from, f.m) // this view's are taken, later ones held again
		}
	}
	d.members = slices.Clone(v.Members)
	d.primary = v.Primary
	d.release = slices.Clone(v.Release)
	if !d.primary {
		d.running = false // (a recovery under way goes on; granting waits for Primary)
		return
	}
	if d.recovered {
		d.resume()
		return
	}
	if d.rec == nil && d.covered() {
		d.startRecovery()
	}
}

// covered reports whether Release covers every node that is not a member
// now and may hold locks: every configured node absent from the view (a
// node's DLM remembers nothing across a restart, so which absent nodes
// hold locks is not known here: all are waited for) and every member of
// the last view this node rebuilt in. Only then may their locks go.
func (d *DLM) covered() bool {
	for _, n := range append(slices.Clone(d.cfg.Nodes), d.base...) {
		if !slices.Contains(d.members, n) && !slices.Contains(d.release, n) {
			return false
		}
	}
	return true
}

// departed is the set of incarnations whose locks this recovery drops:
// members of the last recovered view gone now, and released members
// (back with a new boot id).
func (d *DLM) departed() []wire.NodeID {
	var out []wire.NodeID
	for _, n := range d.base {
		if !slices.Contains(d.members, n) {
			out = append(out, n)
		}
	}
	for _, n := range d.release {
		if slices.Contains(d.members, n) && !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}

// lose gives up every lock (View.Lost): each completes with Lost.
func (d *DLM) lose() {
	for _, p := range d.sortedLocks() {
		if !p.unlocking { // an unlocking one's client was told already
			d.complete(p, Completion{ID: p.id, Owner: p.owner, Status: Lost, Mode: IV})
		}
	}
	d.locks = map[LockID]*plock{}
	d.names = map[rname]*pname{}
	// Holding nothing, this node endangers no one: it waits for no
	// release before its next recovery (the survivors did).
	d.base = nil
}

func (d *DLM) startRecovery() {
	rec := &recovery{view: d.view, members: slices.Clone(d.members), got: map[wire.NodeID]bool{},
		asked: map[wire.NodeID][]rname{}, masters: map[rname]wire.NodeID{},
		dir: map[wire.NodeID][]rname{}, locks: map[wire.NodeID][]reclock{}, rebuilt: map[wire.NodeID]wire.ViewID{}}
	d.rec = rec
	d.dir = map[rname]wire.NodeID{}
	d.enterStage(stageDir)
	held := d.recMsgs
	d.recMsgs = nil
	for _, f := range held {
		if d.rec != rec {
			return
		}
		d.recReceive(f.from, f.m)
	}
}

// stageOf is the stage a recovery message belongs to.
func stageOf(k msgKind) int {
	switch k {
	case mkRecDir:
		return stageDir
	case mkRecLookup, mkRecMasters:
		return stageMasters
	case mkRecLocks:
		return stageLocks
	default:
		return stageDone
	}
}

// enterStage sends this node's messages of a stage and takes the ones held.
func (d *DLM) enterStage(s int) {
	rec := d.rec
	rec.stage = s
	rec.got = map[wire.NodeID]bool{}
	switch s {
	case stageDir:
		out := map[wire.NodeID][]rname{}
		for _, rn := range sortedKeys(d.mast) {
			dn := dirNode(rec.members, rn.ls, rn.name)
			out[dn] = append(out[dn], rn)
		}
		for _, n := range rec.members {
			d.send(n, msg{kind: mkRecDir, names: out[n], tag: d.recView.Epoch, node: d.recView.Coord})
		}
	case stageMasters:
		for _, rn := range sortedKeys(d.names) {
			if len(d.names[rn].locks) == 0 {
				continue
			}
			dn := dirNode(rec.members, rn.ls, rn.name)
			rec.asked[dn] = append(rec.asked[dn], rn)
		}
		for _, n := range rec.members {
			d.send(n, msg{kind: mkRecLookup, names: rec.asked[n]})
		}
	case stageLocks:
		out := map[wire.NodeID][]reclock{}
		named := map[rname]bool{}
		for _, p := range d.sortedLocks() {
			master, ok := rec.masters[p.rn]
			if !ok {
				continue
			}
			if p.mgr != IV {
				l := reclock{rname: p.rn, id: p.id, owner: p.owner, gr: p.mgr, flags: p.flags | p.vflags,
					orphan: p.orphan, lvb: p.lvb, lvbSeq: p.lvbSeq, lvbBad: p.lvbBad, lvbStale: p.lvbStale}
				if p.pend != nil && p.pend.kind == mkConvert && p.pend.flags&ConvDeadlk != 0 {
					// Its old master may have demoted it to NL and granted
					// others on the strength of that; its client accepted
					// NL until the conversion completes.
					l.gr, l.lvbStale = NL, true
				}
				out[master] = append(out[master], l)
				named[p.rn] = true
			}
		}
		// A name with no granted lock here still tells its master that
		// it masters it (the directory made it master for this node).
		for _, rn := range sortedKeys(rec.masters) {
			if !named[rn] {
				m := rec.masters[rn]
				out[m] = append(out[m], reclock{rname: rn, gr: IV})
			}
		}
		for _, n := range rec.members {
			d.send(n, msg{kind: mkRecLocks, locks: out[n]})
		}
	case stageDone:
		for _, n := range rec.members {
			d.send(n, msg{kind: mkRecDone})
		}
	}
	held := rec.held
	rec.held = nil
	for _, f := range held {
		if d.rec != rec {
			return
		}
		d.recReceive(f.from, f.m)
	}
}

// recReceive takes a recovery message of this view.
func (d *DLM) recReceive(from wire.NodeID, m msg) {
	rec := d.rec
	if !slices.Contains(rec.members, from) {
		return
	}
	s := stageOf(m.kind)
	if m.kind == mkRecLookup {
		// Answered as soon as the directory is rebuilt (stage 1 done).
		if rec.stage < stageMasters {
			rec.held = append(rec.held, fromMsg{from, m})
			return
		}
		masters := make([]wire.NodeID, len(m.names))
		for i, rn := range m.names {
			master, ok := d.dir[rn]
			if !ok {
				master = from // first to look it up: its new master
				d.dir[rn] = master
			}
			masters[i] = master
		}
		d.send(from, msg{kind: mkRecMasters, names: m.names, masters: masters})
		return
	}
	if s > rec.stage {
		rec.held = append(rec.held, fromMsg{from, m})
		return
	}
	if s < rec.stage {
		return
	}
	switch m.kind {
	case mkRecDir:
		rec.dir[from] = m.names
		rec.rebuilt[from] = wire.ViewID{Epoch: m.tag, Coord: m.node}
	case mkRecMasters:
		for i, rn := range m.names {
			rec.masters[rn] = m.masters[i]
		}
	case mkRecLocks:
		rec.locks[from] = m.locks
	}
	rec.got[from] = true
	if len(rec.got) < len(rec.members) {
		return
	}
	switch rec.stage {
	case stageDir:
		// A member that missed the last rebuild (it was cut off or lost
		// while the others recovered) has stale master copies: they are
		// not taken, and it drops its own.
		var newest wire.ViewID
		for _, n := range rec.members {
			if viewLess(newest, rec.rebuilt[n]) {
				newest = rec.rebuilt[n]
			}
		}
		if viewLess(d.recView, newest) {
			d.mast = map[rname]*mres{}
		}
		for _, n := range rec.members {
			if rec.rebuilt[n] != newest {
				continue
			}
			for _, rn := range rec.dir[n] {
				if _, ok := d.dir[rn]; !ok {
					d.dir[rn] = n
				}
			}
		}
		d.enterStage(stageMasters)
	case stageMasters:
		for rn, pn := range d.names {
			if master, ok := rec.masters[rn]; ok {
				pn.master, pn.known = master, true
			}
		}
		d.enterStage(stageLocks)
	case stageLocks:
		d.rebuild()
		d.enterStage(stageDone)
	case stageDone:
		d.finishRecovery()
	}
}

// rebuild replaces every master copy by one rebuilt from the members'
// process copies. A surviving master keeps its value block (marked
// invalid if a departed holder could have written it, by purge); a new
// master recovers it from the locks (recoverLVB).
func (d *DLM) rebuild() {
	rec := d.rec
	d.recView = rec.view
	reported := map[lkey]bool{}
	for _, n := range rec.members {
		for _, l := range rec.locks[n] {
			if l.gr != IV {
				reported[lkey{Node: n, ID: l.id}] = true
			}
		}
	}
	old := d.mast
	d.mast = map[rname]*mres{}
	d.mseq = map[lkey]uint32{}
	d.belief = map[lkey]Mode{}
	d.needAck = map[lkey]Mode{}
	d.held = map[rname][]held{}
	fresh := map[rname]bool{}
	get := func(rn rname) *rsb {
		if mr := d.mast[rn]; mr != nil {
			return mr.r
		}
		r := newRSB(rn.ls, rn.name, d.lvbLen(rn.ls))
		if o := old[rn]; o != nil {
			r.lvb, r.lvbSeq, r.invalid = o.r.lvb, o.r.lvbSeq, o.r.invalid
			// A PW or EX lock of the old copy that no member reports any
			// more (its node died, or was told its locks were lost, before
			// its unlock or down-conversion reached this master) may have
			// written or invalidated the value: it becomes invalid, never
			// silently old (recover_lvb's first rule, for every lock gone).
			for _, q := range [][]*lkb{o.r.granted, o.r.converting} {
				for _, l := range q {
					if l.gr >= PW && !reported[l.key] {
						r.invalid = true
					}
				}
			}
		} else {
			fresh[rn] = true
		}
		r.recoverGrant = true
		d.mast[rn] = &mres{r: r}
		return r
	}
	for _, rn := range sortedKeys(old) {
		// A surviving master keeps its resources (stage 1 told their
		// directory), unless the directory chose another reporter.
		if m, ok := rec.masters[rn]; ok && m != d.self {
			continue
		}
		if m, ok := d.dir[rn]; ok && m != d.self {
			continue
		}
		get(rn)
	}
	for _, n := range rec.members {
		for _, l := range rec.locks[n] {
			r := get(l.rname)
			if l.gr == IV {
				continue
			}
			if n != d.self {
				d.belief[lkey{Node: n, ID: l.id}] = l.gr
			}
			r.rebuild(&lkb{key: lkey{Node: n, ID: l.id}, owner: l.owner, gr: l.gr, rq: IV, flags: l.flags,
				q: qGranted, orphan: l.orphan, lvb: l.lvb, lvbSeq: l.lvbSeq, lvbInvalid: l.lvbBad, lvbStale: l.lvbStale, highbast: IV})
		}
	}
	for _, rn := range sortedKeys(d.mast) {
		if fresh[rn] {
			d.mast[rn].r.recoverLVB()
		}
		d.idleCheck(d.mast[rn])
	}
}

// finishRecovery: every member rebuilt; grant and resend.
func (d *DLM) finishRecovery() {
	rec := d.rec
	d.rec = nil
	d.recovered = true
	purged := d.departed()
	d.base = slices.Clone(rec.members)
	d.out.Events = append(d.out.Events, Recovered{View: rec.view, Members: slices.Clone(rec.members),
		Purged: purged, Resources: len(d.mast), Took: d.now - d.viewAt})
	d.resume()
}

// resume starts granting and sending in a recovered primary view.
func (d *DLM) resume() {
	if !d.primary || !d.recovered || d.running {
		return
	}
	d.running = true
	d.dlNext = d.now + d.cfg.DeadlockTimeout/2
	for _, rn := range sortedKeys(d.mast) {
		mr := d.mast[rn]
		d.emit(mr.r, mr.r.grantPending(d.now))
		d.idleCheck(mr)
	}
	def := d.deferred
	d.deferred = nil
	for _, f := range def {
		d.serve(f.from, f.m)
	}
	for _, p := range d.sortedLocks() {
		d.flush(p)
	}
}
