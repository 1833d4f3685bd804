package dlm

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/corral-ha/corral/core/wire"
)

// askTimeout is how long an Ask waits for the members' answers.
const askTimeout = 2 * time.Second

// defaultLockspace is what the lockspace "" means.
const defaultLockspace = "default"

// DLM is one node's lock manager (see the package comment).
type DLM struct {
	cfg  Config
	rng  *rand.Rand
	self wire.NodeID
	now  time.Duration
	lvbs map[string]int

	// Process copies: the locks this node took.
	nextID LockID
	locks  map[LockID]*plock
	names  map[rname]*pname

	// Master copies, the directory entries this node keeps, and the
	// names whose removal awaits the directory's reply.
	mast     map[rname]*mres
	mseq     map[lkey]uint32 // the last operation number a mastered lock sent
	belief   map[lkey]Mode   // remote mastered locks: the mode the client is known to believe (hold.go)
	needAck  map[lkey]Mode   // remote mastered locks: a completion sent whose acknowledgement is awaited
	held     map[rname][]held
	dir      map[rname]wire.NodeID
	removing map[rname][]fromMsg // names whose remove awaits the directory's reply, with the requests that came meanwhile

	// The view.
	view      wire.ViewID
	viewAt    time.Duration // when this view's first input came
	members   []wire.NodeID
	primary   bool
	release   []wire.NodeID
	base      []wire.NodeID // members of the last view whose recovery finished here
	recView   wire.ViewID   // the last view whose master copies this node rebuilt
	running   bool          // primary and recovered: grant, send
	recovered bool          // this view's recovery finished
	rec       *recovery
	recMsgs   []fromMsg // this view's recovery messages received before recovery started
	deferred  []fromMsg // master-bound traffic of this view received before recovery finished
	future    []fromMsg // messages of a view not installed yet
	selfq     []msg     // messages to this node, handled before the entry point returns

	// Deadlock search (on the view's coordinator) and Asks.
	dl     *dlRound
	dlNext time.Duration
	dlTag  uint64
	asks   map[uint64]*pendingAsk

	out     Ready
	readyAt [5]int // lengths of out's lists when Ready was last called
}

type fromMsg struct {
	from wire.NodeID
	m    msg
}

// plock is a process copy: a lock this node took, as its client sees it
// and as its master last confirmed it.
type plock struct {
	id     LockID
	rn     rname
	owner  Owner
	flags  Flags  // sticky: Persistent, NoDlckWt
	gr     Mode   // granted mode as the client knows it (IV: none)
	mgr    Mode   // granted mode as the master last confirmed it (what recovery rebuilds)
	lvb    []byte // value block as last read or written through the master
	lvbSeq uint64
	lvbBad bool // the last read said ValNotValid
	// lvbStale: it has held CR or less (or was demoted) since it last
	// read or wrote the value, so others may have written since
	// (recoverLVB trusts only a value held above CR since).
	lvbStale bool
	vflags   Flags  // ValBlk if its last request or conversion had it
	seq      uint32 // last operation number given
	pend     *pop   // the client's pending request or conversion (its completion is owed)
	todo     []*pop // operations not sent yet (no master known, or not running)
	sent     []*pop // operations sent and not yet confirmed (resent after a recovery)

	unlocking bool // the client was told EUNLOCK; the master's confirmation is awaited
	silent    bool // its owner was purged: nothing more is delivered
	orphan    bool
}

// pop is one operation of a process copy.
type pop struct {
	kind   msgKind // mkRequest, mkConvert, mkUnlock, mkCancel, mkOwner
	seq    uint32
	mode   Mode
	flags  Flags
	lvb    []byte
	owner  Owner
	sent   bool
	cancel bool // a pending op whose cancel was asked
}

// pname is what this node knows of a name it holds locks on.
type pname struct {
	master  wire.NodeID
	known   bool
	looking bool          // a lookup is in flight (or waits for a remove's reply)
	idleAt  time.Duration // with no lock: when the last went (forgotten after Config.Linger)
	locks   map[LockID]bool
}

// mres is a master copy and its linger state.
type mres struct {
	r      *rsb
	idle   bool
	idleAt time.Duration
}

