package disk

import (
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/corral-ha/corral/core/wire"
)

// This file is the client half: this node's requests on every disk,
// split into pieces, numbered, sent to the disk's server, re-sent in
// order to a new one, failed when no server takes them in time.

// known is the newest server announced for a disk.
type known struct {
	server  Inc
	epoch   uint64
	clients []wire.NodeID
	valid   bool // false once it said it stopped (epoch kept as the floor)
}

// cdisk is one disk's client state.
type cdisk struct {
	name     string
	size     uint64
	seq      uint64   // the last piece number given (per incarnation: a restart starts a new core)
	pieces   []*piece // unanswered, in seq order
	bySeq    map[uint64]*piece
	reqs     map[*creq]bool
	inflight int // pieces sent and not answered
	reads    uint64
	writes   uint64
	flushes  uint64
}

// creq is one client request.
type creq struct {
	id    uint64
	op    Op
	left  int // pieces not answered
	err   Errno
	epoch uint64
	data  []byte // a read's bytes, assembled
}

// piece is one numbered part of a request (at most MaxPiece bytes).
type piece struct {
	seq    uint64
	r      *creq
	at     uint64 // offset in the request
	op     Op
	off    uint64
	n      uint32
	data   []byte
	fua    bool
	noHole bool

	sent      bool
	sentEpoch uint64
	sentView  wire.ViewID
	// Holds on an unsent piece: a server epoch at least minEpoch (it was
	// refused as stale or not served at an older one); a view newer than
	// holdView (refused as stale view); the next announce (refused as
	// excluded).
	minEpoch uint64
	holdView wire.ViewID
	holdAnn  bool
	since    time.Duration // when it was last sent or began to wait (nanoseconds)
}

