// Package dlm is the distributed lock manager: VMS/Linux semantics (six
// modes, conversions, grant/convert/wait queues, completions and blocking
// notices, lock value blocks), a directory spread over the members by
// rendezvous hashing, masters, and recovery at every primary view change.
// It is a pure state machine (corral help design) and persists
// nothing: locks die with their node's incarnation.
//
// # Inputs and outputs
//
// One DLM per node, built by New(Config, rng). Inputs:
//
//   - Lock(now, Request) and Unlock(now, id, flags, lvb): a client's
//     request. Arguments are checked at once (a returned error means the
//     operation was not accepted and no completion will come: ErrInvalid,
//     ErrBusy, ErrNotFound); an accepted one returns the lock's LockID and
//     later yields exactly one Completion.
//   - Step(now, Receive): a message from a peer's DLM (wire.TypeDLM on
//     that peer's circuit). Step(now, View): the membership view and what
//     the stack decided about departed nodes. Step(now, PurgeOwner),
//     Step(now, Ask), Step(now, SetLVB).
//   - Tick(now): time passes (linger, the deadlock search, Ask timeouts).
//
// Output is Ready: Messages (send each to Out.To on its circuit),
// Completions (hand each to its owner; a lock's completion comes before
// any blocking notice of it in the same Ready, so deliver Completions
// before Blocking), Blocking, Events (dlm_recovered), Answers. Ready is
// the same until Advance; Advance drops what the last Ready returned.
// Give no input between Ready and Advance (the stack calls them back to
// back). Nothing must be persisted.
//
// # Model: process copies and master copies
//
// A lock's identity is (node that took it, LockID). The node that took it
// keeps its PROCESS COPY: the client's view (granted mode, the pending
// request or conversion whose completion is owed), the mode its master
// last confirmed, the value block it last read or wrote, its owner and
// flags, and the operations not yet confirmed by the master. Each
// resource has one MASTER, which keeps the MASTER COPY: the queues and the
// value block (the engine, engine*.go, holds the per-resource rules). An
// operation is a message from the process copy to the master; the
// master's completions and blocking notices come back as messages. When
// the master is this node nothing is sent (locally mastered operations
// cost no message; a remote one with a known master costs a request and a
// reply).
//
// Unlocks and down-conversions complete at once (Linux's send_unlock and
// send_convert): the client is told, the operation goes to the master,
// and the process copy keeps the lock, at the mode the master confirmed,
// until the master's reply comes. Each operation carries a per-lock
// number; a reply carries the number of the latest operation the master
// saw, and confirms every operation up to it. Unlocking a lock whose
// request or conversion is pending is ErrBusy (EBUSY); ForceUnlock always
// goes (the pending operation then gets no completion of its own); Cancel
// with nothing pending returns nil and completes nothing.
//
// A closed session's locks: PurgeOwner force-unlocks every lock of the
// owner without completions; a Persistent granted lock becomes an orphan
// instead (no blocking notice reaches an orphan: its owner is gone, as
// Linux drops an orphan's asts), which a Lock with Orphan on the same
// node adopts (same name and mode: the orphan's LockID is returned and
// completes OK; another
// mode: a new id that completes EAGAIN; none: ErrNotFound), and which a
// later PurgeOwner of the owner (or of Owner{Node, 0}: every orphan on
// that node) releases. A PurgeOwner naming another node is forwarded there
// (purge, numbered by the sender) and kept until that node confirms it
// (purge-done): a view change can drop it on the way (older-view
// traffic, or traffic deferred in a view whose recovery was restarted),
// so the sender resends the unconfirmed ones after every recovery, and
// the receiver does each number once (a second purge of an owner would
// release the orphans the first made). A recovery that finishes without
// the node (released, so its locks are gone everywhere) or with a new
// incarnation of it drops what was forwarded to it.
//
// # Directory and masters
//
// The directory node of (lockspace, name) is the member with the highest
// rendezvous score (dir.go): every node computes the same one from the
// view's members, and a membership change moves only the names whose
// winner left (or that a new member now wins). A node that needs a name's
// master asks its directory node (mkLookup); the directory makes the first
// node to ask the master (mkLookupReply). A node caches a name's master
// while it holds locks on it and for Config.Linger after (Linux's toss
// list): a stale entry costs one notmaster and a new lookup. A master copy left with no lock lingers
// Config.Linger (a new request revives it), then the master forgets it
// and tells the directory (mkRemove; until mkRemoveReply the node does
// not take the name back). A request reaching a node that no longer
// masters the name is answered mkNotMaster (once the directory confirmed
// the node's remove, if one is in flight, so the new lookup cannot find
// the node again) and looked up again.
//
// # Messages (msg.go)
//
// Every message carries the sender's view id. Lock traffic of an older
// view is dropped: recovery rebuilt everything it could have changed, and
// resends what was unconfirmed. Messages of a view not yet installed are
// held until it is. Circuits deliver in order per pair while both
// incarnations live; nothing here depends on a message to a dead
// incarnation arriving. A circuit may still give up on messages to a
// peer unreachable too long (conn's Undeliverable) and deliver later ones
// once it is back: every message carries its number in its pair's stream
// for the view, and after a gap the receiver takes nothing more from that
// peer in that view (applying an operation without the one before it
// would corrupt the copies); the peer was unreachable, so a view change
// follows, and its recovery repairs from the process copies. Kinds: request, convert, unlock, cancel (process
// → master); reply (a completion), bast, notmaster (master → process);
// ack (process → master: a middle conversion's completion was handed
// out); lookup, lookup-reply, remove, remove-reply (directory); rec-dir,
// rec-lookup, rec-masters, rec-locks, rec-done (recovery); dl-query,
// dl-edges, dl-victim (deadlock search); ask, answer; owner (an orphan
// made or adopted); purge, purge-done. The encoding is the package's
// own (varints,
// length-prefixed strings); decoding never panics and every error wraps
// errMalformed (FuzzDecodeMsg).
//
// # Recovery (recover.go)
//
// At every new view the node stops granting and sending: new requests
// queue (they never fail), requests reaching it as a master wait, and
// every operation in flight goes back to its lock's queue, to be resent
// after the recovery. A View with Primary false never recovers, so a
// minority grants nothing; the same view given again with Primary false
// (this node's lease lapsed) stops granting until it comes back true. A primary View starts recovery only when its
// Release covers every configured node absent from Members (and every
// member of the last view this node recovered that is absent): a DLM
// remembers nothing across a restart, so it cannot know which absent
// node may still hold locks, and waits for all of them. The stack
// releases a node once it is confirmed fenced, left cleanly, came back
// with a higher boot id, or — with no fence device for it — after the
// lease wait, and KEEPS naming it in Release for as long as it stays
// absent (Release is not only the nodes that left in this change; a
// configured node never seen in a primary view is released once a fence
// of it that an operator asked for succeeded, or an operator confirmed
// it down — the fence core's confirmation at boot id 0 — while conn never
// talked to any incarnation of it; unlike Pacemaker's startup fencing,
// nothing fences it unasked). Until then nothing
// is granted: the stack sends the View again, with the same id and a
// larger Release, when that changes. Then four stages, each ended by a barrier
// (a stage is done when every member's message of it, for this view id,
// has come; a newer view abandons the recovery and starts again):
//
//  1. Directory: every node tells each name's new directory node the
//     names it masters (rec-dir, with the view in which it last rebuilt
//     its master copies; a node that missed the newest rebuild, being cut
//     off or lost while the others recovered, has stale master copies:
//     they are not taken, and it drops them).
//  2. Masters: every node asks the directory nodes who masters each name
//     it holds locks on (rec-lookup); a name whose master departed gets
//     as master the first node to ask (rec-masters).
//  3. Locks: every node sends each master the process copies it holds
//     there, at the mode its CLIENT believes, with their value blocks
//     (rec-locks). Not the mode the master last confirmed: a
//     down-conversion or an unlock completed at once may have reached the
//     old master, which then granted others on it; the client's mode is
//     never too low (an up- or middle conversion not yet delivered is
//     resent). A write or invalidation completed to its client but not
//     confirmed travels in the report (wseq): a surviving master applies
//     it if it never got it (the lock still held PW/EX there, so nothing
//     later replaced it), a new master marks the value invalid; what the
//     reports carry is not resent. The process copy keeps reporting the
//     write until its recovery finishes, so a rebuilt master copy counts
//     it as seen (its operation number carries over): a recovery
//     interrupted after the rebuild neither applies it again over a newer
//     value nor revalidates a value marked invalid. Every master copy is
//     purged and rebuilt from these (as Linux: master copies are always
//     rebuilt,
//     since a recovery can be interrupted). A surviving master keeps its
//     value block, made invalid if a PW/EX lock of its old copy is
//     reported by nobody (its holder died, or lost its locks, before its
//     write could arrive); a new master recovers it by the engine's
//     recover_lvb rules (a ValBlk lock above CR that has held above CR
//     since it read or wrote the value has it; else the highest sequence
//     number's, marked invalid; nobody: invalid): never silently lost.
//  4. Done: every member rebuilt (rec-done). The node grants what the
//     rebuilt queues allow (the engine's recoverGrant: without regard to
//     conversion order, which the rebuild lost anyway), serves what waited,
//     resends every unconfirmed operation (so a request in flight to a
//     dead master is sent to the new one and completes exactly once; a
//     reply of the old view is dropped), and emits Recovered.
//
// # Safety (G5)
//
// No two incompatible modes are granted at once on one resource:
//
//   - Only a resource's master grants, and within a view there is one
//     master per name: the directory node, the same on every node, makes
//     the first asker master and keeps that until the master removes the
//     name (and a node does not take a name back before the directory has
//     confirmed its remove).
//   - A master grants only what its engine allows against every lock in
//     its copy, and its copy holds every lock its clients may believe
//     granted: locks granted in this view were granted by it; locks
//     granted before are rebuilt, at recovery, from every member's process
//     copies at the mode each client believes (the old master may have
//     granted others on a down-conversion or an unlock it got, and those
//     are compatible with what the client believes; a grant the client
//     never learned of is dropped, its request resent; a middle
//     conversion's grant was held back from others until its client
//     knew).
//   - Nothing is granted outside a primary view that finished recovery,
//     so a minority (a non-primary view) never grants, and a recovery
//     needs every member's reports, so no member grants from a copy
//     missing another member's locks.
//   - The locks that are NOT rebuilt are those of incarnations that are
//     not members: a departed node, or the old incarnation of a node back
//     with a new boot id. Locks die with their node's incarnation. That
//     is safe only because recovery does not start until Release covers
//     every absent configured node: fencing (or a clean
//     leave, or a new boot id) guarantees its clients can no longer act
//     on their locks; without a fence device the stack releases it only
//     after the lease wait, by which time View.Lost has told that node's
//     clients their locks are lost (design 6: the node's lease lapsed, so
//     its DLM completes every lock with Lost and forgets them; G2's
//     argument; a name whose lookup is in flight is kept until the answer
//     comes, since the directory may have made this node its master: an
//     empty master copy then lingers out). If the lease comes back
//     within the same view (no recovery follows; also when one View says
//     both Lost and Primary), the node force-unlocks the lost locks at
//     their masters (which kept them granted until then) before it grants or
//     sends anything else. A node cut off WITH a fence device keeps its
//     locks until it is fenced (it dies) or rejoins the same incarnation
//     (then recovery rebuilds from its copies).
//   - A node that rejoins after having left cleanly must hold no locks
//     (the stack releases a leaver only once its DLM gave them up: from
//     SetState(leaving) on, before membership announces the leave, the
//     stack gives its DLM Views with Lost set and refuses new requests).
//
// What a client believes matters, not only the master copy: a
// conversion between CW and PR (neither up nor down) granted by a remote
// master leaves its client acting in the old mode until the completion
// arrives, so the master holds back any other grant incompatible with
// that old mode until the converting node acknowledges the completion
// (mkAck; hold.go). Up-conversions need no such wait (anything compatible
// with the new mode was compatible with the old), and down-conversions
// and unlocks are believed before the master learns of them. A CONVDEADLK
// conversion is the exception: its client accepted that its lock may be
// demoted to NL until the conversion completes (DEMOTED), so a checker
// must take such a lock as believed NL meanwhile.
//
// # The driver and Ready
//
// The stack (core/stack) feeds Receive for every wire.TypeDLM payload,
// View at every view change (and again when Release grows), and Ticks;
// after each input it takes Ready: it sends Messages on the circuits
// (they may be lost if the peer's incarnation dies: recovery copes),
// hands Completions then Blocking notices to the lock clients, publishes
// Events, answers Asks, and calls Advance.
//
// # Deadlock search (deadlock.go)
//
// The view's coordinator asks every member, every DeadlockTimeout/2, for
// the waits-for edges of the requests its master copies have had waiting
// at least DeadlockTimeout (owner of the waiter → owner of each lock whose
// granted mode, or, ahead of it in the queues, requested mode, blocks
// it). It finds cycles in the owner graph and breaks each with exactly one
// victim: the cycle's waiting lock with the highest (node, id) that is not
// NoDlckWt (a cycle of NoDlckWt locks only is left alone). The victim's
// master completes it with EDEADLK (a conversion keeps its granted mode).
// Conversion deadlocks on one resource are the engine's, at issue.
//
// # Ask and Locks
//
// Ask gathers the cluster-wide table: the node asks every member of its
// view (itself included) for its master copies (ask/answer, taken in any
// view, even during a recovery) and emits the Answer, sorted by lockspace
// and name, when all answered or after 2 s, listing the silent ones in
// Missing. Locks is the local part: this node's master copies, plus its
// own locks on resources mastered elsewhere as their process copies know
// them.
//
// # Tests
//
// cluster_test.go drives N DLMs over a FIFO-per-pair network with
// datadriven scripts (testdata/cluster) and checks G5 on what live clients
// believe after every step; its header lists the mutations each script
// was seen to catch.
package dlm
