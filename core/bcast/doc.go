// Package bcast is ordered broadcast within a view, flushed at view changes
// (virtual synchrony; corral help design, "Ordered broadcast and the
// configuration database"; OSDL's group messaging). It is a pure state
// machine: no goroutines, no clock, no randomness, no I/O.
//
//	b, _ := bcast.New(bcast.Config{Self: self, Boot: boot})
//	id, err := b.Broadcast(payload)               // a local request
//	err = b.Step(now, bcast.Receive{From, Msg})  // a bcast message from From's circuit
//	rd := b.Ready()                               // send rd.Messages, hand rd.Deliver to the application
//	b.Advance()                                   // rd is being carried out: before the next input
//
// Input is sealed; its one type is Receive (a Submit, Order, Ack or
// Stable from a peer's circuit). Step refuses (ErrNotStep) a FlushState or
// Plan, which travel with membership (Propose, Install); a message of
// another view is dropped without an error (normal during a view
// change). Ready changes nothing (calling it twice returns the same): it
// adds the Stable announcement or the Ack due now, and Advance records
// them as sent, so a driver calls Advance right after taking Ready.
//
// # Within a view
//
// Members send (Submit) to the view's coordinator, ViewID.Coord, which
// assigns consecutive sequence numbers from 1 and relays each message
// (Order) to every member; the coordinator's own messages are sequenced
// directly. Every message is delivered twice, both times in sequence
// order: Agreed as soon as every earlier message of the view is here, and
// Safe once every member of the view holds it (members Ack the highest
// sequence up to which they hold everything, the coordinator announces the
// minimum as the Stable point). A message is kept until it is stable, then
// released. Consumers that need durability at every member (the config DB)
// use only Safe deliveries.
//
// Each message has an id (MsgID: sender, sender boot id, a counter that
// grows with every Broadcast of that boot and is never reset by a view
// change). A submission names the previous one of the same sender in the
// view; the coordinator sequences it only if it follows the last one it
// sequenced from that sender, so a message is sequenced at most once per
// view and a gap left by a broken circuit is never jumped over (the next
// view change recovers it).
//
// Messages go over the driver's conn circuits, reliable and FIFO per peer;
// a message to a peer that became unreachable may be lost, which only
// stalls progress until membership changes the view. Messages carry their
// view id; those of another view are ignored, except those of the view this
// node last proposed, kept (up to Config.MaxEarly) and processed after its
// Install.
//
// # View changes: the contract with membership
//
//  1. Propose. When this node promises a proposal (before the promise is
//     sent; every member of the proposed view does it, new nodes too),
//     membership calls st := b.Propose(proposal.ID) and puts st (Encode /
//     Append) in the promise. From then on the node sends, sequences and
//     delivers nothing of its old view. If that proposal fails and a
//     higher one comes, membership calls Propose again with the new id
//     (the state is the same, only its View field changes) and uses the
//     new state. Broadcast still works: messages wait.
//  2. Complete. Once every member promised, the new coordinator calls
//     plan, err := bcast.Complete(view, states), with exactly one
//     FlushState per member of view, all for view.ID, and puts the plan in
//     its commit. For every old view that some members come from (a merge
//     brings several) it takes the union of what those survivors hold and
//     fixes a cut: the longest gap-free run of sequences, which is at
//     least what any of them delivered. An error means the states are not
//     those of view's members (a bug upstream): do not commit.
//  3. Install. Every member, when it installs the view (the exact proposal
//     it last promised, so after its last Propose), calls
//     b.Install(view, plan) with the commit's plan, before it handles any
//     message of the new view. It delivers Agreed, then Safe (Flush set),
//     every message of its old view up to the cut that it had not
//     delivered, and discards anything beyond the cut; so every survivor
//     of an old view that installs the same next view has delivered the
//     same messages of the old view, in the same order. Then it starts the
//     new view at sequence 1 and resubmits, in order, its own messages
//     that were not delivered. Members must not drive Step with messages
//     of the new view before their Install (Step keeps them as early
//     messages if they come).
//
// Nothing of an old view is delivered in a new one: a message sent in a
// view is delivered in it (by its flush) or resubmitted by its sender in a
// later view. Messages of senders that did not come along into the new
// view and were never sequenced are dropped (only their sender resends).
//
// A node that was cut off in a partition may learn at a view change that a
// message it sent was delivered in a view it was not in (a member of the
// new view delivered it: FlushState.Delivered / Plan.Delivered carry the
// highest id delivered per sender). It will not be resent, so no node
// delivers a message twice; it is listed in Ready.Elsewhere and the sender
// never delivers it itself.
//
// A restarted node is a new sender (new boot id): its messages not
// sequenced before the crash are lost; it joins with New and a Propose /
// Install like any new member (FlushState.Old zero).
//
// # Wire
//
// Submit, Order, Ack and Stable travel on circuits; FlushState and Plan
// inside membership's promise and commit. Each has Append and
// Decode(*wire.Reader), the shape of wire.Message without Type: they are
// registered in core/wire later. Until then Encode / Decode use the Kind
// byte.
package bcast
