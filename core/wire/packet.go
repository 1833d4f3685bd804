package wire

import (
	"encoding/binary"
	"errors"
)

// NodeID identifies a node of the cluster.
type NodeID uint16

// Packet layout (big-endian); the header is the AEAD's additional data.
const (
	offMagic   = 0  // 2 bytes: magic
	offVersion = 2  // 1 byte: wire version
	offKind    = 3  // 1 byte: kindWhole or kindFragment
	offCluster = 4  // 8 bytes: first 8 bytes of SHA-256(cluster name)
	offFrom    = 12 // 2 bytes: sender NodeID
	offBoot    = 14 // 4 bytes: sender boot id
	offStart   = 18 // 8 bytes: sender start id (random, drawn at every start)
	offTo      = 26 // 2 bytes: destination NodeID
	offToBoot  = 28 // 4 bytes: destination boot id, 0 if the sender does not know it yet
	offToStart = 32 // 8 bytes: destination start id (0 with boot 0)
	offCounter = 40 // 8 bytes: sender packet counter, < 2^48
	headerLen  = 48 // then the sealed payload: ciphertext || 16-byte tag

	tagLen = 16 // AES-GCM tag

	// Fragment header, at the start of a fragment's plaintext.
	fragID    = 0  // 8 bytes: message id = counter of its first fragment
	fragIndex = 8  // 2 bytes: index of this fragment, < count
	fragCount = 10 // 2 bytes: number of fragments, 2..65535
	fragSize  = 12 // 4 bytes: size of the whole message
	fragLen   = 16 // then the fragment's bytes

	// Overhead is what a packet adds to a whole message: the header and
	// the tag. A fragment adds 16 bytes more.
	Overhead = headerLen + tagLen

	magic0, magic1 = 0xC0, 0x8A // "corral" packet magic
	// wireVersion 2: the header names the destination and the sender's
	// start id, and every sender incarnation has its own key. A version-1
	// packet is dropped with ErrVersion (and a version-2 one by a
	// version-1 node), so mixed versions fail clearly.
	wireVersion = 2

	kindWhole    = 1 // the payload is one whole message
	kindFragment = 2 // the payload is a fragment header and part of a message

	// counterLimit bounds the send counter: the nonce holds its low 48 bits.
	counterLimit = 1 << 48
	// packetSlack lets Open accept datagrams a little longer than its own
	// MaxPacket, from a peer configured slightly differently.
	packetSlack = 256
)

// Drop reasons: Open returns one of these (possibly wrapped; test with
// errors.Is) and counts it in Stats.
var (
	ErrShort           = errors.New("wire: packet truncated")
	ErrBadMagic        = errors.New("wire: bad packet magic")
	ErrVersion         = errors.New("wire: unsupported wire version or packet kind")
	ErrCluster         = errors.New("wire: packet from another cluster")
	ErrOwn             = errors.New("wire: own packet")
	ErrUnknownSender   = errors.New("wire: packet from a node id that is not configured")
	ErrMisaddressed    = errors.New("wire: packet addressed to another node or to another incarnation of this one")
	ErrAuth            = errors.New("wire: packet authentication failed")
	ErrStaleBoot       = errors.New("wire: packet from an older boot of the sender")
	ErrReplay          = errors.New("wire: replayed or too old packet")
	ErrBadFragment     = errors.New("wire: bad fragment header")
	ErrOversize        = errors.New("wire: packet or message too large")
	ErrReassemblyLimit = errors.New("wire: fragment of a message dropped for the reassembly memory limit")
	ErrExpired         = errors.New("wire: fragment of a message whose reassembly timed out")
)

// ErrNewerSelf is a drop reason too: an authentic packet addressed to
// an incarnation of this node whose boot id is not below this start's
// (Delivery.SelfBoot names it). This start's boot id is stale (its data
// directory was wiped or restored), and its peers drop its packets
// (ErrStaleBoot) until it starts again above SelfBoot (doc.go). A packet
// that only claims such a destination, unauthenticated, is ErrMisaddressed.
var ErrNewerSelf = errors.New("wire: packet addressed to a newer incarnation of this node")

// ErrCounterExhausted is Seal's error once the 48-bit send counter is used
// up; the nonce would repeat.
var ErrCounterExhausted = errors.New("wire: send counter exhausted: restart the node to get a new boot id")

