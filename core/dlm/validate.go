package dlm

import "fmt"

// lockFlags are the flags a lock or conversion request may carry.
const lockFlags = NoQueue | Convert | ValBlk | QueCvt | IVValBlk | ConvDeadlk | Persistent |
	NoDlckWt | Expedite | NoQueueBast | Orphan | AltPR | AltCW

// unlockFlags are the flags an unlock may carry (Linux's set_unlock_args).
const unlockFlags = Cancel | ValBlk | IVValBlk | ForceUnlock

// validateLock checks a lock or conversion request's arguments before
// anything else (Linux's set_lock_args; `corral help dlm` section 3):
// errors wrap ErrInvalid. The QUECVT table needs the lock's granted mode:
// rsb.convert checks it.
func validateLock(r Request) error {
	f := r.Flags
	switch {
	case r.Mode < NL || r.Mode > EX:
		return fmt.Errorf("mode %d: %w", r.Mode, ErrInvalid)
	case len(r.Lockspace) > MaxName:
		return fmt.Errorf("lockspace name of %d bytes (at most %d): %w", len(r.Lockspace), MaxName, ErrInvalid)
	case f&Convert == 0 && len(r.Name) > MaxName:
		return fmt.Errorf("resource name of %d bytes (at most %d): %w", len(r.Name), MaxName, ErrInvalid)
	case f&Cancel != 0:
		return fmt.Errorf("CANCEL is an unlock flag: %w", ErrInvalid)
	case f&^lockFlags != 0:
		return fmt.Errorf("flags %#x not for a lock request: %w", uint32(f&^lockFlags), ErrInvalid)
	case f&QueCvt != 0 && f&Convert == 0:
		return fmt.Errorf("QUECVT without CONVERT: %w", ErrInvalid)
	case f&ConvDeadlk != 0 && f&Convert == 0:
		return fmt.Errorf("CONVDEADLK without CONVERT: %w", ErrInvalid)
	case f&ConvDeadlk != 0 && f&NoQueue != 0:
		return fmt.Errorf("CONVDEADLK with NOQUEUE: %w", ErrInvalid)
	case f&Expedite != 0 && f&(Convert|QueCvt|NoQueue) != 0:
		return fmt.Errorf("EXPEDITE with CONVERT, QUECVT or NOQUEUE: %w", ErrInvalid)
	case f&Expedite != 0 && r.Mode != NL:
		return fmt.Errorf("EXPEDITE on a request for %s (NL only): %w", r.Mode, ErrInvalid)
	case f&Orphan != 0 && f&Convert != 0:
		return fmt.Errorf("ORPHAN with CONVERT: %w", ErrInvalid)
	}
	return nil
}

// validateUnlock checks an unlock's flags (Linux's set_unlock_args):
// only CANCEL, VALBLK, IVVALBLK and FORCEUNLOCK, and not CANCEL with
// FORCEUNLOCK. Errors wrap ErrInvalid.
func validateUnlock(flags Flags) error {
	if flags&^unlockFlags != 0 {
		return fmt.Errorf("flags %#x not for an unlock: %w", uint32(flags&^unlockFlags), ErrInvalid)
	}
	if flags&Cancel != 0 && flags&ForceUnlock != 0 {
		return fmt.Errorf("CANCEL with FORCEUNLOCK: %w", ErrInvalid)
	}
	return nil
}

// validateLVB checks a value to write: with ValBlk, a value given (nil
// writes nothing, a read needs none) must be exactly the lockspace's
// length. Errors wrap ErrInvalid.
func validateLVB(flags Flags, lvb []byte, lvbLen int) error {
	if flags&ValBlk == 0 || lvb == nil || len(lvb) == lvbLen {
		return nil
	}
	return fmt.Errorf("value block of %d bytes (the lockspace's is %d): %w", len(lvb), lvbLen, ErrInvalid)
}
