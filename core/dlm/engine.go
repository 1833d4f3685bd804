package dlm

// This file is the per-resource semantics engine: one resource's master
// copy (its granted, converting and waiting queues and its value block)
// and the operations on it. It is pure: no messages, no clock (callers
// pass now), no randomness. The rules are Linux's fs/dlm/lock.c, which are
// VMS's (`corral help dlm` sections 1-4); comments cite them, "VMS 6-4"
// being section 6-4 of Davis, VAXcluster Principles, as lock.c cites it.
//
// The operations return effects: completions and blocking notices, in the
// order they happened. Every accepted operation gets exactly one
// completion, now or later (a queued request's comes when it is granted,
// cancelled or unlocked). A lock's completion comes before any later
// blocking notice of it, since both are appended in the order they happen.
//
// Where this engine differs from lock.c, on purpose:
//   - A blocking notice goes only to locks on the granted queue, also for
//     NOQUEUEBAST (lock.c's send_blocking_asts_all also tells converting
//     locks); the one exception is NODLCKWT's notice to the converting lock
//     itself, which this engine sends at issue as well as from
//     grantPending (lock.c only from grant_pending_convert, so nothing
//     would tell the holder until some other change on the resource).
//   - FORCEUNLOCK of a lock with a request or conversion pending first
//     completes that pending operation with ECANCEL, then the unlock with
//     EUNLOCK (lock.c sends only EUNLOCK): one completion per operation.
//   - A read of a value never written gives zeros (lock.c leaves the
//     caller's buffer untouched), and a resource left with no lock forgets
//     its value (scenario 34), as a freed rsb does.
//   - Granted locks are kept in arrival order (lock.c's lkb_add_ordered
//     means to sort them by mode; only the order of blocking notices
//     depends on it).
//   - HEADQUE and NOORDER are not offered (not in api.go).
//   - recoverLVB never lets a value be lost without a word: with no
//     rebuilt lock holding a value the new master's value is invalid
//     (recover_lvb leaves it unallocated: zeros read as valid), and a lock
//     above CR is trusted as the source only if its holder read or wrote
//     the value in a mode above CR and has held above CR since (lvbStale),
//     and did not read it invalid (lvbInvalid).

import (
	"slices"
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
	sb       SBFlags       // lkb_sbflags: what its pending operation's completion will carry (Demoted, AltMode, ValNotValid)
	// opLVB is the value the pending operation writes if its grant says
	// W (a queued PW->EX with ALTPR granted PR writes, as lock.c does from
	// lkb_lvbptr).
	opLVB []byte
	// Recovery: the value this lock last read or wrote (nil: none), its
	// sequence number, whether that read said ValNotValid, and whether
	// it may be stale (the lock has held CR or less since: others may
	// have written), as its holder reported them. The engine keeps its
	// own locks' up to date on grants the same way.
	lvb        []byte
	lvbSeq     uint64
	lvbInvalid bool
	lvbStale   bool
}

// stickyFlags survive from one operation of a lock to the next.
const stickyFlags = Persistent | NoDlckWt

