// Package crm is the resource manager (corral help design, "Resource
// manager", after NT clusters: resources, groups, dependencies, possible and
// preferred owners, restart and failover thresholds, failback, push and
// pull failover). It is a pure state machine: no goroutines,
// clock, global randomness or I/O; maps are iterated in sorted order
// wherever that reaches an output.
//
// # Desired state
//
// The config DB holds what users asked for, as JSON: /resources/NAME and
// /groups/NAME (ParseResource, ParseGroup; an error names the key and the
// field). The driver feeds every change of those keys as a ConfigKey input
// (nil value: deleted). Group membership is the resources whose "group"
// names the group, started in the order of the group's "resources" list
// (resources it does not list come last, by name) and stopped in reverse.
//
// # Who decides
//
// Every node runs one CRM. Only the coordinator of a primary view that
// holds its lease, and whose config DB has settled in that view (View.
// StaleConfig false), schedules; a new coordinator first rebuilds the
// state from every member's full Report (operations in progress
// included), delivered in the new view, before it schedules anything.
// Runtime state (owners, states, reasons, failure counts, moves) is never
// written to the config DB: the coordinator broadcasts it (State) and
// every node keeps the last copy, so a new coordinator starts from it.
// The part of it that safety needs, the owner table (who may run what),
// also travels in every full Report and is persisted by every node in its
// own store (Ready.Persist, Config.Known): see "A new coordinator".
//
// Desired state is read only from a settled DB: after a view change or a
// restart, this node's committed state may be older than a write another
// member acknowledged (a `resource del`, a target=stopped) until the
// adopted history commits here (core/cdb: settled). The driver sets
// View.StaleConfig from the DB (not SettledIn the view) and feeds it again
// when it settles; until then the coordinator places nothing, so it never
// starts what an acknowledged write stopped or deleted.
//
// # The driver's contract
//
//  0. c, err := New(Config{..., Known: what the node last persisted}).
//  1. Step(now, input) for every input: ConfigKey, SetView (at every view
//     install, lease change and change of the DB's staleness), Deliver (every ordered-broadcast delivery
//     of a crm payload, agreed order, the node's own included), ActionDone
//     and MonitorFailed (from this node's executor), PolicyAnswer, Fenced,
//     Move, Cleanup, TimeOfDay. Tick(now) regularly (timers: move expiry,
//     policy deadlines, threshold periods, failback windows). Step and
//     Tick schedule (the placement pass runs after every input); Ready and
//     HasReady change nothing.
//  2. rd := Ready(): first write rd.Persist (EncodeKnown) durably when it
//     is set (a node that cannot write it stops); broadcast every
//     rd.Broadcast payload with ordered
//     broadcast (in order); run every rd.Exec action on this node's
//     executor, off the event loop (a monitor action is a one-shot
//     probe, see "Probes"), and feed its result back as ActionDone
//     (a started resource with a monitor interval is monitored by the
//     executor until it is stopped; a failure comes back as MonitorFailed);
//     ask the Lua policy every rd.Policy request off the loop and feed the
//     answer back as PolicyAnswer (a late answer is ignored: the built-in
//     default was used); publish rd.Events (they come from the ordered
//     broadcast, so every member sees them in the same order); escalate
//     every rd.StopFailed (a failed stop of a resource that may run here:
//     ask for this node's fence, or fence itself without a lease), and
//     never a failed stop that does not come out there. Then Advance().
//
// # Safety
//
// A group is started on a node only when every other node of the primary
// view reports all of its resources stopped, and no node that may still run
// it has left uncleanly without being fenced (the fence hook: a Fenced
// input, or Config.AssumeFenced until real fencing exists, under which a
// departed node counts as fenced as soon as it leaves the primary view).
// While the hook is unsatisfied the group is "blocked" with the reason
// "waiting for fence of n3". A node whose installed view is not primary,
// or that lost its lease (View.Lease), stops what it runs; a member takes
// a start only while its view is primary and it holds a lease now (one it
// never had yet, as after a restart, counts as none). A start ordered
// while it holds none is kept unanswered and taken when a View with the
// lease arrives in the same view (judged at that moment); a view change
// drops it (no re-order storm while the lease is on its way).
//
// Continuity (corral help design). View.Lease is membership's Leased:
// a member of consecutive primary views carries the lease of the old view
// into the new one until the new view's answers renew it, so a view
// change that adds, removes, pauses or resumes other nodes never stops
// what a member runs, and its monitors go on (the executor monitors until
// a stop or start of that resource). This is safe because nothing about
// that member changed: the new coordinator rebuilds from every member's
// full report before it schedules, so it knows what the member runs and
// places nothing of it elsewhere; and a primary view that excludes the
// member acts on it only after its fence or the takeover wait, as for any
// excluded node. A member loses the lease, and stops, only when its lease
// lapses without a primary view renewing it.
//
// Takeover. The coordinator schedules as soon as it holds the lease.
// What an excluded node ran (in its groups' active lists, or in the
// unfenced list of the state it inherited) stays blocked until a Fenced
// confirmation for that node; the group then starts at once, with no
// lease wait: a confirmed fence means the device reported the node off
// (or reset by its watchdog, or a person confirmed it), so nothing of it
// runs any more and its lease no longer matters (G4). Any other start
// (a group that ran nowhere the coordinator knows of) waits for
// View.Takeover, the takeover wait since the view committed, by which
// time every node the view excluded has lost its lease and stopped on
// its own: what a coordinator knows of the excluded nodes may be
// incomplete (it restarted, or missed the last state), and the wait
// covers that as it did before. Completing a group on the member that
// already runs part of it is no takeover and needs no wait. Without
// fencing (AssumeFenced) a departed node counts as fenced only once
// View.Takeover holds and FenceDelay has passed.
//
// The simulation (TestSimulation, harness_test.go, continuity_test.go) checks on
// every step that a group never runs on two nodes of one primary view,
// that no node stops a resource on its own while it holds its lease in a
// primary view (continuity), and, with fencing, that a group never runs
// or starts in the primary view while an up node outside it still runs
// it; continuity_test.go lists the mutations and the seeds that catch
// them.
//
// # A new coordinator (G4)
//
// A group must not start in the primary view while a node that left it
// uncleanly, and is not confirmed fenced, may still run it. The
// coordinator that sees the node leave knows (its actual state, the
// group's active nodes), but a coordinator that restarted, or that was not
// in the view where the owner was known, has no runtime state of its own.
// So the owner table, Known, is replicated and versioned:
//
//   - Every node's copy is the last State's active nodes per group and
//     its unfenced nodes, versioned by the view of the last State that
//     changed it (the coordinator's own copy by its view, at each State it
//     sends). A start is never ahead of the State: the coordinator
//     broadcasts its State before the Actions of the same pass, and the
//     State already names the node it starts the group on, so whoever
//     took the Actions holds that State. A confirmed fence (the Fenced
//     command) removes the node from every copy.
//   - Every full Report carries the member's copy; every node persists it
//     whenever it changes (Ready.Persist, before the rest of that Ready)
//     and gets it back at a restart (Config.Known) until a newer State or
//     Actions supersedes it.
//   - A new coordinator waits for every member's full report (it schedules
//     nothing while rebuilding), takes the copies of the newest version
//     (several of that version: their union; its own copy competes like
//     any other), and every owner in them that is neither a member (its
//     own full report says what it runs) nor fenced in this view becomes
//     unfenced: the groups it may run are blocked "waiting for fence of N"
//     until Fenced (or AssumeFenced's delay).
//
// Why the newest copy suffices: by induction over the primary views that
// broadcast a State. The first State of a view comes from a coordinator
// that took the newest copy among all its members, so it names every owner
// named by that copy that was not since seen to stop or be fenced, and
// the coordinator adds what it sees leave itself; an owner that an older
// copy names and the newest does not was therefore resolved. Taking only
// the newest (not the union of all) keeps a long-absent node's stale copy
// from blocking groups forever on an owner that stopped cleanly since.
// Primary views form one chain (G2) and each intersects the one before,
// so some member of the new view held the previous view's copy, in memory
// or on disk, unless every such member lost it (a crash before the State
// was delivered, and the State's view ended before it was delivered
// anywhere else).
//
// What is covered: a restarted coordinator (the members' copies); a
// coordinator that was cut off or down while the owner was recorded (the
// members' copies); all members restarting at once while the owner is cut
// off (every node's persisted copy: the case, n1 and n2 restart,
// n3 cut off with a hung stop). Not covered: a node whose store is wiped
// (it restarts knowing nothing; the others still know unless all of them
// are wiped). A group blocked on a persisted owner after a whole-cluster
// restart waits for that owner to rejoin or for its fence; the fence core
// decides whom it fences, and an operator can confirm a fence by hand.
//
// # A scheduling pass
//
// A group's state is a GroupPhase: online, offline, starting, stopping,
// failed or blocked (the text the State message, the API and the shell
// carry). At every pass the coordinator plans each group, the groups it
// depends on first (plan), in four steps: decide (placeGroup, choose: a
// placement, the node it should run on or none, a state that holds
// whatever runs (blocked, failed), the reason, and whether it waits for
// its Lua policy), drive (driveGroup, drive, stopOn: the next stop or
// start towards that node, one resource at a time and never on two nodes,
// and what it waits for, a failed stop flagged), derive its state, owner
// and resource rows from the placement and from what then runs
// (deriveState), and emit the events of the change (emitEvents). Every
// decision is taken on these typed values, never on a reason's text: the
// reasons are for people.
//
// # Placement
//
// Candidates are the view's members, restricted by possible owners, the
// dependency's owner (a group with "after" starts on its dependency's node
// once that one is online), bans (a node the group failed on, for
// failover.period), paused nodes (standby, as Pacemaker's: their groups
// move away, each stopped there through its agents, and none is placed
// there until `resume`), nodes that stop cleanly (Drain: every member
// remembers it for DrainHold, or until the node leaves the view, so a
// coordinator of a later view keeps it; a coordinator that restarted
// since does not know it; the node itself, which never sees a view
// without itself, forgets it when it is resumed: Resumed) and leaving
// nodes (their
// groups move away too). Preferred owners
// order them, then load, then the name. A group stays where it runs
// unless a move, a failover or failback (never, immediate, or within a
// window of the day) says otherwise; a Lua policy (choose_owner,
// on_failure) decides instead of the default when the group names one.
// Failures: a monitor or start failure restarts the resource in place
// (it and the resources after it stop in reverse, then start in order) up
// to restart.max per restart.period, then fails over (push) and bans the
// node, and after failover.max failovers per failover.period leaves the
// group "failed" with the reason; a failed stop blocks the group until
// cleanup, or, with fencing configured (not AssumeFenced), until that node
// is fenced: "stop of X failed on N: waiting for fence of N" (the driver
// escalates, from Ready.StopFailed: core/node asks for the fence of N or
// N fences itself).
//
// Configuration failures (issue 16: a typo must never fence a node). A
// failure with StatusConfig (no such agent, parameters its meta() refuses,
// an agent answering "config" as OCF's "not configured" and "not
// installed" do) is the configuration's, not the node's: no node would do
// better, so the group is left "failed" with the reason (on every node,
// through the State; the resource shows failed where it failed), never
// restarted nor moved, until a cleanup. A start that fails so started
// nothing: the member reports the resource stopped, and nothing stops it.
// A stop of a resource this node never started (no start of it was
// handed to its executor in this incarnation, or the only one ended in a
// configuration error) is a success whatever the agent answers, so it
// never escalates; a failed stop of anything that may run (a start was
// attempted and did not end in a configuration error) escalates as
// before. A stop of a resource this node started runs with the agent and
// the parameters of its start, whatever the configuration says now: a
// change made while it ran (a parameter typo, a nic that does not exist
// here, another agent) can neither fail that stop with a configuration
// error, which escalates, nor stop something else and succeed while the
// started instance runs on (TestStopUsesStartParams). Why this is safe:
// the escalation exists because a failed stop may leave the resource
// running while the group starts elsewhere; a resource that neither a
// start in this incarnation nor its probe (below) found possibly running
// is not running here, and a failed group starts nowhere.
//
// Probes (G4 across a restart of the node's process). What an agent
// started may outlive the process (an address stays on its interface, an
// OCF daemon runs on), and a new incarnation knows nothing of it. So at
// its first view a node monitors every configured resource once (a
// probe), and its first full report waits for the answers: the
// coordinator rebuilds from every member's full report before it
// schedules, so it learns what still runs there before it places
// anything. Found running: it runs here (Started; it may stay). Not
// running, or "config" (it cannot run as configured: a typo never
// fences): nothing. Any other answer (an error, a timeout): Failed, so
// the coordinator stops it here first, and a failed stop escalates
// (TestRestartedNodeIsProbed, TestProbeFailureStopsIt). A probe sees only
// what the agent's monitor sees: an agent whose monitor reads state the
// node erased at start (pid files) reports not running.
//
// Cleanup takes what the shell shows: a configured resource, a resource a
// group's row still lists (a deleted one whose stop failed), or a group
// (all its resources).
//
// # Events
//
// The coordinator publishes group_online when a group becomes online,
// group_moved {from, to} when it becomes online on another node than the
// one it was last online on, and group_offline when it stops being
// online. A coordinator with no record of a group (it restarted, or never
// got a State) that finds it online at its first pass publishes nothing:
// its own starts go through "starting" first, so the group was online
// before it and nothing changed (a join that makes a node coordinator
// must not look like a reshuffle). The price: a start that completes
// while such a coordinator rebuilds is not announced by group_online.
//
// # Messages
//
// Report (a member: what it runs, operations in progress, the result it
// just got; a full one also its copy of the owner table, Known), Actions (the coordinator: agent calls for nodes), State (the
// coordinator: groups' runtime state with ages instead of timestamps,
// nodes waiting for a fence, and the events, which every member publishes
// in the broadcast's order) and Command (anyone: move, cleanup, fenced,
// drain).
// Encode/Decode use core/wire's Writer and Reader; Decode never panics.
//
// Snapshot gives this node's runtime state as a full State and its owner
// table: what a what-if simulation (core/whatif, the shell's `simulate`)
// starts a cluster of resource managers from. It changes nothing.
package crm