// New returns a node's lock manager.
func New(cfg Config, rng *rand.Rand) (*DLM, error) {
	if cfg.Self == 0 {
		return nil, fmt.Errorf("dlm config: self is node 0: %w", ErrInvalid)
	}
	if cfg.DeadlockTimeout <= 0 {
		cfg.DeadlockTimeout = DefaultDeadlockTimeout
	}
	if cfg.Linger <= 0 {
		cfg.Linger = DefaultLinger
	}
	d := &DLM{
		cfg: cfg, rng: rng, self: cfg.Self,
		lvbs:     map[string]int{},
		locks:    map[LockID]*plock{},
		names:    map[rname]*pname{},
		mast:     map[rname]*mres{},
		mseq:     map[lkey]uint32{},
		belief:   map[lkey]Mode{},
		needAck:  map[lkey]Mode{},
		held:     map[rname][]held{},
		dir:      map[rname]wire.NodeID{},
		removing: map[rname][]fromMsg{},
		asks:     map[uint64]*pendingAsk{},
	}
	for ls, n := range cfg.LVB {
		if err := checkLVBLen(n); err != nil {
			return nil, fmt.Errorf("dlm config: lockspace %q: %w", ls, err)
		}
		d.lvbs[lsName(ls)] = n
	}
	return d, nil
}

func checkLVBLen(n int) error {
	if n < 8 || n > MaxLVB || n%8 != 0 {
		return fmt.Errorf("value block length %d (a multiple of 8, 8..%d): %w", n, MaxLVB, ErrInvalid)
	}
	return nil
}

func lsName(ls string) string {
	if ls == "" {
		return defaultLockspace
	}
	return ls
}

func (d *DLM) lvbLen(ls string) int {
	if n, ok := d.lvbs[ls]; ok {
		return n
	}
	return DefaultLVB
}

// Step takes one input.
func (d *DLM) Step(now time.Duration, in Input) error {
	d.now = now
	var err error
	switch in := in.(type) {
	case Receive:
		err = d.receive(in)
	case View:
		d.stepView(in)
	case PurgeOwner:
		d.purgeOwner(in.Owner)
	case Ask:
		d.ask(in)
	case SetLVB:
		if err = checkLVBLen(in.Len); err == nil {
			d.lvbs[lsName(in.Lockspace)] = in.Len
		}
	default:
		err = fmt.Errorf("dlm: unknown input %T: %w", in, ErrInvalid)
	}
	d.drain()
	return err
}

func (d *DLM) receive(in Receive) error {
	m, err := decodeMsg(in.Payload)
	if err != nil {
		return fmt.Errorf("dlm: message from node %d: %w", in.From, err)
	}
	d.handle(in.From, m)
	return nil
}

// Lock asks for a new lock or a conversion.
func (d *DLM) Lock(now time.Duration, r Request) (LockID, error) {
	d.now = now
	if err := validateLock(r); err != nil {
		return 0, err
	}
	if len(r.Lockspace) > MaxName {
		return 0, fmt.Errorf("lockspace name of %d bytes (at most %d): %w", len(r.Lockspace), MaxName, ErrInvalid)
	}
	rn := rname{ls: lsName(r.Lockspace), name: r.Name}
	if r.Flags&Convert != 0 {
		if p := d.locks[r.ID]; p != nil {
			rn = p.rn
		}
	}
	if err := validateLVB(r.Flags, r.LVB, d.lvbLen(rn.ls)); err != nil {
		return 0, err
	}
	defer d.drain()
	if r.Flags&Convert != 0 {
		p := d.locks[r.ID]
		if p == nil || p.unlocking || p.orphan {
			return 0, fmt.Errorf("convert lock %d: %w", r.ID, ErrNotFound)
		}
		if p.gr == IV || p.pend != nil {
			return 0, fmt.Errorf("convert lock %d: %w", r.ID, ErrBusy)
		}
		op := &pop{kind: mkConvert, mode: r.Mode, flags: r.Flags, lvb: cloneBytes(r.LVB)}
		if lvbOpFor(p.gr, r.Mode) == lvbWrite {
			p.wrote(r.Flags, r.LVB)
		}
		if downConversion(p.gr, r.Mode, r.Flags) {
			// Design 7: a down-conversion completes at once; the master
			// confirms it later (and recovery resends it until then).
			p.gr = r.Mode
			if r.Mode <= CR {
				p.lvbStale = true
			}
			d.complete(p, Completion{ID: p.id, Owner: p.owner, Status: OK, Mode: r.Mode})
		} else {
			p.pend = op
		}
		d.queueOp(p, op)
		return p.id, nil
	}
	if r.Flags&Orphan != 0 {
		return d.adopt(rn, r)
	}
	d.nextID++
	p := &plock{id: d.nextID, rn: rn, owner: r.Owner, flags: r.Flags & (Persistent | NoDlckWt), gr: IV, mgr: IV}
	op := &pop{kind: mkRequest, mode: r.Mode, flags: r.Flags, lvb: cloneBytes(r.LVB), owner: r.Owner}
	p.pend = op
	d.locks[p.id] = p
	pn := d.names[rn]
	if pn == nil {
		pn = &pname{locks: map[LockID]bool{}}
		d.names[rn] = pn
	}
	pn.locks[p.id] = true
	d.queueOp(p, op)
	return p.id, nil
}

