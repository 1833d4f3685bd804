package bcast

import (
	"errors"
	"fmt"
	"math"

	"github.com/corral-ha/corral/core/wire"
)

// Kind identifies a bcast message in Encode's first byte. The lead maps each
// kind to a wire.Type when the messages are registered in core/wire; the
// field layouts (Append/Decode) stay the same.
//
// WARNING: only append to this list.
type Kind uint8

// Message kinds.
const (
	KindInvalid    Kind = iota // 0: never sent
	KindSubmit                 // member -> coordinator: please sequence
	KindOrder                  // coordinator -> members: a sequenced message
	KindAck                    // member -> coordinator: highest contiguous sequence held
	KindStable                 // coordinator -> members: the stable point
	KindFlushState             // carried in a membership promise
	KindPlan                   // carried in a membership commit
)

// Message is one bcast message. Append writes its fields after b; Decode
// reads them back (the same shape as wire.Message, without the type byte).
type Message interface {
	Kind() Kind
	Append(b []byte) []byte
	Decode(r *wire.Reader) error
}

// Decoding errors.
var (
	ErrUnknownKind = errors.New("bcast: unknown message kind")
	ErrTrailing    = errors.New("bcast: trailing bytes after message")
	ErrMalformed   = errors.New("bcast: malformed message")
)

// Encode returns the kind byte followed by m's fields.
func Encode(m Message) []byte { return m.Append([]byte{byte(m.Kind())}) }

// Decode reads what Encode wrote. It never panics, whatever its input.
func Decode(b []byte) (Message, error) {
	if len(b) == 0 {
		return nil, wire.ErrTruncated
	}
	var m Message
	switch Kind(b[0]) {
	case KindSubmit:
		m = new(Submit)
	case KindOrder:
		m = new(Order)
	case KindAck:
		m = new(Ack)
	case KindStable:
		m = new(Stable)
	case KindFlushState:
		m = new(FlushState)
	case KindPlan:
		m = new(Plan)
	default:
		return nil, fmt.Errorf("%w %d", ErrUnknownKind, b[0])
	}
	r := wire.NewReader(b[1:])
	if err := m.Decode(r); err != nil {
		return nil, err
	}
	if r.Len() != 0 {
		return nil, ErrTrailing
	}
	return m, nil
}

// MsgID names a message for its whole life: its sender, the sender's boot
// id and a counter that grows with every Broadcast of that boot (never
// reset by a view change), so a message resent in a later view is
// recognised.
type MsgID struct {
	Sender wire.NodeID
	Boot   uint32
	N      uint64
}

func (id MsgID) String() string { return fmt.Sprintf("n%d.%d#%d", id.Sender, id.Boot, id.N) }

// Msg is a sequenced message of a view.
type Msg struct {
	Seq     uint64
	ID      MsgID
	Payload []byte
}

// Mark says that every message of Sender's boot Boot up to N has been
// delivered by some node (FlushState: by this node).
type Mark struct {
	Sender wire.NodeID
	Boot   uint32
	N      uint64
}

// Submit asks the coordinator of View to sequence a message. Prev is the N
// of the message the sender submitted before it in this view (0 for its
// first): the coordinator sequences a submission only if it follows the
// last one it sequenced from that sender, so a gap left by a broken
// circuit is never jumped over and a duplicate is never sequenced twice.
type Submit struct {
	View    wire.ViewID
	ID      MsgID
	Prev    uint64
	Payload []byte
}

// Order is a sequenced message, relayed by the coordinator to every member.
// Stable is the coordinator's stable point when it was sent.
type Order struct {
	View   wire.ViewID
	Msg    Msg
	Stable uint64
}

// Ack tells the coordinator the highest sequence up to which the sender
// holds every message of View.
type Ack struct {
	View       wire.ViewID
	Contiguous uint64
}

// Stable announces that every member of View holds every message up to
// Seq: they are delivered safe and released.
type Stable struct {
	View wire.ViewID
	Seq  uint64
}

// Kind implements Message.
func (*Submit) Kind() Kind { return KindSubmit }

// Kind implements Message.
func (*Order) Kind() Kind { return KindOrder }

// Kind implements Message.
func (*Ack) Kind() Kind { return KindAck }

// Kind implements Message.
func (*Stable) Kind() Kind { return KindStable }

// Kind implements Message.
func (*FlushState) Kind() Kind { return KindFlushState }

// Kind implements Message.
func (*Plan) Kind() Kind { return KindPlan }

func putID(w *wire.Writer, id MsgID) {
	w.Uint16(uint16(id.Sender))
	w.Uint32(id.Boot)
	w.Uvarint(id.N)
}

func getID(r *wire.Reader) MsgID {
	return MsgID{Sender: wire.NodeID(r.Uint16()), Boot: r.Uint32(), N: r.Uvarint()}
}

func putMsg(w *wire.Writer, m Msg) {
	w.Uvarint(m.Seq)
	putID(w, m.ID)
	w.Bytes(m.Payload)
}

func getMsg(r *wire.Reader) Msg {
	return Msg{Seq: r.Uvarint(), ID: getID(r), Payload: r.Bytes()}
}

