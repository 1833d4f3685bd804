// Package sim is corral's deterministic simulator: it runs a whole cluster of
// protocol cores in one process, on one goroutine, on a virtual clock, with a
// seeded faulty network and disk, so that thousands of fault schedules run in
// seconds and any failure replays exactly from its seed (corral help
// design, "How they are tested").
//
// # Model
//
//   - Nodes 1..N, each with L links (Addr{Node, Link}). Each link index is a
//     separate network: link l of a node talks to link l of the others.
//   - A Process is one node's logic, built by a Factory at every start and
//     driven through Tick and Receive; it sees the world only through its
//     Host: ID, Boot, Now, Rand, Send, Disk and Logf.
//   - Time: a global virtual clock and an event queue ordered by (time,
//     sequence number), so ties are broken the same way in every run. Each
//     node's clock runs at its own rate, drawn once from [1-Drift, 1+Drift],
//     and counts from its last start; Tick fires at local multiples of
//     Config.Tick (plus a phase drawn at every start).
//   - Randomness: the master seed derives (SplitMix64) independent PCG
//     sources for the setup (clock rates, drawn network), for the network
//     and scheduling, and for every (node, boot), handed out by Host.Rand.
//     Nothing reads the real clock, the global random source or map order.
//   - Network: each packet's fate is drawn when it is sent: lost with
//     probability Drop, delayed uniformly in [MinDelay, MaxDelay], given an
//     extra reordering delay with probability Reorder, duplicated with
//     probability Dup. Partition, Cut (one way, node to node), CutLink (one
//     address to another, one or both ways) and Isolate block packets sent
//     while they hold; Heal lifts them all; SetNet changes loss and delay.
//   - Faults on nodes: Crash loses the process, unsynced disk writes and
//     packets waiting for it; packets arriving while it is down are lost.
//     Restart builds a new process with Boot()+1: the boot counter lives on
//     the node's Disk under a reserved key and is synced before the process
//     exists, as the production driver does. Pause stops ticks and deliveries
//     (packets wait, like in a socket buffer) while the local clock runs on,
//     so the first Tick after it sees the jump.
//   - Disk: a sorted key-value store with a pending layer and a durable one;
//     Sync is fsync; only synced writes survive a crash.
//   - Trace: every event (start, crash, tick, send with its bytes, delivery,
//     drop and why, pause, sync, network change, Host.Logf and Sim.Logf
//     lines) is folded into TraceHash and kept in a ring for TraceTail. Equal
//     seeds give equal hashes; a difference means something nondeterministic
//     leaked in (a map iteration, the real clock, a goroutine).
//
// A run is driven from the test: New starts every node at time 0, then
// Run(d), RunUntil(cond, limit) and After(d, fn) advance time, and the fault
// methods act between (or inside After) events.
//
// # Seeds and replay
//
// Tests use package simtest: simtest.Sweep runs a test body for many seeds
// (flag -seeds=N, default 50, starting at -seedbase) and stops at the first
// failure, which prints the seed, the command that replays it and the last
// lines of the trace, for example:
//
//	replay: go test ./core/sim/ -run '^TestToySweep$' -count=1 -v -seed=12345
//
// -seed=N runs only seed N; add -simtrace=N to print more trace lines.
// A replayed seed takes exactly the same path as long as the code has not
// changed: record the commit along with the seed.
package sim