// wrote records in a process copy the value its operation writes (so a
// recovery before the master confirms rebuilds the holder with it).
func (p *plock) wrote(flags Flags, lvb []byte) {
	switch {
	case flags&IVValBlk != 0:
		p.lvbBad = true
	case flags&ValBlk != 0 && lvb != nil:
		p.lvb, p.lvbBad, p.lvbStale = cloneBytes(lvb), false, false
	}
}

// downConversion reports whether converting gr to rq is a down-conversion
// (Linux's down_conversion: lower, not the PR/CW middle one, no QUECVT).
func downConversion(gr, rq Mode, flags Flags) bool {
	if flags&QueCvt != 0 || rq >= gr {
		return false
	}
	return gr != PR || rq != CW
}

// adopt gives a local orphan of the same name and mode to r's owner
// (Linux's dlm_user_adopt_orphan: another mode EAGAIN, none ENOENT).
func (d *DLM) adopt(rn rname, r Request) (LockID, error) {
	var other bool
	for _, p := range d.sortedLocks() {
		if !p.orphan || p.rn != rn || p.pend != nil || p.unlocking {
			continue
		}
		if p.gr != r.Mode {
			other = true
			continue
		}
		p.orphan = false
		p.owner = r.Owner
		c := Completion{ID: p.id, Owner: p.owner, Status: OK, Mode: p.gr}
		if r.Flags&ValBlk != 0 {
			c.LVB = d.readLVB(p)
		}
		d.complete(p, c)
		d.queueOp(p, &pop{kind: mkOwner, owner: p.owner})
		return p.id, nil
	}
	if !other {
		return 0, fmt.Errorf("adopt an orphan of %q in mode %v: %w", rn.name, r.Mode, ErrNotFound)
	}
	d.nextID++
	d.out.Completions = append(d.out.Completions, Completion{ID: d.nextID, Owner: r.Owner, Status: EAGAIN, Mode: IV})
	return d.nextID, nil
}

func (d *DLM) readLVB(p *plock) []byte {
	v := make([]byte, d.lvbLen(p.rn.ls))
	copy(v, p.lvb)
	return v
}

// Unlock releases, cancels or force-unlocks a lock.
func (d *DLM) Unlock(now time.Duration, id LockID, flags Flags, lvb []byte) error {
	d.now = now
	if err := validateUnlock(flags); err != nil {
		return err
	}
	p := d.locks[id]
	if p == nil || p.unlocking {
		return fmt.Errorf("unlock lock %d: %w", id, ErrNotFound)
	}
	if err := validateLVB(flags, lvb, d.lvbLen(p.rn.ls)); err != nil {
		return err
	}
	defer d.drain()
	if flags&Cancel != 0 {
		return d.cancel(p)
	}
	if flags&ForceUnlock == 0 && p.pend != nil {
		return fmt.Errorf("unlock lock %d: %w", id, ErrBusy)
	}
	d.unlock(p, flags, lvb)
	return nil
}

// unlock completes an unlock at once (design 7) and queues it for the master.
func (d *DLM) unlock(p *plock, flags Flags, lvb []byte) {
	if p.gr >= PW {
		p.wrote(flags, lvb)
	}
	d.complete(p, Completion{ID: p.id, Owner: p.owner, Status: EUNLOCK, Mode: IV})
	p.unlocking = true
	p.gr = IV
	p.pend = nil
	if p.mgr == IV && len(p.sent) == 0 {
		// Never reached a master: nothing to undo there.
		d.dropLock(p)
		return
	}
	d.queueOp(p, &pop{kind: mkUnlock, flags: flags, lvb: cloneBytes(lvb)})
}

