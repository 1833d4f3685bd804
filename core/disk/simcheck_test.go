package disk_test

// The clients, the lock manager model and the checkers of sim_test.go.

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/corral-ha/corral/core/disk"
)

const maxPending = 6

// ---- the lock manager model: one lock per region ----

func region(b int) int { return b / (nBlocks / nRegions) }

func (w *world) holds(n *node, r int) bool {
	h := w.locks[r].holder
	return h != nil && *h == n.inc()
}

func (w *world) lockTick() {
	for r := range w.locks {
		l := &w.locks[r]
		if l.holder != nil && w.departed(*l.holder) && w.mayRelease(*l.holder) {
			w.tracef("lock %d: departed holder %v released", r, *l.holder)
			w.st2.releases++
			l.holder = nil
		}
		if h := l.holder; h != nil && !w.departed(*h) && w.node(h.Node).lostOnce && w.allFenced() {
			// told Lost (its requests failed, never re-sent), back in
			// the view: the lock manager forgets its locks once the
			// barrier passed
			w.tracef("lock %d: holder %v, told Lost and back, released", r, *h)
			w.st2.releases++
			l.holder = nil
		}
		if l.holder == nil && w.prim != nil {
			for len(l.queue) > 0 {
				i := l.queue[0]
				l.queue = l.queue[1:]
				n := w.node(i.Node)
				if w.departed(i) || n.lostOnce {
					continue
				}
				n.waiting = false
				l.holder, l.since = &i, w.now
				n.nextRel[r] = w.now + w.between(100*time.Millisecond, time.Second)
				w.tracef("lock %d granted to %v", r, i)
				break
			}
		}
	}
}

// departed: the incarnation is dead or out of the primary view.
func (w *world) departed(i disk.Inc) bool { return w.dead(i) || !w.prim.has(i) }

// mayRelease is the stack's rule for the lock manager's Release of a
// departed incarnation: every member of the primary view reports the
// disk barrier of that view complete (disk.Fenced), and the incarnation
// is dead (crashed, killed or fenced) or, without a fence device, its
// lease wait is over.
func (w *world) mayRelease(i disk.Inc) bool {
	if w.opts.earlyRelease {
		return true
	}
	if w.prim == nil || w.prim.has(i) || !w.allFenced() {
		return false
	}
	if w.dead(i) {
		return true
	}
	at, ok := w.departedAt[i]
	return !w.fence && ok && w.now >= at+leaseWait
}

// allFenced: every member of the primary view reports its disk barrier
// complete.
func (w *world) allFenced() bool {
	if w.prim == nil {
		return false
	}
	for _, m := range w.prim.members {
		n := w.node(m.Node)
		if !n.alive || n.boot != m.Boot || !n.core.Fenced(w.prim.id) {
			return false
		}
	}
	return true
}

// ---- the clients ----

func (w *world) clientStep(n *node) {
	if !w.active || n.lostOnce || n.reqs == nil {
		return
	}
	held := false
	for r := range nRegions {
		if !w.holds(n, r) {
			continue
		}
		held = true
		pendingR := 0
		for _, q := range n.reqs {
			if q.op != disk.OpFlush && region(q.block) == r {
				pendingR++
			}
		}
		if pendingR == 0 && w.now >= n.nextRel[r] {
			w.tracef("lock %d released by %v", r, n.inc())
			w.locks[r].holder = nil
			continue
		}
		if len(n.reqs) >= maxPending || w.rng.IntN(3) == 0 {
			continue
		}
		b := r*(nBlocks/nRegions) + w.rng.IntN(nBlocks/nRegions)
		switch x := w.rng.IntN(100); {
		case x < 45:
			w.submitWrite(n, b, w.rng.IntN(10) < 3)
		case x < 80:
			w.submitRead(n, b)
		default:
			w.submitFlush(n)
		}
	}
	if !held && !n.waiting && w.rng.IntN(4) == 0 {
		r := w.rng.IntN(nRegions)
		n.waiting = true
		w.locks[r].queue = append(w.locks[r].queue, n.inc())
	}
}

func (w *world) submit(n *node, q *req, r disk.Request) {
	n.nextID++
	q.id, q.at = n.nextID, w.now
	r.ID = q.id
	n.reqs[q.id] = q
	if err := n.core.Submit(w.now, r); err != nil {
		w.tracef("node %d: Submit %d: %v", n.id, q.id, err)
		delete(n.reqs, q.id)
	}
}

