package dlm

// Recovery on one resource (dlm-semantics.md sections 1.4 and 1.7;
// Linux's purge_dead_list in fs/dlm/lock.c and recover_lvb in
// fs/dlm/recover.c). The distribution (recover.go) decides when.

import "github.com/corral-ha/corral/core/wire"

// purge drops the locks of the nodes dead says are gone. A dead node's
// ValBlk lock granted PW or EX may have changed the value without writing
// it back, so the value becomes invalid (recover_lvb's rule 1). Locks
// having gone, the next grant pass ignores conversion order
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
// (qGranted, qConvert or qWait; l.gr, l.rq, l.flags, l.lvb, l.lvbSeq and
// l.lvbInvalid as the holder has them). The queues' old order is lost, so
// the next grant pass ignores conversion order.
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
// the resource's (rule 2: such a holder has the latest); else the value
// comes from the ValBlk lock with the highest sequence number and is
// marked invalid, since only NL/CR locks remain and a PW/EX holder may
// have died with a newer one (rule 2). An invalid flag already set is
// kept (rule 3), and so is the invalidity a holder last read (corral's:
// a PR holder that read ValNotValid must not make the value valid).
func (r *rsb) recoverLVB() {
	var big, high *lkb
	for _, q := range [][]*lkb{r.granted, r.converting} {
		for _, l := range q {
			if l.flags&ValBlk == 0 {
				continue
			}
			if l.gr > CR {
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
			return // no lock uses the value block
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