// define takes the set of disks.
func (c *Core) define(in Define) {
	now := map[string]Disk{}
	for _, d := range in.Disks {
		if d.Name != "" {
			now[d.Name] = d
		}
	}
	names := sortedKeys(c.cl)
	for _, n := range names {
		if _, ok := now[n]; !ok {
			d := c.cl[n]
			c.failAll(d, ESHUTDOWN, "")
			delete(c.cl, n)
		}
	}
	c.defined = now
	for _, n := range sortedKeys(now) {
		d := c.cl[n]
		if d == nil {
			d = &cdisk{name: n, bySeq: map[uint64]*piece{}, reqs: map[*creq]bool{}}
			c.cl[n] = d
		}
		d.size = now[n].Size
	}
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// Submit takes a client request of this node's export; its Done comes in
// a later Ready. An error means it was not taken (no Done will come):
// ErrNoDisk, ErrRange, ErrInvalid. A request larger than MaxPiece is
// split into pieces; Data is copied.
func (c *Core) Submit(now time.Duration, r Request) error {
	c.now = now
	d := c.cl[r.Disk]
	if d == nil {
		return fmt.Errorf("disk %q: %w", r.Disk, ErrNoDisk)
	}
	switch r.Op {
	case OpRead, OpTrim, OpZero:
		if len(r.Data) != 0 {
			return fmt.Errorf("disk %q: %s with data: %w", r.Disk, r.Op, ErrInvalid)
		}
	case OpWrite:
		if len(r.Data) != int(r.Len) {
			return fmt.Errorf("disk %q: write of %d bytes with %d: %w", r.Disk, r.Len, len(r.Data), ErrInvalid)
		}
	case OpFlush:
		r.Off, r.Len, r.FUA, r.NoHole = 0, 0, false, false
	default:
		return fmt.Errorf("disk %q: op %d: %w", r.Disk, r.Op, ErrInvalid)
	}
	if r.Op != OpFlush && (r.Off > d.size || uint64(r.Len) > d.size-r.Off) {
		return fmt.Errorf("disk %q: %d+%d of %d bytes: %w", r.Disk, r.Off, r.Len, d.size, ErrRange)
	}
	q := &creq{id: r.ID, op: r.Op}
	if r.Op == OpRead {
		q.data = make([]byte, r.Len)
	}
	d.reqs[q] = true
	for at := uint64(0); ; {
		n := min(uint64(r.Len)-at, MaxPiece)
		d.seq++
		p := &piece{seq: d.seq, r: q, at: at, op: r.Op, off: r.Off + at, n: uint32(n),
			fua: r.FUA, noHole: r.NoHole, since: now}
		if r.Op == OpWrite {
			p.data = slices.Clone(r.Data[at : at+n])
		}
		d.pieces = append(d.pieces, p)
		d.bySeq[p.seq] = p
		q.left++
		at += n
		if at >= uint64(r.Len) {
			break
		}
	}
	c.pump(d, false)
	c.drain()
	return nil
}

// route returns the server to send a disk's pieces to: the newest one
// announced, while it is a member of the view and this node may send
// (a primary view, not lost); nil otherwise.
func (c *Core) route(name string) *known {
	k := c.best[name]
	if k == nil || !k.valid || !c.hasView || !c.view.Primary || c.view.Lost || !c.members[k.server] {
		return nil
	}
	return k
}

// held reports whether an unsent piece must wait even with a server.
func (c *Core) held(p *piece, k *known) bool {
	if p.minEpoch > k.epoch || p.holdAnn {
		return true
	}
	return p.holdView != (wire.ViewID{}) && !viewLess(p.holdView, c.view.ID)
}

// pump sends a disk's unsent pieces, oldest first, within the window.
func (c *Core) pump(d *cdisk, replay bool) {
	k := c.route(d.name)
	if k == nil {
		return
	}
	order := d.pieces
	if replay && testMutation == "replay-reverse" {
		order = slices.Clone(order)
		slices.Reverse(order)
	}
	for _, p := range order {
		if d.inflight >= c.cfg.Window {
			return
		}
		if p.sent {
			continue
		}
		if c.held(p, k) && testMutation != "overtake-held" {
			return // a waiting piece holds every newer one: a client's pieces go out in order
		}
		if c.held(p, k) {
			continue
		}
		p.sent, p.sentEpoch, p.sentView, p.since = true, k.epoch, c.view.ID, c.now
		p.holdView = wire.ViewID{}
		d.inflight++
		c.send(k.server.Node, msg{kind: mkRequest, disk: d.name, epoch: k.epoch, view: p.sentView,
			seq: p.seq, ackedBelow: d.ackedBelow(), op: p.op, off: p.off, n: p.n, fua: p.fua,
			noHole: p.noHole, data: p.data})
	}
}

// ackedBelow is the lowest piece number not answered (every lower one is).
func (d *cdisk) ackedBelow() uint64 {
	if len(d.pieces) > 0 {
		return d.pieces[0].seq
	}
	return d.seq + 1
}

// unsend makes a piece in flight wait again.
func (c *Core) unsend(d *cdisk, p *piece) {
	if p.sent {
		p.sent = false
		d.inflight--
		p.since = c.now
	}
}

// clientView: a lost view fails everything pending. Otherwise, in a
// new view, every piece in flight tagged with an older view is re-sent,
// re-tagged, in order, before any newer piece: the server may have
// moved its barrier and will refuse the old copies, and a newer piece
// must not land before an older one it overlaps (the retry of a copy the
// server took attaches to it in the duplicate cache). Pieces held for a
// newer view may go; a server that left stops routing.
func (c *Core) clientView(changed bool) {
	for _, n := range sortedKeys(c.cl) {
		d := c.cl[n]
		if c.view.Lost {
			c.failAll(d, EIO, "this node lost its hold on the cluster (lease lapsed)")
			continue
		}
		if changed && testMutation != "no-retag-at-view" {
			for _, p := range d.pieces {
				if p.sent && viewLess(p.sentView, c.view.ID) {
					c.unsend(d, p)
				}
			}
		}
		c.pump(d, false)
	}
}

// announced: a server serves disk at epoch. A newer epoch than any seen
// replays every unanswered piece in order; the same server and epoch
// again (this node rejoined its view) re-sends the pieces sent in an
// older view (the server may have dropped them) and those waiting for it.
func (c *Core) announced(from Inc, m msg) {
	k := c.best[m.disk]
	switch {
	case k == nil || m.epoch > k.epoch:
		c.best[m.disk] = &known{server: m.server, epoch: m.epoch, clients: m.clients, valid: true}
		if c.servedEvents[m.disk] < m.epoch {
			c.servedEvents[m.disk] = m.epoch
			c.event(Event{Kind: EventServed, Disk: m.disk, Server: m.server, Epoch: m.epoch})
		}
		if d := c.cl[m.disk]; d != nil {
			for _, p := range d.pieces {
				c.unsend(d, p)
				p.minEpoch, p.holdView, p.holdAnn = 0, wire.ViewID{}, false
			}
			c.pump(d, true)
		}
	case m.epoch == k.epoch && m.server == k.server && k.valid:
		k.clients = m.clients
		if d := c.cl[m.disk]; d != nil {
			for _, p := range d.pieces {
				p.holdAnn = false
				if p.sent && viewLess(p.sentView, c.view.ID) {
					c.unsend(d, p)
				}
			}
			c.pump(d, false)
		}
	}
}

// stopped: the server stopped serving disk at epoch (cleanly): no server
// until a newer one announces. Its pieces in flight still get answers
// (results, or "not serving" for the queued ones).
func (c *Core) stopped(from Inc, m msg) {
	k := c.best[m.disk]
	if k == nil || k.epoch != m.epoch || k.server.Node != from.Node || !k.valid {
		return
	}
	k.valid = false
	k.clients = nil
	c.event(Event{Kind: EventStopped, Disk: m.disk, Server: k.server, Epoch: m.epoch})
}

// reply: a piece's result, or a refusal of the copy last sent.
func (c *Core) reply(from Inc, m msg) {
	d := c.cl[m.disk]
	if d == nil {
		return
	}
	p := d.bySeq[m.seq]
	if p == nil {
		return // answered already (a retry's second answer) or failed
	}
	if m.refusal != rfNone {
		if !p.sent || m.epoch != p.sentEpoch || m.view != p.sentView {
			return // about an older copy
		}
		c.unsend(d, p)
		switch m.refusal {
		case rfStaleEpoch, rfNotServing:
			p.minEpoch = p.sentEpoch + 1
		case rfStaleView:
			p.holdView = p.sentView
		case rfExcluded:
			p.holdAnn = true
		}
		c.pump(d, false)
		return
	}
	if m.errno == OK && p.op == OpRead && len(m.data) != int(p.n) {
		m.errno = EIO
	}
	c.unsend(d, p)
	c.dropPiece(d, p)
	q := p.r
	if m.errno != OK && q.err == OK {
		q.err = m.errno
	}
	if q.epoch == 0 || m.epoch < q.epoch {
		q.epoch = m.epoch // pieces carried by two epochs: the older (doc.go, "Done.Epoch")
	}
	if m.errno == OK && p.op == OpRead {
		copy(q.data[p.at:], m.data)
	}
	q.left--
	if q.left == 0 {
		c.finish(d, q)
	}
	c.pump(d, false)
}

func (c *Core) dropPiece(d *cdisk, p *piece) {
	delete(d.bySeq, p.seq)
	i := slices.Index(d.pieces, p)
	if i >= 0 {
		d.pieces = slices.Delete(d.pieces, i, i+1)
	}
}

// finish gives a request's Done.
func (c *Core) finish(d *cdisk, q *creq) {
	delete(d.reqs, q)
	done := Done{ID: q.id, Err: q.err, Epoch: q.epoch}
	if q.err == OK {
		switch q.op {
		case OpRead:
			done.Data = q.data
			d.reads++
		case OpFlush:
			d.flushes++
		default:
			d.writes++
		}
	}
	c.rd.Done = append(c.rd.Done, done)
}

// fail ends a request with err at once: its pieces are forgotten (never
// sent again; a late answer is ignored).
func (c *Core) fail(d *cdisk, q *creq, err Errno) {
	keep := d.pieces[:0]
	for _, p := range d.pieces {
		if p.r == q {
			c.unsend(d, p)
			delete(d.bySeq, p.seq)
			continue
		}
		keep = append(keep, p)
	}
	clear(d.pieces[len(keep):])
	d.pieces = keep
	q.err, q.left = err, 0
	c.finish(d, q)
}

// failAll fails every pending request of a disk (in submission order);
// reason non-empty: a disk_failed event.
func (c *Core) failAll(d *cdisk, err Errno, reason string) {
	qs := d.order()
	for _, q := range qs {
		c.fail(d, q, err)
	}
	if len(qs) > 0 && reason != "" {
		c.failedEvent(d.name, reason)
	}
}

func (c *Core) failedEvent(name, reason string) {
	e := Event{Kind: EventFailed, Disk: name, Reason: reason}
	if k := c.best[name]; k != nil {
		e.Server, e.Epoch = k.server, k.epoch
	}
	c.event(e)
}

// order lists a disk's pending requests by their first piece.
func (d *cdisk) order() []*creq {
	var qs []*creq
	seen := map[*creq]bool{}
	for _, p := range d.pieces {
		if !seen[p.r] {
			seen[p.r] = true
			qs = append(qs, p.r)
		}
	}
	return qs
}

// expire fails the requests one of whose pieces has waited Config.Retry
// for a server to take it (unsent) or to answer it (in flight).
func (c *Core) expire() {
	for _, n := range sortedKeys(c.cl) {
		d := c.cl[n]
		var late []*creq
		seen := map[*creq]bool{}
		for _, p := range d.pieces {
			if !seen[p.r] && c.now-p.since >= c.cfg.Retry {
				seen[p.r] = true
				late = append(late, p.r)
			}
		}
		for _, q := range late {
			c.fail(d, q, EIO)
		}
		if len(late) > 0 {
			c.failedEvent(n, fmt.Sprintf("no server took %d request(s) within %v", len(late), c.cfg.Retry))
			c.pump(d, false)
		}
	}
}