func (d *DLM) cancel(p *plock) error {
	if p.pend == nil {
		return nil // nothing pending: no completion (Linux)
	}
	if p.pend.cancel {
		return fmt.Errorf("cancel lock %d: %w", p.id, ErrBusy)
	}
	if !p.pend.sent {
		// The master never saw it: cancel here.
		p.todo = slices.DeleteFunc(p.todo, func(o *pop) bool { return o == p.pend })
		p.pend = nil
		d.complete(p, Completion{ID: p.id, Owner: p.owner, Status: ECANCEL, Mode: p.gr})
		d.maybeDrop(p)
		return nil
	}
	p.pend.cancel = true
	d.queueOp(p, &pop{kind: mkCancel})
	return nil
}

// complete hands a completion to the lock's client.
func (d *DLM) complete(p *plock, c Completion) {
	if p.silent {
		return
	}
	if c.Mode == IV {
		// The lock is gone for its client: a blocking notice not handed
		// out yet would come after its last completion.
		from := d.readyAt[2]
		d.out.Blocking = append(d.out.Blocking[:from:from], slices.DeleteFunc(d.out.Blocking[from:], func(b Blocking) bool { return b.ID == c.ID })...)
	}
	d.out.Completions = append(d.out.Completions, c)
}

// queueOp numbers an operation and sends it when it can.
func (d *DLM) queueOp(p *plock, op *pop) {
	if op.kind == mkRequest || op.kind == mkConvert {
		p.vflags = op.flags & ValBlk
	}
	p.seq++
	op.seq = p.seq
	p.todo = append(p.todo, op)
	d.flush(p)
}

// flush sends a lock's queued operations to its master, looking the
// master up first when unknown. Nothing is sent while not running.
func (d *DLM) flush(p *plock) {
	if !d.running || len(p.todo) == 0 {
		return
	}
	pn := d.names[p.rn]
	if pn == nil {
		return
	}
	if !pn.known && !pn.looking && d.mast[p.rn] != nil {
		pn.master, pn.known = d.self, true // this node masters it (lingering): no lookup
	}
	if !pn.known {
		d.lookup(p.rn, pn)
		return
	}
	for _, op := range p.todo {
		m := msg{kind: op.kind, rname: p.rn, id: p.id, seq: op.seq, mode: op.mode, flags: op.flags, lvb: op.lvb, owner: op.owner}
		if op.kind == mkOwner {
			m.owner = p.owner
			if p.orphan {
				m.flags = Orphan
			}
		}
		d.send(pn.master, m)
		if op.kind != mkOwner {
			op.sent = true
			p.sent = append(p.sent, op)
		}
	}
	p.todo = nil
}

// lookup asks a name's directory node who masters it.
func (d *DLM) lookup(rn rname, pn *pname) {
	if pn.looking {
		return
	}
	pn.looking = true
	if _, ok := d.removing[rn]; ok {
		return // asked again when the directory confirms the remove
	}
	d.send(dirNode(d.members, rn.ls, rn.name), msg{kind: mkLookup, rname: rn})
}

// send queues a message (to this node: handled before the entry point returns).
func (d *DLM) send(to wire.NodeID, m msg) {
	m.view = d.view
	if to == d.self {
		d.selfq = append(d.selfq, m)
		return
	}
	d.out.Messages = append(d.out.Messages, Out{To: to, Payload: m.encode(nil)})
}

// drain handles the messages this node sent itself.
func (d *DLM) drain() {
	for i := 0; i < len(d.selfq); i++ {
		m := d.selfq[i]
		d.selfq[i] = msg{}
		d.handle(d.self, m)
	}
	d.selfq = d.selfq[:0]
}

