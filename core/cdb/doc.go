// Package cdb is the replicated configuration database (corral help
// design, "Ordered broadcast and the configuration database", G3; after NT
// clusters' database and Global Update Manager). It is a pure state
// machine: no goroutines, clock, randomness or I/O; maps are
// iterated in sorted order wherever that reaches an output.
//
// # Data
//
// A versioned key-value tree: keys are paths ("/resources/web/ip"), values
// bytes. One revision counter for the whole database grows across views:
// every applied update (a transaction: conditions If on keys' ModRev, 0 =
// absent, and ops Then, all or nothing) gets the next revision, even when
// its conditions fail (then nothing changes) and even a no-op barrier.
// Each key keeps CreateRev and ModRev. Each log Entry is (Rev, View that
// sequenced it, bcast Seq, Update); (Rev, View) identifies it. Requests
// carry (Client, Seq); the state keeps each client's last Seq and result,
// so a retry gets the original Result and is not applied twice, and a
// lower Seq is a no-op answered with Result.Old.
//
// # The driver's contract
//
// The driver (core/node, or a test harness) owns one DB per node (db, err
// := New(cfg), then Recover after a restart). Its inputs go through
// db.Step(now, in) error, with in one of the sealed Input types: Hold and
// Commit (bcast deliveries, conversions of a Delivery), BeginAdopt{View,
// Source} and Receive{From, Msg} (a peer's Fetch or Chunk). Client writes
// (Propose) and reads are methods. db.Ready() changes nothing; db.Advance()
// acknowledges it (a driver calls it right after taking Ready). In its
// event loop:
//
//  1. Client write: payload, err := db.Propose(req). err is ErrNoQuorum
//     ("no quorum: 1 of 3 votes", from SetQuorum), ErrInvalidRequest (a
//     malformed request, Validate's: errors.Is) or "catching up"; nil
//     payload and nil err: a retry already applied, answered in Ready.
//     Else broadcast payload with bcast (and every Ready.Broadcast too).
//  2. bcast Agreed delivery of a payload: db.Step(now, Hold{View, Primary
//     (the view's agreed primary flag, not this node's lease), Seq,
//     Payload, Flush}). It appends a tentative entry (Persist.Entries).
//     Step refuses (an error) a Hold during an adoption and a Commit that
//     is not the next tentative entry: driver bugs, to log.
//     The driver MUST fsync that Persist before it sends any bcast message
//     produced after that delivery that vouches for what a node holds (the
//     Ack covering it; the coordinator's Stable): so a Safe delivery means
//     every member of the view has it on disk. Messages that vouch for
//     nothing (Submit, Order) may go out before that fsync, so the members
//     write in parallel.
//  3. bcast Safe delivery: db.Step(now, Commit(same Delivery)). The entry
//     is applied; if this node took the request its Reply comes out. Flush deliveries
//     (Flush: the view-change flush at Install) are given to Hold and
//     Commit too but stay tentative: the survivors may be fewer than the
//     old view, so only the next adoption commits them. Deliveries of a
//     view that is not primary are never logged nor applied; their
//     requests are answered ErrOutcomeUnknown (the client retries with the
//     same id).
//  4. Every Ready (then Advance), in order: write Persist durably (Snapshot: replace the
//     base and delete entries <= Base; Truncate: delete entries >= it;
//     put Entries by Rev; keep Commit and Adopted). A Persist that only
//     moves Commit need not be written before the rest of its Ready (its
//     Replies included): the driver may write Rev() with a later Persist
//     or when idle. A crash that loses it loses no answered update: the
//     entries are on disk at every member, Recover keeps those after the
//     persisted Commit tentative, and the next adoption commits them (it
//     compares logs, not Commit marks). Replies for revisions below the
//     Persist's first entry, when it has no Snapshot, Truncate or Adopted,
//     were made durable by an earlier Ready and may be answered before
//     the write. Then send Messages
//     (Fetch/Chunk, encoded with Message.Append / DecodeMessage) and
//     Broadcast payloads, then answer Replies, hand Watch events to their
//     subscribers and log Progress (Progress.String).
//  5. SetQuorum(quorate, votes, expected) whenever this node's view, its
//     primary flag or its lease changes: quorate = in a primary view and
//     holding the lease (G2). Get and List read local committed state
//     with stale = !quorate, or while catching up (`--stale` reads, the
//     node's own consumers).
//  6. At a restart: New, then Recover(Persisted{Snapshot, Entries,
//     Commit, Adopted}) from what step 4 wrote. Tentative entries survive
//     a restart; they are resolved by the next adoption.
//  7. Linearizable reads: Read(id) (refused with ErrNoQuorum unless
//     quorate), then ReadRound(now) in every round, right after SetQuorum
//     with the lease judged by the clock now; Messages carry ReadAsk and
//     ReadIndex like Fetch and Chunk (an ask unanswered for
//     Config.AskAgain is sent again: a lost message is not reported to
//     the DB); a Ready.Reads entry says the read
//     may be served (Get or List, now) or failed (ErrNoQuorum, or
//     ErrReadRetry: the coordinator could not answer). CancelRead forgets
//     a read whose client stopped waiting. See "Linearizable reads".
//
// # View changes and adoption (G3)
//
// Membership carries each member's db.Head() (Rev and View of its last
// entry, and Adopted: the last primary view whose history it finished
// adopting) in its promise. When a primary view is installed, every member
// computes src := ChooseSource(candidates of the view's members): the
// newest Adopted, then the longest log, then the lowest id. Adopted is
// used, not the membership LP, because a node that installed a view but
// crashed before catching up must not be chosen for it.
//
// After bcast.Install of the new view and after the flush deliveries of
// the old view (step 3), the driver gives BeginAdopt{view, src} on
// every member, and gives bcast no message of the new view on a member
// while db.CatchingUp() (so no new-view update becomes safe before every
// member has the adopted history).
//
//   - On src: its log as it is now is the adopted history, and a no-op
//     barrier is put in Ready.Broadcast.
//   - Elsewhere: a Fetch (with the node's Base and its log's runs of
//     views) goes to src; src answers Chunks from the last common entry
//     (or a snapshot if it no longer has those entries), at most
//     ChunkEntries each (given to Step as Receive), up to the head it had
//     at BeginAdopt. The node
//     truncates entries src lacks (tentative ones, never acknowledged:
//     they are never seen by a consumer) and appends what it lacks.
//     Progress says how far it is.
//   - Nothing adopted is applied yet: membership may install a primary
//     view on some members while others install a rival one, and such a
//     view must commit nothing. The first Safe delivery of the view proves
//     every member installed it and holds its history; then each member
//     applies the adopted entries, and watches see them.
//
// Replies that depend on an adoption (requests this node took that turn
// out applied, maybe elsewhere) and fresh reads wait until the node is
// settled: its first Safe commit in the adopted view (the barrier at the
// latest), which proves every member holds the adopted history.
//
// Why G3 holds: an update is answered only after a Safe commit (every
// member of its primary view has it on disk) or after a settled adoption
// (every member of that primary view holds it); each later primary view
// intersects it and adopts from the member with the newest Adopted view,
// whose log therefore contains it; log matching ((Rev, View) names one
// history, since a view sequences once after adopting one history) keeps
// order and truncates only what was never answered.
//
// # Reads, history and watches
//
// Get and List read the committed state of this node: never an entry that
// was not committed, not older than anything this node answered, but not
// linearizable across nodes (a member may commit a Safe entry later than
// the node that answered it); Read makes them linearizable (below). History(n) gives the last n changes (who,
// when by the origin's clock, what). Watch(prefix) makes every later
// committed change under prefix come out in Ready.Watch, in order;
// WatchFrom(prefix, start) also replays the committed changes from
// revision start by applying the log again from the base snapshot
// (ErrCompacted when start is in the snapshot). A node that jumps ahead
// by a snapshot (Restore) gives its watches the keys that differ, as sets
// and deletes at the snapshot's revision, so a watcher's view stays the
// node's state.
//
// # Linearizable reads
//
// A read begun on any member returns a state at least as new as every
// update acknowledged (anywhere) before it began, with no log entry
// (a read is not a no-op write: it bumps no revision). It is a read
// index (raft's ReadIndex, with the view's coordinator as leader):
//
//  1. Read(id) on a quorate node. In ReadRound, once the node is settled
//     in the primary view V it adopted (its committed state holds V's
//     adopted history), the read asks V's coordinator (ViewID.Coord) for
//     an index: ReadAsk{V, id}. On the coordinator itself the index is
//     taken locally (a lease read: no round).
//  2. The coordinator answers in a ReadRound, only while it is quorate
//     (holds its lease by the clock now) and settled in V: the index is
//     its log head, tentative entries included. Otherwise it answers no
//     (ErrReadRetry), or holds the ask until it settled in V.
//  3. The reader serves the read once it is still in V, settled, and its
//     committed revision reached the index. A view change before that
//     takes the index again in the new view (the read's view is the one
//     it adopted); losing quorum fails the read (ErrNoQuorum).
//
// Two guards order a read, each sufficient for updates of V and earlier:
//
//   - The reader's quorum check at Read (and in every ReadRound until the
//     read is served): it is in the primary view V and holds its lease.
//     An update acknowledged in V was Safe, so held by every member of V,
//     the reader included; one of an earlier primary view is in V's
//     adopted history. So the reader's own log head at Read already
//     covers every write of V and earlier, and its lease means no later
//     primary view took a write yet (G2).
//   - The coordinator's index, taken under its own lease once it is
//     settled in V: defence in depth, and the one guard that does not
//     rest on the reader's clock. (A reader that is the coordinator has
//     both in one: a lease read.)
//
// The lease is judged by the clock of the driver's loop iteration (the
// now given to SetQuorum before ReadRound); what that iteration does
// (answer an ask, serve a read) happens later by at most one iteration,
// which the margin in lease·(1+drift)+margin covers.
//
// Why every acknowledged update W is covered. W was answered after its
// Safe commit (or a settled adoption). Say the read began at t0 and the
// coordinator C of V took the index at t1 > t0 (after the ask came, or
// on C at the ReadRound after Read).
//
//   - W acknowledged in V: a Safe delivery in V needs C's Stable, which
//     C sends only once its Hold of W is durable (step 2), so C held W
//     (rev r) before t0 < t1; C's log is never truncated within V, so
//     its head at t1 is >= r.
//   - W acknowledged in an earlier primary view: every later primary
//     view adopts a history that contains W at its revision (G3); C is
//     settled in V, so W is in C's log, at or below its head.
//   - W acknowledged in a later primary view V' (one C is not a member
//     of, or has not installed yet): impossible before t1. If C is in V',
//     no update of V' is Safe before C installed it, after t1. If not,
//     V' takes writes only after C's lease could last (G2: the takeover
//     wait), and C held its lease at t1; so W came after t1, and after t0.
//
// The reader applies V's history in the same order as C (log matching:
// (Rev, View) names one history within V), so once its committed revision
// reaches the index, in V, its state contains every such W. The read
// returns no state that is not committed (Safe: on disk on every member
// of V, so in every later primary view), and reads that follow it take
// an index at least as high: the sequence of reads and writes is
// linearizable. Served without waiting for the index (a mutation),
// the simulation (sim_test.go) finds a stale read.
//
// Snapshot/Restore use a versioned binary encoding (wire.Writer/Reader):
// keys, the dedupe table and the history, canonical (sorted), so
// Restore(x) then Snapshot() gives x back. The log is folded into a new
// base snapshot every CompactEvery committed entries.
package cdb
