package dlm

// Lock value blocks (`corral help dlm` section 4; Linux's set_lvb_lock,
// set_lvb_unlock and dlm_lvb_operations in fs/dlm/lock.c).

// lvbOp is what a grant does with the value block.
type lvbOp int8

// The value block operations.
const (
	lvbNone  lvbOp = iota // nothing
	lvbRead               // resource -> caller
	lvbWrite              // caller -> resource
)

// lvbTable is dlm_lvb_operations: lvbTable[from+1][to], from the granted
// mode (IV for a new lock) to the requested one. A PW or EX holder writes
// on the way down (or to EX from EX), except PW -> EX, which reads.
var lvbTable = [7][6]lvbOp{
	//            NL        CR        CW        PR        PW        EX
	IV + 1: {lvbRead, lvbRead, lvbRead, lvbRead, lvbRead, lvbRead},
	NL + 1: {lvbRead, lvbRead, lvbRead, lvbRead, lvbRead, lvbRead},
	CR + 1: {lvbNone, lvbRead, lvbRead, lvbRead, lvbRead, lvbRead},
	CW + 1: {lvbNone, lvbNone, lvbRead, lvbRead, lvbRead, lvbRead},
	PR + 1: {lvbNone, lvbNone, lvbNone, lvbRead, lvbRead, lvbRead},
	PW + 1: {lvbWrite, lvbWrite, lvbWrite, lvbWrite, lvbWrite, lvbRead},
	EX + 1: {lvbWrite, lvbWrite, lvbWrite, lvbWrite, lvbWrite, lvbWrite},
}

// lvbOpFor returns what granting rq to a lock granted gr does with the value.
func lvbOpFor(gr, rq Mode) lvbOp {
	if gr < IV || gr > EX || rq < NL || rq > EX {
		return lvbNone
	}
	return lvbTable[gr+1][rq]
}

// setLVBLock applies the value block table as l is granted l.rq (l.gr
// still its old mode), Linux's set_lvb_lock. A read (with ValBlk) returns
// a copy of the value, zeros if never written; a write (with ValBlk and a
// value) stores lvb, bumps the sequence number and makes the value valid;
// with IVValBlk the write invalidates the value instead. A ValBlk grant
// that leaves the value invalid sets ValNotValid. It returns the value
// read (nil unless read) and the sequence number after.
func (r *rsb) setLVBLock(l *lkb, lvb []byte) ([]byte, uint64) {
	var val []byte
	switch lvbOpFor(l.gr, l.rq) {
	case lvbRead:
		if l.flags&ValBlk == 0 {
			return nil, 0
		}
		val = r.value()
		l.lvb, l.lvbSeq, l.lvbInvalid, l.lvbStale = val, r.lvbSeq, r.invalid, false
		val = append([]byte(nil), val...)
	case lvbWrite:
		if l.flags&IVValBlk != 0 {
			r.invalid = true
			return nil, 0
		}
		if l.flags&ValBlk == 0 || lvb == nil {
			return nil, 0
		}
		r.write(lvb)
		l.lvb, l.lvbSeq, l.lvbInvalid, l.lvbStale = r.value(), r.lvbSeq, false, false
	case lvbNone:
		if l.flags&ValBlk == 0 {
			return nil, 0
		}
	}
	if r.invalid {
		l.sb |= ValNotValid
	}
	return val, r.lvbSeq
}

// setLVBUnlock is Linux's set_lvb_unlock: a PW or EX lock going away
// writes its value (ValBlk and a value) or, with IVValBlk, invalidates
// the resource's. As in Linux the flags are the unlock's together with the
// lock's last operation's (lkb_exflags |= the unlock's flags).
func (r *rsb) setLVBUnlock(l *lkb, flags Flags, lvb []byte) {
	if l.gr < PW {
		return
	}
	flags |= l.flags
	if flags&IVValBlk != 0 {
		r.invalid = true
		return
	}
	if flags&ValBlk == 0 || lvb == nil {
		return
	}
	r.write(lvb)
}

// value returns a copy of the resource's value block, zeros if it was
// never written.
func (r *rsb) value() []byte {
	v := make([]byte, r.lvbLen)
	copy(v, r.lvb)
	return v
}

// write stores v as the resource's value block (cut or padded with zeros
// to the lockspace's length; validateLVB refuses other lengths before
// they get here), bumps its sequence number and makes it valid.
func (r *rsb) write(v []byte) {
	r.lvb = make([]byte, r.lvbLen)
	copy(r.lvb, v)
	r.lvbSeq++
	r.invalid = false
}
