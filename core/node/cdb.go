package node

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/corral-ha/corral/core/bcast"
	"github.com/corral-ha/corral/core/cdb"
	"github.com/corral-ha/corral/core/membership"
	"github.com/corral-ha/corral/core/quorum"
	"github.com/corral-ha/corral/core/wire"
)

// Broadcast payloads carry a tag: the application's (Node.Broadcast, to
// Options.OnDeliver) or the config DB's.
const (
	tagApp byte = 1
	tagCDB byte = 2
)

// (tagCRM = 3, the resource manager's, is in crm.go; tagFence = 4 in fence.go.)

// cdbReply is the answer to a write waiting in an API call.
type cdbReply struct {
	res cdb.Result
	err error
}

type cdbKey struct {
	client string
	seq    uint64
}

type heldIn struct {
	from wire.NodeID
	msg  bcast.Message
}

type installed struct {
	view   wire.View
	src    wire.NodeID
	failed error // bcast could not install it (cdbinstall.go)
}

// cdbDriver is the node's side of the config DB contract (core/cdb/doc.go):
// all of it runs on the event loop.
type cdbDriver struct {
	db      *cdb.DB
	client  string // this node's client id for API writes (name/boot)
	seq     uint64
	waiters map[cdbKey]chan cdbReply

	primary map[wire.ViewID]bool // the installed views' primary flags
	pending *installed           // installed by membership, adoption not begun yet
	cur     wire.ViewID          // the installed view
	adopt   wire.ViewID          // the view of the last BeginAdopt

	// While the DB catches up in the view it adopts for, bcast takes no
	// message of that view and its output waits.
	heldIn  []heldIn
	heldOut []bcast.Out
	heldDel []bcast.Delivery

	// commitDirty: db.Rev() is ahead of the Commit on disk (cdbPersist)
	commitDirty bool
	// trace, set by tests before Run, sees what the durability ordering
	// is about: entries made durable, bcast messages queued, answers.
	trace func(cdbEvent)

	qSet            bool
	quorate         bool
	votes, expected int

	watchers map[uint64]*cdbWatcher // API watches by the DB's watch id (cdbwatch.go)

	failed    wire.ViewID // the installed view bcast could not install (cdbinstall.go)
	failedErr error

	// two_node (twonode.go): deferred is the installed primary view of
	// one node whose adoption waits until its peer is down (deferredSrc:
	// the source membership chose); its config DB deliveries count as of a
	// view that is not primary. paired: this incarnation finished adopting
	// a history in a view of every configured node (adoptAll: c.adopt is
	// such a view).
	deferred    wire.ViewID
	deferredSrc wire.NodeID
	adoptAll    bool
	paired      bool
}

// openCDB builds the config DB from what the store holds.
func (n *Node) openCDB() error {
	c := &n.cdb
	db, err := cdb.New(cdb.Config{Self: n.self})
	if err != nil {
		return err
	}
	c.db = db
	p, err := n.store.GetCDB()
	if err != nil {
		return err
	}
	if err := c.db.Recover(p); err != nil {
		return fmt.Errorf("%s: config database: %w", n.cfg.DataDir, err)
	}
	c.client = fmt.Sprintf("%s/%d", n.cfg.Node, n.boot)
	c.waiters = map[cdbKey]chan cdbReply{}
	c.primary = map[wire.ViewID]bool{}
	if h := c.db.Head(); h.Rev > 0 {
		n.log.Info("config database recovered", "revision", c.db.Rev(), "log_head", h.Rev, "adopted", n.viewName(h.Adopted))
	}
	return nil
}

// flusher returns membership's Flusher: bcast's flush plus the DB's head.
func (n *Node) flusher() *flusher {
	return &flusher{b: bcast.Hooks{B: n.bc}, db: n.cdb.db, installed: func(v wire.View, src wire.NodeID) {
		n.cdb.pending = &installed{view: v, src: src}
	}, failed: n.cdbInstallFailed}
}

// catching reports whether bcast's traffic of the installed view waits
// for the DB's adoption.
func (c *cdbDriver) catching() bool {
	return c.db.CatchingUp() && c.cur == c.adopt
}