// rsb is one resource's master copy (Linux's struct dlm_rsb).
type rsb struct {
	ls, name   string
	lvbLen     int
	granted    []*lkb // the granted queue
	converting []*lkb // the convert queue (the field cannot be called convert: that is the method)
	waiting    []*lkb // the wait queue
	lvb        []byte // nil until first written (reads give zeros)
	lvbSeq     uint64 // res_lvbseq: bumped by every write
	invalid    bool   // RSB_VALNOTVALID
	// recoverGrant is RSB_RECOVER_GRANT: the next grant pass grants queued
	// conversions without regard to their order (recovery lost it).
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
	// lvb is, in the completion of a ValBlk operation whose grant reads
	// the value (dlm_lvb_operations says R), a copy of it (zeros if never
	// written); nil otherwise. lvbSeq is the value's sequence number after
	// a read or a write.
	lvb    []byte
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

// request places a new lock l (validated already; l carries its key and
// owner) asking for mode: granted at once, queued, or refused with EAGAIN
// (NoQueue). Linux's do_request and do_request_effects.
func (r *rsb) request(now time.Duration, l *lkb, mode Mode, flags Flags, lvb []byte) []effect {
	l.gr, l.rq, l.q = IV, mode, qNone
	l.flags = flags | l.flags&stickyFlags
	l.sb, l.highbast = 0, IV
	l.opLVB = cloneLVB(lvb)
	if ok, _ := r.canBeGranted(l, true, false); ok {
		return []effect{r.grant(l)}
	}
	if flags&NoQueue == 0 {
		l.since = now
		r.add(l, qWait)
		return r.blockingNotices(l)
	}
	var effs []effect
	if flags&NoQueueBast != 0 {
		effs = r.blockingNotices(l)
	}
	l.rq = IV
	return append([]effect{r.cast(l, EAGAIN)}, effs...)
}

// convert converts the granted lock k to mode (validated already, but
// for the QUECVT table, which needs the granted mode). Linux's
// validate_lock_args (the part on the lock), do_convert and
// do_convert_effects.
func (r *rsb) convert(now time.Duration, k lkey, mode Mode, flags Flags, lvb []byte) ([]effect, error) {
	l := r.find(k)
	if l == nil {
		return nil, ErrNotFound
	}
	if flags&QueCvt != 0 && !quecvtAllowed(l.gr, mode) {
		return nil, ErrInvalid
	}
	if l.q != qGranted || l.rq != IV {
		return nil, ErrBusy
	}
	l.rq = mode
	l.flags = flags | l.flags&stickyFlags
	l.sb = 0
	l.opLVB = cloneLVB(lvb)

	ok, deadlk := r.canBeGranted(l, true, false)
	if ok {
		effs := []effect{r.grant(l)}
		// Changing a granted lock may let others be granted.
		return append(effs, r.grantPendingLocks()...), nil
	}
	// Conversion deadlock at issue, default resolution: the conversion
	// fails with EDEADLK and the lock stays granted in its old mode.
	if deadlk && l.flags&NoDlckWt == 0 {
		l.rq = IV
		return []effect{r.cast(l, EDEADLK)}, nil
	}
	var effs []effect
	// CONVDEADLK demoted the lock to NL: others may now be grantable, and
	// so may this one; the others go first.
	if l.sb&Demoted != 0 {
		effs, _, _ = r.grantPendingConvert(IV, false)
		if r.canBeGrantedRaw(l, true, false) {
			effs = append(effs, r.grant(l))
			return append(effs, r.grantPendingLocks()...), nil
		}
	}
	if flags&NoQueue == 0 {
		l.since = now
		r.move(l, qConvert)
		effs = append(effs, r.blockingNotices(l)...)
		if deadlk { // NODLCKWT: tell the holder its own granted mode blocks
			effs = append(effs, r.selfNotice(l)...)
		}
		return effs, nil
	}
	if flags&NoQueueBast != 0 {
		effs = append(effs, r.blockingNotices(l)...)
	}
	l.rq = IV
	return append([]effect{r.cast(l, EAGAIN)}, effs...), nil
}

// unlock releases lock k (EUNLOCK). Without ForceUnlock the lock must be
// granted with nothing pending (else ErrBusy); with it, a pending request
// or conversion is first completed with ECANCEL. With Cancel it is
// cancel. A PW or EX lock writes the value (ValBlk, with lvb) or
// invalidates it (IVValBlk) as it goes. Linux's do_unlock and
// do_unlock_effects.
func (r *rsb) unlock(k lkey, flags Flags, lvb []byte) ([]effect, error) {
	if flags&Cancel != 0 {
		return r.cancel(k)
	}
	l := r.find(k)
	if l == nil {
		return nil, ErrNotFound
	}
	pending := l.q != qGranted || l.rq != IV
	if pending && flags&ForceUnlock == 0 {
		return nil, ErrBusy
	}
	var effs []effect
	if pending {
		effs = append(effs, r.revert(l, ECANCEL))
		l.sb = 0
		if l.q == qNone { // it was a new request: the lock is gone
			effs = append(effs, r.cast(l, EUNLOCK))
			effs = append(effs, r.grantPendingLocks()...)
			r.forgetIfEmpty()
			return effs, nil
		}
	}
	l.sb = 0 // the unlock's own completion (validate_unlock_args)
	r.setLVBUnlock(l, flags, lvb)
	r.remove(l)
	l.gr, l.rq = IV, IV
	effs = append(effs, r.cast(l, EUNLOCK))
	effs = append(effs, r.grantPendingLocks()...)
	r.forgetIfEmpty()
	return effs, nil
}

// cancel cancels lock k's pending request (the lock goes) or conversion
// (the lock goes back to its granted mode) with ECANCEL. Nothing pending:
// (nil, nil), no completion. Linux's do_cancel and do_cancel_effects.
func (r *rsb) cancel(k lkey) ([]effect, error) {
	return r.cancelWith(k, ECANCEL)
}

// deadlockVictim cancels lock k's pending request or conversion as the
// cluster-wide deadlock search's victim: like cancel, with EDEADLK (Linux's
// DLM_IFL_DEADLOCK_CANCEL).
func (r *rsb) deadlockVictim(k lkey) ([]effect, error) {
	return r.cancelWith(k, EDEADLK)
}

func (r *rsb) cancelWith(k lkey, status Status) ([]effect, error) {
	l := r.find(k)
	if l == nil {
		return nil, ErrNotFound
	}
	if l.q == qGranted && l.rq == IV {
		return nil, nil // nothing to cancel
	}
	effs := []effect{r.revert(l, status)}
	effs = append(effs, r.grantPendingLocks()...)
	r.forgetIfEmpty()
	return effs, nil
}

// revert undoes l's pending operation and returns its completion with
// status: a waiting request leaves the resource, a queued conversion goes
// back to the granted queue in its granted mode. Linux's revert_lock.
func (r *rsb) revert(l *lkb, status Status) effect {
	l.rq = IV
	switch l.q {
	case qConvert:
		r.move(l, qGranted)
	case qWait:
		r.remove(l)
		l.gr = IV
	}
	return r.cast(l, status)
}

// adoptOrphan gives an orphan of this resource granted in mode to the new
// lock l (its key and owner): the orphan takes l's key and owner and keeps
// its place and granted mode (the ORPHAN flag, kernel commit "dlm: adopt
// orphan locks"). An orphan only in other modes: a completion with EAGAIN;
// no orphan at all: ErrNotFound.
func (r *rsb) adoptOrphan(now time.Duration, l *lkb, mode Mode) (effect, error) {
	other := false
	for _, q := range [][]*lkb{r.granted, r.converting} {
		for _, o := range q {
			if !o.orphan {
				continue
			}
			if o.gr != mode {
				other = true
				continue
			}
			o.key, o.owner, o.orphan = l.key, l.owner, false
			return effect{key: o.key, owner: o.owner, status: OK, mode: o.gr}, nil
		}
	}
	if other {
		return effect{key: l.key, owner: l.owner, status: EAGAIN, mode: IV}, nil
	}
	return effect{}, ErrNotFound
}

// grantPending grants what has become grantable and sends the blocking
// notices still due; after recovery (recoverGrant) it grants queued
// conversions without regard to their order, once.
func (r *rsb) grantPending(now time.Duration) []effect {
	if r.recoverGrant {
		r.recoverConversion()
	}
	return r.grantPendingLocks()
}

// cast is lock l's completion with status, its mode as it is now.
func (r *rsb) cast(l *lkb, status Status) effect {
	return effect{key: l.key, owner: l.owner, status: status, mode: l.gr, sb: l.sb}
}

// grant grants l its requested mode, moving it to the granted queue, and
// returns its completion (a write takes the operation's value, l.opLVB).
// Linux's grant_lock.
func (r *rsb) grant(l *lkb) effect {
	val, seq := r.setLVBLock(l, l.opLVB)
	l.opLVB = nil
	l.gr, l.rq = l.rq, IV
	if l.gr <= CR {
		l.lvbStale = true // others may write while it holds NL or CR
	}
	l.highbast = IV
	if l.q != qGranted {
		r.move(l, qGranted)
	}
	e := r.cast(l, OK)
	e.lvb, e.lvbSeq = val, seq
	return e
}

// add appends l to queue q.
func (r *rsb) add(l *lkb, q queue) {
	switch q {
	case qGranted:
		r.granted = append(r.granted, l)
	case qConvert:
		r.converting = append(r.converting, l)
	case qWait:
		r.waiting = append(r.waiting, l)
	}
	l.q = q
}

// move takes l off its queue and appends it to q.
func (r *rsb) move(l *lkb, q queue) {
	r.remove(l)
	r.add(l, q)
}

// remove takes l off its queue.
func (r *rsb) remove(l *lkb) {
	del := func(q []*lkb) []*lkb {
		if i := slices.Index(q, l); i >= 0 {
			return slices.Delete(q, i, i+1)
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

// forgetIfEmpty frees the value block of a resource left with no lock
// (an NL lock keeps it alive; when the last lock goes, [L] toss_rsb frees
// it): the next requester reads zeros (scenario 34).
func (r *rsb) forgetIfEmpty() {
	if r.empty() {
		r.lvb, r.lvbSeq, r.invalid = nil, 0, false
	}
}

// cloneLVB copies a value block (nil stays nil: nothing to write).
func cloneLVB(v []byte) []byte {
	if v == nil {
		return nil
	}
	return append([]byte{}, v...)
}
