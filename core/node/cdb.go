package node

import (
	"context"
	"fmt"
	"time"

	"github.com/corral-ha/corral/core/bcast"
	"github.com/corral-ha/corral/core/cdb"
	"github.com/corral-ha/corral/core/wire"
)

// Broadcast payloads carry a tag: the application's (Node.Broadcast, to
// Options.OnDeliver) or the config DB's.
const (
	tagApp byte = 1
	tagCDB byte = 2
)

// (tagCRM = 3, the resource manager's, is in crm.go.)

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
	view wire.View
	src  wire.NodeID
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

	qSet            bool
	quorate         bool
	votes, expected int
}

// openCDB builds the config DB from what the store holds.
func (n *Node) openCDB() error {
	c := &n.cdb
	c.db = cdb.New(cdb.Config{Self: n.self})
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
	}}
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
	n.bc.Step(now, from, m)
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
	primary := ms.View.ID == p.view.ID && ms.Primary
	c.primary[p.view.ID] = primary
	for v := range c.primary {
		if v.Epoch+16 < p.view.ID.Epoch {
			delete(c.primary, v)
		}
	}
	c.cur = p.view.ID
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
		c.adopt = p.view.ID
		c.db.BeginAdopt(p.view.ID, p.src)
		if p.src != n.self {
			n.log.Info("config database: adopting the history of a peer", "view", n.viewName(p.view.ID), "source", n.names[p.src])
		}
	}
	c.qSet = false
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
	dl := cdb.Delivery{View: d.View, Primary: c.primary[d.View], Seq: d.Seq, Payload: d.Payload[1:], Flush: d.Flush}
	var err error
	if d.Level == bcast.Safe {
		err = c.db.Commit(dl)
	} else {
		err = c.db.Hold(dl)
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
		out = append(c.heldOut, out...)
		c.heldOut = nil
		ins := c.heldIn
		c.heldIn = nil
		for _, h := range ins {
			n.bc.Step(now, h.from, h.msg)
		}
	}
	if !c.db.HasReady() {
		n.sendBcast(now, out)
		return busy || len(out) > 0
	}
	rd := c.db.Ready()
	if !rd.Persist.Empty() {
		if err := n.store.PutCDB(&rd.Persist); err != nil {
			// What is not durable must not be acknowledged, and the DB
			// believes it is: stop the node (as etcd does on a failed
			// fsync); a restart recovers from what the disk has.
			n.fatal(fmt.Errorf("config database: cannot persist: %w", err))
			for _, r := range rd.Replies {
				n.cdbAnswer(r.Client, r.Seq, cdbReply{err: err})
			}
			return true
		}
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
		n.cdbAnswer(r.Client, r.Seq, cdbReply{res: r.Result, err: r.Err})
	}
	for _, p := range rd.Progress {
		n.log.Info(p.String())
	}
	n.crmWatch(rd.Watch)
	return true
}

func (n *Node) sendBcast(now time.Duration, out []bcast.Out) {
	for _, o := range out {
		if _, err := n.conn.Send(now, o.To, wire.Encode(&wire.Bcast{Payload: bcast.Encode(o.Msg)})); err != nil {
			n.log.Warn("broadcast send", "to", n.names[o.To], "err", err)
		}
	}
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
	n.cdb.db.Step(from, m)
}

// cdbQuorum tells the DB whether this node may take writes, when that or
// the installed view changed.
func (n *Node) cdbQuorum(now time.Duration, viewChanged bool) {
	c := &n.cdb
	q := n.mem.Quorate(now)
	if c.qSet && q == c.quorate && !viewChanged {
		return
	}
	ms := n.mem.Status()
	c.qSet, c.quorate = true, q
	c.votes, c.expected = ms.Decision.Votes, ms.Decision.Total
	c.db.SetQuorum(q, c.votes, c.expected)
	if !q && ms.Primary && ms.Decision.Primary {
		c.db.SetNoQuorumReason("the view is primary but this node does not hold its lease yet; it does about a second after a view change: retry")
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
// that may not take writes); ctx bounds the wait.
func (n *Node) CDBTxn(ctx context.Context, ifs []cdb.Cond, then []cdb.Op) (cdb.Result, error) {
	ch := make(chan cdbReply, 1)
	var err error
	if e := n.do(func() {
		c := &n.cdb
		n.cdbQuorum(n.now(), false)
		c.seq++
		req := cdb.Request{Client: c.client, Seq: c.seq, Time: time.Now().UnixNano(), If: ifs, Then: then}
		var payload []byte
		if payload, err = c.db.Propose(req); err != nil {
			return
		}
		c.waiters[cdbKey{req.Client, req.Seq}] = ch
		if payload == nil {
			return
		}
		if _, err = n.bc.Broadcast(append([]byte{tagCDB}, payload...)); err != nil {
			delete(c.waiters, cdbKey{req.Client, req.Seq})
		}
	}); e != nil {
		return cdb.Result{}, e
	}
	if err != nil {
		return cdb.Result{}, err
	}
	select {
	case r := <-ch:
		return r.res, r.err
	case <-ctx.Done():
		_ = n.do(func() {
			for k, w := range n.cdb.waiters {
				if w == ch {
					delete(n.cdb.waiters, k)
				}
			}
		})
		return cdb.Result{}, fmt.Errorf("config database: no answer yet (%w); the update may still be applied", ctx.Err())
	case <-n.loopDone:
		return cdb.Result{}, ErrClosed
	}
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
