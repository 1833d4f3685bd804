package dlm

// This file is the point-to-point message codec: the payload of
// wire.TypeDLM. Every message is one msg, encoded as
//
//	kind   1 byte (msgKind)
//	epoch  uvarint  } the sender's view id: lock traffic of another view
//	coord  uvarint  } is dropped (or held until that view is installed)
//	fields          the kind's fields, in the order of encode below
//
// Integers are unsigned varints (signed ones zig-zag: modes), strings and
// byte slices a uvarint length then the bytes (a value block's length is
// 0 for nil, else length+1, so nil and empty differ). Decoding never
// panics: any malformed input is an error wrapping errMalformed.

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/corral-ha/corral/core/wire"
)

// errMalformed is wrapped by every decode error.
var errMalformed = errors.New("malformed dlm message")

// msgKind is a message's kind. Append only.
type msgKind uint8

// The message kinds.
const (
	mkRequest     msgKind = iota + 1 // process → master: a new lock
	mkConvert                        // process → master: a conversion
	mkUnlock                         // process → master: an unlock
	mkCancel                         // process → master: cancel the pending request/conversion
	mkReply                          // master → process: a completion (of the op numbered seq or later)
	mkBast                           // master → process: a blocking notice
	mkNotMaster                      // master → process: I do not master this name: look it up again
	mkLookup                         // process → directory: who masters this name?
	mkLookupReply                    // directory → process: node masters it (maybe the asker: the first to ask)
	mkRemove                         // master → directory: forget this unused name (linger over)
	mkRemoveReply                    // directory → master: forgotten
	mkRecDir                         // recovery stage 1: the names the sender masters whose directory is the receiver, and the view it last rebuilt in
	mkRecLookup                      // recovery stage 2: who masters these names (the sender holds locks on them)
	mkRecMasters                     // recovery stage 2: the answer (in the order asked)
	mkRecLocks                       // recovery stage 3: the sender's process copies mastered by the receiver
	mkRecDone                        // recovery stage 4: the sender rebuilt its master copies
	mkDlQuery                        // deadlock search: coordinator → member: your waits-for edges
	mkDlEdges                        // member → coordinator: edges
	mkDlVictim                       // coordinator → master: complete this waiting lock with EDEADLK
	mkAsk                            // Ask: your master copies
	mkAnswer                         // the answer
	mkOwner                          // process → master: a lock's new owner (an adopted orphan) or orphaned
	mkPurge                          // PurgeOwner for an owner on the receiver
	mkAck                            // process → master: a completion that needed it was handed out (hold.go)
	mkLast                           // not a kind: one past the last
)

var kindNames = [...]string{
	mkRequest: "request", mkConvert: "convert", mkUnlock: "unlock", mkCancel: "cancel",
	mkReply: "reply", mkBast: "bast", mkNotMaster: "notmaster", mkLookup: "lookup",
	mkLookupReply: "lookup-reply", mkRemove: "remove", mkRemoveReply: "remove-reply",
	mkRecDir: "rec-dir", mkRecLookup: "rec-lookup", mkRecMasters: "rec-masters",
	mkRecLocks: "rec-locks", mkRecDone: "rec-done", mkDlQuery: "dl-query", mkDlEdges: "dl-edges",
	mkDlVictim: "dl-victim", mkAsk: "ask", mkAnswer: "answer", mkOwner: "owner", mkPurge: "purge", mkAck: "ack",
}

