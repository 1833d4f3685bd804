// Package fence decides who fences whom and when (corral help design:
// "Fencing", G4; the Open Cluster Framework's STONITH plugins, fencing
// and split brain). It is a pure state machine: no goroutines,
// clock, global randomness or I/O; maps are iterated in sorted order
// wherever that reaches an output. The device calls themselves are Lua
// fence drivers (agents/fence/) that the driver runs off the event loop.
//
// # API
//
//	f, err := fence.New(fence.Config{Self, Boot, Targets, Action, Timeout, Rounds,
//	                                 RetryAfter, Lease, Margin, Drift, WatchdogTimeout})
//	f.Restore(persisted)            // at a restart, what Ready.Persist last gave
//	f.Step(now, fence.View{ID, Members, Coordinator, Primary, Lease, Clean})
//	f.Step(now, fence.Deliver{View, Primary, Payload, Flush})  // Safe deliveries, own too
//	f.Step(now, fence.Result{Call, OK, Error})                 // a Ready.Calls call ended
//	f.Step(now, fence.Request{Target, Reason})                 // `fence NODE`, escalation
//	f.Step(now, fence.Confirm{Target})                         // `fence confirm NODE`
//	f.Tick(now)
//	rd := f.Ready(); ...; f.Advance() // Ready changes nothing; Advance acknowledges it
//	f.Status() []TargetStatus; f.Confirmed(node) (boot, ok); f.Running(); f.Settled()
//	f.Snapshot() []byte             // the replicated knowledge, as Restore takes it (core/whatif)
//
// # The driver's contract
//
//  1. Give View at every view install (after the old view's flush
//     deliveries, before anything of the new view) and at every change of
//     this node's lease. Clean names the nodes that left cleanly
//     (membership's node_left clean=true). Give it before the resource
//     manager's, so this node's fence report precedes its crm report.
//  2. Give every Safe delivery of a fence payload (ordered broadcast),
//     flush deliveries included (Flush), with the view that sequenced it
//     and that view's agreed primary flag. Deliveries of non-primary views
//     are ignored.
//  3. Every Ready, in order: write Persist durably; broadcast every
//     Broadcast payload (ordered broadcast, in order); run every Call off
//     the loop (lua RunFence(ctx with Deadline, Driver, Action, Target,
//     Params)) and give its Result, a timeout being a failure; start a
//     call only if this node still holds its lease at that moment
//     (membership's lease by the real clock, not the last View: after a
//     pause the View is stale), else give Result{OK: false}; publish
//     Events; feed every Confirmed to the resource manager's fence hook
//     (crm.Fenced{Node: Target}); put every History record in the config
//     DB (a put of Key; only the coordinator emits them). If SelfFence is
//     set, stop at once: kill the resources, exit, come back with a new
//     boot id. Then Advance.
//  4. Tick regularly (every heartbeat is plenty).
//
// # Protocol
//
// Every member holds the same replicated knowledge (state): the boot id
// each node announced, who left cleanly, fence operations (op: target,
// the target's boot id, reason), device calls (attempt: op, level,
// device, runner and its boot id, result), manual requests and
// confirmations. It only grows: merging two copies is their union,
// keeping the more advanced copy of a record (a call's result ranks
// ok > failed > abandoned > none), and everything else (an op pending,
// in progress, done or failed; a node confirmed fenced) is derived from
// it. So members that merged the same reports agree whatever each held
// before.
//
//   - At every primary view install each member broadcasts a Report: its
//     boot id, its knowledge, the calls it is running now. A member has
//     settled the view once the reports of every member were delivered.
//   - Only the coordinator of a primary view that holds its lease and has
//     settled acts. View.Lease is the view's own lease (a quorum of the
//     view answered it: membership's ViewLeased), not the takeover wait:
//     the coordinator starts fencing as soon as the new view holds. That
//     is safe because fencing a node that is not a member of a committed
//     primary view takes nothing from anyone: the view that excludes it is
//     the one the cluster goes on with, and the node's lease is what the
//     takeover wait protects, which a confirmed fence makes moot (the node
//     is off). The resource manager starts a fenced node's groups right
//     after the confirmation (G4; core/crm/doc.go "Takeover"). One
//     exception keeps live nodes alive: a non-member this node still
//     reaches (View.Reach), typically left out of a view formed while it
//     or the coordinator was rejoining, is fenced for leaving uncleanly
//     only once the takeover wait has passed (View.Takeover) and it is
//     still not a member; by then the next view usually holds it again. A node needs fencing when it is not a member, left
//     uncleanly (its last boot id is known and is not recorded clean) and
//     is not fenced at that boot id; or when a request for it is open; or
//     when an op for its current boot id was begun and failed (an op once
//     begun is carried through). The coordinator broadcasts Begin (an op),
//     then one Attempt at a time: levels in order, the devices of a level
//     one after the other (a level succeeds when all its devices do),
//     Rounds walks through the levels, then the op fails and a new one
//     starts RetryAfter later. The runner (the coordinator) starts the
//     device call only when its own Attempt comes back Safe in the view it
//     issued it in while it holds the lease, so every member of that view,
//     and so every later primary view, knows of the call before it runs.
//     Its Done carries the result.
//   - Coordinator commands (Begin, Attempt, Abandon, Watchdog, Fail)
//     count only when delivered in the view they were issued in (a
//     resubmission in a later view is void), so a coordinator's decisions
//     are made against the state every member holds.
//   - One call on a node at a time, cluster-wide, across coordinators: no
//     Attempt for a node is issued while any call on it is outstanding. A
//     new coordinator that finds an outstanding call waits for it when the
//     runner is a member with the same boot id that reports it running,
//     abandons it at once when that runner reports it is not running it,
//     and else abandons it only AbandonWait = Timeout·(1+ρ)² + margin after
//     it got its own lease and the takeover wait since its view was
//     installed passed: the runner started it while holding its lease, so
//     before the takeover wait of a view that excludes it ended, and the
//     Lua host stops a call at its deadline.
//   - Confirmation: a node is fenced at boot b when an op for boot b is
//     done: every device of one level reported success, or, in watchdog
//     mode, the coordinator saw WatchdogWait = (T_lease + W)·(1+ρ) +
//     margin pass on its clock since its view (which excludes the node)
//     was installed, or a person confirmed it. A confirmation holds until
//     the node announces a higher boot id; a node confirmed fenced at a
//     boot id is not fenced again for that incarnation. A configured node
//     never seen in a primary view (no boot id known) is confirmed at
//     boot id 0 by a requested fence that succeeded or by a person: down,
//     whatever incarnation ran then, until it announces any boot id
//     (Confirmed reports (0, true)). The lock manager needs this to
//     release a node that never joined (core/stack: only while conn never
//     talked to any incarnation of it). A device that
//     fails leaves the node unconfirmed (its groups keep waiting), with
//     the error in Status and a fence_failed event.
//   - Clean leaves: a Report names the nodes its install's View.Clean
//     lists, at their boot ids, and the state records them with the
//     reported view; it also records, per node, the newest primary view
//     the node was a member of (from its Reports, and from each member's
//     install). A clean leave counts only while it is at the node's last
//     boot id and newer than the node's last membership: a node that
//     left and was resumed at the same boot id (`resume`) is a member
//     again, and its next departure is unclean unless it leaves cleanly
//     again. Both records join by maximum (boot, then view; view), so
//     every node derives the same answer whatever order reports came in
//     (a stale report of the leave cannot bring it back). Without this a
//     resumed node that then crashed was never fenced, and two_node
//     counted it as down (G3).
//   - Requests: a Request (`fence NODE` on any member, or a member's own
//     failed stop) is broadcast and recorded by every member; Status
//     shows its target pending from its delivery on. A request that
//     cannot be carried out is refused at once with ErrCannotFence: no
//     primary view, no device and no watchdog for the target, a
//     watchdog-only target that is a member, or a target that is the
//     view's only member. The coordinator never runs a call against
//     itself: a request for the coordinator is begun as an op by the
//     coordinator, which then stops itself (Self-fencing below), and the
//     next coordinator carries the op out with the devices: the request
//     survives the coordinator change (Pacemaker fences its DC the same
//     way: another node runs the device).
//   - Self-fencing: a node that learns it was confirmed fenced at its own
//     boot id, or that an unfinished op against its own boot id exists
//     (it was cut off and came back), sets Ready.SelfFence.
//   - An op condemns nobody once everyone who worked on it is gone (void):
//     it is not done, the incarnation of the coordinator that began it
//     (Begin carries the sender's boot id) and of every runner of its
//     calls has since been confirmed fenced at that boot or announced a
//     newer one, and it serves no request. An op whose coordinator's
//     boot id is unknown (begun by a version-1 sender: ByBoot 0) is
//     never void. Its target does not stop
//     itself for it, and no later coordinator carries it on (it fences
//     the target only if it needs that on its own: the target is not a
//     member and left uncleanly). Safe: an op that is not done confirmed
//     nothing, so nothing of its target started elsewhere on its account,
//     and no call of it can still run (a call dies with its runner).
//     This is what keeps the winner of a two-node split up: the loser's
//     incarnation began a fence of the winner and was fenced before its
//     delay let it call; when it comes back with a new boot id and brings
//     that op in its report, the winner, its target, stays.
//   - Two-node clusters: both halves are quorate, so each fences the
//     other. Target.Delay on the preferred survivor makes its peer wait
//     that long before its first call against it, while the preferred
//     survivor fences the peer at once: the race is decided, not random.
//     (Pacemaker's pcmk_delay_base.) Manual requests are not delayed.
//   - Watchdog mode needs a watchdog outside the process that is fed only
//     while the node holds its lease and is armed from the node's start
//     (so a node that never got a lease is reset W after it started).
//     A watchdog-mode node with devices is fenced by whichever comes
//     first. Watchdog mode cannot fence a member (a manual request
//     against a watchdog-only member fails).
//
// Knowledge passes from one primary view to the next through the members
// they share. With the majority policy every two primary views share a
// member; with last_man_standing a view that changes again before its
// reports are delivered can, in a chain of such changes, lose an
// outstanding call (the next coordinator then calls again without
// waiting). Nodes never seen in a primary view (boot id unknown) are not
// fenced at a cold start unless asked (`fence NODE` or `fence confirm
// NODE`, confirmed at boot id 0, above).
//
// # Messages and history
//
// Payloads are versioned binary (Encode/Decode, core/wire Writer and
// Reader; version 2 adds the sender's boot id and each op's coordinator,
// version 1 still decodes with both unknown); the state snapshot inside a
// Report and in Persist is canonical (snapshot version 3 adds the view of
// each clean leave and each node's newest membership; 1 and 2 decode with
// them zero: a clean leave then counts until the node is seen a member). History records are JSON at
// /fence/history/<target>/<epoch>-<coord>-<n>: {op, target, boot, reason,
// state: done|failed, device, by, error, attempts: [{device, level,
// round, runner, result, error}]} (HistoryRecord).
package fence
