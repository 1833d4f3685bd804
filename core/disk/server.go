package disk

import (
	"fmt"
	"slices"

	"github.com/corral-ha/corral/core/wire"
)

// This file is the server half: the disks this node serves, the
// sequence barrier, the duplicate cache, the order of overlapping
// requests, the IO handed to the driver.

// sdisk is one served disk at one epoch. After Unserve (or a Serve at a
// newer epoch) it lives on while IO of it is in flight.
type sdisk struct {
	name         string
	epoch        uint64
	serving      bool
	order        []*sreq // queued and in flight, in arrival order
	dups         map[Inc]*dupTab
	clients      map[wire.NodeID]bool // the nodes that sent requests at this epoch (members)
	servedReads  uint64
	servedWrites uint64
}

// sreq is a piece a server took.
type sreq struct {
	s      *sdisk
	from   Inc
	seq    uint64
	view   wire.ViewID // the tag of the latest copy received
	op     Op
	off    uint64
	n      uint32
	data   []byte
	fua    bool
	noHole bool
	io     uint64 // its IO's id once started (0: queued)
	done   bool
	errno  Errno
	rdata  []byte
}

// dupTab is one client incarnation's duplicate cache on a served disk:
// every piece taken and not trimmed, by seq; done lists the answered
// ones in the order they were answered (for the bound).
type dupTab struct {
	m     map[uint64]*sreq
	done  []uint64
	floor uint64 // the client's last "acknowledged below"
}

// serve starts serving a disk at an epoch and announces it.
func (c *Core) serve(in Serve) error {
	old := c.srv[in.Disk]
	if old != nil && old.serving {
		if in.Epoch <= old.epoch {
			return fmt.Errorf("disk %q: serve at epoch %d, served at %d: %w", in.Disk, in.Epoch, old.epoch, ErrInvalid)
		}
		c.stopServing(old)
	}
	s := &sdisk{name: in.Disk, epoch: in.Epoch, serving: true, dups: map[Inc]*dupTab{}, clients: map[wire.NodeID]bool{}}
	c.srv[in.Disk] = s
	c.announce(s, c.view.Members)
	return nil
}

// unserve stops serving a disk: queued requests are answered "not
// serving" (their clients wait for the next server), the IO in flight
// still completes and is answered, the members are told.
func (c *Core) unserve(name string) {
	if s := c.srv[name]; s != nil && s.serving {
		c.stopServing(s)
	}
}

func (c *Core) stopServing(s *sdisk) {
	s.serving = false
	keep := s.order[:0]
	for _, r := range s.order {
		if r.io != 0 {
			keep = append(keep, r)
			continue
		}
		c.forget(s, r)
		c.send(r.from.Node, msg{kind: mkReply, disk: s.name, epoch: s.epoch, view: r.view, seq: r.seq, refusal: rfNotServing})
	}
	clear(s.order[len(keep):])
	s.order = keep
	for _, m := range c.view.Members {
		c.send(m.Node, msg{kind: mkStopped, disk: s.name, epoch: s.epoch})
	}
	if len(s.order) == 0 && c.srv[s.name] == s {
		delete(c.srv, s.name)
	}
	c.checkFenced()
}

// announce tells incs that this node serves s.
func (c *Core) announce(s *sdisk, incs []Inc) {
	cl := make([]wire.NodeID, 0, len(s.clients))
	for n := range s.clients {
		cl = append(cl, n)
	}
	slices.Sort(cl)
	for _, m := range incs {
		c.send(m.Node, msg{kind: mkAnnounce, disk: s.name, epoch: s.epoch, server: c.cfg.Self, clients: cl})
	}
}

// dupKey is the duplicate cache's key for a client incarnation.
func dupKey(from Inc) Inc {
	if testMutation == "dup-by-seq" {
		return Inc{}
	}
	return from
}