func (k msgKind) String() string {
	if k > 0 && k < mkLast {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// rname is a resource's name in its lockspace.
type rname struct{ ls, name string }

// reclock is a process copy as recovery sends it to the new master.
type reclock struct {
	rname
	id       LockID
	owner    Owner
	gr       Mode // the mode the master last confirmed
	flags    Flags
	orphan   bool
	lvb      []byte
	lvbSeq   uint64
	lvbBad   bool // its last read said ValNotValid
	lvbStale bool // it held CR or less since it last read or wrote the value
}

// edge is one waits-for edge: owner from waits for owner to, because of
// the waiting lock (node, id) on the resource rname mastered by master.
type edge struct {
	from, to Owner
	rname
	lock     lkey
	master   wire.NodeID
	noDlckWt bool
}

// msg is any message; each kind uses some of the fields (encode says which).
type msg struct {
	kind    msgKind
	view    wire.ViewID
	rname           // the resource
	id      LockID  // the lock (on the process node: the sender of a process → master message, the receiver of a reply)
	seq     uint32  // the lock's operation number (replies carry the latest one the master saw)
	owner   Owner   // request, reply, bast, owner, purge
	mode    Mode    // request/convert: asked for; reply: granted after; bast: blocked mode
	flags   Flags   // request, convert, unlock, owner (Orphan set: orphaned)
	status  Status  // reply
	sb      SBFlags // reply
	lvb     []byte  // request/convert/unlock: to write; reply: read
	lvbSeq  uint64  // reply
	node    wire.NodeID
	tag     uint64 // deadlock round, ask tag
	names   []rname
	masters []wire.NodeID
	locks   []reclock
	edges   []edge
	res     []ResourceInfo
}

// encode appends m's encoding to b.
func (m *msg) encode(b []byte) []byte {
	e := enc{b: b}
	e.u8(uint8(m.kind))
	e.uv(m.view.Epoch)
	e.uv(uint64(m.view.Coord))
	switch m.kind {
	case mkRequest, mkConvert:
		e.rname(m.rname)
		e.uv(uint64(m.id))
		e.uv(uint64(m.seq))
		e.owner(m.owner)
		e.mode(m.mode)
		e.uv(uint64(m.flags))
		e.lvb(m.lvb)
	case mkUnlock:
		e.rname(m.rname)
		e.uv(uint64(m.id))
		e.uv(uint64(m.seq))
		e.uv(uint64(m.flags))
		e.lvb(m.lvb)
	case mkCancel, mkNotMaster:
		e.rname(m.rname)
		e.uv(uint64(m.id))
		e.uv(uint64(m.seq))
	case mkAck:
		e.rname(m.rname)
		e.uv(uint64(m.id))
	case mkReply:
		e.rname(m.rname)
		e.uv(uint64(m.id))
		e.uv(uint64(m.seq))
		e.owner(m.owner)
		e.uv(uint64(uint32(m.status)))
		e.mode(m.mode)
		e.u8(uint8(m.sb))
		e.lvb(m.lvb)
		e.uv(m.lvbSeq)
	case mkBast:
		e.rname(m.rname)
		e.uv(uint64(m.id))
		e.owner(m.owner)
		e.mode(m.mode)
	case mkLookup, mkRemove, mkRemoveReply:
		e.rname(m.rname)
	case mkLookupReply:
		e.rname(m.rname)
		e.uv(uint64(m.node))
	case mkRecDir:
		e.names(m.names)
		e.uv(m.tag)
		e.uv(uint64(m.node))
	case mkRecLookup:
		e.names(m.names)
	case mkRecMasters:
		e.names(m.names)
		e.uv(uint64(len(m.masters)))
		for _, n := range m.masters {
			e.uv(uint64(n))
		}
	case mkRecLocks:
		e.uv(uint64(len(m.locks)))
		for _, l := range m.locks {
			e.rname(l.rname)
			e.uv(uint64(l.id))
			e.owner(l.owner)
			e.mode(l.gr)
			e.uv(uint64(l.flags))
			e.bool(l.orphan)
			e.lvb(l.lvb)
			e.uv(l.lvbSeq)
			e.bool(l.lvbBad)
			e.bool(l.lvbStale)
		}
	case mkRecDone:
	case mkDlQuery:
		e.uv(m.tag)
	case mkDlEdges:
		e.uv(m.tag)
		e.uv(uint64(len(m.edges)))
		for _, x := range m.edges {
			e.owner(x.from)
			e.owner(x.to)
			e.rname(x.rname)
			e.uv(uint64(x.lock.Node))
			e.uv(uint64(x.lock.ID))
			e.uv(uint64(x.master))
			e.bool(x.noDlckWt)
		}
	case mkDlVictim:
		e.rname(m.rname)
		e.uv(uint64(m.node))
		e.uv(uint64(m.id))
	case mkAsk:
		e.uv(m.tag)
		e.str(m.ls)
	case mkAnswer:
		e.uv(m.tag)
		e.uv(uint64(len(m.res)))
		for i := range m.res {
			e.resource(&m.res[i])
		}
	case mkOwner:
		e.rname(m.rname)
		e.uv(uint64(m.id))
		e.owner(m.owner)
		e.uv(uint64(m.flags))
	case mkPurge:
		e.owner(m.owner)
	}
	return e.b
}

// decodeMsg decodes one message; every error wraps errMalformed.
func decodeMsg(b []byte) (msg, error) {
	d := dec{b: b}
	var m msg
	m.kind = msgKind(d.u8())
	m.view.Epoch = d.uv()
	m.view.Coord = d.node()
	if d.err == nil && (m.kind == 0 || m.kind >= mkLast) {
		return m, fmt.Errorf("kind %d: %w", uint8(m.kind), errMalformed)
	}
	switch m.kind {
	case mkRequest, mkConvert:
		m.rname = d.rname()
		m.id = LockID(d.uv())
		m.seq = d.u32()
		m.owner = d.owner()
		m.mode = d.mode()
		m.flags = d.flags()
		m.lvb = d.lvb()
	case mkUnlock:
		m.rname = d.rname()
		m.id = LockID(d.uv())
		m.seq = d.u32()
		m.flags = d.flags()
		m.lvb = d.lvb()
	case mkCancel, mkNotMaster:
		m.rname = d.rname()
		m.id = LockID(d.uv())
		m.seq = d.u32()
	case mkAck:
		m.rname = d.rname()
		m.id = LockID(d.uv())
	case mkReply:
		m.rname = d.rname()
		m.id = LockID(d.uv())
		m.seq = d.u32()
		m.owner = d.owner()
		m.status = Status(d.u32())
		m.mode = d.mode()
		m.sb = SBFlags(d.u8())
		m.lvb = d.lvb()
		m.lvbSeq = d.uv()
	case mkBast:
		m.rname = d.rname()
		m.id = LockID(d.uv())
		m.owner = d.owner()
		m.mode = d.mode()
	case mkLookup, mkRemove, mkRemoveReply:
		m.rname = d.rname()
	case mkLookupReply:
		m.rname = d.rname()
		m.node = d.node()
	case mkRecDir:
		m.names = d.names()
		m.tag = d.uv()
		m.node = d.node()
	case mkRecLookup:
		m.names = d.names()
	case mkRecMasters:
		m.names = d.names()
		n := d.count(1)
		for i := 0; i < n && d.err == nil; i++ {
			m.masters = append(m.masters, d.node())
		}
		if d.err == nil && len(m.masters) != len(m.names) {
			d.fail("%d masters for %d names", len(m.masters), len(m.names))
		}
	case mkRecLocks:
		n := d.count(10)
		for i := 0; i < n && d.err == nil; i++ {
			var l reclock
			l.rname = d.rname()
			l.id = LockID(d.uv())
			l.owner = d.owner()
			l.gr = d.mode()
			l.flags = d.flags()
			l.orphan = d.bool()
			l.lvb = d.lvb()
			l.lvbSeq = d.uv()
			l.lvbBad = d.bool()
			l.lvbStale = d.bool()
			m.locks = append(m.locks, l)
		}
	case mkRecDone:
	case mkDlQuery:
		m.tag = d.uv()
	case mkDlEdges:
		m.tag = d.uv()
		n := d.count(10)
		for i := 0; i < n && d.err == nil; i++ {
			var x edge
			x.from = d.owner()
			x.to = d.owner()
			x.rname = d.rname()
			x.lock.Node = d.node()
			x.lock.ID = LockID(d.uv())
			x.master = d.node()
			x.noDlckWt = d.bool()
			m.edges = append(m.edges, x)
		}
	case mkDlVictim:
		m.rname = d.rname()
		m.node = d.node()
		m.id = LockID(d.uv())
	case mkAsk:
		m.tag = d.uv()
		m.ls = d.str()
	case mkAnswer:
		m.tag = d.uv()
		n := d.count(8)
		for i := 0; i < n && d.err == nil; i++ {
			m.res = append(m.res, d.resource())
		}
	case mkOwner:
		m.rname = d.rname()
		m.id = LockID(d.uv())
		m.owner = d.owner()
		m.flags = d.flags()
	case mkPurge:
		m.owner = d.owner()
	}
	if d.err == nil && len(d.b) != 0 {
		d.fail("%d trailing bytes", len(d.b))
	}
	if d.err != nil {
		return msg{}, fmt.Errorf("decode %v: %w", m.kind, d.err)
	}
	return m, nil
}

// enc appends fields.
type enc struct{ b []byte }

func (e *enc) u8(v uint8)   { e.b = append(e.b, v) }
func (e *enc) uv(v uint64)  { e.b = binary.AppendUvarint(e.b, v) }
func (e *enc) mode(m Mode)  { e.b = binary.AppendVarint(e.b, int64(m)) }
func (e *enc) str(s string) { e.uv(uint64(len(s))); e.b = append(e.b, s...) }
func (e *enc) bool(v bool) {
	if v {
		e.u8(1)
	} else {
		e.u8(0)
	}
}
func (e *enc) lvb(v []byte) {
	if v == nil {
		e.uv(0)
		return
	}
	e.uv(uint64(len(v)) + 1)
	e.b = append(e.b, v...)
}
func (e *enc) rname(n rname) { e.str(n.ls); e.str(n.name) }
func (e *enc) owner(o Owner) { e.uv(uint64(o.Node)); e.uv(o.ID) }
func (e *enc) names(n []rname) {
	e.uv(uint64(len(n)))
	for _, x := range n {
		e.rname(x)
	}
}
func (e *enc) lockInfos(ls []LockInfo) {
	e.uv(uint64(len(ls)))
	for _, l := range ls {
		e.uv(uint64(l.Node))
		e.uv(uint64(l.ID))
		e.owner(l.Owner)
		e.mode(l.Granted)
		e.mode(l.Wanted)
		e.uv(uint64(l.Flags))
		e.bool(l.Orphan)
	}
}
func (e *enc) resource(r *ResourceInfo) {
	e.str(r.Lockspace)
	e.str(r.Name)
	e.uv(uint64(r.Master))
	e.uv(uint64(r.Directory))
	e.bool(r.LVBValid)
	e.lvb(r.LVB)
	e.lockInfos(r.Granted)
	e.lockInfos(r.Converting)
	e.lockInfos(r.Waiting)
}

// dec reads fields; the first failure sticks in err and later reads
// return zeros.
type dec struct {
	b   []byte
	err error
}

func (d *dec) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf(format+": %w", append(args, errMalformed)...)
	}
	d.b = nil
}

