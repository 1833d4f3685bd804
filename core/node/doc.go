// Package node is corral's production driver (corral help design): it
// owns the pure protocol stack (core/stack) and gives it what it
// may not touch itself: the real clock, the UDP sockets, the data store,
// the Lua host, the watchdog, the API, DNS publication, the event log and
// goroutines.
//
// Contract:
//
//   - One event loop goroutine owns the stack. Packets from the transport,
//     requests from other goroutines (Send, Status, faults) and ticks all
//     become inputs on that loop, one at a time.
//   - Before each Tick the loop reads every packet already queued, so after
//     a local pause (a GC, a stopped VM) the cores see what arrived before
//     they judge anyone (corral help design, Lifeguard's rule). Before
//     every round it takes what else is queued (up to 256 packets and
//     requests), so what arrived during the last round's fsync is written
//     by one round (group commit).
//   - The protocol cores (conn, membership, bcast, cdb, crm, fence) and
//     all the wiring between them are core/stack's: its doc.go states the
//     driver's obligations as numbered rules. The node steps the stack
//     with packets, answers and ticks, and carries out each stack Ready
//     in order: logs; the packets that claim nothing and the replies
//     already durable; the persists (all of one Ready in one record of
//     the write-ahead log, one fdatasync: Store.Persist, store.go); the
//     packets that wait for them (Acks, Stables,
//     promises); then events, handlers, agent and device calls, replies;
//     then Advance. Options.Transport, Clock and Seed give the stack's
//     world to tests (a transport.MemNetwork, a simulated clock).
//   - The durable state is <data_dir>/corral.db (bbolt) with a
//     write-ahead log in front of it, <data_dir>/wal (core/wal): a Ready's
//     persists are durable once their log record is synced; a checkpointer
//     goroutine applies the log to bbolt in batches (one transaction,
//     fsynced) and then releases the log segments; Open applies what bbolt
//     lacks before reading anything, cutting a torn last record (logged). A
//     failed checkpoint stops the node (ErrStoreBroken: no write, release
//     or checkpoint after it; the next start replays the log). A
//     damaged log (a bad record with good ones after it, a last record
//     written whole with a bad checksum) or a data
//     directory of a newer format is refused (ErrStoreLog, ErrStoreFormat:
//     move the directory away, the node takes the config DB from its
//     peers); one of format 1 (bbolt alone) is upgraded in place.
//   - The boot id lives in <data_dir>/corral.db (bbolt), outside the log; Open takes
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
//     or come from an unknown id at once, then every 5 minutes at most per
//     node they seem to come from, with the count ("packets from 127.0.0.3
//     (n3?) fail authentication: different cluster key? ..." and the fix),
//     and a stale boot once per (peer, boot id); none of these keys is
//     authenticated (a stranger can forge a new one per packet), so each
//     reason also logs at most dropLogBurst lines per 5 minutes in all, and the
//     next line counts those held back (TestDropLogForgedSourcesBounded).
//   - A corral.db that bbolt cannot open (damaged) makes Open fail with
//     ErrStoreDamaged and how to recover from the peers: move the data
//     directory away and start; the node rejoins empty and takes the
//     config DB from its peers (testsuite TestCorruptedStoreRecoversFromPeers).
//   - A config DB write is refused before it is proposed (ErrDiskFull,
//     "disk full under DATA_DIR", nothing written) while the data
//     directory's file system has less than minFreeBytes free; a write the
//     node must make that fails with ENOSPC stops it with ErrDiskFull
//     naming the directory (diskfull.go).
//   - Application messages travel as wire.User on the circuits (Send,
//     SendOnLoop, Options.OnMessage); application broadcasts share the
//     ordered broadcast (Broadcast, Options.OnDeliver).
//   - Membership's persistent state (promise, epoch, lineage), the config
//     DB's Persist (the store's "cdb" bucket), the fence core's state and
//     the resource manager's owner table are written and synced before
//     what rests on them; if a write fails, the node stops (Run returns
//     the error) and sends nothing more: the stack already counts the
//     state as written, so going on would promise from memory what the
//     disk does not hold.
//     CDBWatch (cdbwatch.go) hands the DB's watch events to buffered
//     channels after the round's Persist is durable, never waiting: a
//     reader whose buffer is full is dropped (logged, ErrWatchBehind).
//   - The resource manager (core/crm; its wiring in core/stack): agent
//     calls and recurring monitors run off the loop on the Executor
//     (Options.Executor; by default the node's Lua host, with the call
//     context of exec.go: resource, group, node, address and a state
//     directory <data_dir>/agents) and come back as stack inputs through
//     the request channel; so do policy answers (Options.Policy; by
//     default the Lua policy script the group names, crmlua.go). A node
//     that left the primary view uncleanly counts as fenced when the
//     fence core confirms it; only in a cluster with no fence devices and
//     no watchdog mode does it count as fenced once this node is quorate
//     (the G2 wait; the node logs that at start).
//   - The fence core (core/fence; its wiring in core/stack): device calls
//     run off the loop through the Lua host's RunFence (the stack makes
//     them only while this node holds its lease); history records are put
//     in the config DB under /fence/history/; a node that learns it was
//     fenced at its own boot id, or whose failed stop escalates to a
//     fence of itself without a lease or a device that reaches it, stops
//     its resources and stops (Run returns the reason).
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
//   - two_node (quorum.TwoNodeAlone, core/stack twonode.go): DNS does not
//     answer and the status says why while a lone view holds back.
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
//   - The served disk (disk.go, diskstore.go; issue 19): the built-in
//     agent disk.Agent runs in the node (diskExecutor wraps the executor;
//     Lua never sees it). start opens the backing store (created sparse),
//     takes the OFD write lock on its header block without waiting (held
//     by another open file: the start fails, "a stale server still runs;
//     fence it or stop it"), reads the header (a new zeroed store is
//     initialised; data without a header, or a header of another cluster,
//     disk or size, is a configuration error), extends a short store,
//     writes the header back with Epoch+1, this node and boot id,
//     fdatasyncs, steps DiskServe and only then opens the fast path.
//     stop steps DiskUnserve, closes the fast path, waits for its I/O and
//     the DiskIO in flight, syncs, unlocks, closes; monitor checks that the
//     lock and the header's epoch are still this server's (a probe of a
//     disk this process does not serve: not running). A newer epoch in the
//     header (a monitor, or Ready.DiskStale and the header read again)
//     stops serving at once and fails the resource. The node's end closes
//     every store (the locks go, as with the process).
//   - Every node exports every disk over NBD (core/nbd) on [nbd] socket
//     (mode 0660; the default one may be missing: then only logged) and
//     [nbd] listen. On the serving node a request runs on the store
//     directly (the fast path), gated on an atomic snapshot: served here
//     and the loop's clock before the lease expiry (Stack.LeaseExpiry,
//     stored after every round); each fast-path I/O holds the gate's read
//     lock, so closing it waits for them. Otherwise it goes through the
//     loop (SubmitDisk; its Ready.DiskDone answers it; a request given up
//     is dropped when its answer comes). The flush rule (disk.Dirty) is
//     one per disk per node, shared by both paths and every connection: a
//     write, trim or zero acknowledged without FUA is recorded at the
//     epoch that acknowledged it, and a flush answered at another epoch
//     fails with EIO. Ready.DiskIO runs off the loop (at most diskIOPool
//     at once) and is answered with DiskIODone; disk events go to the
//     event stream (disk_served, disk_stopped, disk_failed with disk,
//     server, epoch, reason); DiskStatus and Metrics report the disks.
//   - FenceHistory lists the records in the order they were written
//     (config DB revision), each with its write's time in TimeLayout, the
//     format of events' times.
package node