// request: a client's piece. Refused unless this node serves the disk at
// the request's epoch, the sender is a member incarnation and the tag is
// not older than the barrier; a retry is answered from the duplicate
// cache (or attached to the piece in flight); a new piece is queued and
// started when nothing earlier it must follow is pending.
func (c *Core) request(from Inc, m msg) {
	refuse := func(rf refusal) {
		c.send(from.Node, msg{kind: mkReply, disk: m.disk, epoch: m.epoch, view: m.view, seq: m.seq, refusal: rf})
	}
	s := c.srv[m.disk]
	switch {
	case s == nil || !s.serving:
		refuse(rfNotServing)
		return
	case m.epoch != s.epoch:
		if m.epoch > s.epoch && c.stale[m.disk] < m.epoch {
			c.stale[m.disk] = m.epoch
			c.rd.Stale = append(c.rd.Stale, m.disk)
		}
		refuse(rfStaleEpoch)
		return
	case !c.members[from]:
		refuse(rfExcluded)
		return
	case viewLess(m.view, c.barrier) && testMutation != "ignore-view-tag":
		refuse(rfStaleView)
		return
	}
	key := dupKey(from)
	t := s.dups[key]
	if t == nil {
		t = &dupTab{m: map[uint64]*sreq{}}
		s.dups[key] = t
	}
	t.trim(m.ackedBelow)
	if r := t.m[m.seq]; r != nil {
		if r.done {
			c.send(from.Node, msg{kind: mkReply, disk: s.name, epoch: s.epoch, view: m.view, seq: m.seq, errno: r.errno, data: r.rdata})
		} else {
			r.view = m.view
		}
		return
	}
	r := &sreq{s: s, from: from, seq: m.seq, view: m.view, op: m.op, off: m.off, n: m.n, data: m.data, fua: m.fua, noHole: m.noHole}
	t.m[m.seq] = r
	if d, ok := c.defined[s.name]; ok && m.op != OpFlush && (m.off > d.Size || uint64(m.n) > d.Size-m.off) {
		r.done, r.errno = true, EINVAL
		t.done = append(t.done, r.seq)
		c.send(from.Node, msg{kind: mkReply, disk: s.name, epoch: s.epoch, view: m.view, seq: m.seq, errno: EINVAL})
		return
	}
	s.order = append(s.order, r)
	if !s.clients[from.Node] {
		s.clients[from.Node] = true
		c.announce(s, c.view.Members)
	}
	c.schedule(s)
}

// trim forgets the answered pieces the client acknowledged.
func (t *dupTab) trim(below uint64) {
	if below <= t.floor {
		return
	}
	t.floor = below
	for seq, r := range t.m {
		if seq < below && r.done {
			delete(t.m, seq)
		}
	}
}

// forget drops a queued piece from its duplicate cache.
func (c *Core) forget(s *sdisk, r *sreq) {
	if t := s.dups[dupKey(r.from)]; t != nil && t.m[r.seq] == r {
		delete(t.m, r.seq)
	}
}

// schedule starts the queued pieces of s that follow nothing pending,
// in arrival order, while the view is primary.
func (c *Core) schedule(s *sdisk) {
	if !c.hasView || !c.view.Primary || c.view.Lost {
		return
	}
	for i, r := range s.order {
		if r.io != 0 || mustWait(s.order[:i], r) {
			continue
		}
		c.nextIO++
		r.io = c.nextIO
		c.ios[r.io] = r
		c.rd.IO = append(c.rd.IO, IO{ID: r.io, Disk: s.name, Op: r.op, Off: r.off, Len: r.n, Data: r.data, FUA: r.fua, NoHole: r.noHole})
	}
}

// mustWait reports whether r must wait for one of the earlier pending
// pieces: a flush waits for every earlier write (trim, zero); a write
// for every earlier overlapping read or write; a read for every earlier
// overlapping write.
func mustWait(earlier []*sreq, r *sreq) bool {
	for _, e := range earlier {
		switch {
		case r.op == OpFlush:
			if e.op.writes() {
				return true
			}
		case e.op == OpFlush:
		case r.op.writes() || e.op.writes():
			if e.off < r.off+uint64(r.n) && r.off < e.off+uint64(e.n) {
				return true
			}
		}
	}
	return false
}

