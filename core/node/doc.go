// Package node is corral's production driver (ARCHITECTURE sections 1 and
// 4): it owns the pure protocol cores and gives them what they may not
// touch themselves: the real clock, the UDP sockets, the data store and
// goroutines.
//
// Contract:
//
//   - One event loop goroutine owns every core. Packets from the transport,
//     requests from other goroutines (Send, Status, faults) and ticks all
//     become inputs on that loop, one at a time.
//   - Before each Tick the loop reads every packet already queued, so after
//     a local pause (a GC, a stopped VM) the cores see what arrived before
//     they judge anyone (ARCHITECTURE section 5, Lifeguard's rule). Before
//     every round it takes what else is queued (up to 256 packets and
//     requests), so what arrived during the last round's fsync is written
//     by one round (group commit).
//   - Each Ready is executed in order: persist first (fsync), then send,
//     then hand messages and events to the handlers.
//   - The boot id lives in <data_dir>/corral.db (bbolt); Open takes
//     max(persisted + 1, the wall clock's Unix seconds) and syncs it to disk
//     before the node sends its first packet, so it grows at every start
//     and a wiped or restored data directory does not start below what the
//     peers saw (they would drop it as stale). A random 64-bit start id
//     (crypto/rand) with it picks this incarnation's packet key, so no
//     (key, nonce) pair repeats even when a restore repeats a boot id
//     (core/wire doc.go). If the persisted boot id had run ahead of the
//     clock, the wiped start is below what the peers saw anyway: their
//     packets to its earlier incarnation say so (wire.ErrNewerSelf,
//     authenticated), and a start that has not joined (no view with
//     another node, no primary view, so no resources) persists that boot
//     id and stops with ErrRestart, on which the agent re-executes itself
//     (same pid, pid file kept) and starts above it. A start that has
//     joined only logs an error, once per boot id.
//   - Dropped packets are counted by the core (metrics); the node logs the
//     source of packets that fail authentication, use another wire version
//     or come from an unknown id once a minute per source address ("packets
//     from 127.0.0.3 (n3?) fail authentication: different cluster key?"),
//     and a stale boot once per (peer, boot id); none of these keys is
//     authenticated (a stranger can forge a new one per packet), so each
//     reason also logs at most dropLogBurst lines a minute in all, and the
//     next line counts those held back (TestDropLogForgedSourcesBounded).
//   - Connectivity (core/conn) feeds membership (core/membership): peer
//     reachability, restarts, and the membership messages that arrive on
//     circuits. Application messages travel as wire.User on the same
//     circuits (Send, SendOnLoop, Options.OnMessage).
//   - Membership's persistent state (promise, epoch, lineage) is written to
//     the store and synced before its messages are sent; if the write
//     fails, the node stops (Run returns the error) and sends nothing
//     more: membership already counts the state as written, so going on
//     would promise from memory what the disk does not hold.
//   - The configuration database (core/cdb, cdb.go) rides on the ordered
//     broadcast (core/bcast): agreed deliveries are held, safe ones
//     committed; the DB's Persist is made durable before that round's
//     Acks and Stables go out (Submits and Orders go first, so the members
//     write in parallel), and a Persist that only moves the commit mark is
//     left for the next write (cdbPersist says why that is safe). The
//     Persist is one transaction on the store's "cdb" bucket (bbolt,
//     fsync at commit).
//     Membership's promise and plan carry bcast's flush and every member's
//     cdb.Head (flush.go), so each member of a new primary view picks the
//     same source to adopt the history from; bcast traffic of that view
//     waits while the DB catches up (and is dropped if the node promises
//     a newer view meanwhile: nothing of a view leaves after a promise
//     whose head did not cover it). Application broadcasts (Broadcast,
//     Options.OnDeliver) share the broadcast, told apart by a tag byte.
//     CDBWatch (cdbwatch.go) hands the DB's watch events to buffered
//     channels after the round's Persist is durable, never waiting: a
//     reader whose buffer is full is dropped (logged, ErrWatchBehind).
//     When bcast cannot install a view membership installs, the DB moves
//     to it as a view that is not primary for it (cdbinstall.go): writes
//     are refused, saying why, until the next view.
//   - The resource manager (core/crm, crm.go) gets its desired state from
//     config DB watches on /resources/ and /groups/ (and a resync at every
//     primary view install and when the DB settles), the view and lease
//     from membership, whether the DB has settled in the view (cdb
//     SettledIn; View.StaleConfig when not:
//     its coordinator places nothing until the DB settled in the view),
//     and its own messages from the ordered broadcast (tag 3, agreed
//     deliveries). Its Persist, the owner table (who may run what: G4 for
//     a restarted coordinator), is written to the store's "node" bucket
//     (key "crm", fsync) before the rest of its Ready; a failed write
//     stops the node; Open gives it back (crm.Config.Known).
//     Agent calls and recurring monitors run off the loop on the Executor
//     (Options.Executor; by default the node's Lua host, with the call
//     context of exec.go: resource, group, node, address and a state
//     directory <data_dir>/agents) and come back as inputs through the
//     request channel; so do policy answers (Options.Policy; by default
//     the Lua policy script the group names, crmlua.go). A node that left
//     the primary view uncleanly counts as fenced when the fence core
//     confirms it; only in a cluster with no fence devices and no watchdog
//     mode does it count as fenced once this node is quorate (the G2 wait;
//     the node logs that at start).
//   - The fence core (core/fence, fence.go) gets the view and this node's
//     lease (after the install, before the resource manager) and the Safe
//     deliveries of its messages (tag 4); its Persist is written (fsync)
//     before its broadcasts go out; device calls run off the loop through
//     the Lua host's RunFence, started only while this node holds its
//     lease by the real clock; Confirmed becomes the resource manager's
//     Fenced on the coordinator; history records are put in the config DB
//     under /fence/history/; a node that learns it was fenced at its own
//     boot id stops its resources and stops (Run returns the reason). A
//     stop that fails or times out here, of a resource that may run here
//     (the resource manager's Ready.StopFailed: never a stop of a resource
//     that never started, nor a configuration error's), escalates
//     (fence.go stopFailed):
//     while this node holds its lease and a fence device reaches it, it
//     asks for its own fence (fence.Request; it stops itself as soon as it
//     sees that fence begin); without the lease or with watchdog mode only
//     it fences itself; the group stays blocked "waiting for fence of" it.
//   - Every config DB write (CDBTxn, whoever asks: the API, the shell, a
//     Lua script's corral.set) that touches /resources/ or /groups/ is
//     validated first (validate.go: ValidateResource, ValidateGroup,
//     ValidateTxn): the agent exists, the parameters are its meta()'s, a
//     group keeps no resources when it is deleted; a refusal wraps
//     ErrInvalidConfig and nothing is proposed.
//   - A clean stop (Leave: SIGTERM of the agent, `leave`, a peer's leave
//     request, `demo stop`) drains first (member.go drainGroups): it asks
//     the coordinator to move this node's groups away (crm.Drain, again
//     at each view change), waits up to config.DrainTimeout until this
//     node runs nothing, logging each group, and only then leaves the
//     view; past the bound it does not leave cleanly (the others fence it
//     before they take over what it may still run). `fence NODE` returns
//     once the request is delivered (it shows pending in `fence`), or an
//     error saying why it cannot be carried out (fence.ErrCannotFence).
//   - two_node (twonode.go, quorum.TwoNodeAlone): a primary view holding
//     one of the two nodes fences its peer and is primary for nothing
//     else until the peer is confirmed fenced or left cleanly at its last
//     boot id: the config DB does not begin the view's adoption (it begins
//     it, from this node, once the peer is down; until then the view's
//     config DB deliveries count as of a view that is not primary), refuses
//     writes saying why, and DNS does not answer. A node whose incarnation
//     has not finished adopting a history in a view of both nodes (it
//     restarted alone) gives the fence core a view that is not primary
//     either: it could never act, and the peer may hold acknowledged
//     updates it lacks. So two lone views never act at once, and a lone
//     view acts only on a history that holds every update its peer
//     acknowledged (the peer's lone views acknowledge nothing while this
//     node lives, and this node, once restarted, adopts the peer's history
//     before it may act alone again); the next view of both adopts the
//     acting node's history (its Adopted view is the newest).
//   - [fence] watchdog (watchdog.go, core/watchdog): Open fails if the
//     watchdog cannot be opened; at each tick the loop feeds it only while
//     this node holds its lease (membership's Quorate: primary view, lease
//     not lapsed, not self-fenced), through a goroutine and a 1-slot
//     channel so a slow device never blocks the loop; it logs once each
//     time feeding stops and why. A committed clean leave disarms it (the
//     magic 'V': a device stops unless nowayout, a supervisor stops
//     without a kill); every other stop closes it armed (survivors count
//     the node fenced W after its last feed).
//   - Events of all cores are numbered and stored (the last 10,000) and
//     fanned out to subscribers (Events, Subscribe).
//   - With [quorum.witness] arbiter, the loop asks the arbiter for its vote
//     off the loop and hands the answer back to membership.
//   - Handlers (Options.OnMessage, OnEvent, OnMemberEvent) run on the loop:
//     they must not block.
//   - The node owns one Lua host (package lua, lua.go) built from [lua]
//     paths, grant and pool_size; a file of [lua] paths that does not load
//     is logged with its file and line and listed as broken (calls to it
//     fail; a group whose policy it is gets the default, and Explain says
//     so); a shipped script that does not load fails Open. Lua never runs
//     on the loop: a dispatcher goroutine, fed by a subscription of [lua]
//     handler_queue events, puts each event on the queue of each handler
//     of its kind; every handler has its own queue (handler_queue) and
//     worker, so a slow one delays only itself; what does not fit is
//     dropped, counted in LuaStats and logged; each call runs under [lua]
//     handler_timeout, and a handler past it handler_disable_after times
//     in a row is disabled (logged, LuaStats) until a reload. The corral
//     module's Cluster reads the node (status, config DB) and writes
//     through CDBSet; pause and resume are built in, other actions are
//     registered with SetLuaAction (the resource manager's move, start,
//     stop) and status fields with SetLuaStatus. Lua() is the host, for
//     the resource manager's executor.
//   - Reload of every node (reload.go): a goroutine watches ReloadKey in
//     the config DB; each change reloads the scripts and puts a
//     ReloadReport under ReloadResultPrefix+NODE. RestartNeeded reads the
//     config file again and names the [lua] changes a reload cannot apply.
//   - FenceHistory lists the records in the order they were written
//     (config DB revision), each with its write's time in TimeLayout, the
//     format of events' times.
package node