// Stats counts what an Endpoint did. Every Open call is counted once in
// Received and once more in exactly one of Opened or a drop reason, so
// Received == Opened + Dropped().
type Stats struct {
	Sealed         uint64 // packets produced by Seal
	SealedMessages uint64 // messages passed to Seal successfully
	Received       uint64 // Open calls
	Opened         uint64 // packets accepted: authentic, fresh and well formed
	Delivered      uint64 // messages Open returned whole or reassembled
	Expired        uint64 // partial messages discarded after ReassemblyTimeout
	Evicted        uint64 // partial messages discarded to stay within MaxReassembly

	// Packets dropped, by reason (the error Open returned).
	Short           uint64 // ErrShort
	BadMagic        uint64 // ErrBadMagic
	Version         uint64 // ErrVersion
	Cluster         uint64 // ErrCluster
	Own             uint64 // ErrOwn
	UnknownSender   uint64 // ErrUnknownSender
	Misaddressed    uint64 // ErrMisaddressed
	NewerSelf       uint64 // ErrNewerSelf
	Auth            uint64 // ErrAuth
	StaleBoot       uint64 // ErrStaleBoot
	Replay          uint64 // ErrReplay
	BadFragment     uint64 // ErrBadFragment
	Oversize        uint64 // ErrOversize
	ReassemblyLimit uint64 // ErrReassemblyLimit
	Late            uint64 // ErrExpired
}

// Dropped returns the number of packets dropped for any reason.
func (s Stats) Dropped() uint64 {
	return s.Short + s.BadMagic + s.Version + s.Cluster + s.Own + s.UnknownSender + s.Misaddressed + s.NewerSelf + s.Auth +
		s.StaleBoot + s.Replay + s.BadFragment + s.Oversize +
		s.ReassemblyLimit + s.Late
}

// counter returns the Stats field counting drops for err, one of the drop
// reasons above.
func (s *Stats) counter(err error) *uint64 {
	switch err {
	case ErrShort:
		return &s.Short
	case ErrBadMagic:
		return &s.BadMagic
	case ErrVersion:
		return &s.Version
	case ErrCluster:
		return &s.Cluster
	case ErrOwn:
		return &s.Own
	case ErrUnknownSender:
		return &s.UnknownSender
	case ErrMisaddressed:
		return &s.Misaddressed
	case ErrNewerSelf:
		return &s.NewerSelf
	case ErrAuth:
		return &s.Auth
	case ErrStaleBoot:
		return &s.StaleBoot
	case ErrReplay:
		return &s.Replay
	case ErrBadFragment:
		return &s.BadFragment
	case ErrOversize:
		return &s.Oversize
	case ErrReassemblyLimit:
		return &s.ReassemblyLimit
	case ErrExpired:
		return &s.Late
	}
	return nil
}

// Dest names the destination of a packet: a node and the incarnation of
// it the sender talks to. Boot 0 means the sender has not heard from that
// node yet (Start is then 0 too): such a packet is "unbound" and the
// receiver accepts it from any of its incarnations (Delivery.Unbound), so
// only discovery traffic (heartbeats) may travel in one.
type Dest struct {
	ID    NodeID
	Boot  uint32
	Start uint64
}

// header is a parsed packet header.
type header struct {
	kind    uint8
	from    NodeID
	boot    uint32
	start   uint64
	to      Dest
	counter uint64
}

func putHeader(b []byte, cluster *[8]byte, h header) {
	b[offMagic], b[offMagic+1] = magic0, magic1
	b[offVersion] = wireVersion
	b[offKind] = h.kind
	copy(b[offCluster:offCluster+8], cluster[:])
	binary.BigEndian.PutUint16(b[offFrom:], uint16(h.from))
	binary.BigEndian.PutUint32(b[offBoot:], h.boot)
	binary.BigEndian.PutUint64(b[offStart:], h.start)
	binary.BigEndian.PutUint16(b[offTo:], uint16(h.to.ID))
	binary.BigEndian.PutUint32(b[offToBoot:], h.to.Boot)
	binary.BigEndian.PutUint64(b[offToStart:], h.to.Start)
	binary.BigEndian.PutUint64(b[offCounter:], h.counter)
}

func getHeader(b []byte) header {
	return header{
		kind:    b[offKind],
		from:    NodeID(be16(b[offFrom:])),
		boot:    be32(b[offBoot:]),
		start:   be64(b[offStart:]),
		to:      Dest{ID: NodeID(be16(b[offTo:])), Boot: be32(b[offToBoot:]), Start: be64(b[offToStart:])},
		counter: be64(b[offCounter:]),
	}
}

// nonce returns the AEAD nonce of a packet: four zero bytes and the 8-byte
// counter. The key is the sender incarnation's own (incarnationKey), so
// the nonce is unique under its key as long as the counter never repeats
// within one incarnation, which Seal guarantees.
func nonce(counter uint64) [12]byte {
	var n [12]byte
	binary.BigEndian.PutUint64(n[4:], counter)
	return n
}
