package dlm

// Recovery on one resource (`corral help dlm` sections 4 and 7;
// Linux's purge_dead_list in fs/dlm/lock.c and recover_lvb in
// fs/dlm/recover.c). The distribution (recover.go) decides when.

import "github.com/corral-ha/corral/core/wire"

// purge drops the locks of the nodes dead says are gone. A dead node's
// ValBlk lock granted PW or EX may have changed the value without writing
// it back, so the value becomes invalid (recover_lvb's rule 1; `corral
// help dlm` section 4). Locks having gone, the next grant pass ignores
// conversion order
// (RSB_RECOVER_GRANT).
func (r *rsb) purge(dead func(wire.NodeID) bool) {
	purged := false
	for _, q := range [][]*lkb{r.granted, r.converting, r.waiting} {
		for _, l := range append([]*lkb(nil), q...) {
			if !dead(l.key.Node) {
				continue
			}
			if l.flags&ValBlk != 0 && l.gr >= PW {
				r.invalid = true
			}
			r.remove(l)
			purged = true
		}
	}
	if purged {
		r.recoverGrant = true
	}
	r.forgetIfEmpty()
}

// rebuild adds a lock as a survivor reported it, at the end of queue l.q
// (qGranted, qConvert or qWait; l.gr, l.rq, l.flags, l.lvb, l.lvbSeq,
// l.lvbInvalid and l.lvbStale as the holder has them). The queues' old
// order is lost, so the next grant pass ignores conversion order.
//
// What the holder reports: the value it last read or wrote (nil if
// none), lvbStale if it has held CR or less since (or was demoted), and
// for a lock with a CONVDEADLK conversion pending, NL as its granted mode
// (the old master may have demoted it, granting others on the strength
// of that; its client must assume NL until the completion anyway).
//
// A lock whose middle conversion (PR<->CW) was in flight when its master
// went may have been granted the new mode there, and others granted on
// the strength of it; its holder cannot tell. It is rebuilt with gr IV
// and rq the mode asked for, on the granted queue (its holder will resend
// the conversion) or the convert queue, and recoverConversion decides its
// granted mode.
func (r *rsb) rebuild(l *lkb) {
	q := l.q
	if q == qNone {
		q = qGranted
	}
	l.q = qNone
	r.add(l, q)
	r.recoverGrant = true
}

// recoverLVB sets a NEW master's value block from its rebuilt locks
// (recover_lvb): if some ValBlk lock is granted above CR, its value is
// the resource's (rule 2: such a holder has the latest, since no one
// can write while it holds that mode; corral's: only if it read or wrote
// the value in a mode above CR and has held above CR since, lvbStale
// false; a value read in NL and carried up without a read may be
// stale); else the value
// comes from the ValBlk lock with the highest sequence number and is
// marked invalid, since only NL/CR locks remain and a PW/EX holder may
// have died with a newer one (rule 2). An invalid flag already set is
// kept (rule 3), and so is the invalidity a holder last read (corral's:
// a PR holder that read ValNotValid must not make the value valid). When
// no lock has a value (none uses the value block, or none has read it)
// the value is unknown: zeros, invalid (corral's; Linux would read zeros
// as valid, losing a value written before without a word).
func (r *rsb) recoverLVB() {
	r.recoverConversion()
	var big, high *lkb
	for _, q := range [][]*lkb{r.granted, r.converting} {
		for _, l := range q {
			// A lock counts if it uses the value block and its holder
			// has a value of it (one that never read it, its ValBlk
			// coming from a later operation that failed, would pass
			// zeros off as the value).
			if l.flags&ValBlk == 0 || l.lvb == nil {
				continue
			}
			if l.gr > CR && !l.lvbStale {
				big = l
				break
			}
			if high == nil || l.lvbSeq >= high.lvbSeq {
				high = l
			}
		}
		if big != nil {
			break
		}
	}
	src := big
	if src == nil {
		if high == nil {
			// No lock has the value (Linux leaves the new master's
			// value unallocated: lost without a word): unknown, so
			// invalid, zeros.
			r.lvb, r.lvbSeq, r.invalid = nil, 0, true
			return
		}
		src, r.invalid = high, true
	}
	r.lvb = make([]byte, r.lvbLen)
	copy(r.lvb, src.lvb)
	r.lvbSeq = src.lvbSeq
	if src.lvbInvalid {
		r.invalid = true
	}
}

// recoverConversion gives every rebuilt lock whose middle conversion
// (PR<->CW) was in flight (gr IV, rq PR or CW, not on the wait queue) a
// granted mode the other holders are compatible with: the PR or CW of
// another granted lock if there is one (the old master granted that one
// knowing this lock's mode), else the mode it asked for (Linux's
// recover_conversion in fs/dlm/recover.c). A lock so settled on the
// granted queue has nothing pending (its holder resends the conversion);
// on the convert queue it keeps asking for rq (granted in place by the
// grant pass if that is the mode it got). recoverLVB and, after recovery,
// grantPending run it first, so a caller need not.
func (r *rsb) recoverConversion() {
	other := IV
	for _, l := range r.granted {
		if l.gr == PR || l.gr == CW {
			other = l.gr
			break
		}
	}
	for _, q := range [][]*lkb{r.granted, r.converting} {
		for _, l := range q {
			if l.gr != IV {
				continue
			}
			l.gr = other
			if other == IV {
				l.gr = l.rq
			}
			if l.q == qGranted {
				l.rq = IV
			}
		}
	}
}
