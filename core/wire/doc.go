// Package wire is corral's wire format: message types, their binary
// encoding, and authenticated packets with fragmentation, replay protection
// and reassembly. It is a pure package (ARCHITECTURE.md section 1): no
// goroutines, no clock, no global randomness, no I/O. Callers pass the
// node's monotonic time as a time.Duration where time matters.
//
// # Messages
//
// A message is encoded as its Type (1 byte, an append-only enum), the
// encoding version (1 byte, EncodingVersion) and its fields, written with a
// Writer and read back with a Reader, without reflection. Decode dispatches
// on the type, rejects unknown types, unsupported versions, truncated fields
// and trailing bytes, and never panics.
//
// # Packets
//
// An Endpoint seals what one node sends and opens what it receives. Every
// packet (big-endian) is
//
//	offset  size  field
//	0       2     magic 0xC0 0x8A
//	2       1     wire version (1)
//	3       1     kind: 1 whole message, 2 fragment
//	4       8     cluster id: first 8 bytes of SHA-256(cluster name)
//	12      2     sender NodeID
//	14      4     sender boot id
//	18      8     sender packet counter, < 2^48
//	26      n+16  AES-256-GCM ciphertext of the payload, then the tag
//
// and the 26-byte header is the AEAD's additional data. The key is
// HKDF-SHA256 of the 32-byte cluster key with the info "corral wire v1
// packet key for cluster " + the cluster name. A fragment's payload starts
// with a fragment header: message id (8 bytes, the counter of its first
// fragment), index (2), count (2, at least 2), message size (4); fragment i
// holds bytes [i*c, min((i+1)*c, size)) of the message, c = ceil(size/count),
// and is sealed with counter id+i. A message that fits in MaxPacket goes in
// one whole packet; a larger one (up to MaxMessage) in fragments.
//
// # Nonces
//
// The 12-byte nonce is sender (2 bytes), boot id (4 bytes), the low 48 bits
// of the counter (6 bytes). It never repeats under one key as long as the
// driver persists the boot id and gives a greater one at every start, and
// the counter never wraps: Seal returns ErrCounterExhausted rather than use
// counter 2^48, and Open drops such counters.
//
// # Opening
//
// Open checks, in order: size (ErrOversize above MaxPacket+256 bytes,
// ErrShort below the header and tag), magic (ErrBadMagic), version and kind
// (ErrVersion), cluster id (ErrCluster), sender != self (ErrOwn), boot id
// against the last authenticated one of that sender (ErrStaleBoot if lower),
// the replay window of that (sender, boot) (ErrReplay for a counter seen
// already or older than the 4032-counter window), then the AEAD (ErrAuth).
// Only an authentic packet changes state: a higher boot id starts a new
// incarnation (new window, the old one's partial messages discarded,
// Delivery.NewBoot set), and the counter is marked in the window. Fragments
// are then checked (ErrBadFragment, ErrOversize for a declared size above
// MaxMessage) and reassembled, tolerating loss, duplication and reordering.
// A partial message is discarded ReassemblyTimeout after its first fragment
// (Stats.Expired; Expire lets the driver do it on ticks) or, oldest first,
// when a new one would take the sender's partial messages beyond
// MaxReassembly (Stats.Evicted). Late fragments of a discarded message are
// dropped (ErrExpired, ErrReassemblyLimit).
//
// # Counting
//
// Stats counts packets and messages sealed, Open calls (Received), packets
// accepted (Opened), messages delivered, partial messages expired and
// evicted, and one counter per drop reason, so that
// Received == Opened + Dropped().
package wire