func (d *dec) u8() uint8 {
	if d.err != nil {
		return 0
	}
	if len(d.b) < 1 {
		d.fail("short message")
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func (d *dec) uv() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("bad varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *dec) u32() uint32 {
	v := d.uv()
	if v > 1<<32-1 {
		d.fail("value %d over 32 bits", v)
		return 0
	}
	return uint32(v)
}

func (d *dec) node() wire.NodeID {
	v := d.uv()
	if v > 1<<16-1 {
		d.fail("node id %d over 16 bits", v)
		return 0
	}
	return wire.NodeID(v)
}

func (d *dec) mode() Mode {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail("bad varint")
		return 0
	}
	d.b = d.b[n:]
	if v < int64(IV) || v > int64(EX) {
		d.fail("mode %d", v)
		return 0
	}
	return Mode(v)
}

func (d *dec) flags() Flags { return Flags(d.u32()) }

func (d *dec) bool() bool {
	switch d.u8() {
	case 0:
		return false
	case 1:
		return true
	default:
		d.fail("bad bool")
		return false
	}
}

// take returns the next n bytes (copied: the payload's buffer is the driver's).
func (d *dec) take(n uint64) []byte {
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)) {
		d.fail("length %d over the %d bytes left", n, len(d.b))
		return nil
	}
	v := append([]byte(nil), d.b[:n]...)
	d.b = d.b[n:]
	return v
}

