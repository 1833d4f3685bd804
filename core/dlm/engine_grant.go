package dlm

// The grant rules: the compatibility matrix, when a request can be
// granted, conversion deadlock at issue, the grant pass after a release,
// and blocking notices. Linux's fs/dlm/lock.c, which cites chapter 6 of
// Davis, VAXcluster Principles ("VMS 6-n" below).

// compatMatrix is __dlm_compat_matrix without its UN and PD padding:
// compatMatrix[held][wanted] (symmetric; `corral help dlm` section 1).
var compatMatrix = [6][6]bool{
	//        NL    CR     CW     PR     PW     EX
	NL: {true, true, true, true, true, true},
	CR: {true, true, true, true, true, false},
	CW: {true, true, true, false, false, false},
	PR: {true, true, false, true, false, false},
	PW: {true, true, false, false, false, false},
	EX: {true, false, false, false, false, false},
}

// compatible reports whether a lock granted held lets another be granted
// wanted. IV (no mode) is compatible with everything (the matrix's UN).
func compatible(held, wanted Mode) bool {
	if held == IV || wanted == IV {
		return true
	}
	return compatMatrix[held][wanted]
}

// quecvtMatrix is __quecvt_compat_matrix: the conversions QUECVT may ask
// for (up-conversions only), quecvtMatrix[granted][requested].
var quecvtMatrix = [6][6]bool{
	//        NL     CR     CW     PR     PW     EX
	NL: {false, true, true, true, true, true},
	CR: {false, false, true, true, true, true},
	CW: {false, false, false, true, true, true},
	PR: {false, false, true, false, true, true},
	PW: {false, false, false, false, false, true},
	EX: {false, false, false, false, false, false},
}

// quecvtAllowed reports whether a lock granted gr may convert to rq with
// QUECVT (a lock not granted may not).
func quecvtAllowed(gr, rq Mode) bool {
	if gr < NL || gr > EX || rq < NL || rq > EX {
		return false
	}
	return quecvtMatrix[gr][rq]
}

// queueConflict reports whether l's requested mode conflicts with the
// granted mode of a lock on q other than l.
func queueConflict(q []*lkb, l *lkb) bool {
	for _, x := range q {
		if x != l && !compatible(x.gr, l.rq) {
			return true
		}
	}
	return false
}

// first reports whether l heads q.
func first(q []*lkb, l *lkb) bool { return len(q) > 0 && q[0] == l }

// canBeGrantedRaw is Linux's _can_be_granted: whether l's requested mode
// can be granted now. atIssue is lock.c's "now": the request or conversion
// is being issued (not already queued); recover is the pass after
// recovery (RSB_RECOVER_GRANT).
func (r *rsb) canBeGrantedRaw(l *lkb, atIssue, recover bool) bool {
	conv := l.gr != IV

	// VMS 6-10/6-11: EXPEDITE (a new NL request only; validation sees to
	// that) is granted at once, whatever the queues hold.
	if l.flags&Expedite != 0 {
		return true
	}
	// VMS 6-3/6-4: compatible with the granted mode of every lock on the
	// granted and convert queues, else no rule below can grant it.
	if queueConflict(r.granted, l) || queueConflict(r.converting, l) {
		return false
	}
	// After recovery the convert queue's order was lost when the locks
	// were rebuilt: conversions are granted without regard to it.
	if conv && recover {
		return true
	}
	// VMS 6-3: a new conversion without QUECVT is granted in place if
	// compatible; it jumps both queues.
	if atIssue && conv && l.flags&QueCvt == 0 {
		return true
	}
	// VMS 6-7: with QUECVT it is granted only if no conversion is queued;
	// otherwise it queues behind them, first come first served.
	if atIssue && conv && l.flags&QueCvt != 0 {
		return len(r.converting) == 0
	}
	// VMS 6-3: a queued conversion is granted only at the head of the
	// convert queue.
	if !atIssue && conv && first(r.converting, l) {
		return true
	}
	// VMS 6-4: a new request is granted at once only if no conversion and
	// no request is queued.
	if atIssue && !conv && len(r.converting) == 0 && len(r.waiting) == 0 {
		return true
	}
	// VMS 6-4: a queued request is granted only when no conversion is
	// queued and it heads the wait queue.
	return !atIssue && !conv && len(r.converting) == 0 && first(r.waiting, l)
}

// canBeGranted is Linux's can_be_granted: canBeGrantedRaw, then, when it
// says no, conversion deadlock detection (a queueable conversion whose
// granted mode blocks an earlier queued conversion: deadlk, or with
// CONVDEADLK the lock is demoted to NL and Demoted set) and the
// alternative modes ALTPR/ALTCW (AltMode set when one is granted).
func (r *rsb) canBeGranted(l *lkb, atIssue, recover bool) (ok, deadlk bool) {
	if r.canBeGrantedRaw(l, atIssue, recover) {
		return true, false
	}
	conv := l.gr != IV
	if conv && l.flags&NoQueue == 0 && r.conversionDeadlock(l) {
		if l.flags&ConvDeadlk != 0 {
			l.gr = NL
			l.sb |= Demoted
			l.lvbStale = true
			return false, false
		}
		return false, true
	}
	rq, alt := l.rq, IV
	if rq != PR && l.flags&AltPR != 0 {
		alt = PR
	} else if rq != CW && l.flags&AltCW != 0 {
		alt = CW
	}
	if alt != IV {
		l.rq = alt
		if r.canBeGrantedRaw(l, atIssue, false) {
			l.sb |= AltMode
			return true, false
		}
		l.rq = rq
	}
	return false, false
}

