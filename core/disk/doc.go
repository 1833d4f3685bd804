// Package disk is the served remote disk's protocol core (TruCluster's
// distributed remote disk; corral help design, "Served disk", G6): a pure
// state machine, deterministic, without goroutines, clock or I/O. One
// Core per node holds both halves: the client half (this node's block
// requests on every disk, client.go) and the server half (the disks this
// node serves, server.go). The backing store's header block (header.go)
// and the flush rule (dirty.go) are pure helpers the driver uses.
//
// # Inputs and outputs
//
// New(Config). Inputs:
//
//   - Submit(now, Request): a request of this node's NBD export (the
//     loop path: the driver normally serves a disk this node serves on
//     its fast path, but a Submit for it works too and goes to the
//     server half without a message). An error means it was not taken
//     and no Done will come: ErrNoDisk, ErrRange (outside the disk),
//     ErrInvalid (unknown op, a write whose Data is not Len bytes).
//     Every accepted request gets exactly one Done.
//   - Step(now, Define): the set of disks. A disk that goes fails its
//     pending requests with ESHUTDOWN. Names must be 1..255 bytes (others
//     are ignored; a Serve of one is ErrInvalid).
//   - Step(now, View): the installed view (see View). Step(now,
//     Receive): a message (wire.TypeDisk). Step(now, Serve / Unserve):
//     this node starts / stops serving a disk. Step(now, IODone): an IO
//     came back.
//   - Tick(now): retry deadlines.
//
// Output is Ready: Messages (send each on its circuit), IO (run each on
// the backing store, off the loop, answer with IODone; FUA: sync before
// answering), Done, Events (disk_served, disk_stopped, disk_failed),
// Stale (a client showed a newer epoch: re-read the header), Fenced (the
// newest view whose barrier is complete here; kept across Advance).
// Ready is the same until Advance. A malformed payload is an error of
// Step, counted (Dropped) and dropped; an IODone of an unknown id is
// ignored and counted. Step and Submit never panic on any input.
//
// # Messages (msg.go)
//
// Four kinds, point to point: request (one piece: disk, epoch, view tag,
// seq, ackedBelow, op, off, len, fua, noHole, data ≤ MaxPiece), reply
// (disk, epoch, the request's view tag, seq, a refusal — stale epoch,
// stale view, not serving, excluded — or an errno and a read's data),
// announce (disk, epoch, the server's incarnation, its clients), stopped
// (disk, epoch). Decoding is strict: see msg.go.
//
// # Client half
//
// A request is split into pieces of at most MaxPiece bytes, numbered
// from 1 by this core over all disks and never reused, not even by a
// disk undefined and defined again; a restart is a new core with a new
// boot id, and the server's duplicate cache is keyed by (node, boot,
// seq). Pieces go
// out strictly in seq order, at most Config.Window in flight per disk;
// a piece that waits (refused, or held) holds every newer one, so a
// client's overlapping writes reach a server in submission order.
//
// The route of a disk is the newest server announced (highest epoch; an
// announce of an older epoch is ignored, a stopped message of the
// route's epoch ends it) while that incarnation is a member of the view
// and the view is Primary and not Lost; without a route nothing is sent
// and the pieces wait. An announce of a higher epoch REPLAYS: every
// unanswered piece is re-sent, in seq order, under the new epoch, before
// any newer one (event disk_served). The same server and epoch announced
// again (this node came back into its view) re-sends the pieces in
// flight tagged with an older view (the server may have dropped them)
// and the pieces waiting for an announce.
//
// Every piece carries the view it was (re)sent in. At every new view
// the pieces in flight tagged with an older view are re-sent, re-tagged,
// in order, before any newer one (the server attaches a copy it took to
// the one in its cache; the old copy, if it arrives after the server's
// barrier moved, is refused and that refusal ignored). Refusals, only
// when they answer the copy last sent (same epoch and tag): stale epoch
// and not serving → wait for a newer epoch's announce; stale view →
// wait until this node's view is newer than the tag, then re-send
// re-tagged; excluded → wait for the server's next announce (it
// announces to every new member of its view) or the next view.
//
// A piece is "out" from the time a copy is sent until that copy's
// epoch is settled: nothing of the piece can be applied at that epoch
// any more. Settled by: an answer (a result) at that epoch (its server
// holds one entry per piece: every copy attached to it or is answered
// from the cache while the client has not acknowledged it, given
// DupCache above Window, and FIFO circuits put the earlier copies
// first); a
// refusal of the copy sent last (a server never refuses a copy of a
// piece it holds at that epoch, queued, in flight or answered — it
// attaches it or answers it — so a refusal says nothing of it is there,
// and no copy is behind it); the announce of a newer epoch (its server
// took the store's lock after the older server's IO ended, or the older
// server died; on one node the newer epoch's IO waits for the older's);
// the server's node a member with another boot id (that process is
// gone; a restart serves only at a newer epoch). Lost ends everything
// (the barrier below). A server leaving the view settles NOTHING: it
// may not have seen this node leave its own views (it was paused, or
// cut off and back before it installed a view without this node), so
// its barrier did not move and it would still take a delayed copy
// tagged with an older view, in a later primary view, after a newer
// holder's write.
//
// A result (OK or an errno) is taken from any server: it was carried
// out. But an answer of an older epoch than the piece's copy sent last,
// while that copy is out, does not end a write, trim, zero or flush:
// the replayed copy may still land at the newer server; the answer is
// kept (its error, its epoch) until the newer copy's answer or its
// settling, and the Done comes then (a read ends at once: a read copy
// landing later changes nothing). A request's Done comes when all its
// pieces are answered: a read's bytes assembled in order, the first
// error (in the order answers came) wins. Done.Epoch is the epoch that carried it out; when its pieces
// were carried by two epochs (a failover in the middle, or a late answer
// of the old server), the OLDER one: a piece the old server acknowledged
// without FUA may die with it, so the driver's flush rule (Dirty) must
// see a write of the old epoch and fail the next flush at the new one
// (reporting the newer would let that flush say OK over a lost piece).
//
// Retry: a request none of whose pieces is out, one of which has waited
// Config.Retry for a server (since it was last sent and settled, or
// began to wait), fails with EIO (disk_failed); a Submit with no known
// server waits the same. A piece in flight to a server that neither
// answers nor leaves is never failed by the deadline (its copy may still
// land): it waits for the answer, a newer epoch, Lost, or the server's
// restart (conn's circuit delivers exactly once and in order while the
// peer is reachable; one that is not leaves the view); the NBD client's
// timeout is the bound. View.Lost
// fails every pending request with EIO at once (disk_failed); their
// pieces are forgotten, never re-sent, and late answers are ignored. A
// Submit while the view is Lost is answered EIO at once and never sent:
// the survivors may already have released this node's locks, and a
// request queued until the node is back would land after them.
// Define removing a disk fails its requests with ESHUTDOWN.
//
// # Server half
//
// Serve{Disk, Epoch} (the driver holds the store's lock and has written
// Epoch into the header): announce to every member; to each new member
// (another incarnation) at each view; to every member when the client
// set (the member nodes that sent requests at this epoch) changes. A
// request is refused unless this node serves the disk (not serving), at
// the request's epoch (stale epoch; a NEWER epoch also puts the disk in
// Ready.Stale, once per disk per epoch), from an incarnation of the view
// (excluded), tagged with a view not older than the barrier (stale
// view); but a copy of a piece the server holds at that epoch (queued,
// in flight, or answered and kept; on an older epoch of this node whose
// IO runs too) is never refused: it attaches, or gets the kept answer.
// Then the duplicate cache, per disk and client incarnation,
// keyed by seq: a retry of an answered piece gets the same answer again
// (not applied twice), a retry of a piece queued or in flight attaches
// to it (one IO, one answer). A read is dropped from the cache when it
// completes (its bytes would weigh; reading again is harmless), so a
// retry of an answered read reads again. The cache is trimmed by the
// client's ackedBelow and bounded by Config.DupCache answered pieces per
// incarnation (a client never has more than Window unanswered, so a
// bound above Window keeps every answer a retry can ask for; below it,
// an evicted answer is applied again: testdata/cluster/dupbound).
//
// A member of boot 0 in the view (conn's boot before first contact) is
// of unknown incarnation: requests of the node's incarnations are
// refused (excluded) until the view names its boot, its queued ones
// dropped (conservative: the client re-sends), but its duplicate cache
// is kept (only a known other boot says the incarnation is gone), and a
// client does not take it for its server's restart.
//
// Order: a write (write, trim, zero) runs after every earlier queued or
// in-flight request it overlaps; a read after every earlier overlapping
// write; a flush after every earlier write of the disk, of any client.
// Disjoint requests run together (their IO go out in one Ready). The IO
// still in flight of an older epoch of the disk on this node (a Serve at
// a newer epoch while it ran) counts as earlier than every request of
// the new epoch: a replayed copy never runs beside its old copy. IO ids
// are unique in the core. Nothing starts outside a Primary view (queued
// requests wait). A request outside the disk's defined size is answered
// EINVAL without IO.
//
// Unserve: new requests are refused (not serving), the queued ones are
// answered "not serving" (their clients wait for the next server and
// replay), the IO in flight still completes and is answered, every
// member is sent stopped (event disk_stopped). A Serve at a newer epoch
// while serving does the same for the old epoch first; at an epoch not
// above the served one it is ErrInvalid.
//
// # The sequence barrier and Fenced (TruCluster's)
//
// At each View the server half (a) drops the queued requests of
// incarnations not in View.Members (answering "excluded") and refuses
// their later ones, (b) moves the barrier to this view if an
// incarnation of the previous view is not in it (a view with no
// incarnation gone keeps the old barrier), refusing requests tagged
// older (stale view), (c) reports this view in Ready.Fenced once no IO
// of an incarnation outside it is in flight. Fenced(v) is true iff v is
// not newer than the last view stepped and the last view's barrier is
// complete: a view never stepped and newer is false; an older one is
// fenced iff the last is (its departed incarnations are departed from
// the last too, or members again whose locks the stack does not
// release).
//
// # Safety (G6: no stale disk write)
//
// The lock manager re-grants a departed incarnation X's locks only once
// every member's disk core reports the view fenced (the stack gates
// View.Release on Fenced, and DLM recovery is a barrier over all
// members). By then on every server X's queued requests are dropped, its
// in-flight IO has completed, and anything of X arriving later is
// refused (excluded: not a member; if the same incarnation is back, its
// copies tagged before the barrier are refused as stale view and it
// re-sends under its current view, still holding its locks). So no
// write of X lands after a new holder's. A stale server is shut out by
// the epoch: the new one took the store's lock and wrote epoch+1 before
// serving (the old one is dead, fenced, or stopped and unlocked), and
// serves only requests carrying its own epoch. Replay: a client re-sends
// its unanswered pieces in seq order before newer ones, and the server
// runs overlapping requests in arrival order on FIFO circuits, so a
// client's overlapping writes land in submission order at the new
// server; a piece the old server applied and the new one applies again
// is the same bytes in the same order. The duplicate cache makes a retry
// within one epoch apply once: without it, a retry arriving after a
// newer overlapping write of the same client would undo it. A write
// acknowledged is never lost: Done.Epoch (the older of two) and Dirty
// make the next flush fail when the epoch changed under unflushed
// writes.
//
// Done means that no copy of the request can be applied later anywhere
// (the lock may move at once after a Done, EIO included). A Lost node's
// requests: those pending fail at Lost, those submitted while Lost fail
// at once, unsent; their copies already sent are stopped by the barrier
// before the locks move (above). Otherwise a Done comes only once no
// piece of the request is out (client half: answered at the epoch of
// its copy sent last, that copy refused, a newer epoch announced, or the
// server restarted), so every copy ever sent is applied already or can
// never be: an older epoch's late answer does not end a write whose
// replayed copy is on its way (r1-replay-after-ack), the retry deadline
// does not fail a piece in flight at a member server (r1-expired-lands),
// and on one node a newer epoch's IO waits for the older epoch's IO in
// flight (r1-reserve-inflight). A Define removing a disk fails its
// requests (ESHUTDOWN) without this wait: the disk is gone.
//
// # Tests
//
// testdata/cluster (cluster_test.go: 2-4 cores, a hand-delivered network,
// a shared backing store per disk): remote, split, failover, move,
// mixed-epoch, dupcache, dupbound, stale-epoch, stale-view, excluded,
// excluded-lost, barrier, lost, retry, order, nonprimary, unserve,
// status, redefine, settle, boot0, r1-* (the review's holes).
// msg_test.go (round trip, malformed, FuzzDecode), header_test.go
// (property, FuzzParseHeader), dirty_test.go (property against a model),
// random_test.go (TestRandomCluster: the harness under random faults;
// every request answered exactly once, and all answered once the
// cluster heals, with no retry deadline's help; -disk.random=N seeds).
// The simulation (the disksim helper's *sim*_test.go) drives the public
// API with faults; testMutation (export_test.go's SetTestMutation)
// lets it break rules it cannot reach from outside.
//
// Mutations seen caught (each made by hand, the tests run, the failure
// noted, the mutation reverted):
//
//	server.go request: the stale view check off (barrier ignored)
//	                        → stale-view:21 "n1: io 1 write d 0+10" (a write
//	                          tagged before the barrier applied)
//	disk.go stepView: the barrier never moved
//	                        → stale-view:21, the same
//	server.go request: the membership check off
//	                        → barrier:68 the late message of the departed n3
//	                          answered reply-stale-view instead of refused
//	                          excluded; excluded
//	server.go serverView: a departed incarnation's queued request kept
//	                        → barrier:51 "n1: io 2 write d 5+10" (applied
//	                          after the view dropped its writer)
//	server.go checkFenced: the departed's IO in flight ignored
//	                        → barrier:32 "n1: fenced view=2" before its write
//	                          completed; lost
//	server.go request: the epoch check off
//	                        → stale-epoch:34 "n1: io 1 write d 0+10" (a request
//	                          at epoch 1 applied at epoch 2)
//	server.go request: a newer epoch not reported stale
//	                        → stale-epoch:53 "n1: stale d" missing
//	server.go request: the duplicate cache not consulted
//	                        → dupcache:30 "n1: io 2 write d 0+10" (a retry
//	                          applied twice); nonprimary
//	server.go request: a retry of a piece in flight not attached
//	                        → dupcache:47 a second IO and Done for one piece
//	dupKey keyed by seq only ("dup-by-seq")
//	                        → barrier:91, order, remote (another client's
//	                          piece answered from the cache, never applied)
//	server.go mustWait: overlap ignored
//	                        → barrier:23 "n1: io 2 write d 5+10" alongside the
//	                          write it overlaps; failover, lost, order
//	server.go mustWait: a flush does not wait for earlier writes
//	                        → order:33 "n1: io 3 flush d 0+0" at once
//	server.go schedule: the older epoch's IO in flight ignored by a newer
//	  epoch on the same node ("epochs-overlap"; review R1)
//	                        → r1-reserve-inflight:31 "n1: io 2 write d 0+10"
//	                          at the Serve, beside io 1 (its old copy)
//	server.go serverView: a member of boot 0 (conn's before first contact)
//	  taken for another boot, its known incarnation's duplicate cache
//	  deleted (review R1; the code before the fix)
//	                        → boot0:38 "n1: io 3 write d 0+10" (n2's retry
//	                          applied again over its acknowledged newer
//	                          write: store a*10)
//	client.go clientView: a server of boot 0 in the view taken for its
//	  restart (its pieces' copies taken as settled)
//	                        → boot0:61 "n2: done id=3 EIO" while the copy
//	                          is on its way (it lands after the EIO)
//	server.go schedule: IO started outside a Primary view
//	                        → nonprimary:25 "n1: io 1 write d 0+10"
//	server.go stopServing: queued requests not answered "not serving"
//	                        → unserve:34 reply-not-serving missing
//	server.go serverView: no announce to new members
//	                        → barrier:91 "n3: event disk_served" missing (the
//	                          new incarnation never learns its server);
//	                          excluded, stale-view; TestRandomCluster seed 1
//	client.go announced: no replay on a newer epoch
//	                        → move: "n3: io 1 write d 0+10" and the Done at
//	                          epoch 2 missing (the piece hangs)
//	client.go pump: replay in reverse order ("replay-reverse")
//	                        → failover: "n3: io 1 write d 1024+1024" first
//	                          (the newer write lands before the older it
//	                          overlaps)
//	client.go pump: a waiting piece does not hold newer ones ("overtake-held")
//	                        → excluded:48 the newer write applied first (store
//	                          a*10); stale-view
//	client.go clientView: in-flight pieces not re-tagged at a new view
//	                        ("no-retag-at-view")
//	                        → dupcache:30, stale-view (H5's seed 10: an older
//	                          overlapping write re-sent after a newer one)
//	client.go reply: a refusal of an older copy taken
//	                        → stale-view:87 the newer write held behind it;
//	                          TestRandomCluster seed 23 "never answered"
//	client.go reply: Done.Epoch the newer of two
//	                        → mixed-epoch:37 "n2: done id=1 OK epoch=2"
//	client.go Submit: a request submitted while Lost queued (review R1)
//	                        → r1-lost-submit:32 "n2: done id=1 EIO" missing
//	                          (sent once the node is back, over n3's write)
//	client.go pump: a piece never marked out ("fail-out"; review R1)
//	                        → r1-expired-lands:34 "n2: done id=1 EIO" while
//	                          its copy is in flight (lands after n3's);
//	                          r1-replay-after-ack:61 "n2: done id=1 OK
//	                          epoch=1" at the old answer (the replayed copy
//	                          lands over n3's write); retry:81; settle:39
//	server.go request: a copy of a piece held refused ("refuse-held")
//	                        → settle:89 "n2: done id=3 EIO" while its IO
//	                          still runs at the stopped server
//	client.go clientView: View.Lost does not fail the pending requests
//	                        → lost:32 "n2: done id=1 EIO" missing
//	client.go clientView: View.Lost fails nothing and pieces stay for resend
//	                        → lost:32, the same
//	client.go expire: no retry deadline
//	                        → retry:21 "n2: done id=1 EIO" missing
//	client.go pump: no window
//	                        → split, mixed-epoch:21 a second piece in flight
//	client.go Submit: piece numbers per disk, restarting at 1 for a disk
//	  undefined and defined again (a bug found in review, fixed)
//	                        → redefine "n1: io 2 write d 1+1" missing (the
//	                          new write answered from the cache: lost)
//	client.go clientView: a piece refused as excluded waits only for an
//	  announce (the hold not lifted at a new view; found in review, fixed)
//	                        → excluded-lost "n1: io 1 write d 0+10" missing
//	                          (the announce was lost: the piece hangs)
//	msg.go decodeMsg: a write whose data is not len bytes accepted
//	                        → TestMsgMalformed "case 5 (request) decoded"
package disk