// count reads a list length; every element takes at least minSize bytes,
// so a length larger than the rest of the input is malformed (no huge
// allocation from a few bytes). The error is ErrMalformed, and also
// wire.ErrTruncated (the Reader is failed): before the counts moved to
// wire.Reader.Count it was either one, by case.
func count(r *wire.Reader, minSize int) (int, error) {
	if err := r.Err(); err != nil {
		return 0, err
	}
	n := r.Count(minSize, math.MaxInt)
	if err := r.Err(); err != nil {
		return 0, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return n, nil
}

func putMsgs(w *wire.Writer, ms []Msg) {
	w.Uvarint(uint64(len(ms)))
	for _, m := range ms {
		putMsg(w, m)
	}
}

func getMsgs(r *wire.Reader) ([]Msg, error) {
	n, err := count(r, 8)
	if err != nil {
		return nil, err
	}
	var out []Msg
	for range n {
		out = append(out, getMsg(r))
	}
	return out, r.Err()
}

func putMarks(w *wire.Writer, ms []Mark) {
	w.Uvarint(uint64(len(ms)))
	for _, m := range ms {
		w.Uint16(uint16(m.Sender))
		w.Uint32(m.Boot)
		w.Uvarint(m.N)
	}
}

func getMarks(r *wire.Reader) ([]Mark, error) {
	n, err := count(r, 7)
	if err != nil {
		return nil, err
	}
	var out []Mark
	for range n {
		out = append(out, Mark{Sender: wire.NodeID(r.Uint16()), Boot: r.Uint32(), N: r.Uvarint()})
	}
	return out, r.Err()
}

// Append implements Message.
func (m *Submit) Append(b []byte) []byte {
	w := wire.Writer(b)
	w.ViewID(m.View)
	putID(&w, m.ID)
	w.Uvarint(m.Prev)
	w.Bytes(m.Payload)
	return w
}

// Decode implements Message.
func (m *Submit) Decode(r *wire.Reader) error {
	*m = Submit{View: r.ViewID(), ID: getID(r), Prev: r.Uvarint(), Payload: r.Bytes()}
	return r.Err()
}

// Append implements Message.
func (m *Order) Append(b []byte) []byte {
	w := wire.Writer(b)
	w.ViewID(m.View)
	putMsg(&w, m.Msg)
	w.Uvarint(m.Stable)
	return w
}

// Decode implements Message.
func (m *Order) Decode(r *wire.Reader) error {
	*m = Order{View: r.ViewID(), Msg: getMsg(r), Stable: r.Uvarint()}
	return r.Err()
}

// Append implements Message.
func (m *Ack) Append(b []byte) []byte {
	w := wire.Writer(b)
	w.ViewID(m.View)
	w.Uvarint(m.Contiguous)
	return w
}

// Decode implements Message.
func (m *Ack) Decode(r *wire.Reader) error {
	*m = Ack{View: r.ViewID(), Contiguous: r.Uvarint()}
	return r.Err()
}

// Append implements Message.
func (m *Stable) Append(b []byte) []byte {
	w := wire.Writer(b)
	w.ViewID(m.View)
	w.Uvarint(m.Seq)
	return w
}

// Decode implements Message.
func (m *Stable) Decode(r *wire.Reader) error {
	*m = Stable{View: r.ViewID(), Seq: r.Uvarint()}
	return r.Err()
}

// Append implements Message.
func (m *FlushState) Append(b []byte) []byte {
	w := wire.Writer(b)
	w.Uint16(uint16(m.Node))
	w.ViewID(m.View)
	w.ViewID(m.Old)
	w.Uvarint(m.Contiguous)
	putMsgs(&w, m.Held)
	putMarks(&w, m.Delivered)
	return w
}

// Decode implements Message.
func (m *FlushState) Decode(r *wire.Reader) error {
	*m = FlushState{Node: wire.NodeID(r.Uint16()), View: r.ViewID(), Old: r.ViewID(), Contiguous: r.Uvarint()}
	var err error
	if m.Held, err = getMsgs(r); err != nil {
		return err
	}
	m.Delivered, err = getMarks(r)
	return err
}

// Append implements Message.
func (m *Plan) Append(b []byte) []byte {
	w := wire.Writer(b)
	w.ViewID(m.View)
	w.Uvarint(uint64(len(m.Flush)))
	for _, f := range m.Flush {
		w.ViewID(f.Old)
		w.Uvarint(f.Cut)
		putMsgs(&w, f.Msgs)
	}
	putMarks(&w, m.Delivered)
	return w
}

// Decode implements Message.
func (m *Plan) Decode(r *wire.Reader) error {
	*m = Plan{View: r.ViewID()}
	n, err := count(r, 4)
	if err != nil {
		return err
	}
	for range n {
		f := OldFlush{Old: r.ViewID(), Cut: r.Uvarint()}
		if f.Msgs, err = getMsgs(r); err != nil {
			return err
		}
		m.Flush = append(m.Flush, f)
	}
	m.Delivered, err = getMarks(r)
	return err
}