// handle dispatches a decoded message.
func (d *DLM) handle(from wire.NodeID, m msg) {
	switch m.kind {
	case mkAsk:
		d.send(from, msg{kind: mkAnswer, tag: m.tag, res: d.masterInfos(m.ls)})
		return
	case mkAnswer:
		d.answer(from, m)
		return
	}
	if m.view != d.view {
		if viewLess(d.view, m.view) {
			d.future = append(d.future, fromMsg{from, m})
		}
		return // an older view's traffic: recovery replaced it
	}
	switch m.kind {
	case mkRecDir, mkRecLookup, mkRecMasters, mkRecLocks, mkRecDone:
		if d.rec == nil {
			d.recMsgs = append(d.recMsgs, fromMsg{from, m})
			return
		}
		d.recReceive(from, m)
	case mkRequest, mkConvert, mkUnlock, mkCancel, mkOwner, mkLookup, mkRemove, mkDlVictim, mkDlQuery, mkPurge, mkAck:
		if !d.running {
			d.deferred = append(d.deferred, fromMsg{from, m})
			return
		}
		d.serve(from, m)
	case mkReply:
		d.procReply(from, m)
	case mkBast:
		d.procBast(m)
	case mkNotMaster:
		d.procNotMaster(from, m)
	case mkLookupReply:
		d.procLookupReply(m)
	case mkRemoveReply:
		d.procRemoveReply(m)
	case mkDlEdges:
		d.dlEdges(from, m)
	}
}

func viewLess(a, b wire.ViewID) bool {
	if a.Epoch != b.Epoch {
		return a.Epoch < b.Epoch
	}
	return a.Coord < b.Coord
}

// serve handles master-, directory- and coordinator-bound traffic (running).
func (d *DLM) serve(from wire.NodeID, m msg) {
	switch m.kind {
	case mkLookup:
		master, ok := d.dir[m.rname]
		if !ok {
			master = from // the first to look a name up masters it
			d.dir[m.rname] = master
		}
		d.send(from, msg{kind: mkLookupReply, rname: m.rname, node: master})
	case mkRemove:
		if d.dir[m.rname] == from {
			delete(d.dir, m.rname)
		}
		d.send(from, msg{kind: mkRemoveReply, rname: m.rname})
	case mkDlQuery:
		d.send(from, msg{kind: mkDlEdges, tag: m.tag, edges: d.waitEdges()})
	case mkDlVictim:
		d.victim(m)
	case mkPurge:
		d.purgeOwner(m.owner)
	case mkAck:
		d.ack(from, m)
	default:
		d.masterOp(from, m)
	}
}

// masterOp runs a lock operation on a master copy.
func (d *DLM) masterOp(from wire.NodeID, m msg) {
	mr := d.mast[m.rname]
	if mr == nil {
		if m.kind == mkOwner {
			return
		}
		if waiting, ok := d.removing[m.rname]; ok {
			// The directory may still name this node: answer once it has
			// forgotten, or the asker would find this node again.
			d.removing[m.rname] = append(waiting, fromMsg{from, m})
			return
		}
		d.send(from, msg{kind: mkNotMaster, rname: m.rname, id: m.id, seq: m.seq})
		return
	}
	r := mr.r
	k := lkey{Node: from, ID: m.id}
	var effs []effect
	var err error
	switch m.kind {
	case mkOwner:
		if l := r.find(k); l != nil {
			l.owner = m.owner
			l.orphan = m.flags&Orphan != 0
		}
		return
	case mkRequest:
		d.mseq[k] = m.seq
		if r.find(k) != nil {
			return // already there (cannot happen: a request is sent once per recovery)
		}
		effs = r.request(d.now, &lkb{key: k, owner: m.owner}, m.mode, m.flags, m.lvb)
	case mkConvert:
		d.mseq[k] = m.seq
		if b, ok := d.belief[k]; ok && downConversion(b, m.mode, m.flags) {
			d.belief[k] = m.mode // its client was told at once
		}
		effs, err = r.convert(d.now, k, m.mode, m.flags, m.lvb)
		if err != nil {
			mode := IV
			if l := r.find(k); l != nil {
				mode = l.gr
			}
			effs = []effect{{key: k, status: EAGAIN, mode: mode}}
		}
	case mkUnlock:
		d.mseq[k] = m.seq
		delete(d.belief, k)
		delete(d.needAck, k)
		effs, err = r.unlock(k, m.flags, m.lvb)
		if err != nil {
			effs = []effect{{key: k, status: EUNLOCK, mode: IV}}
		}
	case mkCancel:
		d.mseq[k] = m.seq
		effs, _ = r.cancel(k)
	}
	d.emit(r, effs)
	d.idleCheck(mr)
}

// emit routes a master copy's effects: to this node's process copies
// directly, to others as messages.
func (d *DLM) emit(r *rsb, effs []effect) {
	rn := rname{ls: r.ls, name: r.name}
	for _, e := range effs {
		d.held[rn] = append(d.held[rn], held{e: e, seq: d.mseq[e.key]})
		if !e.bast && r.find(e.key) == nil {
			delete(d.mseq, e.key)
		}
	}
	d.flushHeld(r)
}

