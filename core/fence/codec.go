package fence

import (
	"errors"
	"maps"
	"slices"

	"github.com/corral-ha/corral/core/wire"
)

// Encoding versions. Version 2 adds the sender's boot id to messages
// (FromBoot) and the issuer of an op (By, ByBoot) to snapshots; version 1
// still decodes (the issuer unknown). Snapshot version 3 adds the view of
// a clean leave and each node's newest primary view as a member; 1 and 2
// still decode (views unknown: zero).
const (
	msgVersion  = 2
	snapVersion = 3
	maxCount    = 1 << 20
)

// ErrCorrupt is returned for an encoding that does not decode.
var ErrCorrupt = errors.New("fence: corrupt or unsupported encoding")

// ErrCannotFence is returned for a request that cannot be carried out
// (no primary view, no device reaches the target, no other member to
// carry out the fence of the only member); the error says why.
var ErrCannotFence = errors.New("the fence cannot be carried out")

// Message kinds. They travel on the wire: append only.
const (
	kindReport   uint8 = iota + 1 // a member's knowledge at a primary install
	kindBegin                     // coordinator: an operation starts
	kindAttempt                   // coordinator: a device call (run by Runner)
	kindDone                      // runner: the call's result
	kindAbandon                   // coordinator: a call whose runner cannot answer
	kindWatchdog                  // coordinator: the watchdog wait passed
	kindFail                      // coordinator: an operation cannot proceed
	kindRequest                   // anyone: a manual fence request
	kindConfirm                   // anyone: a manual confirmation
	numKinds
)

// Message is one fence payload. Which fields are used depends on Kind.
type Message struct {
	Kind     uint8
	From     string
	FromBoot uint64 // From's boot id (version 2; 0 in version 1)
	// Issued is the view a coordinator command (Begin, Attempt, Abandon,
	// Watchdog, Fail) was issued in: delivered in another view it is void.
	Issued wire.ViewID
	ID     ID     // the op (Begin, Watchdog, Fail) or call (Attempt, Done, Abandon)
	Op     ID     // Attempt: its op
	Req    string // Request: its key; Begin: the request it serves ("": a departure)
	Target string
	Boot   uint64 // Report: From's boot; Begin, Confirm: the target's; Attempt: the runner's
	Reason string // Begin, Request; Fail, Abandon, Done: the error
	OK     bool   // Done

	Round, Level, Dev, LevelSize int // Attempt
	Device                       string

	// Report
	Running []ID       // calls From is running now
	Clean   []nodeBoot // nodes From saw leave cleanly, at that boot
	State   []byte     // From's state (snapshot encoding)
}

type nodeBoot struct {
	Node string
	Boot uint64
}

func putID(w *wire.Writer, id ID) {
	w.ViewID(id.View)
	w.Uvarint(uint64(id.N))
}

func getID(r *wire.Reader) ID {
	return ID{View: r.ViewID(), N: r.Uvarint32()}
}

func small(r *wire.Reader) int {
	n := r.Uvarint()
	if n > 1<<16 {
		r.Fail()
		return 0
	}
	return int(n)
}

// Encode is m's payload.
func Encode(m Message) []byte {
	var w wire.Writer
	w.Uint8(msgVersion)
	w.Uint8(m.Kind)
	w.String(m.From)
	w.Uvarint(m.FromBoot)
	w.ViewID(m.Issued)
	putID(&w, m.ID)
	putID(&w, m.Op)
	w.String(m.Req)
	w.String(m.Target)
	w.Uvarint(m.Boot)
	w.String(m.Reason)
	if m.OK {
		w.Uint8(1)
	} else {
		w.Uint8(0)
	}
	for _, v := range []int{m.Round, m.Level, m.Dev, m.LevelSize} {
		w.Uvarint(uint64(v))
	}
	w.String(m.Device)
	w.Uvarint(uint64(len(m.Running)))
	for _, id := range m.Running {
		putID(&w, id)
	}
	w.Uvarint(uint64(len(m.Clean)))
	for _, c := range m.Clean {
		w.String(c.Node)
		w.Uvarint(c.Boot)
	}
	w.Bytes(m.State)
	return w
}

// Decode reads what Encode wrote.
func Decode(b []byte) (Message, error) {
	r := wire.NewReader(b)
	version := r.Uint8()
	if (version != 1 && version != msgVersion) || r.Err() != nil {
		return Message{}, ErrCorrupt
	}
	var m Message
	m.Kind = r.Uint8()
	m.From = r.String()
	if version >= 2 {
		m.FromBoot = r.Uvarint()
	}
	m.Issued = r.ViewID()
	m.ID = getID(r)
	m.Op = getID(r)
	m.Req = r.String()
	m.Target = r.String()
	m.Boot = r.Uvarint()
	m.Reason = r.String()
	ok := r.Uint8()
	m.OK = ok == 1
	m.Round, m.Level, m.Dev, m.LevelSize = small(r), small(r), small(r), small(r)
	m.Device = r.String()
	n := r.Count(1, maxCount)
	for i := 0; i < n && r.Err() == nil; i++ {
		m.Running = append(m.Running, getID(r))
	}
	n = r.Count(1, maxCount)
	for i := 0; i < n && r.Err() == nil; i++ {
		m.Clean = append(m.Clean, nodeBoot{Node: r.String(), Boot: r.Uvarint()})
	}
	if s := r.Bytes(); len(s) > 0 {
		m.State = append([]byte{}, s...)
	}
	if r.Err() != nil || r.Len() != 0 || ok > 1 || m.Kind == 0 || m.Kind >= numKinds {
		return Message{}, ErrCorrupt
	}
	if m.Kind == kindReport && len(m.State) > 0 {
		if _, err := decodeState(m.State); err != nil {
			return Message{}, err
		}
	}
	return m, nil
}

