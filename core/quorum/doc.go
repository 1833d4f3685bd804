// Package quorum is corral's quorum arithmetic (corral help design,
// "Quorum"): whether a candidate view is primary, and whether the nodes that
// acknowledged a lease request may act for a view. It is a pure package
// (corral help design): plain functions of their arguments, no
// goroutines, no clock, no randomness, no I/O; map keys are sorted before
// they reach a decision or an output. Witness I/O, the persistence of the
// last primary view (LP) and the gathering of a Lineage live in membership
// and node.
//
// # Votes
//
// Config.Votes lists every configured node with its votes (0 allowed).
// votes(S) is the sum over the distinct ids of S; ids that are not configured
// count 0. Validate rejects an unknown policy, an empty node list, negative
// votes, a list where no node has votes, a negative window, a zero window
// under last_man_standing, and two_node unless exactly two nodes are
// configured, both with votes. Decide and Lease on an invalid Config never
// grant anything.
//
// # Decide
//
// A view V (its members) is judged against a reference set P:
//
//   - majority: P is the configured nodes, always (expected votes never
//     shrink).
//   - last_man_standing (dynamic linear voting): P is Lineage.LP, the newest
//     last-primary view (or acknowledged primary proposal) held by any
//     member of V; the configured nodes on a cold start (LP nil). A view is
//     never judged against an older LP than the newest.
//
// V is primary iff votes(V ∩ P) > votes(P)/2. Exactly half is enough only
// with a tie-breaker on V's side: V holds the lowest id of P that has votes
// (auto_tie_breaker), or, without auto_tie_breaker, the witness granted its
// vote (Lineage.Witness). With auto_tie_breaker the lowest voter alone decides
// ties: were the witness consulted too, a witness granting the other half
// would give both halves a tie-breaker. The witness only breaks ties; it
// never makes less than half enough.
// Decision.Needed is what V needs given its tie-breaker: half of P's votes
// when it has one, else more than half.
//
// The window (last_man_standing): while Lineage.LPAge < Config.Window and
// Lineage.Prev is known, V must also win against Prev by the same rule
// (ties included). This only adds a condition, so it only slows shrinking.
//
// A primary proposal that members acknowledged but none of them saw
// installed may have been installed elsewhere, or never: the last installed
// primary view is then LP or one of the views before it that may have been.
// The membership layer passes such an LP with LPAge 0 and those views in
// Lineage.Also (the newest view known installed, or the configured nodes
// when none is, and every proposal acknowledged after it); V must win
// against each of them too, whatever the window. This settles the
// ambiguous case where the proposal added nodes and only some members
// acknowledged it, and never lets a view be judged against an older
// reference than the one the other side may still hold.
//
// two_node: with the two configured nodes, a view holding either one is
// quorate (1 of 2), whatever the policy; two_node implies wait_for_all.
// Such a lone view is primary only to fence its peer: TwoNodeAlone says
// whether it fences (AloneFencing), acts (AloneActing: the peer is down
// and this node holds the history it shared with the peer) or does
// neither (AloneIdle: this incarnation never adopted a history with its
// peer); the driver gates the config DB, DNS and history adoption on it.
//
// wait_for_all: no view is primary until Lineage.AllSeen is true or V itself
// holds every configured node (zero-vote nodes included). The arithmetic is
// reported first: Reason says "waiting for all nodes (wait_for_all)" only
// when the votes alone would have been enough.
//
// # Unblock
//
// An operator's quorum unblock (`quorum unblock`, corral help operations)
// recovers a cluster that lost quorum for good, like corosync's
// `corosync-quorumtool -e` with pcs's `quorum unblock`. Given in a view U
// that is not primary, it writes off every configured node outside U
// (PlanUnblock: WrittenOff; Expected = votes(U)). Membership carries it
// out on every member of U, at the delivery of the operator's broadcast
// in U: each takes U as its LP, as if U had been installed primary, with
// AllSeen (a wait_for_all wait ends too) and, under majority, with
// Lineage.Unblocked while U holds no plain majority of the configured
// votes (Unblock.Chain). From then on:
//
//   - last_man_standing: nothing else changes; U is the newest LP.
//   - majority: a view whose newest LP is held Unblocked by a member is
//     judged as under last_man_standing (against LP, with Also and the
//     window), and its lease against the view itself (LeaseUnblocked).
//     A primary view installed from such a lineage keeps the flag while
//     it holds no plain majority (ContinuesUnblock: a tie counts only by
//     auto_tie_breaker, never by the witness); the first primary view
//     that holds one ends it when it is installed (a promise of such a
//     proposal keeps the flag as proposed: a proposal promised but never
//     installed must leave its promisers judged against the promised LP
//     and Also), and the configured nodes are the reference again.
//   - two_node: refused; a lone node acts once its peer is confirmed
//     fenced (`fence confirm`).
//
// The unblock is persisted with the lineage, so it survives a restart of
// a survivor exactly as long as it matters: until a primary view holds
// the plain majority again (majority; under last_man_standing until the
// next primary view replaces LP). A written-off node that rejoins a view
// with a holder of the unblocked lineage takes it on at the install and
// counts again.
//
// The operator's statement S: every written-off node is down when the
// unblock is given, and stays down until it rejoins a view with a member
// of the unblocked lineage (it is powered off; restarted, it comes back
// where it reaches the survivors). The stack refuses the unblock unless
// each written-off node is unreachable and confirmed fenced or declared
// down (`fence confirm`) at the incarnation last seen, and says why: two
// sides that both unblock are a split brain.
//
// G1/G2 (at most one primary component, one chain of primaries) while S
// holds. Before U, primaries form one chain by the rules above. Treat U as
// a primary view in that chain, after the last primary P any member of U
// knew; its step from P is the operator's, not a majority of P: it is
// safe because a view formed concurrently with U, or after it, holds
// either a member of U or only written-off nodes, which S excludes (they
// are down, or they rejoined a holder and took its lineage on). So every
// primary view after U has a member whose newest LP is U or a later view
// of its chain. Among such views the last_man_standing argument applies
// unchanged (core/membership "Lineage"): a view judged against an LP holds
// a majority of it, so it meets the next primary of the chain, whose
// member knows the newer LP, and two views cannot both succeed one LP.
// The majority rule rejoins the chain safely: a view judged by the
// configured nodes has no member whose newest LP is unblocked, so every
// flagged LP its members could hold is older than an LP they know; and a
// chain view Q that holds the plain majority clears the flag only for
// views after Q, which hold a majority of the configured votes and so
// meet any other view judged by the configured nodes, while a view still
// judged against an older flagged LP holds a majority of it and meets the
// chain's next view, whose member knows Q. What S cannot cover: a
// written-off node that was in fact running, or that comes back cut off
// from every survivor with other written-off nodes, forms a primary from
// its own lineage (a majority of the configured nodes, say) beside the
// survivors'. That is why the unblock is an operator's, confirmed,
// logged act, and why the written-off nodes are brought back one at a
// time where they reach a survivor (corral help operations).
//
// Not all-or-none. The members of U carry the unblock out one by one, at
// the broadcast's delivery; a member that gets it only at the flush of a
// view change (or during one) does not, and a view change can cut one
// off from the others right after another carried it out. So until a
// primary view follows U, a holder of U itself (Lineage.UnblockedView,
// any policy; ViewRef.Whole when U is in Also behind a primary proposal
// promised after it, never installed: wire.Lineage.PrevUnblocked carries
// that mark) makes a view primary only if it holds every member of U:
// that view meets every member of U, holder or not, each promises it
// (takes it as LP with the flag at the promise), so U's step is handed on
// through the ordinary promise rule; any other view has no holder of U
// as newest LP, is judged as if the unblock had not happened, and by the
// chain argument before U cannot be a second successor of U. Missing
// members only cost liveness: the operator unblocks again (corral help
// operations; the shell reports who holds it).
//
// # Lease
//
// Lease judges the acknowledging members of a view v (ackers outside v do
// not count) by the same arithmetic, against v itself under
// last_man_standing and against the configured nodes under majority, with
// auto_tie_breaker on the reference's lowest voter and no witness. Under
// two_node one acker with votes (the requester) suffices. wait_for_all and
// the window do not apply. Two disjoint sets of ackers never both hold a
// lease against the same reference (except under two_node, where fencing
// settles the split).
//
// # Output
//
// Decision.Explain renders the arithmetic for the shell:
//
//	primary: 2 of 3 votes of configured nodes, need 2; policy majority
//	not primary: 1 of 3 votes of last primary view 17/1, need 2; policy last_man_standing
//
// Explain (`explain quorum`) renders a Decision in sentences with the
// options that took part and, for a primary view, LossSets: the minimal
// sets of its members whose failure together leaves a view Decide does
// not judge primary, judged with the lineage Survivors gives (the view as
// LP, aged past the window, every node seen, the witness granting when
// one is configured). The sets come from Decide itself, searched by
// increasing size (at most MaxLossJudged views, MaxLossSets listed), so
// they cannot disagree with it; a quick-check compares them with every
// subset of failures on random configurations.
package quorum
