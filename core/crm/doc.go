// Package crm is the resource manager (ARCHITECTURE section 5 "Resource
// manager", seed 002: resources, groups, dependencies, possible and
// preferred owners, restart and failover thresholds, failback, push and
// pull failover). It is a pure state machine (section 1): no goroutines,
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
// holds its lease schedules; a new coordinator first rebuilds the state
// from every member's full Report (operations in progress included),
// delivered in the new view, before it schedules anything. Runtime state
// (owners, states, reasons, failure counts, moves) is never written to the
// config DB: the coordinator broadcasts it (State) and every node keeps
// the last copy, so a new coordinator starts from it.
//
// # The driver's contract
//
//  1. Step(now, input) for every input: ConfigKey, SetView (at every view
//     install and lease change), Deliver (every ordered-broadcast delivery
//     of a crm payload, agreed order, the node's own included), ActionDone
//     and MonitorFailed (from this node's executor), PolicyAnswer, Fenced,
//     Move, Cleanup, TimeOfDay. Tick(now) regularly (timers: move expiry,
//     policy deadlines, threshold periods, failback windows).
//  2. rd := Ready(): broadcast every rd.Broadcast payload with ordered
//     broadcast (in order); run every rd.Exec action on this node's
//     executor, off the event loop, and feed its result back as ActionDone
//     (a started resource with a monitor interval is monitored by the
//     executor until it is stopped; a failure comes back as MonitorFailed);
//     ask the Lua policy every rd.Policy request off the loop and feed the
//     answer back as PolicyAnswer (a late answer is ignored: the built-in
//     default was used); publish rd.Events (they come from the ordered
//     broadcast, so every member sees them in the same order). Then
//     Advance().
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
// or that lost its lease (View.Lease), stops what it runs and takes no
// start until it holds the lease again.
//
// Continuity (ARCHITECTURE section 2). View.Lease is membership's Leased:
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
// The simulation (TestSim, harness_test.go, continuity_test.go) checks on
// every step that a group never runs on two nodes of one primary view,
// that no node stops a resource on its own while it holds its lease in a
// primary view (continuity), and, with fencing, that a group never runs
// or starts in the primary view while an up node outside it still runs
// it; continuity_test.go lists the mutations and the seeds that catch
// them.
//
// # Placement
//
// Candidates are the view's members, restricted by possible owners, the
// dependency's owner (a group with "after" starts on its dependency's node
// once that one is online), bans (a node the group failed on, for
// failover.period), paused nodes (no new groups; a group already there
// stays) and leaving nodes (their groups move away). Preferred owners
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
// escalates: core/node asks for the fence of N or N fences itself).
//
// # Messages
//
// Report (a member: what it runs, operations in progress, the result it
// just got), Actions (the coordinator: agent calls for nodes), State (the
// coordinator: groups' runtime state with ages instead of timestamps,
// nodes waiting for a fence, and the events, which every member publishes
// in the broadcast's order) and Command (anyone: move, cleanup, fenced).
// Encode/Decode use core/wire's Writer and Reader; Decode never panics.
package crm