// idleCheck starts or stops a master copy's linger.
func (d *DLM) idleCheck(mr *mres) {
	if mr.r.empty() {
		if !mr.idle {
			mr.idle, mr.idleAt = true, d.now
		}
	} else {
		mr.idle = false
	}
}

// procReply applies a master's completion to a process copy.
func (d *DLM) procReply(from wire.NodeID, m msg) {
	p := d.locks[m.id]
	if p == nil {
		return
	}
	if m.lvb != nil {
		p.lvb, p.lvbSeq, p.lvbBad, p.lvbStale = m.lvb, m.lvbSeq, m.sb&ValNotValid != 0, false
	} else if m.lvbSeq > p.lvbSeq {
		p.lvbSeq = m.lvbSeq
	}
	p.mgr = m.mode
	if m.mode == NL || m.mode == CR || m.sb&Demoted != 0 {
		p.lvbStale = true
	}
	p.sent = slices.DeleteFunc(p.sent, func(o *pop) bool { return o.seq <= m.seq })
	if p.pend != nil && p.pend.sent && p.pend.seq <= m.seq && !p.unlocking {
		p.pend = nil
		if from != d.self && p.gr != IV && m.mode != IV && weaker(m.mode, p.gr) {
			// The master holds back others' grants until this client knows (hold.go).
			defer d.send(from, msg{kind: mkAck, rname: p.rn, id: p.id})
		}
		p.gr = m.mode
		d.complete(p, Completion{ID: p.id, Owner: p.owner, Status: m.status, Mode: m.mode, SB: m.sb, LVB: cloneBytes(m.lvb)})
	}
	d.maybeDrop(p)
}

// maybeDrop forgets a process copy no master holds and nothing is pending for.
func (d *DLM) maybeDrop(p *plock) {
	onlyCancels := !slices.ContainsFunc(p.sent, func(o *pop) bool { return o.kind != mkCancel })
	if p.mgr == IV && p.pend == nil && len(p.todo) == 0 && onlyCancels {
		// (a cancel that reached a lock already gone gets no answer)
		d.dropLock(p)
	}
}

func (d *DLM) dropLock(p *plock) {
	delete(d.locks, p.id)
	if pn := d.names[p.rn]; pn != nil {
		delete(pn.locks, p.id)
		if len(pn.locks) == 0 && !pn.looking {
			if pn.known {
				// Keep the master a while (Linux keeps the rsb on its
				// toss list): the next lock needs no lookup. Stale after
				// the master's own linger: a notmaster then redirects.
				pn.idleAt = d.now
			} else {
				delete(d.names, p.rn)
			}
		}
	}
}

// procBast hands a blocking notice to a granted lock's client.
func (d *DLM) procBast(m msg) {
	p := d.locks[m.id]
	if p == nil || p.silent || p.unlocking || p.gr == IV || compatible(p.gr, m.mode) {
		return
	}
	d.out.Blocking = append(d.out.Blocking, Blocking{ID: p.id, Owner: p.owner, Mode: m.mode})
}

// procNotMaster: the node asked is not the name's master (it forgot it):
// look the name up again and resend what went there.
func (d *DLM) procNotMaster(from wire.NodeID, m msg) {
	pn := d.names[m.rname]
	if pn == nil || !pn.known || pn.master != from {
		return // already redirected
	}
	pn.known = false
	for _, id := range sortedIDs(pn.locks) {
		p := d.locks[id]
		for _, o := range p.sent {
			o.sent = false
		}
		p.todo = append(p.sent, p.todo...)
		p.sent = nil
	}
	for _, id := range sortedIDs(pn.locks) {
		if p := d.locks[id]; p != nil {
			d.maybeDrop(p)
			if d.locks[id] != nil {
				d.flush(p)
			}
		}
	}
}

func (d *DLM) procLookupReply(m msg) {
	pn := d.names[m.rname]
	if pn == nil || !pn.looking {
		return
	}
	if _, ok := d.removing[m.rname]; ok && m.node == d.self && d.mast[m.rname] == nil {
		// An answer sent before the directory took this node's remove:
		// ask again once it confirms the remove.
		return
	}
	pn.looking = false
	pn.master, pn.known = m.node, true
	if m.node == d.self && d.mast[m.rname] == nil {
		d.mast[m.rname] = &mres{r: newRSB(m.ls, m.name, d.lvbLen(m.ls))}
	}
	if len(pn.locks) == 0 {
		delete(d.names, m.rname)
		return
	}
	for _, id := range sortedIDs(pn.locks) {
		d.flush(d.locks[id])
	}
}

