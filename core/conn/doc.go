// Package conn is corral's connectivity layer (OSDL's "Cluster
// Connectivity"): hello and path discovery over every pair of links, an
// adaptive failure detector per path, and one reliable circuit per peer over
// whichever paths are up. It is a pure state machine (corral help
// design): no goroutines, no clock, no I/O.
//
// The driver feeds it:
//
//	c, err := conn.New(cfg, rng)
//	err = c.Step(now, conn.Received{Link, Data}) // a datagram that arrived on local link
//	c.Tick(now)                                  // at least every cfg.Heartbeat/2
//	id, err := c.Send(now, peer, payload)        // also Datagram(now, peer, payload)
//	rd := c.Ready()                              // packets to send, messages, events
//	c.Advance()                                  // rd is being carried out
//
// and executes each Ready in order: send rd.Packets (each names the local
// link, the peer and the peer's link; the driver maps those to addresses),
// then hand rd.Messages and rd.Events to the layers above, and takes Ready
// again while HasReady. Input is sealed; its one type is Received. Ready
// changes nothing (calling it twice returns the same). Every input seals
// at once what the circuits owe (due retransmissions, what the window
// admits); a round ends at Advance, which seals the acknowledgements not
// piggybacked on data, into the next Ready: the acknowledgement of
// messages delivered in a Ready waits one round so that replies carry it,
// and a driver that stops when idle checks HasReady after Advance.
// Give no input (Step, Tick, Send, Datagram) between Ready and Advance:
// Advance drops everything produced since the last Advance, so a message
// delivered in between would be acknowledged and never handed up
// (core/stack calls Ready and Advance back to back).
//
// Contract:
//
//   - Paths. A path is a (local link, peer link) pair. Every Heartbeat each
//     node sends a heartbeat on every path. A path's inbound direction is
//     alive while heartbeats arrive within what the path's history explains:
//     the threshold is mean + 8 standard deviations of the last 64
//     inter-arrival times, clamped to [SuspectMin, SuspectMax]. A path
//     with fewer than 16 samples counts the missing ones as the heartbeat
//     interval (what it knows before it has a history: the interval the
//     peer beats at; timers are the cluster's), so from its first
//     heartbeat on it is judged as quickly as a learned path (at the
//     floor), and every late heartbeat it did see widens the threshold as
//     on a learned path: the first failure after a start or a join is seen
//     as fast as later ones. Its outbound direction is
//     alive while the peer's latest heartbeats say it hears us on it. A path
//     is up when both directions are alive; a peer is reachable while any
//     path to it is up. Asymmetric links are reported as they are: Status
//     shows each direction of each path, and Hears/HeardBy per peer.
//   - Local pause. When this node's own ticks come later than SuspectMin
//     (a GC pause, a stopped VM) it suspects nobody for one heartbeat
//     round, so the packets that queued meanwhile are read first: the late
//     one was us.
//   - Circuits. Send returns an id. Messages to one peer are delivered to it
//     exactly once and in send order while it stays reachable, however big
//     (the wire layer fragments them), whatever paths fail meanwhile, as
//     long as one is up. In flight at most Window messages / WindowBytes;
//     the rest queue (up to QueueBytes, then Send fails with ErrQueueFull).
//     Unacknowledged messages are retransmitted with exponential backoff,
//     on the best path that is up. A peer that stays unreachable for
//     Undeliverable, or that restarts (a higher boot id: its old incarnation
//     ended uncleanly), gets its pending messages reported in an
//     EventUndeliverable, never retransmitted to the new incarnation.
//     Undeliverable means "not known to be delivered".
//   - Events (link up/down per path, peer reachable/unreachable, peer
//     restarted, undeliverable) come out of Ready in the order they
//     happened, after the messages delivered before them.
//   - Bad packets are dropped and counted (Stats), never a panic. Step
//     returns a *DropError for a Received packet (the wire layer's reason, and the sender and boot
//     id the header claims) so the driver can log the source, rate-limited.
//   - Addressing. Every packet is sealed for the peer incarnation heard from
//     (wire.Dest: id, boot, start id), so it is useless to any other node
//     or incarnation (core/wire doc.go). Before this node has heard from a
//     peer its packets to it are unbound (destination boot 0), and from an
//     unbound packet only a heartbeat is taken (Stats.Unbound counts the
//     rest): a restart's first heartbeats announce the new incarnation,
//     and circuit traffic follows once each side names the other's. A new
//     start id from a peer is a restart, like a higher boot id, and so is
//     an authentic packet of a newer incarnation addressed to an earlier
//     incarnation of this node (never delivered; wire doc.go): a replayed
//     unbound packet of a dead incarnation cannot keep this node sealing
//     for it (TestReplayedUnboundPacketDoesNotIsolate).
//   - Replayed heartbeats. A heartbeat sent more than the path's threshold
//     before the newest one heard on that path (by the sender's SentAt) is
//     no sign of life (Stats.OldHeartbeats): heartbeats withheld by someone
//     on the path (unbound ones while this node was down, or one in three
//     bound ones) pass the replay window when replayed, and kept a dead
//     peer reachable for as long as the stash lasted
//     (TestWithheldHeartbeatsDoNotKeepDeadPeerUp,
//     TestStashedUnboundHeartbeatsDoNotKeepDeadPeerUp; mutation: count
//     them -> both fail). Reordering within the threshold counts as before
//     (TestNoFalseSuspicionUnderJitter fails on the same seeds as before,
//     113 226 285 290 of 1..300; dropping every older heartbeat made it 42).
//     A restart of the peer resets the path's newest. What is left to an
//     attacker who withholds heartbeats is at most a threshold's worth of
//     the last ones before the peer died, each good for one threshold.
package conn
