// Package locknames gives the lock manager's modes, flags, statuses and
// status-block flags the names its text surfaces use (the admin API's
// lock session and table, the shell, the Lua module lock): modes NL .. EX
// (IV: none), lower-case flag names, Linux's status names.
package locknames

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/corral-ha/corral/core/dlm"
)

// Statuses beside Status's: a request cancelled by its timeout, a lock
// lost; and the names of a refused request's errors.
const (
	TimedOut    = "ETIMEDOUT"
	Lost        = "lost"
	ErrInvalid  = "EINVAL"
	ErrBusy     = "EBUSY"
	ErrNotFound = "ENOENT"
	ErrStopped  = "ESTOPPED"
)

// ErrName names a refused request's error (dlm.ErrInvalid: EINVAL ...).
func ErrName(err error) string {
	switch {
	case errors.Is(err, dlm.ErrInvalid):
		return ErrInvalid
	case errors.Is(err, dlm.ErrBusy):
		return ErrBusy
	case errors.Is(err, dlm.ErrNotFound):
		return ErrNotFound
	}
	return ErrStopped
}

// Mode is a mode's name (NL .. EX, IV).
func Mode(m dlm.Mode) string {
	switch m {
	case dlm.NL:
		return "NL"
	case dlm.CR:
		return "CR"
	case dlm.CW:
		return "CW"
	case dlm.PR:
		return "PR"
	case dlm.PW:
		return "PW"
	case dlm.EX:
		return "EX"
	case dlm.IV:
		return "IV"
	}
	return fmt.Sprintf("mode(%d)", int(m))
}

// ParseMode reads a mode's name, in any case.
func ParseMode(s string) (dlm.Mode, error) {
	for m := dlm.NL; m <= dlm.EX; m++ {
		if strings.EqualFold(s, Mode(m)) {
			return m, nil
		}
	}
	return dlm.IV, fmt.Errorf("%w: mode %q: use NL, CR, CW, PR, PW or EX", dlm.ErrInvalid, s)
}

// lockFlags names the flags a client may give, in a fixed order.
var lockFlags = []struct {
	name string
	f    dlm.Flags
}{
	{"noqueue", dlm.NoQueue}, {"cancel", dlm.Cancel}, {"convert", dlm.Convert}, {"valblk", dlm.ValBlk},
	{"quecvt", dlm.QueCvt}, {"ivvalblk", dlm.IVValBlk}, {"convdeadlk", dlm.ConvDeadlk},
	{"persistent", dlm.Persistent}, {"nodlckwt", dlm.NoDlckWt}, {"expedite", dlm.Expedite},
	{"noqueuebast", dlm.NoQueueBast}, {"orphan", dlm.Orphan}, {"altpr", dlm.AltPR}, {"altcw", dlm.AltCW},
	{"forceunlock", dlm.ForceUnlock},
}

// FlagList lists the flag names ParseFlags reads.
func FlagList() []string {
	out := make([]string, len(lockFlags))
	for i, f := range lockFlags {
		out[i] = f.name
	}
	return out
}

// ParseFlags reads flag names (any case; "NOQUEUE" and "noqueue" are one).
func ParseFlags(names []string) (dlm.Flags, error) {
	var out dlm.Flags
next:
	for _, n := range names {
		for _, f := range lockFlags {
			if strings.EqualFold(n, f.name) {
				out |= f.f
				continue next
			}
		}
		return 0, fmt.Errorf("%w: flag %q: the flags are %s", dlm.ErrInvalid, n, strings.Join(FlagList(), ", "))
	}
	return out, nil
}

// Flags names a request's flags.
func Flags(fl dlm.Flags) []string {
	var out []string
	for _, f := range lockFlags {
		if fl&f.f != 0 {
			out = append(out, f.name)
			fl &^= f.f
		}
	}
	if fl != 0 {
		out = append(out, "0x"+strconv.FormatUint(uint64(fl), 16))
	}
	return out
}

// Status is a completion status's name: ok, EAGAIN, EDEADLK, ECANCEL,
// EUNLOCK, lost.
func Status(s dlm.Status) string {
	switch s {
	case dlm.OK:
		return "ok"
	case dlm.EAGAIN:
		return "EAGAIN"
	case dlm.EDEADLK:
		return "EDEADLK"
	case dlm.ECANCEL:
		return "ECANCEL"
	case dlm.EUNLOCK:
		return "EUNLOCK"
	case dlm.Lost:
		return Lost
	}
	return fmt.Sprintf("status(%d)", int32(s))
}

// SB names a completion's status-block flags.
func SB(sb dlm.SBFlags) []string {
	var out []string
	if sb&dlm.Demoted != 0 {
		out = append(out, "demoted")
	}
	if sb&dlm.ValNotValid != 0 {
		out = append(out, "valnotvalid")
	}
	if sb&dlm.AltMode != 0 {
		out = append(out, "altmode")
	}
	return out
}

// ParseStatus reads a completion status's name (Status's), false when it
// is not one.
func ParseStatus(name string) (dlm.Status, bool) {
	for _, s := range []dlm.Status{dlm.OK, dlm.EAGAIN, dlm.EDEADLK, dlm.ECANCEL, dlm.EUNLOCK, dlm.Lost} {
		if Status(s) == name {
			return s, true
		}
	}
	return 0, false
}

// ParseSB reads status-block flag names (SB's).
func ParseSB(names []string) dlm.SBFlags {
	var out dlm.SBFlags
	for _, n := range names {
		switch n {
		case "demoted":
			out |= dlm.Demoted
		case "valnotvalid":
			out |= dlm.ValNotValid
		case "altmode":
			out |= dlm.AltMode
		}
	}
	return out
}

// Err is the error a refused request's status name stands for.
func Err(status, msg string) error {
	switch status {
	case ErrInvalid:
		return fmt.Errorf("%w: %s", dlm.ErrInvalid, msg)
	case ErrBusy:
		return fmt.Errorf("%w: %s", dlm.ErrBusy, msg)
	case ErrNotFound:
		return fmt.Errorf("%w: %s", dlm.ErrNotFound, msg)
	}
	return fmt.Errorf("%w: %s", dlm.ErrStopped, msg)
}
