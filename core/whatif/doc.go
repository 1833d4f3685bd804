// Package whatif answers "what would the cluster do if ...": the shell's
// `simulate` (issue 23, corral help operations "Staged changes and
// what-if"). It runs the cores the nodes run, not a model of them: one
// resource manager (core/crm) and one fence core (core/fence) per node,
// on a virtual clock, with views judged by core/quorum (quorum.Decide,
// against the installed primary view as quorum.Survivors gives it), an
// ordered broadcast per view (every member gets every payload of its
// view in one order), and stand-in executors and fence devices that
// answer at once (success, or the failure a fault asks for).
//
// It is a pure package, like the cores it drives: no goroutines, no
// clock, no randomness, no I/O; maps are iterated in sorted order.
//
// # Use
//
//	out, err := whatif.Run(in, faults)
//
// Input is the live cluster as one node knows it (core/node gathers it):
// the configured nodes and quorum settings, the fence configuration and
// the fence core's replicated knowledge (fence.Fence.Snapshot), the
// installed view, the desired state (/resources/, /groups/), and the
// resource manager's runtime state and owner table (crm.CRM.Snapshot).
// Faults is what to try: a staged configuration, nodes killed (crash:
// their processes die with them), paused (SIGSTOP past the lease: they
// stop answering but may resume, so they must be fenced before their
// groups move), a partition into sides, resources that fail.
//
// # How it runs
//
//  1. Baseline: every member of the installed view gets a fresh resource
//     manager with the live desired state, the live runtime state (a
//     State delivery: moves, bans, failure counts) and the owner table,
//     and a fence core restored from the live knowledge. The view is
//     installed; each resource manager probes its resources, and the
//     stand-in answers "running" where the live state says the resource
//     runs. The coordinator rebuilds from every member's report, exactly
//     as after a real view change, and the cluster runs until it is
//     quiet. What it still does then (the live cluster was busy) is
//     reported as Underway.
//  2. The faults are applied: the staged keys are fed as the config DB's
//     watch feeds them, a failing resource's monitor fails on its node
//     (and every start there fails too), killed nodes stop, paused nodes
//     freeze, and every side of the cluster installs a new view whose
//     primary flag quorum.Decide gives (a witness, when configured, is
//     granted to the side with the lowest-id member of the last primary
//     view: in reality it goes to whichever side asks first). Views carry
//     the lease at once and the takeover wait (fence.Config.TakeoverWait)
//     later, as membership gives them.
//  3. It runs until quiet: no agent call, device call or timer pending,
//     and nothing changed for Quiet of virtual time (longer than the fence
//     core's retry, watchdog and delay waits), or MaxTime passed.
//
// Every agent call, fence device call, group state change (with the
// coordinator's reasons, the same text as `explain GROUP`), and failure
// is a Step, in the order the cores made them. Output also gives each
// side's quorum arithmetic, the nodes fenced (device, level, runner), and
// every group's state and owner before and after.
//
// What it does not model: Lua failover policies (their requests are
// answered with an error, so the built-in default decides, as when a
// policy times out), agent and device durations (every call answers at
// once), a fenced node's reboot (it stays down; with failback "never" a
// returning node takes nothing back), and a witness race. A device call
// always succeeds.
package whatif