func (w *world) submitWrite(n *node, b int, fua bool) {
	w.tagN++
	wr := &wrec{tag: w.tagN, client: n.inc(), block: b, idx: len(w.hist[b]), fua: fua}
	w.writes[wr.tag] = wr
	w.hist[b] = append(w.hist[b], wr)
	w.st2.writes++
	w.tracef("node %d writes tag %d to block %d (FUA %v)", n.id, wr.tag, b, fua)
	w.submit(n, &req{op: disk.OpWrite, block: b, w: wr}, disk.Request{Disk: diskName, Op: disk.OpWrite, Off: uint64(b) * bs, Len: bs, Data: blockData(wr.tag), FUA: fua})
	if w.cutOnWrite && w.now < faultPhase && (w.placed == nil || w.placed.Node != n.id) {
		w.pump(n)
		w.cutOff(n)
	}
}

func (w *world) submitRead(n *node, b int) {
	q := &req{op: disk.OpRead, block: b, readMin: w.secured[b], minWhy: "secured"}
	// read your writes: the client's last acknowledged write to b counts
	// if the read is answered at the epoch that acknowledged it (same
	// server, same page cache)
	for i := len(w.hist[b]) - 1; i >= 0; i-- {
		if wr := w.hist[b][i]; wr.client == n.inc() && wr.acked {
			q.own = wr
			break
		}
	}
	w.st2.reads++
	w.submit(n, q, disk.Request{Disk: diskName, Op: disk.OpRead, Off: uint64(b) * bs, Len: bs})
}

func (w *world) submitFlush(n *node) {
	q := &req{op: disk.OpFlush, block: -1, mark: n.dirty.Mark()}
	w.st2.flushes++
	w.submit(n, q, disk.Request{Disk: diskName, Op: disk.OpFlush})
}

// done is the driver's handling of a Done (the flush rule) and the
// clients' checks.
func (w *world) done(n *node, d disk.Done) {
	q, ok := n.reqs[d.ID]
	if !ok {
		w.fail("node %d: Done for request %d that is not pending (answered twice?)", n.id, d.ID)
		return
	}
	delete(n.reqs, d.ID)
	if d.Err != disk.OK {
		w.st2.eio++
		w.tracef("node %d: request %d (op %d block %d) failed: %d", n.id, d.ID, q.op, q.block, d.Err)
		return
	}
	switch q.op {
	case disk.OpWrite:
		wr := q.w
		wr.acked, wr.ackEpoch = true, d.Epoch
		w.tracef("node %d: write tag %d acked at epoch %d", n.id, wr.tag, d.Epoch)
		if d.Epoch == 0 {
			w.fail("node %d: write tag %d acknowledged with epoch 0", n.id, wr.tag)
		}
		if wr.fua {
			w.secure(wr, "FUA")
		} else {
			n.dirty.Wrote(d.Epoch)
			wr.dseq = n.dirty.Mark()
			n.unflushed = append(n.unflushed, wr)
		}
	case disk.OpRead:
		tag, ok := parseBlock(d.Data)
		if !ok {
			w.fail("check read: node %d read block %d: garbled data (%d bytes)", n.id, q.block, len(d.Data))
			return
		}
		idx := -1
		if tag != 0 {
			wr := w.writes[tag]
			if wr == nil || wr.block != q.block {
				w.fail("check read: node %d read block %d: tag %d was never written there", n.id, q.block, tag)
				return
			}
			idx = wr.idx
		}
		if q.own != nil && q.own.ackEpoch == d.Epoch && q.own.idx > q.readMin {
			q.readMin, q.minWhy = q.own.idx, fmt.Sprintf("own write tag %d acked at epoch %d", q.own.tag, q.own.ackEpoch)
		}
		if idx < q.readMin {
			w.fail("check read: node %d read block %d at epoch %d: tag %d (history index %d), older than index %d (%s)",
				n.id, q.block, d.Epoch, tag, idx, q.readMin, q.minWhy)
		}
	case disk.OpFlush:
		res := n.dirty.Flush(q.mark, d.Epoch)
		keep := n.unflushed[:0]
		for _, wr := range n.unflushed {
			if wr.dseq > q.mark {
				keep = append(keep, wr)
				continue
			}
			if res == disk.OK {
				w.secure(wr, fmt.Sprintf("flush at epoch %d", d.Epoch))
			}
		}
		n.unflushed = keep
		if res != disk.OK {
			w.st2.eio++
			w.tracef("node %d: flush %d at epoch %d: EIO by the flush rule", n.id, d.ID, d.Epoch)
		}
	}
}