// stepBcast hands a bcast message from a peer to bcast, or keeps it (in
// order) while the DB catches up or an install waits for its adoption.
func (n *Node) stepBcast(now time.Duration, from wire.NodeID, m bcast.Message) {
	c := &n.cdb
	if c.catching() || c.pending != nil || len(c.heldIn) > 0 {
		if len(c.heldIn) >= maxHeldIn {
			// Dropping one would stall bcast for good: stop instead; a
			// restarted node joins afresh.
			n.fatal(fmt.Errorf("config database: %d broadcast messages wait for a catch-up that does not end", len(c.heldIn)))
			return
		}
		c.heldIn = append(c.heldIn, heldIn{from, m})
		return
	}
	if err := n.bc.Step(now, bcast.Receive{From: from, Msg: m}); err != nil {
		n.log.Warn("broadcast message refused", "from", n.names[from], "err", err)
	}
}

// maxHeldIn bounds the broadcast messages kept while the DB catches up.
const maxHeldIn = 1 << 16

// bcastView is the view a bcast message belongs to.
func bcastView(m bcast.Message) wire.ViewID {
	switch m := m.(type) {
	case *bcast.Submit:
		return m.View
	case *bcast.Order:
		return m.View
	case *bcast.Ack:
		return m.View
	case *bcast.Stable:
		return m.View
	}
	return wire.ViewID{}
}

// beginInstall carries out a view install membership made: the view's
// primary flag is known now; a primary view adopts a history.
func (n *Node) beginInstall() {
	c := &n.cdb
	p := c.pending
	c.pending = nil
	ms := n.mem.Status()
	primary := ms.View.ID == p.view.ID && ms.Primary && p.failed == nil
	c.failed, c.failedErr = wire.ViewID{}, nil
	if p.failed != nil {
		c.failed, c.failedErr = p.view.ID, p.failed
	}
	c.primary[p.view.ID] = primary
	for v := range c.primary {
		if v.Epoch+16 < p.view.ID.Epoch {
			delete(c.primary, v)
		}
	}
	c.cur = p.view.ID
	c.deferred = wire.ViewID{}
	// what waited for an earlier view's adoption is of no use now
	keepIn := c.heldIn[:0]
	for _, h := range c.heldIn {
		if bcastView(h.msg) == c.cur {
			keepIn = append(keepIn, h)
		}
	}
	c.heldIn = keepIn
	keepOut := c.heldOut[:0]
	for _, o := range c.heldOut {
		if bcastView(o.Msg) == c.cur {
			keepOut = append(keepOut, o)
		}
	}
	c.heldOut = keepOut
	keepDel := c.heldDel[:0]
	for _, d := range c.heldDel {
		if d.View == c.cur {
			keepDel = append(keepDel, d)
		}
	}
	c.heldDel = keepDel
	if primary {
		if a := n.twoNodeAlone(ms); holdsBack(a) {
			// A lone two_node view adopts nothing before its peer is down
			// (cdbQuorum begins the adoption then).
			c.deferred, c.deferredSrc = p.view.ID, p.src
			n.log.Warn("config database: not adopting a history yet", "view", n.viewName(p.view.ID), "reason", n.aloneReason(ms, a))
		} else {
			n.cdbAdopt(p.view, p.src)
		}
	}
	c.qSet = false
}

// cdbAdopt begins the adoption of src's history for the installed primary
// view v.
func (n *Node) cdbAdopt(v wire.View, src wire.NodeID) {
	c := &n.cdb
	c.adopt = v.ID
	c.adoptAll = len(v.Members) == len(n.cfg.Nodes)
	if err := c.db.Step(n.now(), cdb.BeginAdopt{View: v.ID, Source: src}); err != nil {
		n.log.Error("config database: adoption refused (a bug: please report it)", "view", n.viewName(v.ID), "err", err)
	}
	if src != n.self {
		n.log.Info("config database: adopting the history of a peer", "view", n.viewName(v.ID), "source", n.names[src])
	}
}

