// Package wire is corral's wire format: message types, their binary
// encoding, and authenticated packets with fragmentation, replay protection
// and reassembly. It is a pure package (corral help design): no
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
// The Writer and Reader also carry the fields every core's codec shares, so
// each is written one way: a view id (Writer.ViewID: epoch uvarint,
// coordinator 2 bytes), a bool (one byte, 0 or 1; anything else fails the
// Reader), a list's length (Reader.Count: bounded by a limit and by what the
// unread bytes can hold), and a decoder's verdict that its input is
// malformed (Reader.Fail).
//
// # Packets
//
// An Endpoint seals what one node sends and opens what it receives. Every
// packet (big-endian) is
//
//	offset  size  field
//	0       2     magic 0xC0 0x8A
//	2       1     wire version (2)
//	3       1     kind: 1 whole message, 2 fragment
//	4       8     cluster id: first 8 bytes of SHA-256(cluster name)
//	12      2     sender NodeID
//	14      4     sender boot id
//	18      8     sender start id (random, drawn at every start)
//	26      2     destination NodeID
//	28      4     destination boot id (0: not known to the sender yet)
//	32      8     destination start id (0 with boot 0)
//	40      8     sender packet counter, < 2^48
//	48      n+16  AES-256-GCM ciphertext of the payload, then the tag
//
// and the 48-byte header is the AEAD's additional data: a packet is bound
// to its sender incarnation and to its destination, node and incarnation.
// Each sender incarnation (node, boot, start) has its own key,
// HKDF-Expand(PRK, "corral wire v2 packet key for cluster " + name + 0x00
// + node (2 bytes) + boot (4) + start (8), 32), with PRK =
// HKDF-Extract(salt "corral wire v2", the 32-byte cluster key). A
// fragment's payload starts with a fragment header: message id (8 bytes,
// the counter of its first fragment), index (2), count (2, at least 2),
// message size (4); fragment i holds bytes [i*c, min((i+1)*c, size)) of the
// message, c = ceil(size/count), and is sealed with counter id+i. A message
// that fits in MaxPacket goes in one whole packet; a larger one (up to
// MaxMessage) in fragments. Version 1 (no destination, one key for the
// cluster) is dropped with ErrVersion, and version 2 by version-1 nodes: a
// cluster of mixed versions fails clearly (every node logs it), it does not
// half work.
//
// # Nonces
//
// The 12-byte nonce is four zero bytes and the 8-byte counter, under the
// sender incarnation's key. Within an incarnation the counter never
// repeats: Seal returns ErrCounterExhausted rather than use counter 2^48,
// and Open drops such counters. Across incarnations the keys differ: the
// boot id grows at every start, and the start id is 64 random bits drawn
// by the driver from crypto/rand at every start (the core stays
// deterministic given it). A data directory wiped or restored from a
// backup may repeat a boot id (and before the driver took the clock as
// the boot id's floor it did: boot 1 again); the start id still differs,
// so no (key, nonce) pair repeats unless two starts of one node with one
// boot id draw the same 64 bits (probability about n^2/2^65 for n such
// starts).
//
// # Incarnations, destinations and replays
//
// How does a receiver tell a new incarnation of a peer from a replay of an
// old one? Not by the start id: random ids compare only for inequality,
// and a recorded packet of an earlier incarnation is as authentic as one of
// the current. Boot ids give the order: a packet from a boot id below the
// one last authenticated from that node is dropped (ErrStaleBoot), and so
// is one with the same boot id and another start id (either could be the
// newer). For that order to survive a wiped or restored data directory the
// driver takes the boot id as max(persisted + 1, the wall clock's Unix
// seconds) (core/node): a node restarted from scratch starts above every
// boot id it used before, and its peers take it at once, with no need to
// restart it again. The order rests on the clock only in that case and
// only for liveness, and not even there: a node whose data directory is
// lost while its boot id is ahead of the clock (quick restarts, or a clock
// set back) starts below the boot id B its peers saw, and they drop its
// packets as stale (each logs that once per boot id). They still send to
// the incarnation they last heard: destination (this node, B, old start
// id). Such a packet is misaddressed, but when the destination boot id is
// not below this start's (above it, or equal with another start id), Open
// authenticates it under its sender's incarnation key and, if authentic,
// drops it with ErrNewerSelf instead, Delivery.SelfBoot = B. The driver
// then persists B and starts again (core/node), at a boot id above B,
// which its peers take at once; a start that has joined a view since (it
// may run resources) only logs an error. Why this is safe: nothing but
// the candidate key cache changes before the AEAD check (which costs what
// any packet's does; no sender state is created), and an unauthenticated
// claim is ErrMisaddressed;
// an authentic one, even replayed from long ago, proves that a holder of
// the cluster key heard this node at boot B, so this start's boot id is
// not above every one it used and moving above B is right; and each such
// restart raises the boot id strictly past the packet's destination, so a
// replay of the same packet is ErrMisaddressed afterwards (no restart
// loop from recorded packets). Safety (no nonce reuse, no replay
// accepted) never depends on the clock.
//
// Replays within an incarnation are dropped by the window of that (sender,
// boot, start). A sender has one counter for all destinations, so the
// window of one receiver holds the counters it saw, not the ones the
// sender used for others: before version 2, packets recorded on their way
// from n3 to n1 and sent to n2 were fresh to n2, which delivered n3's
// circuit messages to n1 as its own (every node of a fresh cluster has
// boot 1 and every circuit starts at sequence 1), and n3's real message in
// such a slot was then dropped as a duplicate yet acknowledged: lost. Now
// the destination is authenticated: a packet whose destination node is not
// this one, or whose destination incarnation is not this one, is dropped
// and never delivered (ErrMisaddressed), so a window only ever sees
// counters meant for it and a circuit slot only ever holds the real
// message. One such packet still teaches: addressed to this node but to
// another incarnation of it, from a sender incarnation newer than the one
// known (or from a sender not heard yet), it is authenticated, and if
// authentic that incarnation becomes the sender's known one (NewBoot; its
// window stays empty). Without that, a replayed unbound packet of a dead
// incarnation, taken by a node just after its own start, bound it to that
// incarnation for good: it sealed for the dead one, the live one sealed
// for its previous start, and each dropped the other
// (TestMisaddressedTeachesIncarnation; core/conn
// TestReplayedUnboundPacketDoesNotIsolate). Learning is monotone (only a
// newer boot id), so replays of such packets only ever move a receiver
// toward the live incarnation. A packet with destination boot 0 was sealed
// before the sender heard from this node: it may be older than this
// node's start, so the layer above takes only heartbeats (discovery) from
// it (Delivery.Unbound; core/conn); everything else waits until the sender
// names this incarnation, which it learns from the first packet it
// authenticates. Heartbeats withheld by someone on the path (unbound ones
// while this node was down, or bound ones) pass the window when replayed;
// core/conn judges their age (TestStashedUnboundHeartbeatsDoNotKeepDeadPeerUp).
// Messages whose effect must not move between nodes name their target
// besides: LeaseReq, LeaseAck and SetState carry To, checked by the
// receiver (lease sequence numbers run alike on every member).
//
// # Opening
//
// Open checks, in order: size (ErrOversize above MaxPacket+256 bytes,
// ErrShort below the header and tag), magic (ErrBadMagic), version and kind
// (ErrVersion), cluster id (ErrCluster), sender != self (ErrOwn), sender in
// the configuration (ErrUnknownSender: before anything is allocated or
// kept for it, so unknown ids cost no memory), destination node
// (ErrMisaddressed), boot and start id against the last authenticated ones
// of that sender (ErrStaleBoot), destination incarnation (ErrMisaddressed
// unless it may teach a newer sender incarnation, above, or names an
// incarnation of this node not older than this one: an authentic one is
// ErrNewerSelf), the replay window of that incarnation (ErrReplay for a
// counter seen already or older than the 4032-counter window), then the
// AEAD (ErrAuth). Only an authentic packet changes state: a new
// incarnation (new window, the old one's partial messages discarded,
// Delivery.NewBoot set), and the counter is marked in the window (not for
// a packet that only teaches). The key
// of an incarnation not authenticated yet is derived per packet, keeping
// only the last one (so a burst from a new incarnation derives it once).
// Fragments are then checked (ErrBadFragment, ErrOversize for a declared
// size above MaxMessage) and reassembled, tolerating loss, duplication and
// reordering. A partial message is discarded ReassemblyTimeout after its
// first fragment (Stats.Expired; Expire lets the driver do it on ticks)
// or, oldest first, when a new one would take the sender's partial
// messages beyond MaxReassembly (Stats.Evicted). Late fragments of a
// discarded message are dropped (ErrExpired, ErrReassemblyLimit). On a
// drop, Delivery names the sender and boot id the header claims, so the
// driver can log who seems to send it (rate-limited: core/node).
//
// # Counting
//
// Stats counts packets and messages sealed, Open calls (Received), packets
// accepted (Opened), messages delivered, partial messages expired and
// evicted, and one counter per drop reason, so that
// Received == Opened + Dropped().
//
// # Tests
//
// Mutation -> test that catches it: skip the destination check ->
// TestCrossDestinationReplayDropped (and core/conn
// TestCrossDestinationReplayIgnored, testsuite
// TestCrossDestinationReplayLive: n2 pauses on n3's request to n1); derive
// the key without the start id -> TestNonces (equal keystreams); drop
// misaddressed packets without learning from them ->
// TestMisaddressedTeachesIncarnation; report ErrNewerSelf without
// authenticating the packet -> TestNewerSelf and TestDropBitFlips (forged
// claims believed); never report it -> TestNewerSelf (and testsuite
// TestWipedNodeBelowSeenBoot: the wiped n2 stays below the boot id its
// peers saw); drop the
// configured-sender check -> TestUnknownSenderNoState (2,000 fake ids keep
// state). FuzzKeyHolder (here and in core/conn) fuzzes what a peer with the
// key can send.
package wire
