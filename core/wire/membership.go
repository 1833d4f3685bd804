package wire

import "math"

// ViewID names a view: ordered by Epoch, then Coord. The zero ViewID means
// "none".
type ViewID struct {
	Epoch uint64
	Coord NodeID
}

// View is a view id with its members, sorted by id.
type View struct {
	ID      ViewID
	Members []NodeID
}

// Lineage is what a node knows of the primary views before it (corral help
// design, Quorum): LP, the last primary view it installed or primary
// proposal it promised after that, the one before it, and how long ago it
// took LP on.
type Lineage struct {
	LP       View
	Prev     View  // the last installed primary view before LP
	LPAge    int64 // ns, by the sender's clock
	AllSeen  bool  // it has been in a view with every configured node
	Promised bool  // LP is a primary proposal it promised, not (yet) installed
	// Unblocked: LP descends from an operator's quorum unblock (corral
	// help operations), so under the majority policy the views of its
	// holders are judged against LP as under last_man_standing (core/quorum).
	// Encoded as bit 1 of the AllSeen byte: a node of an older release
	// refuses only the messages that carry it.
	Unblocked bool
	// PrevUnblocked (only while Promised): Prev is a view an operator
	// unblocked that no primary view followed when this node promised LP
	// (core/quorum "Unblock": a view must hold all of its members).
	// Encoded as bit 1 of the Promised byte.
	PrevUnblocked bool
	// Need (only while Promised): views that may have been the last
	// installed primary instead of LP, newer than Prev: the primary
	// proposals it promised before LP without seeing them installed, and
	// the reference views of the proposals it promised.
	Need []View
}

// Report is a node's view of the cluster, sent to the nodes it reaches
// whenever it changes and periodically.
type Report struct {
	State     uint8    // membership.State of the sender
	Promise   ViewID   // the highest proposal it promised
	Installed View     // its installed view
	Primary   bool     // its installed view is primary
	Reach     []NodeID // the peers it reaches (both ways), sorted
	Lineage   Lineage
	// Settings are the sender's quorum-relevant settings, "key=value"
	// pairs joined by spaces in a fixed order: nodes whose settings differ
	// never share a view.
	Settings string
}

// Propose is a coordinator's proposal of a view. States[i] is the state
// of Members[i]. Ref is the last primary view the decision was judged
// against (zero: the configured nodes), RefMembers its members.
type Propose struct {
	View       View
	States     []uint8
	Primary    bool
	Ref        ViewID
	RefMembers []NodeID
	// Unblocked: the decision judged the view against a lineage that
	// descends from a quorum unblock (Lineage.Unblocked). Encoded as bit 1
	// of the Primary byte, like Lineage.Unblocked.
	Unblocked bool
}

// Promise acknowledges a proposal: the sender persisted a promise to
// ignore anything lower. Lineage is the sender's lineage before it; Flush
// is what the layer above (ordered broadcast) holds of its old view.
type Promise struct {
	ID      ViewID
	Lineage Lineage
	Flush   []byte
}

// Refuse answers a proposal lower than the sender's promise.
type Refuse struct {
	ID      ViewID
	Promise ViewID
}

// Commit tells the members to install the proposal they promised, with the
// layer above's plan for completing the old views.
type Commit struct {
	ID   ViewID
	Plan []byte
}

// LeaseReq is a primary view member's lease heartbeat to member To.
type LeaseReq struct {
	ID  ViewID
	Seq uint64
	To  NodeID // the member asked: a request for another is ignored
}

// LeaseAck acknowledges a LeaseReq by a member that has ID installed and
// has promised nothing newer. To is the member whose request it answers:
// lease sequence numbers are per requester and alike on every member, so
// an acknowledgement is credited only by the node it names (with the
// packet header binding it to that node's incarnation, wire doc.go).
type LeaseAck struct {
	ID  ViewID
	Seq uint64
	To  NodeID
}

// Left tells a node that asked to leave that a view without it was
// committed.
type Left struct {
	ID ViewID
}

func (w *Writer) nodes(ns []NodeID) {
	w.Uvarint(uint64(len(ns)))
	for _, n := range ns {
		w.Uint16(uint16(n))
	}
}

// maxNodes bounds node lists on the wire (ids are 16 bits).
const maxNodes = 1 << 16

func (r *Reader) nodes() []NodeID {
	n := r.Count(2, maxNodes)
	if r.Err() != nil {
		return nil
	}
	var out []NodeID
	for range n {
		out = append(out, NodeID(r.Uint16()))
	}
	return out
}

func (w *Writer) view(v View) {
	w.ViewID(v.ID)
	w.nodes(v.Members)
}

func (r *Reader) view() View {
	return View{ID: r.ViewID(), Members: r.nodes()}
}