// cdbDeliver gives one bcast delivery to the DB (or the application).
func (n *Node) cdbDeliver(d bcast.Delivery) {
	c := &n.cdb
	if c.pending != nil && !d.Flush && d.View == c.pending.view.ID {
		n.beginInstall()
	}
	if len(d.Payload) > 0 && d.Payload[0] == tagCRM {
		n.crmDeliver(d)
		return
	}
	if len(d.Payload) > 0 && d.Payload[0] == tagFence {
		n.fenceDeliver(d)
		return
	}
	if len(d.Payload) == 0 || d.Payload[0] != tagCDB {
		if len(d.Payload) > 0 {
			d.Payload = d.Payload[1:]
		}
		if n.opt.OnDeliver != nil {
			n.opt.OnDeliver(d)
		}
		return
	}
	if !d.Flush && c.catching() && d.View == c.adopt {
		c.heldDel = append(c.heldDel, d)
		return
	}
	if d.Flush && len(c.heldDel) > 0 {
		keep := c.heldDel[:0]
		for _, h := range c.heldDel {
			if h.View != d.View {
				keep = append(keep, h)
			}
		}
		c.heldDel = keep
	}
	dl := cdb.Delivery{View: d.View, Primary: c.primary[d.View] && d.View != c.deferred, Seq: d.Seq, Payload: d.Payload[1:], Flush: d.Flush}
	var err error
	if d.Level == bcast.Safe {
		err = c.db.Step(n.now(), cdb.Commit(dl))
	} else {
		err = c.db.Step(n.now(), cdb.Hold(dl))
	}
	if err != nil {
		n.log.Error("config database: delivery refused (a bug: please report it)", "view", n.viewName(d.View), "seq", d.Seq, "level", d.Level.String(), "err", err)
	}
}

// cdbRound carries out one bcast Ready with the DB: deliveries to the DB,
// the DB's Persist made durable, and only then bcast's messages (their
// Acks cover what was just held), the DB's messages and broadcasts, and
// the answers to waiting clients. It reports whether anything happened.
func (n *Node) cdbRound(now time.Duration, rb bcast.Ready) bool {
	c := &n.cdb
	if !c.catching() && len(c.heldDel) > 0 {
		// Deliveries kept while catching up come before this round's.
		dels := c.heldDel
		c.heldDel = nil
		for _, d := range dels {
			n.cdbDeliver(d)
		}
	}
	for _, d := range rb.Deliver {
		n.cdbDeliver(d)
	}
	if c.pending != nil {
		n.beginInstall()
	}
	out := rb.Messages
	busy := !rb.Empty()
	if c.catching() {
		c.heldOut = append(c.heldOut, out...)
		out = nil
	} else if len(c.heldDel) > 0 || len(c.heldOut) > 0 || len(c.heldIn) > 0 {
		busy = true
		dels := c.heldDel
		c.heldDel = nil
		for _, d := range dels {
			n.cdbDeliver(d)
		}
		if len(c.heldOut) > 0 && n.bc.Status().Frozen {
			// This node promised a newer view while it caught up: bcast
			// sends nothing more of its view, and what it produced before
			// must not leave either. An Ack sent now would tell the
			// coordinator that this node holds entries its promise (its
			// cdb.Head) did not report, and the new view could adopt a
			// history without them after the old one committed them.
			n.log.Info("config database: broadcast messages held during the catch-up dropped: a newer view was promised meanwhile", "messages", len(c.heldOut), "view", n.viewName(c.cur))
			c.heldOut = nil
		}
		out = append(c.heldOut, out...)
		c.heldOut = nil
		ins := c.heldIn
		c.heldIn = nil
		for _, h := range ins {
			if err := n.bc.Step(now, bcast.Receive{From: h.from, Msg: h.msg}); err != nil {
				n.log.Warn("broadcast message refused", "from", n.names[h.from], "err", err)
			}
		}
	}
	if !c.db.HasReady() {
		n.sendBcast(now, out)
		return busy || len(out) > 0
	}
	rd := c.db.Ready()
	c.db.Advance()
	rd.Replies = n.cdbAnswerEarly(&rd.Persist, rd.Replies)
	out, err := n.cdbPersist(now, &rd.Persist, out)
	if err != nil {
		// What is not durable must not be acknowledged, and the DB
		// believes it is: stop the node (as etcd does on a failed
		// fsync); a restart recovers from what the disk has.
		n.fatal(fmt.Errorf("config database: cannot persist: %w", err))
		for _, r := range rd.Replies {
			n.cdbAnswer(r.Client, r.Seq, cdbReply{err: err})
		}
		return true
	}
	n.sendBcast(now, out)
	for _, m := range rd.Messages {
		var w wire.Writer
		m.Append(&w)
		if _, err := n.conn.Send(now, m.To, wire.Encode(&wire.CDB{Payload: w})); err != nil {
			n.log.Warn("config database send", "to", n.names[m.To], "err", err)
		}
	}
	for _, p := range rd.Broadcast {
		if _, err := n.bc.Broadcast(append([]byte{tagCDB}, p...)); err != nil {
			n.log.Warn("config database broadcast", "err", err)
		}
	}
	for _, r := range rd.Replies {
		if c.trace != nil {
			c.trace(cdbEvent{reply: &r})
		}
		n.cdbAnswer(r.Client, r.Seq, cdbReply{res: r.Result, err: r.Err})
	}
	n.cdbFanout(rd.Watch)
	for _, p := range rd.Progress {
		n.log.Info(p.String())
	}
	n.crmWatch(rd.Watch)
	return true
}

