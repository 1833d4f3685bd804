package dlm

// This file keeps G5 true of what clients BELIEVE, not only of the master
// copy. A master may hold a remote lock in a mode that its client does
// not know yet: a conversion between CW and PR (a middle conversion,
// neither up nor down) granted but whose completion is still on its way.
// Until that client
// knows, it still acts in its old mode, so the master must not let any
// other client learn of a grant incompatible with that old mode (a
// CONVDEADLK conversion is the exception: its client accepted that its
// lock may be demoted to NL before it completes, DLM_SBF_DEMOTED). The
// master therefore tracks, for each remote lock it masters, the mode its
// client is known to believe (belief), and HOLDS a completion that is
// incompatible with another lock's belief until that belief changes:
//
//   - a completion that leaves a lock at a mode at least as restrictive
//     as the believed one (compat(new) ⊆ compat(old): up-conversions, new
//     grants, failures that keep the mode) updates the belief as it is
//     sent (anything compatible with the new mode was compatible with
//     the old one);
//   - any other completion (a middle conversion, the outcome of a
//     demoted conversion) updates it only when the process node acknowledges it (mkAck,
//     sent when it hands the completion to its client);
//   - a down-conversion or an unlock is believed as soon as it reaches
//     the master (its client was told at once, design 7).
//
// A local lock's belief is its process copy's granted mode (its
// completions are synchronous). Effects of one lock keep their order: a
// lock with a held completion has every later effect held behind it.

import (
	"slices"

	"github.com/corral-ha/corral/core/wire"
)

// held is a master's effect waiting to be handed out.
type held struct {
	e   effect
	seq uint32
}

// weaker reports whether mode a lets some mode be granted that mode b
// does not (compat(a) ⊄ compat(b)); IV lets everything.
func weaker(a, b Mode) bool {
	for x := NL; x <= EX; x++ {
		if compatible(a, x) && !compatible(b, x) {
			return true
		}
	}
	return false
}

// believed is the mode lock k's client is known to believe it holds.
func (d *DLM) believed(k lkey) Mode {
	if k.Node == d.self {
		p := d.locks[k.ID]
		if p == nil || p.unlocking {
			return IV
		}
		return p.gr
	}
	if m, ok := d.belief[k]; ok {
		return m
	}
	return IV
}

// mustHold reports whether handing e out now could let its client
// believe a mode incompatible with another client's belief.
func (d *DLM) mustHold(r *rsb, e effect) bool {
	if e.bast || e.mode == IV {
		return false
	}
	for _, q := range [][]*lkb{r.granted, r.converting, r.waiting} {
		for _, l := range q {
			if l.key == e.key {
				continue
			}
			b := d.believed(l.key)
			if l.sb&Demoted != 0 {
				// CONVDEADLK: its client accepted that its granted mode may
				// drop to NL while it converts (the completion says so):
				// protecting its old mode would wait on its own conversion.
				b = l.gr
			}
			if b != IV && !compatible(b, e.mode) {
				return true
			}
		}
	}
	return false
}

// flushHeld hands out every held effect of r that may go, in order per lock.
func (d *DLM) flushHeld(r *rsb) {
	rn := rname{ls: r.ls, name: r.name}
	for {
		list := d.held[rn]
		next := -1
		for i, h := range list {
			earlier := slices.ContainsFunc(list[:i], func(k held) bool { return k.e.key == h.e.key })
			if !earlier && !d.mustHold(r, h.e) {
				next = i
				break
			}
		}
		if next < 0 {
			return // (an empty list stays, for the next effects: tossIdle deletes it)
		}
		h := list[next]
		d.held[rn] = slices.Delete(list, next, next+1)
		d.deliver(rn, h)
	}
}

// deliver hands one effect to its lock's process copy (here, or as a message).
func (d *DLM) deliver(rn rname, h held) {
	e := h.e
	if e.bast {
		m := msg{kind: mkBast, rname: rn, id: e.key.ID, owner: e.owner, mode: e.mode}
		if e.key.Node == d.self {
			d.procBast(m)
		} else {
			d.send(e.key.Node, m)
		}
		return
	}
	m := msg{kind: mkReply, rname: rn, id: e.key.ID, seq: h.seq, owner: e.owner,
		status: e.status, mode: e.mode, sb: e.sb, lvb: e.lvb, lvbSeq: e.lvbSeq}
	if e.key.Node == d.self {
		m.view = d.view
		d.procReply(d.self, m)
		return
	}
	switch old := d.believed(e.key); {
	case e.mode == IV:
		delete(d.belief, e.key)
		delete(d.needAck, e.key)
	case !weaker(e.mode, old):
		d.belief[e.key] = e.mode
		delete(d.needAck, e.key)
	default:
		d.needAck[e.key] = e.mode
	}
	d.send(e.key.Node, m)
}

// ack: a process node handed a completion that needed acknowledging.
func (d *DLM) ack(from wire.NodeID, m msg) {
	k := lkey{Node: from, ID: m.id}
	mode, ok := d.needAck[k]
	if !ok {
		return
	}
	delete(d.needAck, k)
	d.belief[k] = mode
	if mr := d.mast[m.rname]; mr != nil {
		d.flushHeld(mr.r)
	}
}