// conversionDeadlock is Linux's conversion_deadlock_detect: l2's granted
// mode blocks a conversion queued ahead of it (or, for one behind it, the
// two block each other). "A conversion deadlock arises with a pair of lock
// requests in the converting queue for one resource. The granted mode of
// each lock blocks the requested mode of the other lock."
func (r *rsb) conversionDeadlock(l2 *lkb) bool {
	ahead := false // l2 is already on the convert queue, ahead of the rest
	for _, l1 := range r.converting {
		if l1 == l2 {
			ahead = true
			continue
		}
		if !ahead {
			if !compatible(l2.gr, l1.rq) {
				return true
			}
		} else if !compatible(l2.gr, l1.rq) && !compatible(l1.gr, l2.rq) {
			return true
		}
	}
	return false
}

// grantPendingLocks is Linux's grant_pending_locks: grant what the convert
// queue, then the wait queue, can now have (conversions always before new
// requests), then send blocking notices to the granted locks that block
// what is still queued (by the highest mode queued).
func (r *rsb) grantPendingLocks() []effect {
	effs, high, cw := r.grantPendingConvert(IV, false)
	more, high, cw := r.grantPendingWait(high, cw)
	effs = append(effs, more...)
	r.recoverGrant = false
	if high == IV {
		return effs
	}
	for _, g := range r.granted {
		if !lockRequiresBast(g, high, cw) {
			continue
		}
		mode := high
		if cw && high == PR && g.gr == PR {
			mode = CW // PR holders are told about a blocked CW
		}
		effs = append(effs, notice(g, mode))
		g.highbast = high
	}
	return effs
}

// grantPendingConvert is Linux's grant_pending_convert: walk the convert
// queue granting what can be, restarting after every grant (a grant can
// unblock one ahead of it), and once more after a CONVDEADLK demotion. It
// returns the grants' completions, the highest mode still blocked (at
// least high) and whether a blocked one asks for CW.
func (r *rsb) grantPendingConvert(high Mode, cw bool) ([]effect, Mode, bool) {
	var effs []effect
	recover := r.recoverGrant
	quit := false
	for {
		grantRestart, demoteRestart := false, false
		hi := IV
		for _, l := range append([]*lkb(nil), r.converting...) {
			if l.q != qConvert {
				continue
			}
			demoted := l.sb&Demoted != 0
			ok, deadlk := r.canBeGranted(l, false, recover)
			if ok {
				effs = append(effs, r.grant(l))
				grantRestart = true
				continue
			}
			if !demoted && l.sb&Demoted != 0 {
				demoteRestart = true
				continue
			}
			if deadlk {
				// NODLCKWT: the lock is told that its own granted
				// mode blocks; it should down-convert or cancel.
				// (Without it the conversion was refused at issue;
				// lock.c only logs a warning here.)
				if l.flags&NoDlckWt != 0 {
					effs = append(effs, r.selfNotice(l)...)
				}
				continue
			}
			hi = max(hi, l.rq)
			if l.rq == CW {
				cw = true
			}
		}
		if grantRestart {
			continue
		}
		if demoteRestart && !quit {
			quit = true
			continue
		}
		return effs, max(high, hi), cw
	}
}

// grantPendingWait is Linux's grant_pending_wait: grant the wait queue's
// requests in order while they can be.
func (r *rsb) grantPendingWait(high Mode, cw bool) ([]effect, Mode, bool) {
	var effs []effect
	for _, l := range append([]*lkb(nil), r.waiting...) {
		if ok, _ := r.canBeGranted(l, false, false); ok {
			effs = append(effs, r.grant(l))
			continue
		}
		high = max(high, l.rq)
		if l.rq == CW {
			cw = true
		}
	}
	return effs, high, cw
}

// lockRequiresBast is Linux's lock_requires_bast: whether granted lock g
// must be told about the queued requests whose highest mode is high (cw:
// one of them asks for CW).
func lockRequiresBast(g *lkb, high Mode, cw bool) bool {
	if g.gr == PR && cw {
		return g.highbast < EX
	}
	return g.highbast < high && !compatible(g.gr, high)
}

// modesRequireBast is Linux's modes_require_bast: whether granted lock g
// must be told about l's request. PR and CW are incompatible although
// CW < PR, so that pair is told unless EX was already; otherwise highbast
// stops repeats for modes not above one already told.
func modesRequireBast(g, l *lkb) bool {
	if (g.gr == PR && l.rq == CW) || (g.gr == CW && l.rq == PR) {
		return g.highbast < EX
	}
	return g.highbast < l.rq && !compatible(g.gr, l.rq)
}

// blockingNotices is Linux's send_blocking_asts: tell every granted lock
// that blocks l's request (not converting ones: they are not told, VMS).
func (r *rsb) blockingNotices(l *lkb) []effect {
	var effs []effect
	for _, g := range r.granted {
		if g == l || !modesRequireBast(g, l) {
			continue
		}
		effs = append(effs, notice(g, l.rq))
		g.highbast = l.rq
	}
	return effs
}

// selfNotice tells a NODLCKWT conversion caught in a conversion deadlock
// that its own granted mode blocks its request, once per mode.
func (r *rsb) selfNotice(l *lkb) []effect {
	if l.highbast >= l.rq {
		return nil
	}
	l.highbast = l.rq
	return []effect{notice(l, l.rq)}
}

// notice is a blocking notice to l: a request for mode is blocked.
func notice(l *lkb, mode Mode) effect {
	return effect{key: l.key, owner: l.owner, bast: true, mode: mode}
}