// cdbPersist makes one Ready's Persist durable (Store.PutCDB: one bbolt
// transaction, fsync) and returns the bcast messages that must wait for
// it. This is a write's critical path, so it does as little as G3
// allows:
//
//   - Submits and Orders claim nothing about this node's disk: they go out
//     (transmitted now, not queued) before the fsync, so the peers hold
//     and fsync while this node does. Acks and Stables (attests) say what
//     this node, or every member, holds: they wait for the fsync, the
//     contract of core/cdb/doc.go step 2. Peers' Acks are received only
//     between rounds (Run, gather), so an Ack of an entry this node holds
//     in this round is taken only after this fsync: a Safe delivery still
//     means every member, the coordinator too, has the entry on disk.
//   - A Persist that only moves Commit is not written now: the reply that
//     comes with it goes out at once. Commit is written with the next
//     Persist that has anything else (every write carries db.Rev()) or
//     by cdbTick when the loop is idle. Losing it in a crash loses no
//     acknowledged update: the entries are on disk at every member, and
//     Recover keeps those after the persisted Commit as tentative entries,
//     which the next adoption commits (ChooseSource looks at logs, not at
//     Commit marks; core/cdb/doc.go "Why G3 holds"); until then the node
//     is catching up and its reads say stale.
func (n *Node) cdbPersist(now time.Duration, p *cdb.Persist, out []bcast.Out) ([]bcast.Out, error) {
	c := &n.cdb
	if p.Empty() {
		return out, nil
	}
	if p.Snapshot == nil && p.Truncate == 0 && len(p.Entries) == 0 && p.Adopted == (wire.ViewID{}) {
		c.commitDirty = true
		return out, nil
	}
	late := out[:0:0]
	var early []bcast.Out
	for _, o := range out {
		if attests(o.Msg) {
			late = append(late, o)
		} else {
			early = append(early, o)
		}
	}
	if len(early) > 0 {
		n.sendBcast(now, early)
		n.transmit()
	}
	p.Commit = c.db.Rev()
	if err := n.store.PutCDB(p); err != nil {
		return nil, err
	}
	c.commitDirty = false
	if c.trace != nil {
		c.trace(cdbEvent{durable: p.Entries})
	}
	return late, nil
}

// cdbAnswerEarly answers, before this round's write, the replies whose
// update is on disk here already and returns the others, which wait for
// the write. Under load a round holds new entries while it answers those
// that became safe: their clients need not wait for an fsync that is not
// theirs. On disk already: every round writes its entries before it ends
// (cdbPersist, or the node stops), so a revision below this round's first
// new entry was written by an earlier round, unless this round truncates,
// restores or adopts (then every reply waits). Errors claim nothing.
func (n *Node) cdbAnswerEarly(p *cdb.Persist, rs []cdb.Reply) []cdb.Reply {
	if len(rs) == 0 || p.Snapshot != nil || p.Truncate != 0 || p.Adopted != (wire.ViewID{}) {
		return rs
	}
	first := ^uint64(0)
	if len(p.Entries) > 0 {
		first = p.Entries[0].Rev
	}
	var later []cdb.Reply
	for _, r := range rs {
		if r.Err == nil && r.Result.Rev >= first {
			later = append(later, r)
			continue
		}
		if n.cdb.trace != nil {
			n.cdb.trace(cdbEvent{reply: &r})
		}
		n.cdbAnswer(r.Client, r.Seq, cdbReply{res: r.Result, err: r.Err})
	}
	return later
}

// attests reports whether a bcast message tells its receiver what this
// node holds (Ack) or what every member holds (Stable): it may be sent
// only once what it covers is durable here.
func attests(m bcast.Message) bool {
	switch m.(type) {
	case *bcast.Ack, *bcast.Stable:
		return true
	}
	return false
}