func (d *DLM) procRemoveReply(m msg) {
	waiting, ok := d.removing[m.rname]
	if !ok {
		return
	}
	delete(d.removing, m.rname)
	// The directory forgot this node as master: what was sent here
	// meanwhile looks the name up again (and finds no stale answer).
	for _, f := range waiting {
		d.send(f.from, msg{kind: mkNotMaster, rname: f.m.rname, id: f.m.id, seq: f.m.seq})
	}
	if pn := d.names[m.rname]; pn != nil && pn.looking {
		pn.looking = false
		d.lookup(m.rname, pn)
	}
}

// Tick lets time pass: unused resources end their linger, the deadlock
// search runs on the coordinator, Asks time out.
func (d *DLM) Tick(now time.Duration) {
	d.now = now
	if d.running {
		d.tossIdle()
		d.dlTick()
	}
	d.askTick()
	d.drain()
}

// tossIdle forgets master copies unused for Config.Linger and tells
// their directory nodes.
func (d *DLM) tossIdle() {
	for _, rn := range sortedKeys(d.names) {
		if pn := d.names[rn]; len(pn.locks) == 0 && !pn.looking && d.now-pn.idleAt >= d.cfg.Linger {
			delete(d.names, rn)
		}
	}
	for _, rn := range sortedKeys(d.mast) {
		mr := d.mast[rn]
		if !mr.idle || d.now-mr.idleAt < d.cfg.Linger {
			continue
		}
		delete(d.mast, rn)
		delete(d.held, rn)
		dn := dirNode(d.members, rn.ls, rn.name)
		if dn == d.self {
			if d.dir[rn] == d.self {
				delete(d.dir, rn)
			}
			continue
		}
		d.removing[rn] = nil
		d.send(dn, msg{kind: mkRemove, rname: rn})
	}
}

// HasReady reports whether Ready has anything.
func (d *DLM) HasReady() bool {
	return len(d.out.Messages)+len(d.out.Completions)+len(d.out.Blocking)+len(d.out.Events)+len(d.out.Answers) > 0
}

// Ready returns what to do (the same until Advance).
func (d *DLM) Ready() Ready {
	d.readyAt = [5]int{len(d.out.Messages), len(d.out.Completions), len(d.out.Blocking), len(d.out.Events), len(d.out.Answers)}
	return Ready{
		Messages:    d.out.Messages[:d.readyAt[0]:d.readyAt[0]],
		Completions: d.out.Completions[:d.readyAt[1]:d.readyAt[1]],
		Blocking:    d.out.Blocking[:d.readyAt[2]:d.readyAt[2]],
		Events:      d.out.Events[:d.readyAt[3]:d.readyAt[3]],
		Answers:     d.out.Answers[:d.readyAt[4]:d.readyAt[4]],
	}
}

// Advance acknowledges the last Ready: what it returned is dropped.
func (d *DLM) Advance() {
	d.out.Messages = rest(d.out.Messages, d.readyAt[0])
	d.out.Completions = rest(d.out.Completions, d.readyAt[1])
	d.out.Blocking = rest(d.out.Blocking, d.readyAt[2])
	d.out.Events = rest(d.out.Events, d.readyAt[3])
	d.out.Answers = rest(d.out.Answers, d.readyAt[4])
	d.readyAt = [5]int{}
}

// rest is what is left of a list once its first n went out (a copy: the
// driver may keep what Ready returned).
func rest[T any](l []T, n int) []T {
	if n >= len(l) {
		return nil
	}
	return slices.Clone(l[n:])
}

