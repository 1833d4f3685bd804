package stack

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/corral-ha/corral/core/bcast"
	"github.com/corral-ha/corral/core/cdb"
	"github.com/corral-ha/corral/core/membership"
	"github.com/corral-ha/corral/core/quorum"
	"github.com/corral-ha/corral/core/wire"
)

type heldIn struct {
	from wire.NodeID
	msg  bcast.Message
}

type installed struct {
	view   wire.View
	src    wire.NodeID
	failed error // bcast could not install it (cdbinstall.go)
}

// cdbState is the stack's side of the config DB contract
// (core/cdb/doc.go).
type cdbState struct {
	db *cdb.DB

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

	qSet            bool
	quorate         bool
	votes, expected int

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

// openCDB builds the config DB from what the store held.
func (s *Stack) openCDB(p cdb.Persisted) error {
	c := &s.cdb
	// A read's ask unanswered for a few heartbeats was lost (a failed
	// send is only logged): it is sent again.
	db, err := cdb.New(cdb.Config{Self: s.cfg.Self, AskAgain: 4 * s.cfg.Conn.Heartbeat})
	if err != nil {
		return err
	}
	c.db = db
	if err := c.db.Recover(p); err != nil {
		return fmt.Errorf("config database: %w", err)
	}
	c.primary = map[wire.ViewID]bool{}
	if h := c.db.Head(); h.Rev > 0 {
		s.logf(slog.LevelInfo, "config database recovered", "revision", c.db.Rev(), "log_head", h.Rev, "adopted", s.ViewName(h.Adopted))
	}
	return nil
}

// flusher returns membership's Flusher: bcast's flush plus the DB's head.
func (s *Stack) flusher() *flusher {
	return &flusher{b: bcast.Hooks{B: s.bc}, db: s.cdb.db, installed: func(v wire.View, src wire.NodeID) {
		s.cdb.pending = &installed{view: v, src: src}
	}, failed: s.cdbInstallFailed}
}

// catching reports whether bcast's traffic of the installed view waits
// for the DB's adoption.
func (c *cdbState) catching() bool {
	return c.db.CatchingUp() && c.cur == c.adopt
}

// stepBcast hands a bcast message from a peer to bcast, or keeps it (in
// order) while the DB catches up or an install waits for its adoption.
func (s *Stack) stepBcast(now time.Duration, from wire.NodeID, m bcast.Message) {
	c := &s.cdb
	if c.catching() || c.pending != nil || len(c.heldIn) > 0 {
		if len(c.heldIn) >= maxHeldIn {
			// Dropping one would stall bcast for good: stop instead; a
			// restarted node joins afresh.
			s.fatal(fmt.Errorf("config database: %d broadcast messages wait for a catch-up that does not end", len(c.heldIn)))
			return
		}
		c.heldIn = append(c.heldIn, heldIn{from, m})
		return
	}
	s.bcastStep(now, from, m)
}

// bcastStep hands a peer's bcast message to bcast; a refusal is logged.
func (s *Stack) bcastStep(now time.Duration, from wire.NodeID, m bcast.Message) {
	if err := s.bc.Step(now, bcast.Receive{From: from, Msg: m}); err != nil {
		s.logf(slog.LevelWarn, "broadcast message refused", "from", s.names[from], "err", err)
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
func (s *Stack) beginInstall() {
	c := &s.cdb
	p := c.pending
	c.pending = nil
	ms := s.mem.Status()
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
		if a := s.twoNodeAlone(ms); holdsBack(a) {
			// A lone two_node view adopts nothing before its peer is down
			// (cdbQuorum begins the adoption then).
			c.deferred, c.deferredSrc = p.view.ID, p.src
			s.logf(slog.LevelWarn, "config database: not adopting a history yet", "view", s.ViewName(p.view.ID), "reason", s.aloneReason(ms, a))
		} else {
			s.cdbAdopt(p.view, p.src)
		}
	}
	c.qSet = false
}

// cdbAdopt begins the adoption of src's history for the installed primary
// view v.
func (s *Stack) cdbAdopt(v wire.View, src wire.NodeID) {
	c := &s.cdb
	c.adopt = v.ID
	c.adoptAll = len(v.Members) == len(s.cfg.Nodes)
	if err := c.db.Step(s.now, cdb.BeginAdopt{View: v.ID, Source: src}); err != nil {
		s.logf(slog.LevelError, "config database: adoption refused (a bug: please report it)", "view", s.ViewName(v.ID), "err", err)
	}
	if src != s.cfg.Self {
		s.logf(slog.LevelInfo, "config database: adopting the history of a peer", "view", s.ViewName(v.ID), "source", s.names[src])
	}
}

// cdbDeliver gives one bcast delivery to its owner by its tag (tags.go).
func (s *Stack) cdbDeliver(d bcast.Delivery) {
	c := &s.cdb
	if c.pending != nil && !d.Flush && d.View == c.pending.view.ID {
		s.beginInstall()
	}
	if len(d.Payload) > 0 && d.Payload[0] == tagCRM {
		s.crmDeliver(d)
		return
	}
	if len(d.Payload) > 0 && d.Payload[0] == tagFence {
		s.fenceDeliver(d)
		return
	}
	if len(d.Payload) > 0 && d.Payload[0] == tagQuorum {
		s.quorumDeliver(d)
		return
	}
	if len(d.Payload) == 0 || d.Payload[0] != tagCDB {
		if len(d.Payload) > 0 {
			d.Payload = d.Payload[1:]
		}
		s.rd.Deliveries = append(s.rd.Deliveries, d)
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
		err = c.db.Step(s.now, cdb.Commit(dl))
	} else {
		err = c.db.Step(s.now, cdb.Hold(dl))
	}
	if err != nil {
		s.logf(slog.LevelError, "config database: delivery refused (a bug: please report it)", "view", s.ViewName(d.View), "seq", d.Seq, "level", d.Level.String(), "err", err)
	}
}

// cdbRound carries out one bcast Ready with the DB: deliveries to the DB,
// the DB's Persist (Ready.Persist.CDB), and bcast's messages (their Acks
// cover what was just held: they wait for it), the DB's messages and
// broadcasts, and the answers to waiting clients. It reports whether
// anything happened.
func (s *Stack) cdbRound(now time.Duration, rb bcast.Ready) bool {
	c := &s.cdb
	if !c.catching() && len(c.heldDel) > 0 {
		// Deliveries kept while catching up come before this round's.
		dels := c.heldDel
		c.heldDel = nil
		for _, d := range dels {
			s.cdbDeliver(d)
		}
	}
	for _, d := range rb.Deliver {
		s.cdbDeliver(d)
	}
	if c.pending != nil {
		s.beginInstall()
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
			s.cdbDeliver(d)
		}
		if len(c.heldOut) > 0 && s.bc.Status().Frozen {
			// This node promised a newer view while it caught up: bcast
			// sends nothing more of its view, and what it produced before
			// must not leave either. An Ack sent now would tell the
			// coordinator that this node holds entries its promise (its
			// cdb.Head) did not report, and the new view could adopt a
			// history without them after the old one committed them.
			s.logf(slog.LevelInfo, "config database: broadcast messages held during the catch-up dropped: a newer view was promised meanwhile", "messages", len(c.heldOut), "view", s.ViewName(c.cur))
			c.heldOut = nil
		}
		out = append(c.heldOut, out...)
		c.heldOut = nil
		ins := c.heldIn
		c.heldIn = nil
		for _, h := range ins {
			s.bcastStep(now, h.from, h.msg)
		}
	}
	if !c.db.HasReady() {
		s.sendBcast(now, out)
		return busy || len(out) > 0
	}
	rd := c.db.Ready()
	c.db.Advance()
	later := s.cdbAnswerEarly(&rd.Persist, rd.Replies)
	late := s.cdbPersist(now, &rd.Persist, later, out)
	s.sendBcast(now, late)
	for _, m := range rd.Messages {
		var w wire.Writer
		m.Append(&w)
		if _, err := s.conn.Send(now, m.To, wire.Encode(&wire.CDB{Payload: w})); err != nil {
			s.logf(slog.LevelWarn, "config database send", "to", s.names[m.To], "err", err)
		}
	}
	for _, p := range rd.Broadcast {
		if _, err := s.bc.Broadcast(append([]byte{tagCDB}, p...)); err != nil {
			s.logf(slog.LevelWarn, "config database broadcast", "err", err)
		}
	}
	s.rd.Watch = append(s.rd.Watch, rd.Watch...)
	s.rd.Reads = append(s.rd.Reads, rd.Reads...)
	for _, p := range rd.Progress {
		s.logf(slog.LevelInfo, p.String())
	}
	s.crmWatch(rd.Watch)
	s.dlmWatch(rd.Watch)
	s.diskWatch(rd.Watch)
	return true
}

// cdbPersist puts one DB Ready's Persist in Ready.Persist.CDB and returns
// the bcast messages that must wait for it; the replies that wait for it
// go to Ready.Replies. This is a write's critical path, so it does as
// little as G3 allows:
//
//   - Submits and Orders claim nothing about this node's disk: they go out
//     (in Ready.Packets) before the fsync, so the peers hold and fsync
//     while this node does. Acks and Stables (attests) say what this node,
//     or every member, holds: they wait for the fsync (Ready.After), the
//     contract of core/cdb/doc.go step 2. Peers' Acks are received only
//     between rounds, so an Ack of an entry this node holds in this round
//     is taken only after this fsync: a Safe delivery still means every
//     member, the coordinator too, has the entry on disk.
//   - A Persist that only moves Commit is not written now: the reply that
//     comes with it goes out at once. Commit is written with the next
//     Persist that has anything else (every write carries db.Rev()) or
//     by Tick when the loop is idle. Losing it in a crash loses no
//     acknowledged update: the entries are on disk at every member, and
//     Recover keeps those after the persisted Commit as tentative entries,
//     which the next adoption commits (ChooseSource looks at logs, not at
//     Commit marks; core/cdb/doc.go "Why G3 holds"); until then the node
//     is catching up and its reads say stale.
func (s *Stack) cdbPersist(now time.Duration, p *cdb.Persist, replies []cdb.Reply, out []bcast.Out) []bcast.Out {
	c := &s.cdb
	if p.Empty() {
		// nothing to write: what is answered was made durable by an
		// earlier Ready
		s.rd.EarlyReplies = append(s.rd.EarlyReplies, toReplies(replies)...)
		return out
	}
	if p.Snapshot == nil && p.Truncate == 0 && len(p.Entries) == 0 && p.Adopted == (wire.ViewID{}) {
		c.commitDirty = true
		s.rd.EarlyReplies = append(s.rd.EarlyReplies, toReplies(replies)...)
		return out
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
		s.sendBcast(now, early)
		s.transmit()
	}
	p.Commit = c.db.Rev()
	cp := *p
	s.rd.Persist.CDB = &cp
	c.commitDirty = false
	s.rd.Replies = append(s.rd.Replies, toReplies(replies)...)
	return late
}

// toReplies turns the DB's replies into the Ready's.
func toReplies(rs []cdb.Reply) []Reply {
	out := make([]Reply, 0, len(rs))
	for _, r := range rs {
		out = append(out, Reply{Client: r.Client, Seq: r.Seq, Result: r.Result, Err: r.Err})
	}
	return out
}

// cdbAnswerEarly answers, before this round's write (Ready.EarlyReplies),
// the replies whose update is on disk here already, and returns the
// others, which wait for the write. Under load a round holds new entries while it answers those that
// became safe: their clients need not wait for an fsync that is not
// theirs. On disk already: every round writes its entries before it ends
// (or the node stops), so a revision below this round's first new entry
// was written by an earlier round, unless this round truncates, restores
// or adopts (then every reply waits). Errors claim nothing.
func (s *Stack) cdbAnswerEarly(p *cdb.Persist, rs []cdb.Reply) []cdb.Reply {
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
		s.rd.EarlyReplies = append(s.rd.EarlyReplies, Reply{Client: r.Client, Seq: r.Seq, Result: r.Result, Err: r.Err})
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
// (at most one write a tick; under load the holds carry it anyway).
func (s *Stack) cdbTick() {
	c := &s.cdb
	if !c.commitDirty || s.handedOut() || s.rd.Persist.CDB != nil {
		return
	}
	s.rd.Persist.CDB = &cdb.Persist{Commit: c.db.Rev()}
	c.commitDirty = false
}

// PendingCommit is the Persist that writes the committed revision not yet
// on disk (nil when there is none), for a clean stop.
func (s *Stack) PendingCommit() *cdb.Persist {
	if !s.cdb.commitDirty {
		return nil
	}
	return &cdb.Persist{Commit: s.cdb.db.Rev()}
}

// sendBcast queues bcast's messages on the circuits: those to one peer in
// one circuit message (a batch, in order), so a round that sequences many
// updates sends each member one packet, not one per update.
func (s *Stack) sendBcast(now time.Duration, out []bcast.Out) {
	type batch struct {
		to    wire.NodeID
		msgs  [][]byte
		bytes int
	}
	var batches []*batch
	open := map[wire.NodeID]*batch{}
	for _, o := range out {
		if s.persisting() {
			s.rd.SentAfter = append(s.rd.SentAfter, o)
		} else {
			s.rd.Sent = append(s.rd.Sent, o)
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
		if _, err := s.conn.Send(now, b.to, wire.Encode(&wire.Bcast{Payload: encodeBcast(b.msgs)})); err != nil {
			s.logf(slog.LevelWarn, "broadcast send", "to", s.names[b.to], "err", err)
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

// cdbStep takes a config DB transfer message from a peer.
func (s *Stack) cdbStep(from wire.NodeID, payload []byte) {
	m, err := cdb.DecodeMessage(wire.NewReader(payload))
	if err != nil {
		s.logf(slog.LevelWarn, "undecodable config database message", "from", s.names[from], "err", err)
		return
	}
	if err := s.cdb.db.Step(s.now, cdb.Receive{From: from, Msg: m}); err != nil {
		s.logf(slog.LevelWarn, "config database message refused", "from", s.names[from], "err", err)
	}
}

// cdbQuorum tells the DB whether this node may take writes, when that or
// the installed view changed.
func (s *Stack) cdbQuorum(now time.Duration, viewChanged bool) {
	c := &s.cdb
	q := s.mem.Quorate(now) && !c.installFailed()
	alone := quorum.NotAlone
	var ms membership.Status
	if s.qc.TwoNode {
		ms = s.mem.Status()
		if alone = s.twoNodeAlone(ms); c.deferred != (wire.ViewID{}) && c.deferred == c.cur && ms.View.ID == c.cur && !holdsBack(alone) {
			// the peer of this lone view is down now: adopt (from this
			// node, the only member) and act
			c.deferred = wire.ViewID{}
			s.logf(slog.LevelInfo, "config database: two_node: the peer is down, adopting the history alone", "view", s.ViewName(c.cur))
			s.cdbAdopt(ms.View, c.deferredSrc)
			viewChanged = true
		}
		q = q && !holdsBack(alone)
	}
	if c.qSet && q == c.quorate && !viewChanged {
		return
	}
	if !s.qc.TwoNode {
		ms = s.mem.Status()
	}
	c.qSet, c.quorate = true, q
	c.votes, c.expected = ms.Decision.Votes, ms.Decision.Total
	c.db.SetQuorum(q, c.votes, c.expected)
	if c.installFailed() {
		c.db.SetNoQuorumReason(c.installFailedReason())
	} else if holdsBack(alone) {
		c.db.SetNoQuorumReason(s.aloneReason(ms, alone))
	} else if !q && ms.Primary && ms.Decision.Primary {
		c.db.SetNoQuorumReason("the view is primary but this node does not hold its lease yet, or the view changed less than lease·(1+drift)+margin ago (under a second): retry")
	}
}

// cdbPaired notes when this incarnation has finished adopting a history
// in a view of every configured node (two_node, twonode.go).
func (s *Stack) cdbPaired() {
	c := &s.cdb
	if !c.paired && c.adoptAll && c.adopt != (wire.ViewID{}) && c.db.Head().Adopted == c.adopt {
		c.paired = true
	}
}

// cdbInstallFailed is the flusher's answer to a failed bcast Install of
// v. Membership installs v all the same, so the config DB must not stay
// on the old view (settled there, it would take writes bcast sequences in
// a view the others have left): it moves to v as a view that is not
// primary for it, refuses writes and marks reads stale until the next
// view change.
func (s *Stack) cdbInstallFailed(v wire.View, err error) {
	s.logf(slog.LevelError, "config database: the ordered broadcast could not install the view; writes wait for the next view (a bug: please report it)",
		"view", s.ViewName(v.ID), "err", err)
	s.cdb.pending = &installed{view: v, failed: err}
}

// installFailed reports whether the installed view is one bcast could not
// install.
func (c *cdbState) installFailed() bool {
	return c.failedErr != nil && c.failed == c.cur
}

func (c *cdbState) installFailedReason() string {
	return fmt.Sprintf("the ordered broadcast could not install view %d/%d (%v); writes wait for the next view", c.failed.Epoch, c.failed.Coord, c.failedErr)
}

// Propose proposes a config DB transaction under (req.Client, req.Seq)
// (the driver picks them: its own client id and next seq, or a caller's);
// its answer comes in a later Ready's Replies (or EarlyReplies). The
// error is the DB's refusal (no quorum, catching up) or the broadcast's.
func (s *Stack) Propose(now time.Duration, req cdb.Request) error {
	if s.stop != nil {
		return ErrStopped
	}
	s.advanceClock(now)
	s.cdbQuorum(now, false)
	if err := s.dlmCheckPropose(&req); err != nil {
		return err
	}
	payload, err := s.cdb.db.Propose(req)
	if err != nil {
		return err
	}
	if payload == nil {
		return nil // answered from the dedupe table in the next round
	}
	_, err = s.bc.Broadcast(append([]byte{tagCDB}, payload...))
	return err
}

// CDBRead begins a linearizable read under id (the driver's, unique among
// its reads in flight): a later Ready's Reads says when CDBGet and CDBList
// cover every update acknowledged before this call, or that the read
// failed. The error is the DB's refusal (no quorum: this node is not in a
// primary view holding its lease now). Reads that need no such promise
// (the node's own consumers, `--stale`) call CDBGet and CDBList directly.
func (s *Stack) CDBRead(now time.Duration, id uint64) error {
	if s.stop != nil {
		return ErrStopped
	}
	s.advanceClock(now)
	s.cdbQuorum(now, false)
	return s.cdb.db.Read(id)
}

// CancelRead forgets a read whose client stopped waiting.
func (s *Stack) CancelRead(id uint64) { s.cdb.db.CancelRead(id) }

// cdbReads moves the linearizable reads on (core/cdb read.go), in every
// round right after cdbQuorum judged the lease by the clock: the
// coordinator answers a read index only while it holds its lease, so no
// later primary view has taken a write yet (G2: a view that excludes it
// waits out its lease first). What it produces goes out with the next
// round's config DB Ready. An ask unanswered for a few heartbeats (its
// send failed, or the answer's) is sent again.
func (s *Stack) cdbReads(now time.Duration) { s.cdb.db.ReadRound(now) }
