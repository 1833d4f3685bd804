package dlm

import (
	"fmt"
	"strings"
)

var modeNames = [...]string{"NL", "CR", "CW", "PR", "PW", "EX"}

// String returns the mode's name (NL..EX, IV).
func (m Mode) String() string {
	if m >= NL && m <= EX {
		return modeNames[m]
	}
	if m == IV {
		return "IV"
	}
	return fmt.Sprintf("Mode(%d)", int8(m))
}

var flagNames = []struct {
	f    Flags
	name string
}{
	{NoQueue, "NOQUEUE"}, {Cancel, "CANCEL"}, {Convert, "CONVERT"}, {ValBlk, "VALBLK"},
	{QueCvt, "QUECVT"}, {IVValBlk, "IVVALBLK"}, {ConvDeadlk, "CONVDEADLK"},
	{Persistent, "PERSISTENT"}, {NoDlckWt, "NODLCKWT"}, {Expedite, "EXPEDITE"},
	{NoQueueBast, "NOQUEUEBAST"}, {Orphan, "ORPHAN"}, {AltPR, "ALTPR"}, {AltCW, "ALTCW"},
	{ForceUnlock, "FORCEUNLOCK"},
}

// String returns the flags' names joined by "|" (Linux's names).
func (f Flags) String() string {
	var parts []string
	for _, n := range flagNames {
		if f&n.f != 0 {
			parts = append(parts, n.name)
			f &^= n.f
		}
	}
	if f != 0 {
		parts = append(parts, fmt.Sprintf("%#x", uint32(f)))
	}
	if len(parts) == 0 {
		return "0"
	}
	return strings.Join(parts, "|")
}

// String returns the status's name (Linux's).
func (s Status) String() string {
	switch s {
	case OK:
		return "OK"
	case EAGAIN:
		return "EAGAIN"
	case EDEADLK:
		return "EDEADLK"
	case ECANCEL:
		return "ECANCEL"
	case EUNLOCK:
		return "EUNLOCK"
	case Lost:
		return "LOST"
	}
	return fmt.Sprintf("Status(%#x)", int32(s))
}

// String returns the status-block flags' names joined by "|".
func (s SBFlags) String() string {
	var parts []string
	for _, n := range []struct {
		f    SBFlags
		name string
	}{{Demoted, "DEMOTED"}, {ValNotValid, "VALNOTVALID"}, {AltMode, "ALTMODE"}} {
		if s&n.f != 0 {
			parts = append(parts, n.name)
			s &^= n.f
		}
	}
	if s != 0 {
		parts = append(parts, fmt.Sprintf("%#x", uint8(s)))
	}
	if len(parts) == 0 {
		return "0"
	}
	return strings.Join(parts, "|")
}
