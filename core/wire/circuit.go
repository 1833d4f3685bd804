package wire

// Heartbeat is sent every heartbeat period on every path (local link,
// remote link) to every peer. It discovers paths (a heartbeat on a path
// nobody used yet is a hello), feeds the receiver's failure detector, tells
// the receiver which paths the sender hears it on, and echoes the
// receiver's clock for round-trip times. Times are the sender's own clock;
// no node reads another's timestamps except to echo them.
type Heartbeat struct {
	FromLink uint8  // the sender's link it left on
	ToLink   uint8  // the receiver's link it was sent to
	Hears    uint64 // bit a*8+b: the sender hears the receiver on (sender link a, receiver link b)
	SentAt   int64  // sender's clock, ns
	EchoAt   int64  // the receiver's latest SentAt seen on this path, 0 if none
	EchoHold int64  // how long the sender held EchoAt before sending, ns
}

// Data is one chunk of a circuit message. Seq counts from 1 within a
// circuit (Circ) between this sender incarnation and the receiver
// incarnation DstBoot. A message bigger than one datagram travels as
// several chunks, all but the last with More set, so each is acknowledged
// and resent on its own. It may carry an acknowledgement of the reverse
// circuit (AckCirc 0: none).
type Data struct {
	DstBoot uint32
	Circ    uint32
	Seq     uint64
	More    bool
	AckCirc uint32
	AckCum  uint64
	Payload []byte
}

// Ack acknowledges circuit messages: every Seq up to Cum, and Cum+1+i for
// each bit i set in Sack.
type Ack struct {
	DstBoot uint32
	Circ    uint32
	Cum     uint64
	Sack    uint64
}

// dataMore marks a chunk that is not the last of its message.
const dataMore = 1

var (
	_ Message = (*Heartbeat)(nil)
	_ Message = (*Data)(nil)
	_ Message = (*Ack)(nil)
)

// Type implements Message.
func (*Heartbeat) Type() Type { return TypeHeartbeat }

// Append implements Message.
func (h *Heartbeat) Append(b []byte) []byte {
	w := Writer(b)
	w.Uint8(h.FromLink)
	w.Uint8(h.ToLink)
	w.Uint64(h.Hears)
	w.Uint64(uint64(h.SentAt))
	w.Uint64(uint64(h.EchoAt))
	w.Uvarint(uint64(h.EchoHold))
	return w
}

// Decode implements Message.
func (h *Heartbeat) Decode(r *Reader) error {
	h.FromLink = r.Uint8()
	h.ToLink = r.Uint8()
	h.Hears = r.Uint64()
	h.SentAt = int64(r.Uint64())
	h.EchoAt = int64(r.Uint64())
	h.EchoHold = int64(r.Uvarint())
	return r.Err()
}

// Type implements Message.
func (*Data) Type() Type { return TypeData }

// Append implements Message.
func (d *Data) Append(b []byte) []byte {
	w := Writer(b)
	w.Uint32(d.DstBoot)
	w.Uvarint(uint64(d.Circ))
	w.Uvarint(d.Seq)
	var flags uint8
	if d.More {
		flags |= dataMore
	}
	w.Uint8(flags)
	w.Uvarint(uint64(d.AckCirc))
	w.Uvarint(d.AckCum)
	w.Bytes(d.Payload)
	return w
}

// Decode implements Message. Payload aliases the decoded buffer.
func (d *Data) Decode(r *Reader) error {
	d.DstBoot = r.Uint32()
	d.Circ = r.Uvarint32()
	d.Seq = r.Uvarint()
	flags := r.Uint8()
	d.More = flags&dataMore != 0
	d.AckCirc = r.Uvarint32()
	d.AckCum = r.Uvarint()
	d.Payload = r.Bytes()
	if flags&^dataMore != 0 {
		return ErrUnknownFlags
	}
	return r.Err()
}

// Type implements Message.
func (*Ack) Type() Type { return TypeAck }

// Append implements Message.
func (a *Ack) Append(b []byte) []byte {
	w := Writer(b)
	w.Uint32(a.DstBoot)
	w.Uvarint(uint64(a.Circ))
	w.Uvarint(a.Cum)
	w.Uint64(a.Sack)
	return w
}

// Decode implements Message.
func (a *Ack) Decode(r *Reader) error {
	a.DstBoot = r.Uint32()
	a.Circ = r.Uvarint32()
	a.Cum = r.Uvarint()
	a.Sack = r.Uint64()
	return r.Err()
}

// Datagram carries a payload once, outside the circuit: no
// acknowledgement, no retransmission, no order. For messages that are
// worthless when late (lease heartbeats).
type Datagram struct {
	Payload []byte
}

var _ Message = (*Datagram)(nil)

// Type implements Message.
func (*Datagram) Type() Type { return TypeDatagram }

// Append implements Message.
func (d *Datagram) Append(b []byte) []byte { return append(b, d.Payload...) }

// Decode implements Message. Payload aliases the decoded buffer.
func (d *Datagram) Decode(r *Reader) error {
	d.Payload = r.Rest()
	return r.Err()
}
