// Package transport moves datagrams between nodes: UDP with one socket per
// link in production (ListenUDP), and an in-memory network for tests of the
// layers above (MemNetwork). It is a driver-side adapter: it runs goroutines
// and timers; the protocol cores never see it (core/node feeds them).
//
// Contract:
//
//   - Send is best-effort: a datagram may be lost, duplicated, delayed or
//     reordered, and a nil error says nothing about delivery. An error means
//     the packet was not sent (no such link, transport closed, or the kernel
//     refused it); errors name the link and its address, as in
//     "transport: link 1 (127.0.1.1:5420): send to 127.0.0.2:5420: ...".
//     Send does not keep data after it returns. Reliability, ordering,
//     fragmentation and authentication belong to core/wire and core/conn.
//   - Received packets go to the Handler given at Listen, with the local link
//     they arrived on and the sender's address (IPv4 addresses unmapped).
//     Packet.Data belongs to the handler. The handler runs on the
//     transport's reader goroutines (UDP: one per link; Mem: one per
//     transport) and on timers for packets delayed by fault injection, so it
//     may run concurrently with itself. It must return quickly, may call
//     Send, and must not call Close.
//   - Close stops the readers and waits for them, cancels delayed packets and
//     waits for deliveries in progress; after it returns the handler is not
//     called again. Send after Close returns an error wrapping net.ErrClosed.
//     A second Close returns nil.
//   - Stats returns a copy of per-link atomic counters: packets and bytes
//     that crossed each socket, send and read errors, packets dropped,
//     duplicated and delayed by fault injection, and (Mem) queue overflows.
//   - Without faults the packet path takes no lock and allocates only the
//     received packet's copy (UDP).
//
// Fault injection lets tests cut a link or a peer, one way or both, without
// root (there is no netem). It exists only when Options.FaultInjection is
// set (config [debug] fault_injection = true); otherwise AddFault returns
// ErrFaultsDisabled. A Fault matches outgoing packets on (local link,
// destination IP) and incoming ones on (arrival link, source IP); Peer lists
// one node's IPs (empty: every peer), Link -1 means every local link. Drop
// and Dup are probabilities, Delay a latency up to MaxFaultDelay. When
// several rules match a packet, any drop drops it, any dup sends or delivers
// it twice, and the delay is the largest of theirs (delays do not add).
// Delayed packets are sent or delivered by a timer, never blocking Send or
// the reader. Randomness comes from a generator seeded with Options.Seed
// (0: from crypto/rand). Dropped outgoing packets make Send return nil, as a
// lossy network would.
package transport
