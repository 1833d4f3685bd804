// Package node is corral's production driver (ARCHITECTURE sections 1 and
// 4): it owns the pure protocol cores and gives them what they may not
// touch themselves: the real clock, the UDP sockets, the data store and
// goroutines.
//
// Contract:
//
//   - One event loop goroutine owns every core. Packets from the transport,
//     requests from other goroutines (Send, Status, faults) and ticks all
//     become inputs on that loop, one at a time.
//   - Before each Tick the loop reads every packet already queued, so after
//     a local pause (a GC, a stopped VM) the cores see what arrived before
//     they judge anyone (ARCHITECTURE section 5, Lifeguard's rule).
//   - Each Ready is executed in order: persist first (fsync), then send,
//     then hand messages and events to the handlers.
//   - The boot id lives in <data_dir>/corral.db (bbolt); Open increments it
//     and syncs it to disk before the node sends its first packet, so the
//     (sender, boot, counter) nonce never repeats, even after a crash.
//   - Handlers (Options.OnMessage, OnEvent) run on the loop: they must not
//     block.
package node
