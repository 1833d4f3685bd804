// Package disk is the served remote disk's protocol core (seed 004's
// distributed remote disk; ARCHITECTURE §5 "Served disk", G6): a pure
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
//     pending requests with ESHUTDOWN. Empty names are ignored.
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
// A request is split into pieces of at most MaxPiece bytes, numbered per
// disk from 1 by this core (a restart is a new core and a new boot id:
// the server's duplicate cache is keyed by (node, boot, seq)). Pieces go
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
// announces to every new member of its view).
//
// A result (OK or an errno) is taken from any server: it was carried
// out. A request's Done comes when all its pieces are answered: a read's
// bytes assembled in order, the first error (in the order answers came)
// wins. Done.Epoch is the epoch that carried it out; when its pieces
// were carried by two epochs (a failover in the middle, or a late answer
// of the old server), the OLDER one: a piece the old server acknowledged
// without FUA may die with it, so the driver's flush rule (Dirty) must
// see a write of the old epoch and fail the next flush at the new one
// (reporting the newer would let that flush say OK over a lost piece).
//
// Retry: a piece unanswered Config.Retry after it was last sent, or
// after it began to wait for a server, fails its request with EIO
// (disk_failed); a Submit with no known server waits the same. View.Lost
// fails every pending request with EIO at once (disk_failed); their
// pieces are forgotten, never re-sent, and late answers are ignored.
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
// view). Then the duplicate cache, per disk and client incarnation,
// keyed by seq: a retry of an answered piece gets the same answer again
// (not applied twice), a retry of a piece queued or in flight attaches
// to it (one IO, one answer). The cache is trimmed by the client's
// ackedBelow and bounded by Config.DupCache answered pieces per
// incarnation (a client never has more than Window unanswered).
//
// Order: a write (write, trim, zero) runs after every earlier queued or
// in-flight request it overlaps; a read after every earlier overlapping
// write; a flush after every earlier write of the disk, of any client.
// Disjoint requests run together (their IO go out in one Ready). IO ids
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
// # The sequence barrier and Fenced (seed 004)
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
// # Tests
//
// testdata/cluster (cluster_test.go: 2-4 cores, a hand-delivered network,
// a shared backing store per disk): remote, split, failover, mixed-epoch,
// dupcache, stale-epoch, stale-view, barrier, lost, retry, order,
// unserve. msg_test.go (round trip, malformed, FuzzDecode), header_test.go
// (property, FuzzParseHeader), dirty_test.go (property against a model).
// The simulation (the disksim helper's *sim*_test.go) drives the public
// API with faults; testMutation (export_test.go's SetTestMutation)
// lets it break rules it cannot reach from outside.
//
// Mutations seen caught (each made by hand, the tests run, the failure
// noted, the mutation reverted):
//
//	MUTATIONS-TBD
package disk
