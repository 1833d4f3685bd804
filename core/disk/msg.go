package disk

// This file is the message codec: the payload of wire.TypeDisk. Every
// message is one msg, encoded as
//
//	kind   1 byte (msgKind)
//	disk   uvarint length (1..maxDiskName), then the name's bytes
//	epoch  uvarint: the server epoch the sender means
//	fields the kind's fields, in the order of encode below
//
// request (client → server, one piece): view (epoch uvarint, coord
// uvarint), seq, ackedBelow, op (1 byte), off, len (uvarints), flags (1
// byte: fua 1, noHole 2), data (uvarint length, bytes: a write's len
// bytes, empty otherwise).
// reply (server → client): view (the request's, echoed), seq, refusal (1
// byte: 0 none, then stale epoch, stale view, not serving, excluded),
// errno (1 byte, 0 with a refusal), data (a read's bytes when OK).
// announce (server → members): server incarnation (node, boot), clients
// (count, then node ids, strictly increasing).
// stopped (server → members): nothing more.
//
// Decoding is strict and never panics: a wrong kind, op, flag, refusal or
// errno, a length over MaxPiece, a write whose data is not len bytes,
// unsorted clients, a truncated field or trailing bytes are an error
// wrapping errMalformed (Step counts it and drops the message).

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/corral-ha/corral/core/wire"
)

// errMalformed is wrapped by every decode error.
var errMalformed = errors.New("malformed disk message")

// maxDiskName bounds a disk's name on the wire (the header's bound).
const maxDiskName = maxHeaderName

// maxClients bounds an announce's client list (node ids are 16 bits).
const maxClients = 1 << 16

// msgKind is a message's kind. Append only.
type msgKind uint8

// The message kinds.
const (
	mkRequest  msgKind = iota + 1 // client → server: one piece of a request
	mkReply                       // server → client: a piece's result or a refusal
	mkAnnounce                    // server → members: I serve disk at epoch, for these clients
	mkStopped                     // server → members: I stopped serving disk at epoch
	mkLast                        // not a kind: one past the last
)

var kindNames = [...]string{mkRequest: "request", mkReply: "reply", mkAnnounce: "announce", mkStopped: "stopped"}

func (k msgKind) String() string {
	if k > 0 && k < mkLast {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// refusal is why a server did not take a request (a reply's).
type refusal uint8

// The refusals.
const (
	rfNone       refusal = iota // taken: errno is the result
	rfStaleEpoch                // the request's epoch is not the server's
	rfStaleView                 // tagged with a view older than the server's barrier
	rfNotServing                // the server does not serve the disk (any more)
	rfExcluded                  // the sender's incarnation is not a member of the server's view
	rfLast
)

var refusalNames = [...]string{rfNone: "ok", rfStaleEpoch: "stale-epoch", rfStaleView: "stale-view", rfNotServing: "not-serving", rfExcluded: "excluded"}

func (r refusal) String() string {
	if r < rfLast {
		return refusalNames[r]
	}
	return fmt.Sprintf("refusal(%d)", uint8(r))
}

// Request flags on the wire.
const (
	flagFUA    = 1
	flagNoHole = 2
)

// msg is any message; each kind uses some of the fields (encode says which).
type msg struct {
	kind       msgKind
	disk       string
	epoch      uint64
	view       wire.ViewID // request: the view it was (re)sent in; reply: the request's
	seq        uint64      // the piece's number from this client incarnation on this disk
	ackedBelow uint64      // request: every piece numbered below is answered at the client
	op         Op
	off        uint64
	n          uint32 // length
	fua        bool
	noHole     bool
	data       []byte
	refusal    refusal
	errno      Errno
	server     Inc
	clients    []wire.NodeID
}

// writes reports whether op changes the data (write, trim, zero).
func (o Op) writes() bool { return o == OpWrite || o == OpTrim || o == OpZero }

func (o Op) String() string {
	switch o {
	case OpRead:
		return "read"
	case OpWrite:
		return "write"
	case OpFlush:
		return "flush"
	case OpTrim:
		return "trim"
	case OpZero:
		return "zero"
	}
	return fmt.Sprintf("op(%d)", uint8(o))
}

func (e Errno) String() string {
	switch e {
	case OK:
		return "OK"
	case EIO:
		return "EIO"
	case EINVAL:
		return "EINVAL"
	case ENOSPC:
		return "ENOSPC"
	case ESHUTDOWN:
		return "ESHUTDOWN"
	}
	return fmt.Sprintf("errno(%d)", uint8(e))
}

// encode appends m's encoding to b.
func (m *msg) encode(b []byte) []byte {
	b = append(b, byte(m.kind))
	b = binary.AppendUvarint(b, uint64(len(m.disk)))
	b = append(b, m.disk...)
	b = binary.AppendUvarint(b, m.epoch)
	switch m.kind {
	case mkRequest:
		b = binary.AppendUvarint(b, m.view.Epoch)
		b = binary.AppendUvarint(b, uint64(m.view.Coord))
		b = binary.AppendUvarint(b, m.seq)
		b = binary.AppendUvarint(b, m.ackedBelow)
		b = append(b, byte(m.op))
		b = binary.AppendUvarint(b, m.off)
		b = binary.AppendUvarint(b, uint64(m.n))
		var f byte
		if m.fua {
			f |= flagFUA
		}
		if m.noHole {
			f |= flagNoHole
		}
		b = append(b, f)
		b = binary.AppendUvarint(b, uint64(len(m.data)))
		b = append(b, m.data...)
	case mkReply:
		b = binary.AppendUvarint(b, m.view.Epoch)
		b = binary.AppendUvarint(b, uint64(m.view.Coord))
		b = binary.AppendUvarint(b, m.seq)
		b = append(b, byte(m.refusal), byte(m.errno))
		b = binary.AppendUvarint(b, uint64(len(m.data)))
		b = append(b, m.data...)
	case mkAnnounce:
		b = binary.AppendUvarint(b, uint64(m.server.Node))
		b = binary.AppendUvarint(b, uint64(m.server.Boot))
		b = binary.AppendUvarint(b, uint64(len(m.clients)))
		for _, n := range m.clients {
			b = binary.AppendUvarint(b, uint64(n))
		}
	case mkStopped:
	}
	return b
}

// dec reads a payload; the first error sticks.
type dec struct {
	b   []byte
	err error
}

func (d *dec) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf(format+": %w", append(args, errMalformed)...)
	}
}

