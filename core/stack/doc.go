// Package stack is one node's composition of the protocol cores
// (corral help design): connectivity (core/conn), membership
// (core/membership), the ordered broadcast (core/bcast), the config
// database (core/cdb), the resource manager (core/crm), the fence core
// (core/fence), the lock manager (core/dlm) and the served disk's core
// (core/disk), and all the wiring between them. It is a pure state
// machine like the cores it owns: no goroutines, no real clock, no global
// randomness, no I/O (no os, net, sync, os/exec, crypto/rand); maps are
// iterated in sorted order wherever that reaches an output. core/node
// drives it with sockets, a store and a clock; the whole-stack
// simulation (this package's tests) drives the same code with simulated
// ones.
//
// # Shape
//
//	s, err := New(cfg, saved, rng)   // cfg: FromConfig; saved: what the store held
//	s.Step(now, in)                  // a packet, an agent/policy/fence/witness answer, ...
//	s.Tick(now)                      // timers
//	rd := s.Ready()                  // what to do now
//	... carry rd out (below) ...
//	s.Advance(now)                   // rd is done; its Persist is durable
//
// Operator and client requests are methods that return an error: Propose
// (a config DB transaction under (client, seq)), Move, Cleanup, Drain,
// Fence, ConfirmFence (refused for a node that is up; in a view that is
// not primary it is declared here and confirmed through the fence core
// once the view is primary), QuorumUnblock (an operator's unblock:
// refused unless every node outside the view is known down, then carried
// out by each member at its Safe delivery in the view; until a primary
// view follows, only a view of all its members can be primary, and
// UnblockProgressOf says who holds it: unblock.go),
// SetState, AskState, Send and Broadcast (these two
// also return an id), CDBRead (a linearizable read under the driver's id;
// CancelRead forgets it), and the lock manager's LockDLM (returns the lock's
// id), UnlockDLM, PurgeOwner and AskLocks, and the disk core's
// SubmitDisk, whose completions, blocking notices and answers come in a
// later Ready. Reads (Membership, Quorate, CDBGet, Groups, DLMLocks,
// Disks, LeaseExpiry, ...) change nothing.
//
// Step does only the input's own step (a packet goes to conn, an agent
// result to the resource manager, ...). The wiring runs in rounds when
// the driver asks for Ready: so every input stepped between two Readies
// (what arrived during the last fsync) is written by one Persist (group
// commit). Ready is idempotent: the first call after an Advance (or
// after New) carries out the rounds and keeps the result; further calls
// return the same and do nothing, until Advance (an empty Ready is not
// kept: the next call looks again, and an Advance after it only moves
// the clock, keeping what was queued since). Like raft's RawNode.Ready,
// it is not a pure read: it runs the wiring, which is what keeps group
// commit; it is idempotent, and the driver may call Advance(now) before
// asking, so the rounds run at the time of the ask. A round stops the Ready
// as soon as it has something to persist: what comes after waits for
// Advance, so no Ready has two Persists of one core.
//
// Advance takes now: the rounds after a Persist run at the time the
// write ended, not before it (a disk stall can outlast a lease: a fence
// call or a takeover judged at the time before the stall would be judged
// on a lease that lapsed meanwhile).
//
// # The driver's obligations
//
// For each Ready, in this order:
//
//  1. Logs: log them (any time; they claim nothing).
//  2. Packets: send them, and answer EarlyReplies. They claim nothing
//     that this Ready's Persist holds: bcast Submits and Orders go out
//     before the config DB's write so the members write in parallel
//     (core/cdb/doc.go step 2); early replies answer updates an earlier
//     Ready made durable.
//  3. Persist: write each non-nil field durably (fsync), in the order
//     CDB, Membership, Fence, CRM. If a write fails the node stops at
//     once: it sends nothing more (not After, not any later Ready), does
//     not call Advance, and answers Replies with the error (a Ready with
//     SelfFence still stops this node's resources first). The cores
//     count the state as written already (membership cleared its dirty
//     flag: a re-sent proposal would be promised from memory, not disk);
//     a restart recovers from what the disk holds.
//  4. After: send them only once Persist is durable. They carry what
//     attests the persisted state: bcast Acks (this node holds the
//     entries) and Stables (every member does), membership's promises and
//     acks, and everything the cores produced after the write in the same
//     round. A Safe delivery therefore means every member, the
//     coordinator too, has the entry on disk (G3), and a promise is never
//     made from memory (G1, G2).
//  5. Then the rest: Events (the event log, handlers), Messages and
//     Deliveries (the application's), Witness asks, Agent calls, Policy
//     requests, FenceCalls, FenceHistory, Replies, Reads (serve each
//     linearizable read now, from CDBGet/CDBList: they rest on committed
//     state, nothing of this Ready's Persist), Watch, GroupsChanged,
//     LeaveAsked, and the lock manager's DLMCompletions and DLMBlocking
//     (to the locks' owners, in order: a lock's completion before its
//     blocking notices) and DLMAnswers (they rest on nothing persisted:
//     the lock manager persists nothing), the disk core's DiskIO (run
//     off the loop on the backing store, FUA made durable first, each
//     answered with a DiskIODone input at any later time), DiskDone (to
//     the NBD export, for the flush rule with the Epoch they carry) and
//     DiskStale (re-read the header; a newer epoch: DiskUnserve). Agent
//     and device calls come after Persist: the owner table (G4) and the fence state they rest on are durable first.
//     The driver checks ViewLeased at the time of each FenceCall again
//     and answers a failed FenceResult when the lease lapsed during the
//     write (wiring rule 7 judged it at the round). A stopping Ready
//     (Stop set) asks the witness nothing and starts no call.
//     Their answers come back as inputs (AgentResult, MonitorFailed,
//     PolicyAnswer, FenceResult, WitnessAnswer, DiskIODone), at any
//     later time.
//  6. SelfFence: stop this node's resources; Stop: stop the node (nothing
//     more leaves it; Step and the requests return ErrStopped).
//
// Then Advance(now).
//
// Between Ready and Advance the driver may call Step and the requests
// (a handler that sends): what they produce comes in the next Ready.
//
// # What the stack guarantees (the wiring)
//
//  1. Membership's promise and plan carry bcast's flush and every
//     member's cdb.Head (flush.go), so each member of a new primary view
//     picks the same source to adopt the history from.
//  2. bcast traffic of the view the config DB adopts for waits (heldIn,
//     heldOut, heldDel) while the DB catches up; held output is dropped
//     when this node promised a newer view meanwhile: nothing of a view
//     leaves after a promise whose head did not cover it.
//  3. Deliveries are routed by the one table of broadcast tags (tags.go):
//     the config DB holds agreed deliveries and commits safe ones; the
//     resource manager takes agreed ones; the fence core safe ones.
//  4. A config DB Persist that only moves Commit is not written at once
//     (its replies go early); Tick writes it when idle, PendingCommit at
//     a clean stop.
//     Linearizable reads (core/cdb "Linearizable reads") move on in every
//     round right after the config DB's quorum was judged by the clock
//     (cdbReads): a coordinator answers a read index only while it holds
//     its lease; their messages go as wire.CDB, like history transfers.
//     A failed send is only logged: a read's ask unanswered for four
//     heartbeats is sent again (cdb Config.AskAgain).
//  5. When bcast cannot install a view membership installs, the DB moves
//     to it as a view that is not primary for it: writes are refused,
//     saying why, until the next view.
//  6. two_node (twonode.go): a lone primary view fences its peer and is
//     primary for nothing else until the peer is confirmed fenced or left
//     cleanly at its last boot id, and conn knows no newer one
//     (fenceDown); a node that restarted alone gives the fence core a view
//     that is not primary until it adopted a history in a view of both
//     nodes.
//  7. Fence device calls are made only while this node holds its lease by
//     the clock at the round; a stop that failed escalates (stopFailed):
//     with the lease and a device that reaches it, a request for its own
//     fence; else it fences itself (SelfFence).
//  8. No error of a core is dropped: requests return them, and those of
//     the wiring's own steps become Logs.
//  9. The lock manager (dlm.go) persists nothing. Its messages go point
//     to point on the peers' circuits as wire.DLM; received ones go back
//     to it, but only after the View was judged again in that round (a
//     node paused past its lease must not grant from a peer's message
//     before a Tick tells it). It is given a dlm.View at every request,
//     installed view, state change and round that brings a message, and
//     in the round after a Tick (after membership took the messages conn
//     holds, then its timers and the disk core's run: judged at the Tick,
//     before the answers already here, a renewed lease looked lapsed and
//     its locks completed Lost), when it changed: Primary is the installed view primary (not a
//     lone two_node view that never paired) with this node's lease by the
//     clock now (a lease carried across the change counts), so it grants
//     nothing otherwise; Release are the nodes whose locks may go (G5):
//     outside the view and confirmed fenced at their last boot id (the
//     fence core's Confirmed), or left cleanly and not back since
//     (LeftCleanly), either only when conn has talked to no newer
//     incarnation of it (fenceDown: the fence core's boot id lags) or
//     conn's newer incarnation of it is back (peer_restarted) and was in
//     no view installed here (it holds no lock; fenceDownAt says why); a
//     node never seen in a primary view is confirmed at boot id 0 (a
//     requested fence or `fence confirm`), which counts only while conn
//     never talked to it; or,
//     when no fence device nor watchdog covers them,
//     once this view's takeover wait passed (Quorate), named for as long
//     as they stay absent; and the members back with a new boot id
//     (conn's peer_restarted), while members, until a recovery of a view
//     holding the new incarnation finished and purged it (absent, a new incarnation
//     may hold locks: the rules for absent nodes decide). Lost is set while this
//     node, which held a lease, holds none and no fence device covers
//     it: its locks complete with dlm.Lost (the survivors release them
//     only after the takeover wait, so by then no client here believes
//     in them). With a fence device a cut-off node keeps its locks: the
//     survivors release them only once it is fenced. Lost is also set
//     from SetState(leaving) on (before membership announces the leave,
//     since the survivors release a leaver at once): every lock completes
//     with dlm.Lost, the masters get force-unlocks, and LockDLM returns
//     ErrLeaving until another state is asked for. Not covered (liveness
//     only: the lock manager waits): a node never seen in a primary view
//     that conn talked to (a confirmation at boot id 0 may predate the
//     incarnation conn met) stays unreleased until it joins a view or the
//     fence core learns its boot id; a newer incarnation conn met with no
//     peer_restarted (this node restarted since) only once the fence core
//     confirms that incarnation.
//  10. A lockspace's value block length is the config DB key
//     /dlm/lockspaces/<name>/lvb_len (LVBPrefix), read at New, on its
//     watch and after an adopted history, given as dlm.SetLVB the first
//     time; Propose refuses a bad one, a delete and a change
//     (ErrLVBFixed), and conditions the first write on the key being
//     absent, so two first writes cannot both commit.
//  11. The resource manager is told membership's Leased by the clock
//     before every delivery, in the view it holds (an old view's flush
//     deliveries still precede the install): an order to start that comes
//     after the lease lapsed (between Ticks, or with the install of a view
//     that is not primary) is refused (G2), and so is one that comes before
//     this node's lease arrived: the resource manager takes a start only
//     while View.Lease holds at that delivery, not merely while no lease
//     it held has lapsed. The coordinator judges its own lease, not the
//     member's: a node that restarted carries no lease into its first
//     primary view (it adopts the history there), and the coordinator may
//     place a group on it before a quorum answered it. A start leaves the
//     resource manager only from a delivered Actions, and crmDeliver
//     judges the lease by the clock before each delivery, so every start
//     is issued with a lease held at its round; a refused order is kept
//     by the member, unanswered, and taken when a View with the lease
//     comes in the same view (judged by the clock at that moment), so
//     the coordinator does not ask again in a loop.
//     Tick judges nothing for it: the view and lease a Tick calls for,
//     and its timers, are given in the next round, after membership took
//     the messages conn holds (the packets stepped before the Tick, which
//     arrived while a write ran). Judged before them, a lease renewed by
//     answers that were already here would look lapsed (a carried lease
//     ending while the new view's first answers wait behind a write), and
//     the resource manager would stop what it runs (continuity); judged
//     after them, a lapse it sees is one no answer here covers. A
//     new coordinator is given the
//     fence confirmations the fence core holds only once the fence core
//     settled in the view (every member's report, with the boot ids it
//     knows, merged): a confirmation this node holds of an incarnation
//     that restarted since, unknown to it, must not free that node's
//     groups (G4).
//  12. The disk core (disk.go) persists nothing. Its messages go point
//     to point on the peers' circuits as wire.Disk; a received one goes
//     back to it as disk.Receive from the incarnation conn received it
//     from, after the view was judged in that round (as rule 9). Its
//     disk set (disk.Define) is every resource of the config DB whose
//     agent is disk.Agent, sized by its size parameter (decimal bytes; a
//     bad one is logged and left out), given at New, on every change
//     under /resources/ and after an adopted history. Its disk.View is
//     given with the lock manager's, at the same points, before it: the
//     installed view, each member with the boot id conn talks to (this
//     node: its own; a member seen back with a new boot id changes it
//     within the view), Primary and Lost judged as rule 9 says. Every
//     input that can start IO judges the view first: a received disk
//     message, SubmitDisk and the inputs DiskServe (its own client's
//     requests replay to it at once), DiskUnserve and DiskIODone (the
//     writes that waited behind it start), once a round and again
//     whenever the clock moved since the last judgement (judgeOnce; a
//     Tick resets it and the round after it judges always), so a server whose lease lapsed between two Ticks
//     starts no IO on any of them. SubmitDisk
//     is refused once stopped (disk.ErrStopped) and while leaving
//     (ErrLeaving): a leaving server stops serving through the resource
//     manager's drain first. LeaseExpiry is membership's: the disk's
//     fast path serves only before it.
//  13. The sequence barrier (design 5 of the served disk). While the
//     disk core's barrier of the installed view is not complete here
//     (disk.Fenced: a request of an incarnation outside the view is still
//     in flight on a disk this node serves; the queued ones were dropped,
//     later ones are refused), the lock manager is given the view with
//     Primary false and Release empty. The incarnation outside is a node
//     that left, or the old incarnation of a member back with a new boot
//     id (in a new view, or within the view where conn saw it back).
//     Withholding Release alone does not hold the lock manager back for
//     the second: a member needs no Release for a recovery to start
//     (dlm's covered counts absent nodes only), and the recovery rebuilds
//     the masters from the members' copies, where the new incarnation
//     holds none of the old one's locks, so they would go. Not primary,
//     the lock manager here starts no recovery and grants nothing; a
//     recovery is a barrier over every member (each stage ends only once
//     every member's message of it came), so none finishes anywhere while
//     this node holds back, and no lock of the departed incarnation is
//     re-granted anywhere while one of its writes can still land on any
//     server. A recovery under way when the barrier closes (within the
//     view, a member seen back) goes on, but it is of a view that holds
//     the old incarnation (a restarted node installs only new views): it
//     finishes only with that incarnation's own reports, so it rebuilds
//     its locks and drops none. The view is judged again in every round
//     once the barrier completes (a DiskIODone), not only at the next
//     Tick. A restarted member stays in the restarted list (named in
//     Release while a member) until a recovery of a view holding it
//     finished and purged it (dlm.Recovered.Purged): one that finished
//     while Release was withheld did not, and the next names it again.
//     The server refuses the departed incarnation's later requests
//     (outside View.Members, or tagged with an older view), so none of
//     its writes lands after the lock's next holder's.
package stack
