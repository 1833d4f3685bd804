package wire

import (
	"errors"
	"fmt"
)

// EncodingVersion is the message encoding version Encode writes after the
// type byte. Decode accepts 1 through EncodingVersion and hands the version
// to the message through Reader.Version, so a newer node can still read the
// layouts older nodes send.
const EncodingVersion = 1

// Message errors, returned wrapped by Decode.
var (
	ErrUnknownType = errors.New("wire: unknown message type")
	ErrMsgVersion  = errors.New("wire: unsupported message encoding version")
	ErrTrailing    = errors.New("wire: trailing bytes after message")
	// ErrUnknownFlags: a flags field has bits this version does not define
	// (each encoding version defines its bits, so every message has one
	// encoding).
	ErrUnknownFlags = errors.New("wire: unknown flag bits")
)

// Message is one protocol message. Append writes its fields after b and
// returns the extended slice; Decode reads them back. Neither sees the type
// and version bytes: Encode and Decode add and check those.
type Message interface {
	Type() Type
	Append(b []byte) []byte
	Decode(r *Reader) error
}

// newMessage returns an empty message of type t, or nil if t is unknown.
// Add a case for every message type.
func newMessage(t Type) Message {
	switch t {
	case TypePing:
		return new(Ping)
	case TypePong:
		return new(Pong)
	case TypeHeartbeat:
		return new(Heartbeat)
	case TypeData:
		return new(Data)
	case TypeAck:
		return new(Ack)
	case TypeReport:
		return new(Report)
	case TypePropose:
		return new(Propose)
	case TypePromise:
		return new(Promise)
	case TypeRefuse:
		return new(Refuse)
	case TypeCommit:
		return new(Commit)
	case TypeLeaseReq:
		return new(LeaseReq)
	case TypeLeaseAck:
		return new(LeaseAck)
	case TypeLeft:
		return new(Left)
	case TypeUser:
		return new(User)
	case TypeSetState:
		return new(SetState)
	case TypeDatagram:
		return new(Datagram)
	case TypeBcast:
		return new(Bcast)
	case TypeCDB:
		return new(CDB)
	case TypeDLM:
		return new(DLM)
	case TypeDisk:
		return new(Disk)
	}
	return nil
}

// Encode returns m's type byte, EncodingVersion, then m's fields.
func Encode(m Message) []byte {
	return AppendMessage(make([]byte, 0, 64), m)
}

// AppendMessage appends the encoding of m to b, as Encode does.
func AppendMessage(b []byte, m Message) []byte {
	b = append(b, byte(m.Type()), EncodingVersion)
	return m.Append(b)
}

// Decode reads a message that Encode wrote. The message may alias b.
// Unknown types, unsupported versions, truncated fields and trailing bytes
// are errors.
func Decode(b []byte) (Message, error) {
	if len(b) < 2 {
		return nil, fmt.Errorf("wire: decode message header: %w", ErrTruncated)
	}
	t, v := Type(b[0]), b[1]
	m := newMessage(t)
	if m == nil {
		return nil, fmt.Errorf("wire: decode: %w %d", ErrUnknownType, uint8(t))
	}
	if v == 0 || v > EncodingVersion {
		return nil, fmt.Errorf("wire: decode %v: %w %d", t, ErrMsgVersion, v)
	}
	r := &Reader{b: b[2:], ver: v}
	if err := m.Decode(r); err != nil {
		return nil, fmt.Errorf("wire: decode %v: %w", t, err)
	}
	if r.Err() != nil {
		return nil, fmt.Errorf("wire: decode %v: %w", t, r.Err())
	}
	if r.Len() != 0 {
		return nil, fmt.Errorf("wire: decode %v: %w (%d bytes)", t, ErrTrailing, r.Len())
	}
	return m, nil
}

// Ping is a probe: the peer answers with a Pong carrying the same Seq and
// Payload. Tests, benchmarks and the simulator's toy protocol use it.
type Ping struct {
	Seq     uint64
	Payload []byte
}

// Pong answers a Ping.
type Pong struct {
	Seq     uint64
	Payload []byte
}

var (
	_ Message = (*Ping)(nil)
	_ Message = (*Pong)(nil)
)

// Type implements Message.
func (*Ping) Type() Type { return TypePing }

// Append implements Message.
func (p *Ping) Append(b []byte) []byte { return appendSeqPayload(b, p.Seq, p.Payload) }

// Decode implements Message.
func (p *Ping) Decode(r *Reader) error {
	p.Seq, p.Payload = r.Uint64(), r.Bytes()
	return r.Err()
}

// Type implements Message.
func (*Pong) Type() Type { return TypePong }

// Append implements Message.
func (p *Pong) Append(b []byte) []byte { return appendSeqPayload(b, p.Seq, p.Payload) }

// Decode implements Message.
func (p *Pong) Decode(r *Reader) error {
	p.Seq, p.Payload = r.Uint64(), r.Bytes()
	return r.Err()
}

func appendSeqPayload(b []byte, seq uint64, payload []byte) []byte {
	w := Writer(b)
	w.Uint64(seq)
	w.Bytes(payload)
	return w
}