// purgeOwner releases an owner's locks (PurgeOwner): non-persistent ones
// are force-unlocked without completions, persistent granted ones become
// orphans, and orphans already are released (Linux's purge of a pid's
// orphans). Owner.ID 0 names every orphan on Owner.Node.
func (d *DLM) purgeOwner(o Owner) {
	if o.Node != d.self {
		if slices.Contains(d.members, o.Node) {
			d.send(o.Node, msg{kind: mkPurge, owner: o})
		}
		return
	}
	for _, p := range d.sortedLocks() {
		match := p.owner == o || (o.ID == 0 && p.orphan)
		if !match || p.unlocking {
			continue
		}
		if p.flags&Persistent != 0 && !p.orphan && p.gr != IV && p.pend == nil {
			p.orphan = true
			d.queueOp(p, &pop{kind: mkOwner})
			continue
		}
		p.silent = true
		d.unlock(p, ForceUnlock, nil)
	}
}

// Locks describes what this node holds: the queues of the resources it
// masters, and its own locks on resources mastered elsewhere (as their
// process copies know them), sorted by lockspace and name.
func (d *DLM) Locks(lockspace string) []ResourceInfo {
	res := d.masterInfos(lockspace)
	byName := map[rname]*ResourceInfo{}
	for _, p := range d.sortedLocks() {
		if (lockspace != "" && p.rn.ls != lsName(lockspace)) || p.unlocking {
			continue
		}
		if mr := d.mast[p.rn]; mr != nil && mr.r.find(lkey{Node: d.self, ID: p.id}) != nil {
			continue // in the master copy above
		}
		pn := d.names[p.rn]
		ri := byName[p.rn]
		if ri == nil {
			ri = &ResourceInfo{Lockspace: p.rn.ls, Name: p.rn.name, Directory: dirNode(d.members, p.rn.ls, p.rn.name), LVBValid: !p.lvbBad}
			if pn != nil && pn.known {
				ri.Master = pn.master
			}
			byName[p.rn] = ri
		}
		li := LockInfo{Node: d.self, ID: p.id, Owner: p.owner, Granted: p.gr, Wanted: IV, Flags: p.flags, Orphan: p.orphan}
		switch {
		case p.pend != nil && p.gr == IV:
			li.Wanted = p.pend.mode
			ri.Waiting = append(ri.Waiting, li)
		case p.pend != nil:
			li.Wanted = p.pend.mode
			ri.Converting = append(ri.Converting, li)
		case p.gr != IV:
			ri.Granted = append(ri.Granted, li)
		}
	}
	for _, ri := range byName {
		res = append(res, *ri)
	}
	sortInfos(res)
	return res
}

// masterInfos describes the master copies of a lockspace ("": all).
func (d *DLM) masterInfos(lockspace string) []ResourceInfo {
	var res []ResourceInfo
	for _, rn := range sortedKeys(d.mast) {
		if lockspace != "" && rn.ls != lsName(lockspace) {
			continue
		}
		r := d.mast[rn].r
		ri := ResourceInfo{Lockspace: rn.ls, Name: rn.name, Master: d.self,
			Directory: dirNode(d.members, rn.ls, rn.name), LVBValid: !r.invalid, LVB: cloneBytes(r.lvb)}
		info := func(q []*lkb) []LockInfo {
			var out []LockInfo
			for _, l := range q {
				out = append(out, LockInfo{Node: l.key.Node, ID: l.key.ID, Owner: l.owner, Granted: l.gr, Wanted: l.rq, Flags: l.flags, Orphan: l.orphan})
			}
			return out
		}
		ri.Granted, ri.Converting, ri.Waiting = info(r.granted), info(r.converting), info(r.waiting)
		res = append(res, ri)
	}
	return res
}

func sortInfos(res []ResourceInfo) {
	slices.SortStableFunc(res, func(a, b ResourceInfo) int {
		if c := cmp.Compare(a.Lockspace, b.Lockspace); c != 0 {
			return c
		}
		if c := cmp.Compare(a.Name, b.Name); c != 0 {
			return c
		}
		return cmp.Compare(a.Master, b.Master)
	})
}

func (d *DLM) sortedLocks() []*plock {
	out := make([]*plock, 0, len(d.locks))
	for _, id := range sortedIDs(d.locks) {
		out = append(out, d.locks[id])
	}
	return out
}

func sortedIDs[V any](m map[LockID]V) []LockID {
	ids := make([]LockID, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

func sortedKeys[V any](m map[rname]V) []rname {
	ks := make([]rname, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.SortFunc(ks, compareRname)
	return ks
}

func compareRname(a, b rname) int {
	if c := cmp.Compare(a.ls, b.ls); c != 0 {
		return c
	}
	return cmp.Compare(a.name, b.name)
}

func cloneBytes(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte{}, b...)
}
