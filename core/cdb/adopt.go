package cdb

import "github.com/corral-ha/corral/core/wire"

// beginAdopt starts the adoption of source's history for the new primary
// view (the BeginAdopt input).
//
// On the source, its log as it is now is the adopted history and adoption
// is done at once. Elsewhere the DB sends Fetch messages to the source and
// takes Chunks (Receive) until its log is the source's: entries the source
// lacks are truncated, the missing ones appended, or a snapshot taken.
// Either way the adopted entries are applied (committed) only when the
// view proves established: the Safe delivery of its first message.
func (d *DB) beginAdopt(view wire.ViewID, source wire.NodeID) {
	d.adopting, d.firstDone = false, false
	d.settled, d.adoptView, d.skipFlush = false, view, wire.ViewID{}
	for _, r := range d.deferred { // answered again once this adoption settles
		d.pending[reqKey{r.Client, r.Seq}] = true
	}
	d.deferred = nil
	if source == d.cfg.Self {
		// its log as it is now is the adopted history; it is committed
		// when the view proves established (Commit of its first message)
		d.served, d.servedView, d.servedHead = true, view, d.tail()
		d.rd.Broadcast = append(d.rd.Broadcast, EncodeUpdate(Update{Origin: d.cfg.Self}))
		d.adopted, d.rd.Persist.Adopted = view, view
		d.resolvePending()
		d.maybeCompact()
		w := d.waiting
		d.waiting = nil
		for _, f := range w {
			d.serve(f.from, f.f)
		}
		return
	}
	d.served = false
	d.adopting, d.adoptView, d.adoptSrc = true, view, source
	d.adoptHead = 0
	d.rd.Messages = append(d.rd.Messages, Message{To: source, Fetch: &Fetch{
		View: view, First: true, Base: d.base, Runs: d.runs()}})
}

// receive takes a history-transfer message from a peer.
func (d *DB) receive(from wire.NodeID, m Message) {
	switch {
	case m.Fetch != nil:
		d.serve(from, *m.Fetch)
	case m.Chunk != nil:
		d.take(from, m.Chunk)
	case m.ReadAsk != nil:
		d.takeAsk(from, *m.ReadAsk)
	case m.ReadIndex != nil:
		d.takeIndex(from, *m.ReadIndex)
	}
}

func (d *DB) serve(from wire.NodeID, f Fetch) {
	if !d.served || d.servedView != f.View {
		if viewLess(d.servedView, f.View) || !d.served {
			if len(d.waiting) < 64 {
				d.waiting = append(d.waiting, fetchFrom{from, f})
			}
		}
		return
	}
	c := &Chunk{View: f.View, Head: d.servedHead}
	after := f.After
	if f.First {
		after = d.common(f)
		c.From = after
	}
	if after < d.base {
		c.Snapshot, c.SnapRev = d.baseSnap, d.base
		after = d.base
		c.From = d.base
	}
	for r := after + 1; r <= d.servedHead && len(c.Entries) < d.cfg.ChunkEntries; r++ {
		c.Entries = append(c.Entries, *d.entry(r))
	}
	c.Last = after+uint64(len(c.Entries)) >= d.servedHead
	if !f.First && c.Snapshot == nil {
		c.From = after
	}
	d.rd.Messages = append(d.rd.Messages, Message{To: from, Chunk: c})
}

// common returns the highest revision up to which the asker's log is the
// same as this node's (entries with the same revision and view are the
// same history: each view sequences once, after adopting one history).
func (d *DB) common(f Fetch) uint64 {
	c := f.Base
	if c > d.servedHead {
		return 0 // its base is beyond our history: it must start over
	}
	for _, r := range f.Runs {
		if r.First != c+1 {
			break
		}
		e := d.entry(r.Last)
		if e != nil && r.Last <= d.servedHead && e.View == r.View {
			c = r.Last
			continue
		}
		for x := r.First; x <= r.Last && x <= d.servedHead; x++ {
			if e := d.entry(x); e == nil || e.View != r.View {
				break
			}
			c = x
		}
		break
	}
	return c
}

func (d *DB) take(from wire.NodeID, c *Chunk) {
	if !d.adopting || c.View != d.adoptView || from != d.adoptSrc {
		return
	}
	p := Progress{View: c.View, Source: from, Head: c.Head}
	if c.Snapshot != nil && c.SnapRev <= d.st.rev {
		// The source folded entries it could not match against ours, but
		// what this node committed is already the established history (it
		// is the same on every node): keep it, and take only what follows.
		// Restoring the older snapshot would undo committed revisions.
		d.truncate(d.st.rev + 1)
	} else if c.Snapshot != nil {
		if err := d.Restore(c.Snapshot); err != nil {
			return // a corrupt chunk: the transfer stalls until the next view
		}
		p.Snapshot = len(c.Snapshot)
		d.resolvePending()
	} else if !d.firstDone || c.From != d.tail() {
		if c.From < d.base {
			return
		}
		d.truncate(c.From + 1)
	}
	d.firstDone = true
	for _, e := range c.Entries {
		if e.Rev <= d.tail() && c.Snapshot != nil {
			continue // committed here already (kept above)
		}
		if e.Rev != d.tail()+1 {
			return
		}
		d.log = append(d.log, e)
		d.rd.Persist.Entries = append(d.rd.Persist.Entries, e)
	}
	p.Rev = d.tail()
	if c.Last {
		d.truncate(c.Head + 1)
		d.adopting = false
		d.adopted, d.rd.Persist.Adopted = d.adoptView, d.adoptView
		p.Done = true
		d.resolvePending()
		d.maybeCompact()
	} else {
		d.rd.Messages = append(d.rd.Messages, Message{To: from, Fetch: &Fetch{View: c.View, After: d.tail()}})
	}
	d.rd.Progress = append(d.rd.Progress, p)
}
