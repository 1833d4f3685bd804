package cdb

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/corral-ha/corral/core/wire"
)

// ErrReadRetry fails a linearizable read that could not get its index:
// the coordinator was not settled in the reader's view, or no longer
// held its lease, or the view changed under it. Nothing was read; the
// client retries (on this node or another).
var ErrReadRetry = errors.New("config database: the read could not be ordered in this view (the view is changing); retry")

// ReadDone is a linearizable read that may be served now: this node's
// committed state covers every update acknowledged before the read began
// (Err nil), or the read failed (Err: ErrNoQuorum, ErrReadRetry). Index
// is the revision the read waited for.
type ReadDone struct {
	ID    uint64
	Index uint64
	Err   error
}

// ReadAsk asks the coordinator of View for a read index (the revision
// every update it sequenced so far ends at).
type ReadAsk struct {
	View wire.ViewID
	ID   uint64
}

// ReadIndex answers a ReadAsk: Index is the coordinator's log head in
// View, taken while it held its lease and was settled in View; OK false
// is a refusal (the asker fails the read with ErrReadRetry).
type ReadIndex struct {
	View  wire.ViewID
	ID    uint64
	Index uint64
	OK    bool
}

// maxReads bounds the reads waiting on one node and the asks a
// coordinator holds.
const maxReads = 1 << 16

// pendingRead is a linearizable read begun on this node.
type pendingRead struct {
	id    uint64
	view  wire.ViewID // the view its index is (to be) taken in
	index uint64
	known bool          // index is set
	asked bool          // a ReadAsk for view is out
	at    time.Duration // when it went out (asked again after Config.AskAgain)
}

type readAsk struct {
	from wire.NodeID
	ask  ReadAsk
}

// Read begins a linearizable read under id (the driver's, unique among
// its reads in flight). Its answer is a ReadDone in a later Ready (after
// ReadRound): then Get or List on this node return a state at least as
// new as every update acknowledged before Read was called. The error is
// ErrNoQuorum when this node is not quorate now (give SetQuorum the
// lease judged by the clock before calling it).
func (d *DB) Read(id uint64) error {
	if !d.quorate {
		return ErrNoQuorum{Votes: d.votes, Expected: d.expected, Reason: d.why}
	}
	if len(d.reads) >= maxReads {
		return fmt.Errorf("config database: %d reads waiting already: %w", len(d.reads), ErrReadRetry)
	}
	d.reads = append(d.reads, &pendingRead{id: id})
	return nil
}

// CancelRead forgets a read whose client stopped waiting.
func (d *DB) CancelRead(id uint64) {
	d.reads = slices.DeleteFunc(d.reads, func(r *pendingRead) bool { return r.id == id })
}

// readable reports whether this node is settled in the view it adopted
// (so its committed state holds that view's adopted history).
func (d *DB) readable() bool { return !d.adopting && d.settled && d.adoptView != (wire.ViewID{}) }

// ReadRound moves the linearizable reads on. The driver calls it after
// SetQuorum with the lease judged by the clock now, in every round (and
// after a ReadIndex came): on the coordinator it answers the asks it
// holds with its log head, and every read whose index this node's
// committed state reached comes out in Ready.Reads. A read whose ask got
// no answer for Config.AskAgain (by now, the driver's clock) asks again:
// nothing tells the DB that a message was lost.
func (d *DB) ReadRound(now time.Duration) {
	if len(d.reads) == 0 && len(d.asks) == 0 {
		return
	}
	// The coordinator's side: answer the asks of its view.
	if len(d.asks) > 0 {
		keep := d.asks[:0]
		for _, a := range d.asks {
			switch {
			case viewLess(d.adoptView, a.ask.View):
				keep = append(keep, a) // a view this node has not begun yet
			case a.ask.View == d.adoptView && d.adoptView.Coord == d.cfg.Self && !d.quorate:
				d.answer(a, 0, false)
			case a.ask.View == d.adoptView && d.adoptView.Coord == d.cfg.Self && !d.readable():
				keep = append(keep, a) // adopting: answered once settled
			case a.ask.View == d.adoptView && d.adoptView.Coord == d.cfg.Self:
				d.answer(a, d.tail(), true)
			default:
				d.answer(a, 0, false)
			}
		}
		d.asks = keep
	}
	// The reader's side.
	keep := d.reads[:0]
	for _, r := range d.reads {
		if !d.quorate {
			d.rd.Reads = append(d.rd.Reads, ReadDone{ID: r.id, Err: ErrNoQuorum{Votes: d.votes, Expected: d.expected, Reason: d.why}})
			continue
		}
		if r.view != d.adoptView {
			// begun now, or its view ended before it was served: its index
			// is taken (again) in this view, after the read began
			r.view, r.known, r.asked = d.adoptView, false, false
		}
		if !d.readable() {
			keep = append(keep, r)
			continue
		}
		if !r.known && r.view.Coord == d.cfg.Self {
			// Lease read: this node is the coordinator, quorate now.
			r.index, r.known = d.tail(), true
		}
		if r.asked && !r.known && now-r.at >= d.cfg.AskAgain {
			r.asked = false // lost on the way (or the answer was): ask again
		}
		if !r.known && !r.asked {
			r.asked, r.at = true, now
			d.rd.Messages = append(d.rd.Messages, Message{To: r.view.Coord, ReadAsk: &ReadAsk{View: r.view, ID: r.id}})
		}
		if r.known && d.st.rev >= r.index {
			d.rd.Reads = append(d.rd.Reads, ReadDone{ID: r.id, Index: r.index})
			continue
		}
		keep = append(keep, r)
	}
	d.reads = keep
}

func (d *DB) answer(a readAsk, index uint64, ok bool) {
	d.rd.Messages = append(d.rd.Messages, Message{To: a.from, ReadIndex: &ReadIndex{View: a.ask.View, ID: a.ask.ID, Index: index, OK: ok}})
}

// takeAsk holds a peer's ReadAsk for the next ReadRound.
func (d *DB) takeAsk(from wire.NodeID, a ReadAsk) {
	if len(d.asks) >= maxReads {
		d.answer(readAsk{from, a}, 0, false)
		return
	}
	d.asks = append(d.asks, readAsk{from, a})
}

// takeIndex takes the coordinator's answer to one of this node's asks.
func (d *DB) takeIndex(from wire.NodeID, x ReadIndex) {
	for i, r := range d.reads {
		if r.id != x.ID || r.view != x.View || from != x.View.Coord || r.known {
			continue
		}
		if !x.OK {
			d.rd.Reads = append(d.rd.Reads, ReadDone{ID: r.id, Err: ErrReadRetry})
			d.reads = slices.Delete(d.reads, i, i+1)
			return
		}
		r.index, r.known = x.Index, true
		return
	}
}