func (d *dec) str() string {
	n := d.uv()
	if n > MaxName {
		d.fail("name of %d bytes", n)
		return ""
	}
	return string(d.take(n))
}

func (d *dec) lvb() []byte {
	n := d.uv()
	if n == 0 || d.err != nil {
		return nil
	}
	if n-1 > MaxLVB {
		d.fail("value block of %d bytes", n-1)
		return nil
	}
	v := d.take(n - 1)
	if v == nil && d.err == nil {
		v = []byte{}
	}
	return v
}

func (d *dec) rname() rname {
	ls := d.str()
	return rname{ls: ls, name: d.str()}
}

func (d *dec) owner() Owner {
	n := d.node()
	return Owner{Node: n, ID: d.uv()}
}

// count reads a list's length; each element takes at least min bytes, so
// a length the rest cannot hold is refused before anything is allocated.
func (d *dec) count(minBytes int) int {
	n := d.uv()
	if d.err == nil && n > uint64(len(d.b)/minBytes) {
		d.fail("count %d over what %d bytes can hold", n, len(d.b))
		return 0
	}
	return int(n)
}

func (d *dec) names() []rname {
	n := d.count(2)
	var out []rname
	for i := 0; i < n && d.err == nil; i++ {
		out = append(out, d.rname())
	}
	return out
}

func (d *dec) lockInfos() []LockInfo {
	n := d.count(7)
	var out []LockInfo
	for i := 0; i < n && d.err == nil; i++ {
		var l LockInfo
		l.Node = d.node()
		l.ID = LockID(d.uv())
		l.Owner = d.owner()
		l.Granted = d.mode()
		l.Wanted = d.mode()
		l.Flags = d.flags()
		l.Orphan = d.bool()
		out = append(out, l)
	}
	return out
}

func (d *dec) resource() ResourceInfo {
	var r ResourceInfo
	r.Lockspace = d.str()
	r.Name = d.str()
	r.Master = d.node()
	r.Directory = d.node()
	r.LVBValid = d.bool()
	r.LVB = d.lvb()
	r.Granted = d.lockInfos()
	r.Converting = d.lockInfos()
	r.Waiting = d.lockInfos()
	return r
}