// ioDone: an IO came back: answer the client, keep the answer for its
// retries, start what waited for it.
func (c *Core) ioDone(in IODone) {
	r := c.ios[in.ID]
	if r == nil {
		c.unknownIO++
		return
	}
	delete(c.ios, in.ID)
	s := r.s
	r.done, r.errno = true, in.Err
	if r.op == OpRead && in.Err == OK {
		if len(in.Data) != int(r.n) {
			r.errno = EIO
		} else {
			r.rdata = in.Data
		}
	}
	r.data = nil
	if i := slices.Index(s.order, r); i >= 0 {
		s.order = slices.Delete(s.order, i, i+1)
	}
	if t := s.dups[dupKey(r.from)]; t != nil && t.m[r.seq] == r {
		t.done = append(t.done, r.seq)
		for len(t.done) > c.cfg.DupCache {
			old := t.done[0]
			t.done = t.done[1:]
			if o := t.m[old]; o != nil && o.done {
				delete(t.m, old)
			}
		}
	}
	if r.errno == OK && r.from.Node != c.cfg.Self.Node {
		switch {
		case r.op == OpRead:
			s.servedReads++
		case r.op.writes():
			s.servedWrites++
		}
	}
	c.send(r.from.Node, msg{kind: mkReply, disk: s.name, epoch: s.epoch, view: r.view, seq: r.seq, errno: r.errno, data: r.rdata})
	c.schedule(s)
	if !s.serving && len(s.order) == 0 && c.srv[s.name] == s {
		delete(c.srv, s.name)
	}
	c.checkFenced()
}

// serverView applies a view to the served disks: the queued pieces of
// incarnations not in it are dropped (and answered "excluded"), their
// duplicate caches and the clients gone forgotten, new members told
// (everyone, when the client set changed), waiting pieces started if
// the view is primary.
func (c *Core) serverView(fresh []Inc) {
	for _, name := range sortedKeys(c.srv) {
		s := c.srv[name]
		keep := s.order[:0]
		for _, r := range s.order {
			if r.io == 0 && !c.members[r.from] {
				c.forget(s, r)
				c.send(r.from.Node, msg{kind: mkReply, disk: s.name, epoch: s.epoch, view: r.view, seq: r.seq, refusal: rfExcluded})
				continue
			}
			keep = append(keep, r)
		}
		clear(s.order[len(keep):])
		s.order = keep
		for inc := range s.dups {
			if inc != (Inc{}) && !c.members[inc] && c.nodeBoot(inc.Node) != 0 {
				delete(s.dups, inc) // the node is back with another boot: this incarnation never returns
			}
		}
		changed := false
		for n := range s.clients {
			if c.nodeBoot(n) == 0 {
				delete(s.clients, n)
				changed = true
			}
		}
		if s.serving {
			if changed {
				c.announce(s, c.view.Members)
			} else {
				c.announce(s, fresh)
			}
		}
		c.schedule(s)
	}
}

// nodeBoot is the boot id of node's member incarnation (0: none; boot
// ids are never 0 in a view).
func (c *Core) nodeBoot(n wire.NodeID) uint32 {
	for _, m := range c.view.Members {
		if m.Node == n {
			return max(m.Boot, 1)
		}
	}
	return 0
}

// checkFenced: the last view's barrier is complete once no IO of an
// incarnation outside it is in flight (queued ones were dropped, new ones
// are refused).
func (c *Core) checkFenced() {
	ok := c.hasView
	for _, r := range c.ios {
		if !c.members[r.from] {
			ok = false
			break
		}
	}
	c.fenced = ok
	if ok && c.rd.Fenced != c.view.ID {
		c.rd.Fenced = c.view.ID
		c.fencedMoved = true
	}
}