func (w *world) secure(wr *wrec, why string) {
	if wr.idx > w.secured[wr.block] {
		w.secured[wr.block] = wr.idx
		w.tracef("block %d: tag %d (index %d) secured by %s", wr.block, wr.tag, wr.idx, why)
	}
}

// ---- the checkers ----

type checker struct{}

// applied is checked at every write applied to the backing store by
// server n (serving epoch).
func (checker) applied(w *world, n *node, epoch uint64, wr *wrec) {
	// 1: the epoch of the server that applies it is the header's
	if epoch != w.st.epoch {
		w.fail("check 1 (epoch): node %d (boot %d) applies tag %d of %v at epoch %d, the header has epoch %d (server %v)",
			n.id, n.boot, wr.tag, wr.client, epoch, w.st.epoch, w.epochOf[w.st.epoch])
	}
	// 2: nothing of an incarnation this server's barrier excluded
	if v, ok := n.excl[wr.client]; ok && n.fenced.Epoch >= v.Epoch {
		w.fail("check 2 (barrier): node %d applies tag %d of %v, excluded at view %d, after reporting Fenced %d",
			n.id, wr.tag, wr.client, v.Epoch, n.fenced.Epoch)
	}
	// 4: never twice in one epoch
	k := [2]uint64{wr.tag, epoch}
	w.applied[k]++
	if w.applied[k] > 1 {
		w.fail("check 4 (duplicate): tag %d of %v applied %d times at epoch %d", wr.tag, wr.client, w.applied[k], epoch)
	}
	// 5: order. Within an epoch, a block's writes land in their order;
	// across lock holders, never an earlier holder's after a later one's.
	bk := [2]uint64{uint64(wr.block), epoch}
	if last, ok := w.lastIdx[bk]; ok && wr.idx < last {
		other := w.hist[wr.block][last]
		w.fail("check 5 (order): block %d at epoch %d: tag %d (index %d, %v) applied after tag %d (index %d, %v)",
			wr.block, epoch, wr.tag, wr.idx, wr.client, other.tag, last, other.client)
	}
	w.lastIdx[bk] = wr.idx
	if m := w.maxApplied[wr.block]; m != nil && m.idx > wr.idx && m.client != wr.client {
		w.fail("check 5 (lock order): block %d: tag %d (index %d) of %v applied at epoch %d after tag %d (index %d) of the later holder %v",
			wr.block, wr.tag, wr.idx, wr.client, epoch, m.tag, m.idx, m.client)
	}
	if m := w.maxApplied[wr.block]; m == nil || wr.idx > m.idx {
		w.maxApplied[wr.block] = wr
	}
}

// checkSecuredOn is check 3: what a server on n's machine sees keeps
// every secured write (or a later one).
func (w *world) checkSecuredOn(n *node, when string) {
	for b := range nBlocks {
		t := w.visible(n.id, b)
		idx := -1
		if t != 0 {
			idx = w.writes[t].idx
		}
		if idx < w.secured[b] {
			s := w.hist[b][w.secured[b]]
			w.fail("check 3 (durability) at %s: block %d holds tag %d (index %d), but tag %d (index %d) of %v was secured (acked at epoch %d, FUA %v)",
				when, b, t, idx, s.tag, s.idx, s.client, s.ackEpoch, s.fua)
		}
	}
}

// pendingList describes the requests still pending (check 6).
func (w *world) pendingList() []string {
	var out []string
	for _, n := range w.nodes {
		if !n.alive {
			continue
		}
		ids := make([]uint64, 0, len(n.reqs))
		for id := range n.reqs {
			ids = append(ids, id)
		}
		sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
		for _, id := range ids {
			q := n.reqs[id]
			out = append(out, fmt.Sprintf("node %d request %d op %d block %d since %.3fs", n.id, id, q.op, q.block, q.at.Seconds()))
		}
	}
	return out
}

func (w *world) statusLines() string {
	var b strings.Builder
	for _, n := range w.nodes {
		if !n.alive {
			fmt.Fprintf(&b, "node %d down\n", n.id)
			continue
		}
		fmt.Fprintf(&b, "node %d boot %d serving %v epoch %d view %d lost %v: %+v\n", n.id, n.boot, n.serving, n.epoch, n.view.ID.Epoch, n.lost, n.core.Status())
	}
	return b.String()
}