// snapshot encoding, canonical (sorted):
//
//	version | boots {node, boot} | clean {node, boot, view} | member {node, view} |
//	confirms {node, boot, by} |
//	ops {id, target, boot, reason, req, watchdog, failed, by, by boot} | atts {id, op, target,
//	round, level, dev, size, device, runner, runner boot, result, error} |
//	reqs {id, target, from, reason}
func (s *state) encode() []byte {
	var w wire.Writer
	w.Uint8(snapVersion)
	putMap := func(m map[string]uint64) {
		ks := sortedKeys(m)
		w.Uvarint(uint64(len(ks)))
		for _, k := range ks {
			w.String(k)
			w.Uvarint(m[k])
		}
	}
	putMap(s.boots)
	ks := sortedKeys(s.clean)
	w.Uvarint(uint64(len(ks)))
	for _, k := range ks {
		w.String(k)
		w.Uvarint(s.clean[k].Boot)
		w.ViewID(s.clean[k].View)
	}
	ks = sortedKeys(s.member)
	w.Uvarint(uint64(len(ks)))
	for _, k := range ks {
		w.String(k)
		w.ViewID(s.member[k])
	}
	cs := sortedKeys(s.confirms)
	w.Uvarint(uint64(len(cs)))
	for _, k := range cs {
		w.String(k)
		w.Uvarint(s.confirms[k].Boot)
		w.String(s.confirms[k].By)
	}
	ops := s.sortedOps()
	w.Uvarint(uint64(len(ops)))
	for _, o := range ops {
		putID(&w, o.ID)
		w.String(o.Target)
		w.Uvarint(o.Boot)
		w.String(o.Reason)
		w.String(o.Req)
		w.String(o.Watchdog)
		w.String(o.Failed)
		w.String(o.By)
		w.Uvarint(o.ByBoot)
	}
	atts := s.sortedAtts()
	w.Uvarint(uint64(len(atts)))
	for _, a := range atts {
		putID(&w, a.ID)
		putID(&w, a.Op)
		w.String(a.Target)
		for _, v := range []int{a.Round, a.Level, a.Dev, a.LevelSize} {
			w.Uvarint(uint64(v))
		}
		w.String(a.Device)
		w.String(a.Runner)
		w.Uvarint(a.RunnerBoot)
		w.Uint8(a.Result)
		w.String(a.Error)
	}
	reqs := s.sortedReqs()
	w.Uvarint(uint64(len(reqs)))
	for _, q := range reqs {
		w.String(q.Key)
		w.String(q.Target)
		w.String(q.From)
		w.String(q.Reason)
		if q.Served {
			w.Uint8(1)
		} else {
			w.Uint8(0)
		}
	}
	return w
}

func decodeState(b []byte) (*state, error) {
	r := wire.NewReader(b)
	version := r.Uint8()
	if version < 1 || version > snapVersion {
		return nil, ErrCorrupt
	}
	s := newState()
	getMap := func(m map[string]uint64) {
		n := r.Count(1, maxCount)
		for i := 0; i < n && r.Err() == nil; i++ {
			k := r.String()
			m[k] = r.Uvarint()
		}
	}
	getMap(s.boots)
	n := r.Count(1, maxCount)
	for i := 0; i < n && r.Err() == nil; i++ {
		k := r.String()
		c := cleanRec{Boot: r.Uvarint()}
		if version >= 3 {
			c.View = r.ViewID()
		}
		s.clean[k] = c
	}
	if version >= 3 {
		n = r.Count(1, maxCount)
		for i := 0; i < n && r.Err() == nil; i++ {
			k := r.String()
			s.member[k] = r.ViewID()
		}
	}
	n = r.Count(1, maxCount)
	for i := 0; i < n && r.Err() == nil; i++ {
		k := r.String()
		s.confirms[k] = confRec{Boot: r.Uvarint(), By: r.String()}
	}
	n = r.Count(1, maxCount)
	for i := 0; i < n && r.Err() == nil; i++ {
		o := &opRec{ID: getID(r), Target: r.String(), Boot: r.Uvarint(), Reason: r.String(), Req: r.String()}
		o.Watchdog = r.String()
		o.Failed = r.String()
		if version >= 2 {
			o.By, o.ByBoot = r.String(), r.Uvarint()
		}
		s.ops[o.ID] = o
	}
	n = r.Count(1, maxCount)
	for i := 0; i < n && r.Err() == nil; i++ {
		a := &attRec{ID: getID(r), Op: getID(r), Target: r.String()}
		a.Round, a.Level, a.Dev, a.LevelSize = small(r), small(r), small(r), small(r)
		a.Device, a.Runner, a.RunnerBoot, a.Result, a.Error = r.String(), r.String(), r.Uvarint(), r.Uint8(), r.String()
		if a.Result > resultOK {
			return nil, ErrCorrupt
		}
		s.atts[a.ID] = a
	}
	n = r.Count(1, maxCount)
	for i := 0; i < n && r.Err() == nil; i++ {
		q := &reqRec{Key: r.String(), Target: r.String(), From: r.String(), Reason: r.String()}
		sv := r.Uint8()
		if sv > 1 {
			return nil, ErrCorrupt
		}
		q.Served = sv == 1
		s.reqs[q.Key] = q
	}
	if r.Err() != nil || r.Len() != 0 {
		return nil, ErrCorrupt
	}
	return s, nil
}

func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}