// flags packs a boolean and the unblock bit into one byte: 0 or 1 as
// Bool writes them when unblocked is false, so the bytes of a message
// without an unblock are what older releases write and read.
func flags(b, unblocked bool) uint8 {
	var f uint8
	if b {
		f |= 1
	}
	if unblocked {
		f |= 2
	}
	return f
}

// flags reads what flags wrote; other bits are an error.
func (r *Reader) flags() (b, unblocked bool) {
	f := r.Uint8()
	if f > 3 {
		r.Fail()
		return false, false
	}
	return f&1 != 0, f&2 != 0
}

func (w *Writer) lineage(l Lineage) {
	w.view(l.LP)
	w.view(l.Prev)
	w.Uvarint(uint64(max(l.LPAge, 0)))
	w.Uint8(flags(l.AllSeen, l.Unblocked))
	w.Uint8(flags(l.Promised, l.PrevUnblocked))
	w.Uvarint(uint64(len(l.Need)))
	for _, v := range l.Need {
		w.view(v)
	}
}

func (r *Reader) lineage() Lineage {
	l := Lineage{LP: r.view(), Prev: r.view()}
	age := r.Uvarint()
	if age > 1<<63-1 {
		r.Fail()
	}
	l.LPAge = int64(age)
	l.AllSeen, l.Unblocked = r.flags()
	l.Promised, l.PrevUnblocked = r.flags()
	n := r.Count(1, math.MaxInt) // each view takes at least one byte
	if r.Err() != nil {
		return l
	}
	for range n {
		l.Need = append(l.Need, r.view())
	}
	return l
}

var (
	_ Message = (*Report)(nil)
	_ Message = (*Propose)(nil)
	_ Message = (*Promise)(nil)
	_ Message = (*Refuse)(nil)
	_ Message = (*Commit)(nil)
	_ Message = (*LeaseReq)(nil)
	_ Message = (*LeaseAck)(nil)
	_ Message = (*Left)(nil)
)

// Type implements Message.
func (*Report) Type() Type { return TypeReport }

// Append implements Message.
func (m *Report) Append(b []byte) []byte {
	w := Writer(b)
	w.Uint8(m.State)
	w.ViewID(m.Promise)
	w.view(m.Installed)
	w.Bool(m.Primary)
	w.nodes(m.Reach)
	w.lineage(m.Lineage)
	w.String(m.Settings)
	return w
}

// Decode implements Message.
func (m *Report) Decode(r *Reader) error {
	m.State = r.Uint8()
	m.Promise = r.ViewID()
	m.Installed = r.view()
	m.Primary = r.Bool()
	m.Reach = r.nodes()
	m.Lineage = r.lineage()
	m.Settings = r.String()
	return r.Err()
}

// Type implements Message.
func (*Propose) Type() Type { return TypePropose }

// Append implements Message.
func (m *Propose) Append(b []byte) []byte {
	w := Writer(b)
	w.view(m.View)
	w.Bytes(m.States)
	w.Uint8(flags(m.Primary, m.Unblocked))
	w.ViewID(m.Ref)
	w.nodes(m.RefMembers)
	return w
}

// Decode implements Message.
func (m *Propose) Decode(r *Reader) error {
	m.View = r.view()
	m.States = r.Bytes()
	m.Primary, m.Unblocked = r.flags()
	m.Ref = r.ViewID()
	m.RefMembers = r.nodes()
	if r.Err() == nil && len(m.States) != len(m.View.Members) {
		r.Fail()
	}
	return r.Err()
}

// Type implements Message.
func (*Promise) Type() Type { return TypePromise }

// Append implements Message.
func (m *Promise) Append(b []byte) []byte {
	w := Writer(b)
	w.ViewID(m.ID)
	w.lineage(m.Lineage)
	w.Bytes(m.Flush)
	return w
}

// Decode implements Message.
func (m *Promise) Decode(r *Reader) error {
	m.ID = r.ViewID()
	m.Lineage = r.lineage()
	m.Flush = r.Bytes()
	return r.Err()
}

// Type implements Message.
func (*Refuse) Type() Type { return TypeRefuse }

// Append implements Message.
func (m *Refuse) Append(b []byte) []byte {
	w := Writer(b)
	w.ViewID(m.ID)
	w.ViewID(m.Promise)
	return w
}

// Decode implements Message.
func (m *Refuse) Decode(r *Reader) error {
	m.ID = r.ViewID()
	m.Promise = r.ViewID()
	return r.Err()
}

// Type implements Message.
func (*Commit) Type() Type { return TypeCommit }

// Append implements Message.
func (m *Commit) Append(b []byte) []byte {
	w := Writer(b)
	w.ViewID(m.ID)
	w.Bytes(m.Plan)
	return w
}