// cdbTick writes the committed revision that cdbPersist left in memory
// (at most one write a tick; under load the holds carry it anyway), and
// at a clean stop.
func (n *Node) cdbTick() {
	c := &n.cdb
	if !c.commitDirty {
		return
	}
	if err := n.store.PutCDB(&cdb.Persist{Commit: c.db.Rev()}); err != nil {
		n.fatal(fmt.Errorf("config database: cannot persist: %w", err))
		return
	}
	c.commitDirty = false
}

// cdbEvent is one event for cdbDriver.trace: entries on disk, a bcast
// message handed to conn, or an answer to a client.
type cdbEvent struct {
	durable []cdb.Entry
	sent    *bcast.Out
	reply   *cdb.Reply
}

// sendBcast queues bcast's messages on the circuits: those to one peer in
// one circuit message (a batch, in order), so a round that sequences many
// updates sends each member one packet, not one per update.
func (n *Node) sendBcast(now time.Duration, out []bcast.Out) {
	type batch struct {
		to    wire.NodeID
		msgs  [][]byte
		bytes int
	}
	var batches []*batch
	open := map[wire.NodeID]*batch{}
	for _, o := range out {
		if n.cdb.trace != nil {
			n.cdb.trace(cdbEvent{sent: &o})
		}
		m := bcast.Encode(o.Msg)
		b := open[o.To]
		if b == nil || b.bytes+len(m) > maxBcastBatch {
			b = &batch{to: o.To}
			batches = append(batches, b)
			open[o.To] = b
		}
		b.msgs = append(b.msgs, m)
		b.bytes += len(m)
	}
	for _, b := range batches {
		if _, err := n.conn.Send(now, b.to, wire.Encode(&wire.Bcast{Payload: encodeBcast(b.msgs)})); err != nil {
			n.log.Warn("broadcast send", "to", n.names[b.to], "err", err)
		}
	}
}

// maxBcastBatch bounds a batch's bytes (a single bigger message goes
// alone): far below conn's message limit, and a lost chunk of it resends
// little.
const maxBcastBatch = 64 << 10

// bcastBatch starts a wire.Bcast payload that holds several bcast
// messages (a count, then each with its length); any other first byte is
// one message's bcast.Kind.
const bcastBatch = 0xff

func encodeBcast(msgs [][]byte) []byte {
	if len(msgs) == 1 {
		return msgs[0]
	}
	var w wire.Writer
	w.Uint8(bcastBatch)
	w.Uvarint(uint64(len(msgs)))
	for _, m := range msgs {
		w.Bytes(m)
	}
	return w
}

