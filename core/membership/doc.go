// Package membership agrees on views: which nodes are in the cluster now,
// whether that view is the primary one, and whether this node may act as
// primary right now (corral help design; OSDL's "Cluster
// Membership", NT clusters' node states, quorum). It is a pure state
// machine (corral help design) driven like conn:
//
//	m, err := membership.New(cfg)  // cfg.Persisted, cfg.Start: what was persisted, now
//	err = m.Step(now, input)       // one of the Input types below
//	m.Tick(now)
//	rd := m.Ready()                // persist (fsync), then send, then publish
//	m.Advance()                    // rd is being carried out: before the next input
//
// The inputs (Input is sealed: only these types):
//
//   - Receive{From, Msg}: a membership message from a peer's circuit.
//     Refused (ErrUnknownNode) from this node itself or a node not in
//     Config.Nodes.
//   - Reach{Peer, Up}: conn's peer_reachable / peer_unreachable. Refused
//     (ErrUnknownNode) for this node itself.
//   - Restarted{Peer}: conn's peer_restarted (a new boot id): what the
//     peer reported before is void.
//   - SetState{State}: this node's own state, online, paused or leaving;
//     any other is refused (ErrBadState).
//   - WitnessAnswer{Members, Granted, Lease, At}: the witness's answer to a
//     Ready.Witness request made at At.
//   - Unblock{View, By}: an operator's quorum unblock given in the
//     installed view View, not primary: the view becomes this node's LP as
//     if installed primary, with AllSeen and (majority) Lineage.Unblocked;
//     event quorum_unblocked. Refused (ErrCannotUnblock) when View is not
//     the installed view, a view change is under way, or quorum.PlanUnblock
//     refuses. Until a primary view follows it, a view whose newest LP a
//     member holds this way is primary only if it holds every member of
//     View (quorum.Lineage.UnblockedView: the members carry the unblock
//     out one by one, so some may not have); a primary proposal promised
//     after it keeps the mark on Prev while only promised
//     (Lineage.PrevUnblocked, quorum.ViewRef.Whole in Also). UnblockHolders says which
//     members hold it. The rules and the safety argument: core/quorum,
//     "Unblock".
//
// Ready changes nothing (calling it twice returns the same); Advance
// acknowledges it: the report Ready carried counts as sent from then on,
// and Persist is no longer owed. Inputs given between Ready and Advance
// would be acknowledged with it unseen: a driver calls Advance right after
// it has taken Ready.
//
// Protocol:
//
//   - Every node reports to the peers it reaches: its state, its promise,
//     its installed view, whom it reaches, and its lineage (the last primary
//     view it installed or promised, the one before, how long ago).
//   - A node computes from the reports a fully connected set containing
//     itself: two nodes that do not hear each other, in either direction,
//     are never in one set; while the set is not fully connected it drops
//     the node with the fewest mutual links (ties: highest id). The lowest
//     id of that set coordinates it. A node that waits in vain for a lower
//     coordinator to include it ignores that coordinator for a while.
//   - Join hold (continuity across a restart): a node that has installed
//     no view since it started is joining. No node proposes a set (nor
//     starts waiting for its coordinator) that holds a joining node (this
//     node within DeferTimeout of its start, or a peer that reports
//     joining, for DeferTimeout after its first joining report reached
//     this node) and leaves out a node X that a non-joining member Y of the
//     set has in its installed primary view and still hears (unless X
//     reports leaving); and a node within DeferTimeout of its start makes
//     no view of itself alone (in a cluster of several). A restarted node's circuits come up one peer at
//     a time: before the hold, the first peer it heard made a view with
//     it (it coordinates as the lowest id, or the greedy rule drops the
//     higher id of two nodes with one link each) that dropped X, healthy
//     and reachable all along: X was fenced and a survivor could lose its
//     lease across the two views (TestRestartedNodeDoesNotSplitView; on
//     the demo, testsuite TestRestartedLowestNodeSplitsNothing). The hold
//     ends when the joiner hears X (X enters the set), when Y stops hearing
//     X or installs a view without it, when the joiner installs a view, or
//     DeferTimeout after the joiner's start (at the joiner) or after its
//     first joining report (at a peer, on the peer's clock); from then on
//     the greedy rule applies unchanged (a joiner that never hears X still
//     joins). Both bounds matter: a joiner still holds for a joining peer
//     after its own DeferTimeout, so two joiners cut from X would hold each
//     other for ever if a peer's joining counted as long as it lasted
//     (TestTwoJoinersCutFromOneSurvivorJoin).
//     Safety: the hold only withholds proposals; proposals, promises,
//     commits and leases are judged exactly as before, so neither G1, nor
//     the lineage rule (one chain of primaries, G2), nor the lease
//     arguments below depend on it: it cannot make two primaries or end a
//     lease early. Liveness (G7): once faults stop, every node hears every
//     other within conn's detection bound and the sets no longer drop a
//     live member; with X cut off for good, every node's hold ends at most
//     DeferTimeout after it first heard of the joiner, then one deferral
//     (DeferTimeout) before the joiner joins by the greedy rule.
//   - The coordinator persists a new epoch, then proposes (epoch, its id)
//     with the members, their states and the primary flag decided by
//     quorum.Decide against the members' lineage. A member persists a
//     promise ("ignore anything lower") before it answers, refuses lower
//     ids, and installs only the exact proposal it promised, when the
//     coordinator commits it after every member promised. View ids never
//     repeat: the epoch is persisted before it is used.
//   - Lineage (last_man_standing, G2): a node persists LP, the last primary
//     view it installed or primary proposal it promised after it; Prev, the
//     last primary view it installed before LP; and, while LP is only
//     promised, Need: the primary proposals it promised before LP since
//     Prev and the reference views of those proposals (Propose.Ref with its
//     members). It forgets them only when it installs a primary view. A
//     coordinator judges a view against the newest LP its members hold;
//     when none of them saw that LP installed, the view must also win
//     against every view that may have been the last installed primary
//     instead: the newest one some member installed (the configured nodes
//     if none did) and every view after it that a member names
//     (quorum.Lineage.Also). Never the first holder's Prev: issue 15's
//     {1,2,3} judged itself against the promised W = {1..5} and U, while
//     {4,5} held the installed V = {3,4,5}.
//     Safety: let A be the last primary view committed before a committed
//     primary view B. By induction over committed primaries, B holds a
//     majority of the newest view I its members know installed, so a
//     member of B is in the committed primary after I, promised it before
//     B and still names it (promised-only, newer than I), so B had to win
//     it too, and so on up to A: B holds a majority of A. The commit
//     re-judges with the lineages the members had when they promised.
//   - Leases (G2): each member of a primary view sends a lease request to
//     the others every heartbeat; a member answers only for its installed
//     view while it has promised nothing newer. A node acts as primary
//     (Quorate) only while the members that answered a request it sent less
//     than lease/(1+drift) ago form a quorum (quorum.Lease), and not before
//     lease*(1+drift)+margin has passed since it installed the view, so an
//     old primary has stopped acting before a new one starts. Quorate gates
//     what is taken over on the lease alone: config DB writes, DNS.
//   - Witness (G2): the witness breaks a tie for one member set at a time,
//     for its lease, and grants only sets that hold a member of the last
//     primary view it recorded (corral help design). A member that
//     installs a primary view whose commit rested on the witness's vote
//     (it holds the vote for those members) or that still needs it asks
//     the witness at once to record the view (WitnessReq.Installed),
//     leasing or not; a leasing member renews it from Tick as before.
//     Safety: the commit needed the grant valid, and the request leaves
//     with the commit, so it reaches the witness while no other set can
//     hold its vote; from then on a set with no member of the new view
//     never gets it, so it cannot form a second successor of the view the
//     tie was judged against. Asking only from Tick broke this: a
//     coordinator that promised its next view in the step that installed
//     this one (the window re-judged it non-primary) never leased, the
//     grant lapsed unrecorded, and the other half got the vote against the
//     older view (seed 237: 6/1 [1 2] and 7/3 [3 4], both from 4/1 [1 4]).
//   - Continuity: Leased is the lease without the takeover wait. A member
//     asks for its installed view's lease only while it has promised
//     nothing newer, and a node answers a request of its installed view
//     only while it has promised nothing newer; at the install, the answers
//     for the previous primary view (to requests sent before this node's
//     promise) carry over until they expire, and the new view's answers
//     renew the lease. So a member of consecutive primary views holds a
//     lease without a gap when the commit follows its promise within the
//     lease (a few milliseconds normally), its resources keep running, and
//     the quorum events follow Leased: a view change alone says nothing.
//     Safety: let X hold a lease of primary view V (its own or carried),
//     and let V' be the first primary view committed after V in the chain.
//     V' holds a majority of V (the lineage rule), so it meets each of X's
//     lease quorums of V in some node Y, which promised V' before V'
//     committed. If Y is another node, it answers X's requests of V no
//     more from its promise on; if Y is X, X sent no request of V after
//     its promise. Either way every lease X holds of V ends within
//     lease/(1+drift) of V”s commit, so within the takeover wait of any
//     later primary view W that excludes X. (Answering a member of the
//     promised view, or asking while promised, broke this: a node that
//     promised V' and missed its commit kept V's lease from nodes that
//     promised nothing: TestPromisedNodeLosesOldLease.)
//     ViewLeased is the installed view's own lease only (no carry): fencing
//     starts with it.
//   - Cost: the driver asks Quorate, Leased and ViewLeased several times
//     per round, so holds remembers the last two quorum.Lease verdicts (a
//     view id, its members and the ackers give one answer: the quorum
//     settings never change in a Membership), Ready builds a report only
//     when it is due (it compares the state with the last one sent), and
//     Installed gives the installed view without Status's copies and
//     quorum decision. export_test.go's CheckShortcuts compares each with
//     the answer computed afresh after every simulated round.
//   - Settings: every report carries Settings(cfg), the quorum-relevant
//     configuration; a peer whose settings differ is refused (its messages
//     are ignored) until it reports ours, EventConfigDiffers names what
//     differs once per change, and Status().Refused lists the refused
//     peers, so the driver can repeat it in its log (the node: once a
//     minute per reachable peer) without a line per packet.
//   - Ready.Persist must be written and synced before Ready.Messages are
//     sent: promises and epochs are what make G1 hold across crashes.
//     Advance clears the dirty flag: a driver that cannot persist must
//     stop, not go on with a membership that believes it persisted.
package membership