func (d *dec) u8(what string) uint8 {
	if d.err != nil {
		return 0
	}
	if len(d.b) < 1 {
		d.fail("%s: truncated", what)
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func (d *dec) uv(what string, max uint64) uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("%s: bad varint", what)
		return 0
	}
	if v > max {
		d.fail("%s: %d over %d", what, v, max)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *dec) bytes(what string, max uint64) []byte {
	n := d.uv(what+" length", max)
	if d.err != nil {
		return nil
	}
	if uint64(len(d.b)) < n {
		d.fail("%s: truncated", what)
		return nil
	}
	if n == 0 {
		return nil
	}
	v := append([]byte(nil), d.b[:n]...)
	d.b = d.b[n:]
	return v
}

func (d *dec) view() wire.ViewID {
	e := d.uv("view epoch", math.MaxUint64)
	c := d.uv("view coord", math.MaxUint16)
	return wire.ViewID{Epoch: e, Coord: wire.NodeID(c)}
}

// decodeMsg decodes one payload.
func decodeMsg(b []byte) (msg, error) {
	d := dec{b: b}
	var m msg
	m.kind = msgKind(d.u8("kind"))
	if d.err == nil && (m.kind == 0 || m.kind >= mkLast) {
		d.fail("unknown kind %d", uint8(m.kind))
	}
	name := d.bytes("disk", maxDiskName)
	if d.err == nil && len(name) == 0 {
		d.fail("empty disk name")
	}
	m.disk = string(name)
	m.epoch = d.uv("epoch", math.MaxUint64)
	switch m.kind {
	case mkRequest:
		m.view = d.view()
		m.seq = d.uv("seq", math.MaxUint64)
		m.ackedBelow = d.uv("acked below", math.MaxUint64)
		m.op = Op(d.u8("op"))
		if d.err == nil && (m.op < OpRead || m.op > OpZero) {
			d.fail("unknown op %d", uint8(m.op))
		}
		m.off = d.uv("off", math.MaxUint64)
		m.n = uint32(d.uv("len", MaxPiece))
		f := d.u8("flags")
		if d.err == nil && f&^(flagFUA|flagNoHole) != 0 {
			d.fail("unknown flags %#x", f)
		}
		m.fua, m.noHole = f&flagFUA != 0, f&flagNoHole != 0
		m.data = d.bytes("data", MaxPiece)
		if d.err == nil {
			if m.op == OpWrite && uint64(len(m.data)) != uint64(m.n) {
				d.fail("write of %d bytes carries %d", m.n, len(m.data))
			} else if m.op != OpWrite && len(m.data) != 0 {
				d.fail("%s carries %d data bytes", m.op, len(m.data))
			}
			if m.off > math.MaxUint64-uint64(m.n) {
				d.fail("range %d+%d overflows", m.off, m.n)
			}
		}
	case mkReply:
		m.view = d.view()
		m.seq = d.uv("seq", math.MaxUint64)
		m.refusal = refusal(d.u8("refusal"))
		m.errno = Errno(d.u8("errno"))
		m.data = d.bytes("data", MaxPiece)
		if d.err == nil {
			switch {
			case m.refusal >= rfLast:
				d.fail("unknown refusal %d", uint8(m.refusal))
			case m.errno > ESHUTDOWN:
				d.fail("unknown errno %d", uint8(m.errno))
			case m.refusal != rfNone && m.errno != OK:
				d.fail("refusal %s with errno %s", m.refusal, m.errno)
			case len(m.data) != 0 && (m.refusal != rfNone || m.errno != OK):
				d.fail("data with a failure")
			}
		}
	case mkAnnounce:
		m.server.Node = wire.NodeID(d.uv("server node", math.MaxUint16))
		m.server.Boot = uint32(d.uv("server boot", math.MaxUint32))
		n := d.uv("clients", maxClients)
		for i := uint64(0); i < n && d.err == nil; i++ {
			c := wire.NodeID(d.uv("client", math.MaxUint16))
			if len(m.clients) > 0 && c <= m.clients[len(m.clients)-1] {
				d.fail("clients not increasing")
			}
			m.clients = append(m.clients, c)
		}
	}
	if d.err == nil && len(d.b) != 0 {
		d.fail("%d trailing bytes", len(d.b))
	}
	if d.err != nil {
		return msg{}, d.err
	}
	return m, nil
}