func decodeBcast(b []byte) ([]bcast.Message, error) {
	if len(b) == 0 || b[0] != bcastBatch {
		m, err := bcast.Decode(b)
		if err != nil {
			return nil, err
		}
		return []bcast.Message{m}, nil
	}
	r := wire.NewReader(b[1:])
	count := r.Uvarint()
	if r.Err() != nil || count > uint64(len(b)) {
		return nil, fmt.Errorf("bcast batch: bad count")
	}
	out := make([]bcast.Message, 0, count)
	for range count {
		p := r.Bytes()
		if r.Err() != nil {
			return nil, fmt.Errorf("bcast batch: %w", r.Err())
		}
		m, err := bcast.Decode(p)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	if r.Len() != 0 {
		return nil, errors.New("bcast batch: trailing bytes")
	}
	return out, nil
}

func (n *Node) cdbAnswer(client string, seq uint64, r cdbReply) {
	k := cdbKey{client, seq}
	if ch, ok := n.cdb.waiters[k]; ok {
		delete(n.cdb.waiters, k)
		ch <- r
	}
}

// cdbStep takes a config DB transfer message from a peer.
func (n *Node) cdbStep(from wire.NodeID, payload []byte) {
	m, err := cdb.DecodeMessage(wire.NewReader(payload))
	if err != nil {
		n.log.Warn("undecodable config database message", "from", n.names[from], "err", err)
		return
	}
	if err := n.cdb.db.Step(n.now(), cdb.Receive{From: from, Msg: m}); err != nil {
		n.log.Warn("config database message refused", "from", n.names[from], "err", err)
	}
}

// cdbQuorum tells the DB whether this node may take writes, when that or
// the installed view changed.
func (n *Node) cdbQuorum(now time.Duration, viewChanged bool) {
	c := &n.cdb
	q := n.mem.Quorate(now) && !c.installFailed()
	alone := quorum.NotAlone
	var ms membership.Status
	if n.cfg.Quorum.TwoNode {
		ms = n.mem.Status()
		if alone = n.twoNodeAlone(ms); c.deferred != (wire.ViewID{}) && c.deferred == c.cur && ms.View.ID == c.cur && !holdsBack(alone) {
			// the peer of this lone view is down now: adopt (from this
			// node, the only member) and act
			c.deferred = wire.ViewID{}
			n.log.Info("config database: two_node: the peer is down, adopting the history alone", "view", n.viewName(c.cur))
			n.cdbAdopt(ms.View, c.deferredSrc)
			viewChanged = true
		}
		q = q && !holdsBack(alone)
	}
	if c.qSet && q == c.quorate && !viewChanged {
		return
	}
	if !n.cfg.Quorum.TwoNode {
		ms = n.mem.Status()
	}
	c.qSet, c.quorate = true, q
	c.votes, c.expected = ms.Decision.Votes, ms.Decision.Total
	c.db.SetQuorum(q, c.votes, c.expected)
	if c.installFailed() {
		c.db.SetNoQuorumReason(c.installFailedReason())
	} else if holdsBack(alone) {
		c.db.SetNoQuorumReason(n.aloneReason(ms, alone))
	} else if !q && ms.Primary && ms.Decision.Primary {
		c.db.SetNoQuorumReason("the view is primary but this node does not hold its lease yet, or the view changed less than lease·(1+drift)+margin ago (under a second): retry")
	}
}

// cdbPaired notes when this incarnation has finished adopting a history
// in a view of every configured node (two_node, twonode.go).
func (n *Node) cdbPaired() {
	c := &n.cdb
	if !c.paired && c.adoptAll && c.adopt != (wire.ViewID{}) && c.db.Head().Adopted == c.adopt {
		c.paired = true
	}
}

// CDBGet reads a key from this node's committed state; stale is true when
// this node is not quorate or is catching up (the value may be old).
func (n *Node) CDBGet(key string) (kv cdb.KV, found, stale bool, err error) {
	err = n.do(func() { kv, found, stale = n.cdb.db.Get(key) })
	return
}

// CDBList lists the keys under prefix with the committed revision.
func (n *Node) CDBList(prefix string) (kvs []cdb.KV, rev uint64, stale bool, err error) {
	err = n.do(func() { kvs, rev, stale = n.cdb.db.List(prefix) })
	return
}

// CDBHistory returns the last n changes, oldest first.
func (n *Node) CDBHistory(count int) ([]cdb.Change, error) {
	var h []cdb.Change
	err := n.do(func() { h = n.cdb.db.History(count) })
	return h, err
}

// CDBTxn applies a transaction: every op of then if every condition of
// ifs holds, else nothing. It returns once every member of the primary
// view has it on disk, or an error ("no quorum: 1 of 3 votes" on a node
// that may not take writes); ctx bounds the wait. A transaction that
// would write an invalid resource or group, or delete a group that keeps
// resources, is refused before it is proposed (ErrInvalidConfig,
// validate.go).
func (n *Node) CDBTxn(ctx context.Context, ifs []cdb.Cond, then []cdb.Op) (cdb.Result, error) {
	return n.cdbTxn(ctx, "", 0, ifs, then)
}

// CDBSet sets key to value.
func (n *Node) CDBSet(ctx context.Context, key string, value []byte) (cdb.Result, error) {
	return n.CDBTxn(ctx, nil, []cdb.Op{{Kind: cdb.OpPut, Key: key, Value: value}})
}

// CDBDelete deletes key.
func (n *Node) CDBDelete(ctx context.Context, key string) (cdb.Result, error) {
	return n.CDBTxn(ctx, nil, []cdb.Op{{Kind: cdb.OpDelete, Key: key}})
}

// CDBCAS sets key to value if its revision is modRev (0: absent); the
// result's OK is false when it was not.
func (n *Node) CDBCAS(ctx context.Context, key string, modRev uint64, value []byte) (cdb.Result, error) {
	return n.CDBTxn(ctx, []cdb.Cond{{Key: key, ModRev: modRev}}, []cdb.Op{{Kind: cdb.OpPut, Key: key, Value: value}})
}