// Decode implements Message.
func (m *Commit) Decode(r *Reader) error {
	m.ID = r.ViewID()
	m.Plan = r.Bytes()
	return r.Err()
}

// Type implements Message.
func (*LeaseReq) Type() Type { return TypeLeaseReq }

// Append implements Message.
func (m *LeaseReq) Append(b []byte) []byte {
	w := Writer(b)
	w.ViewID(m.ID)
	w.Uvarint(m.Seq)
	w.Uint16(uint16(m.To))
	return w
}

// Decode implements Message.
func (m *LeaseReq) Decode(r *Reader) error {
	m.ID = r.ViewID()
	m.Seq = r.Uvarint()
	m.To = NodeID(r.Uint16())
	return r.Err()
}

// Type implements Message.
func (*LeaseAck) Type() Type { return TypeLeaseAck }

// Append implements Message.
func (m *LeaseAck) Append(b []byte) []byte {
	w := Writer(b)
	w.ViewID(m.ID)
	w.Uvarint(m.Seq)
	w.Uint16(uint16(m.To))
	return w
}

// Decode implements Message.
func (m *LeaseAck) Decode(r *Reader) error {
	m.ID = r.ViewID()
	m.Seq = r.Uvarint()
	m.To = NodeID(r.Uint16())
	return r.Err()
}

// Type implements Message.
func (*Left) Type() Type { return TypeLeft }

// Append implements Message.
func (m *Left) Append(b []byte) []byte {
	w := Writer(b)
	w.ViewID(m.ID)
	return w
}

// Decode implements Message.
func (m *Left) Decode(r *Reader) error {
	m.ID = r.ViewID()
	return r.Err()
}

// User carries an application payload over a circuit: everything after the
// message header.
type User struct {
	Payload []byte
}

// Type implements Message.
func (*User) Type() Type { return TypeUser }

// Append implements Message.
func (m *User) Append(b []byte) []byte { return append(b, m.Payload...) }

// Decode implements Message. Payload aliases the decoded buffer.
func (m *User) Decode(r *Reader) error {
	m.Payload = r.Rest()
	return r.Err()
}

// SetState asks node To to change its own membership state (an
// operator's pause, resume or leave issued on another node). A node acts
// only on a SetState that names it.
type SetState struct {
	State uint8
	To    NodeID
}

// Type implements Message.
func (*SetState) Type() Type { return TypeSetState }

// Append implements Message.
func (m *SetState) Append(b []byte) []byte {
	w := Writer(append(b, m.State))
	w.Uint16(uint16(m.To))
	return w
}

// Decode implements Message.
func (m *SetState) Decode(r *Reader) error {
	m.State = r.Uint8()
	m.To = NodeID(r.Uint16())
	return r.Err()
}

// Bcast carries an ordered-broadcast message (core/bcast encodes it) on a
// circuit.
type Bcast struct {
	Payload []byte
}

// Type implements Message.
func (*Bcast) Type() Type { return TypeBcast }

// Append implements Message.
func (m *Bcast) Append(b []byte) []byte { return append(b, m.Payload...) }

// Decode implements Message. Payload aliases the decoded buffer.
func (m *Bcast) Decode(r *Reader) error {
	m.Payload = r.Rest()
	return r.Err()
}

// CDB carries a configuration database transfer message (core/cdb encodes
// it) on a circuit.
type CDB struct {
	Payload []byte
}

// Type implements Message.
func (*CDB) Type() Type { return TypeCDB }

// Append implements Message.
func (m *CDB) Append(b []byte) []byte { return append(b, m.Payload...) }

// Decode implements Message. Payload aliases the decoded buffer.
func (m *CDB) Decode(r *Reader) error {
	m.Payload = r.Rest()
	return r.Err()
}

// DLM carries a lock manager message (core/dlm encodes it) point to point
// on a circuit: a lock request to a master, its answer, a recovery stage.
type DLM struct {
	Payload []byte
}

// Type implements Message.
func (*DLM) Type() Type { return TypeDLM }

// Append implements Message.
func (m *DLM) Append(b []byte) []byte { return append(b, m.Payload...) }

// Decode implements Message. Payload aliases the decoded buffer.
func (m *DLM) Decode(r *Reader) error {
	m.Payload = r.Rest()
	return r.Err()
}

// Disk carries a served disk message (core/disk encodes it) point to point
// on a circuit: a client's block request to the disk's server, its reply,
// a server's announcement.
type Disk struct {
	Payload []byte
}

// Type implements Message.
func (*Disk) Type() Type { return TypeDisk }

// Append implements Message.
func (m *Disk) Append(b []byte) []byte { return append(b, m.Payload...) }

// Decode implements Message. Payload aliases the decoded buffer.
func (m *Disk) Decode(r *Reader) error {
	m.Payload = r.Rest()
	return r.Err()
}
