package dlm

// This file is the per-resource semantics engine: one resource's master
// copy (its granted, converting and waiting queues and its value block)
// and the operations on it. It is pure: no messages, no clock (callers
// pass now), no randomness. The rules are Linux's fs/dlm/lock.c, which are
// VMS's (dlm-semantics.md sections 1.1-1.4); comments cite them.

import (
	"time"

	"github.com/corral-ha/corral/core/wire"
)

// lkey is a lock's global identity: the node that took it and its id there.
type lkey struct {
	Node wire.NodeID
	ID   LockID
}

// queue is the queue a lock is on at its master.
type queue uint8

// The queues.
const (
	qNone queue = iota
	qGranted
	qConvert
	qWait
)

// lkb is a lock as the master holds it (Linux's struct dlm_lkb).
type lkb struct {
	key      lkey
	owner    Owner
	gr, rq   Mode          // granted mode (IV if not granted yet), requested (IV when nothing pending)
	flags    Flags         // of the operation in flight, plus sticky Persistent / NoDlckWt
	q        queue         // the queue it is on
	highbast Mode          // lkb_highbast: the highest mode a blocking notice told it about (IV after a grant)
	since    time.Duration // when its current request/conversion started waiting (for the deadlock search)
	orphan   bool          // a Persistent lock whose owner is gone
	lvb      []byte        // recovery: the value this lock last read/wrote, as its holder reported it
	lvbSeq   uint64
}

// rsb is one resource's master copy (Linux's struct dlm_rsb).
type rsb struct {
	ls, name   string
	lvbLen     int
	granted    []*lkb
	converting []*lkb // the convert queue (the field cannot be called convert: that is the method)
	waiting    []*lkb // the wait queue
	lvb        []byte // nil until first written (reads give zeros)
	lvbSeq     uint64
	invalid    bool // RSB_VALNOTVALID
	// recoverGrant is RSB_RECOVER_GRANT: the next grantPending grants
	// queued conversions without regard to order (recovery lost it).
	recoverGrant bool
}

// effect is what an operation caused, in order: completions and blocking
// notices.
type effect struct {
	key    lkey
	owner  Owner
	bast   bool // a blocking notice (mode = the blocked request's mode) instead of a completion
	status Status
	mode   Mode // completion: the granted mode after; blocking notice: the mode asked for
	sb     SBFlags
	lvb    []byte // completion of a ValBlk op that reads: a copy of the value (zeros if never written)
	lvbSeq uint64
}

// newRSB returns an empty resource.
func newRSB(ls, name string, lvbLen int) *rsb {
	return &rsb{ls: ls, name: name, lvbLen: lvbLen}
}

// find returns the lock with key k on any queue, or nil.
func (r *rsb) find(k lkey) *lkb {
	for _, q := range [][]*lkb{r.granted, r.converting, r.waiting} {
		for _, l := range q {
			if l.key == k {
				return l
			}
		}
	}
	return nil
}

// empty reports whether the resource has no lock left.
func (r *rsb) empty() bool {
	return len(r.granted) == 0 && len(r.converting) == 0 && len(r.waiting) == 0
}

// request places a new lock (already validated).
func (r *rsb) request(now time.Duration, l *lkb, mode Mode, flags Flags, lvb []byte) []effect {
	l.gr, l.rq, l.flags = mode, IV, flags
	l.q = qGranted
	r.granted = append(r.granted, l)
	return []effect{{key: l.key, owner: l.owner, status: OK, mode: mode}}
}

// convert converts a granted lock.
func (r *rsb) convert(now time.Duration, k lkey, mode Mode, flags Flags, lvb []byte) ([]effect, error) {
	l := r.find(k)
	if l == nil {
		return nil, ErrNotFound
	}
	if l.q != qGranted {
		return nil, ErrBusy
	}
	l.gr = mode
	return []effect{{key: l.key, owner: l.owner, status: OK, mode: mode}}, nil
}

// unlock releases a lock.
func (r *rsb) unlock(k lkey, flags Flags, lvb []byte) ([]effect, error) {
	l := r.find(k)
	if l == nil {
		return nil, ErrNotFound
	}
	r.remove(l)
	return []effect{{key: l.key, owner: l.owner, status: EUNLOCK, mode: IV}}, nil
}

// cancel cancels a lock's pending request or conversion.
func (r *rsb) cancel(k lkey) ([]effect, error) {
	if r.find(k) == nil {
		return nil, ErrNotFound
	}
	return nil, nil
}

// adoptOrphan gives an orphan of the same mode to a new owner.
func (r *rsb) adoptOrphan(now time.Duration, l *lkb, mode Mode) (effect, error) {
	return effect{key: l.key, owner: l.owner, status: EAGAIN, mode: IV}, ErrNotFound
}

// purge drops the locks of dead nodes (recovery).
func (r *rsb) purge(dead func(wire.NodeID) bool) {}

// rebuild adds a lock as a survivor reported it (recovery).
func (r *rsb) rebuild(l *lkb) {}

// recoverLVB recovers the value block on a new master (recovery).
func (r *rsb) recoverLVB() {}

// grantPending grants what has become grantable.
func (r *rsb) grantPending(now time.Duration) []effect { return nil }

// remove takes l off its queue.
func (r *rsb) remove(l *lkb) {
	del := func(q []*lkb) []*lkb {
		for i, x := range q {
			if x == l {
				return append(q[:i:i], q[i+1:]...)
			}
		}
		return q
	}
	switch l.q {
	case qGranted:
		r.granted = del(r.granted)
	case qConvert:
		r.converting = del(r.converting)
	case qWait:
		r.waiting = del(r.waiting)
	}
	l.q = qNone
}
