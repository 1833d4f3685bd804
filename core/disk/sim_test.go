package disk_test

// A disk-level randomized simulation (G6): 3 to 5 nodes, each a disk.Core
// driven through the public API only (New, Step, Submit, Tick, HasReady,
// Ready, Advance, Status, Fenced; Dirty for the flush rule), on a virtual
// clock. The harness (simworld_test.go, simcheck_test.go) plays:
//
//   - the network: FIFO queues per pair with random delays; what is in
//     flight from or to a dead incarnation (a circuit's end), across a cut
//     (partition), or to a node that was paused long enough for membership
//     to remove it, is lost;
//   - faults, seeded: machine crashes (the page cache is lost), process
//     kills (it is written back), restarts with a new boot id, partitions,
//     long pauses (removed from the view; a paused process keeps its lock
//     and its IO in flight lands when it resumes) and short ones, and
//     `disk move`;
//   - membership and the stack: views (a connected component, Primary for
//     a majority; Members with boot ids), leases (renewed while a node
//     reaches a majority), and, without a fence device (half the seeds),
//     Lost once a cut-off node's lease lapses; with one, every incarnation
//     that left the primary view alive is fenced (powered off);
//   - the resource manager's placement: one server among the primary
//     view's members, started only once the old one is excluded: dead,
//     fenced, or (no fence device) after the lease wait, during which its
//     own monitor stopped it; a start fails while another live process
//     holds the store's lock, and a move stops the server cleanly first;
//   - the driver: the agent's start (take the lock, header epoch+1 synced,
//     Serve), stop (Unserve, wait for the IO in flight, fdatasync, unlock),
//     Stale (re-read the header), IO with random delays on the backing
//     store model, the flush rule with disk.Dirty at each client;
//   - the backing store: a header (its epoch), an OFD-like lock held by a
//     process (released when it dies; a paused one keeps it), a page cache
//     per machine (writes land there; a flush or FUA writes it through;
//     a process kill or clean stop writes it back; a machine crash or a
//     fence loses it) and durable blocks;
//   - clients: each node's export reads, writes (30% FUA) and flushes
//     4 blocks in 2 regions, every write's data tagged uniquely; a region
//     is written and read only by the holder of its lock in the lock
//     manager model, granted to one client at a time, released by the
//     holder once it has nothing pending there, or, for a departed holder,
//     only once every member of the primary view reports disk.Fenced for
//     that view and the holder is dead or (no fence device) its lease wait
//     is over: the stack's gate of the lock manager's Release.
//
// Checkers:
//
//  1. epoch: every write applied to the store is applied by a server whose
//     epoch is the header's (none applies after the header moved on);
//  2. barrier: a server that reported Fenced for a view applies nothing of
//     an incarnation that left its views at or before that view;
//  3. durability: a write is secured once acknowledged with FUA, or
//     acknowledged without FUA at epoch e and covered by a later flush of
//     the same client that the flush rule let succeed (acknowledged at e);
//     at every takeover and at the end, the block as the server sees it
//     (durable blocks under its page cache) holds the secured write or one
//     submitted after it (a later write of a holder, acknowledged or not,
//     may have replaced it; a flush that failed with EIO secures nothing);
//  4. duplicates: no write (its tag: one request of one incarnation) is
//     applied twice at one epoch;
//  5. order: at one epoch, a block's writes are applied in their
//     submission order (a client's replay keeps its order); a write of an
//     earlier lock holder is never applied after a later holder's;
//     read: a read returns a write no older than the last secured one and
//     the reader's own last acknowledged write;
//  6. liveness: once faults stop, a server serves and every pending
//     request completes (OK or an error) within settleMax;
//     and every Done answers a pending request exactly once.
//
// Flags: -disk.seeds=N (the sweep; 100 by default, 2-9 s), -disk.seedbase=N,
// -disk.seed=N (replay one; -disk.v prints the trace), -disk.maxfail=N,
// -disk.mut=NAME (a mutation: skip-fence, early-release of the harness;
// ignore-view-tag, replay-reverse, dup-by-seq, no-retag-at-view,
// overtake-held of the core, through disk.SetTestMutation).
//
// Mutations and the seeds that catch them (the first seed and how many of
// seeds 1-100 fail, by check, measured with the core of diskcore 36d9e2c;
// each asserted by a TestSimCatches* test, which stops at the first
// catch):
//
//   - harness skip-fence (the placement starts the new server as soon as
//     the old one left the primary view, on a raw shared device without
//     the lock): seed 15, "check 1 (epoch): node 1 (boot 1) applies tag 41
//     of {1 1} at epoch 3, the header has epoch 4 (server {3 2})" (9 of
//     100: 7 on check 1, one on check 3, one on read);
//   - harness early-release (a departed holder's lock released at once):
//     seed 3, "check 5 (order): block 3 at epoch 2: tag 41 (index 11,
//     {1 1}) applied after tag 58 (index 18, {3 1})" (27 of 100, all
//     check 5);
//   - core ignore-view-tag (the server takes requests tagged with a view
//     older than its barrier): 0 of 100 in the default fault mix, so the
//     test runs the scenario cutoffOnly (a client cut off right after it
//     sent a write, told Lost, its lock re-granted, its write delivered
//     after the heal): seed 6, "check 5 (order): block 3 at epoch 1: tag
//     12 (index 3, {3 1}) applied after tag 14 (index 4, {2 1})" (17 of
//     100; 0 of 100 without the mutation);
//   - core replay-reverse (the client re-sends its unacknowledged pieces
//     to a new server in reverse order): seed 1, "check 5 (order): block
//     0 at epoch 2: tag 13 (index 2, {1 1}) applied after tag 14 (index 3,
//     {1 1})" (60 of 100);
//   - core dup-by-seq (the duplicate cache keyed by seq only): seed 1,
//     "check read: node 4 read block 1 at epoch 1: tag 4 (history index
//     2), older than index 4 (secured)" (73 of 100: 59 read, 9 check 3,
//     3 check 5, 2 check 4);
//   - core no-retag-at-view (pieces in flight not re-sent re-tagged at a
//     new view): seed 32, check 5 (11 of 100);
//   - core overtake-held: not caught in 100 seeds (left to the core's own
//     scripted tests).
//
// Check 2 fails under none of these (the core's other rules stop what it
// would see). Made by hand in server.go's checkFenced (the barrier
// reported complete with an excluded incarnation's IO in flight: `if
// false && !c.members[r.from]`), it fails seed 23 (1 of seeds 1-200):
// "check 2 (barrier): node 3 applies tag 45 of {2 1}, excluded at view
// 14, after reporting Fenced 14". Without mutation: seeds 1-1100 pass.

import (
	"flag"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/corral-ha/corral/core/disk"
)

var (
	flagSeeds = flag.Int("disk.seeds", 100, "disk sim: how many seeds the sweep runs")
	flagBase  = flag.Int64("disk.seedbase", 1, "disk sim: first seed of the sweep")
	flagSeed  = flag.Int64("disk.seed", -1, "disk sim: replay only this seed")
	flagV     = flag.Bool("disk.v", false, "disk sim: print the whole trace")
	flagMut   = flag.String("disk.mut", "", "disk sim: harness mutation (skip-fence, early-release)")
	flagMax   = flag.Int("disk.maxfail", 3, "disk sim: stop the sweep after this many failed seeds")
)

const (
	faultPhase = 6 * time.Second
	busyAfter  = 2 * time.Second  // clients keep going after the faults stop
	settleMax  = 12 * time.Second // every request done by then (Retry is 5 s)
)

func optsFromFlag(t testing.TB) simOpts {
	var o simOpts
	switch *flagMut {
	case "":
	case "skip-fence":
		o.skipFence = true
	case "early-release":
		o.earlyRelease = true
	case "ignore-view-tag", "replay-reverse", "dup-by-seq", "overtake-held", "no-retag-at-view":
		o.core = *flagMut
	default:
		t.Fatalf("unknown -disk.mut %q", *flagMut)
	}
	return o
}

func (w *world) every(d time.Duration, fn func()) {
	var f func()
	f = func() {
		if w.failed != nil {
			return
		}
		fn()
		w.at(d, f)
	}
	w.at(d, f)
}

func (w *world) randomFault() {
	alive := 0
	for _, n := range w.nodes {
		if n.alive {
			alive++
		}
	}
	n := w.nodes[w.rng.IntN(len(w.nodes))]
	if w.placed != nil && w.rng.IntN(5) < 2 {
		n = w.node(w.placed.Node) // the server: the interesting victim
	}
	x := w.rng.IntN(100)
	if w.opts.cutoffOnly {
		x = 90
	}
	switch {
	case x < 18: // machine crash
		if n.alive && 2*(alive-1) > len(w.nodes)-1 {
			w.st2.crashes++
			w.down(n, true, "crashes")
			w.at(w.between(200*time.Millisecond, 1500*time.Millisecond), func() {
				if !n.alive {
					w.start(n)
				}
			})
		}
	case x < 32: // process kill
		if n.alive && 2*(alive-1) > len(w.nodes)-1 {
			w.st2.kills++
			w.down(n, false, "is killed")
			w.at(w.between(100*time.Millisecond, 800*time.Millisecond), func() {
				if !n.alive {
					w.start(n)
				}
			})
		}
	case x < 50: // partition (n on its own side, with some others)
		w.st2.partitions++
		for _, m := range w.nodes {
			m.group = w.rng.IntN(2)
		}
		n.group = 1
		w.regroup("partition")
		w.at(w.between(300*time.Millisecond, 2*time.Second), func() { w.heal() })
	case x < 65: // long pause
		w.st2.pauses++
		w.pause(n, w.between(detectMax+50*time.Millisecond, 3*time.Second))
	case x < 78: // short pause
		w.st2.pauses++
		w.pause(n, w.between(time.Millisecond, detectMin))
	case x < 80:
		w.move()
	case x < 95: // cut the next lock holder that writes off alone, its write in flight
		w.cutOnWrite = true
	default:
		w.heal()
	}
}

func (w *world) regroup(why string) {
	w.reconnect()
	var g []string
	for _, n := range w.nodes {
		g = append(g, fmt.Sprint(n.group))
	}
	w.tracef("%s: groups %s", why, strings.Join(g, ""))
	w.topologyChanged()
}

// cutOff partitions n alone for longer than the lease wait (its lock may
// be released meanwhile), right after it sent a write.
func (w *world) cutOff(n *node) {
	w.cutOnWrite = false
	w.st2.partitions++
	for _, m := range w.nodes {
		m.group = 0
	}
	n.group = 1
	w.regroup(fmt.Sprintf("node %d cut off with a write in flight", n.id))
	w.at(w.between(leaseWait, 2*leaseWait), func() { w.heal() })
}

func (w *world) heal() {
	changed := false
	for _, n := range w.nodes {
		if n.group != 0 {
			n.group, changed = 0, true
		}
	}
	if changed {
		w.regroup("heal")
	}
}

// runSim runs one seed; w.failed is set on a failure.
func runSim(seed int64, opts simOpts, verbose bool) (w *world) {
	if opts.core != "" {
		defer disk.SetTestMutation(opts.core)()
	}
	w = newWorld(seed, opts)
	w.all = verbose
	defer func() {
		if p := recover(); p != nil {
			w.fail("panic: %v", p)
		}
	}()
	w.tracef("seed %d: %d nodes, fence device %v, opts %+v", seed, len(w.nodes), w.fence, opts)
	w.active = true
	for _, n := range w.nodes {
		w.start(n)
	}
	w.every(50*time.Millisecond, w.leaseTick)
	w.every(placeEvery, w.placeTick)
	w.every(lockEvery, w.lockTick)
	var fault func()
	fault = func() {
		if w.now >= faultPhase || w.failed != nil {
			return
		}
		w.randomFault()
		w.at(w.between(100*time.Millisecond, 900*time.Millisecond), fault)
	}
	w.at(w.between(300*time.Millisecond, time.Second), fault)
	w.runUntil(faultPhase)
	if w.failed != nil {
		return w
	}
	// quiet: heal, restart the dead; pauses end on their own (≤ 3 s)
	w.heal()
	for _, n := range w.nodes {
		if !n.alive {
			w.start(n)
		}
	}
	w.runUntil(faultPhase + busyAfter)
	w.active = false
	end := w.now + settleMax
	for w.now < end && w.failed == nil {
		w.runUntil(w.now + 100*time.Millisecond)
		if len(w.pendingList()) == 0 && w.serverUp() {
			break
		}
	}
	if w.failed != nil {
		return w
	}
	if p := w.pendingList(); len(p) > 0 {
		w.fail("check 6 (liveness): %d requests pending %v after the faults stopped:\n  %s\n%s", len(p), busyAfter+settleMax, strings.Join(p, "\n  "), w.statusLines())
		return w
	}
	if !w.serverUp() {
		w.fail("check 6 (liveness): no server %v after the faults stopped\n%s", busyAfter+settleMax, w.statusLines())
		return w
	}
	srv := w.node(w.placed.Node)
	w.checkSecuredOn(srv, "the end")
	return w
}

func (w *world) serverUp() bool {
	if w.placed == nil {
		return false
	}
	n := w.node(w.placed.Node)
	return n.alive && n.boot == w.placed.Boot && n.serving && !n.stopping
}

func seeds() []int64 {
	if *flagSeed >= 0 {
		return []int64{*flagSeed}
	}
	var out []int64
	for i := range *flagSeeds {
		out = append(out, *flagBase+int64(i))
	}
	return out
}

func report(t *testing.T, w *world, name string) {
	t.Helper()
	mut := ""
	if *flagMut != "" {
		mut = " -disk.mut=" + *flagMut
	}
	t.Errorf("%s: seed %d failed: %v\nreplay: go test ./core/disk/ -run '^%s$' -count=1 -disk.seed=%d%s -disk.v\nlast trace lines:\n%s",
		name, w.seed, w.failed, name, w.seed, mut, strings.Join(w.traceTail(), "\n"))
}

func TestSim(t *testing.T) {
	opts := optsFromFlag(t)
	start := time.Now()
	var st stats
	failures := 0
	for _, seed := range seeds() {
		w := runSim(seed, opts, *flagV)
		st.add(w.st2)
		if w.failed != nil {
			report(t, w, "TestSim")
			if failures++; failures >= *flagMax {
				t.Fatalf("stopping after %d failed seeds", failures)
			}
		}
	}
	t.Logf("%d seeds in %v: %+v", len(seeds()), time.Since(start).Round(time.Millisecond), st)
}

// catches runs seeds 1..max with a mutation until one fails with a
// message starting with one of prefixes.
func catches(t *testing.T, opts simOpts, max int64, prefixes ...string) {
	t.Helper()
	for seed := int64(1); seed <= max; seed++ {
		w := runSim(seed, opts, false)
		if w.failed == nil {
			continue
		}
		for _, p := range prefixes {
			if strings.HasPrefix(w.failed.Error(), p) {
				t.Logf("caught by seed %d: %v", seed, w.failed)
				return
			}
		}
	}
	t.Fatalf("no seed in 1..%d caught the mutation %+v with %v", max, opts, prefixes)
}

// TestSimCatchesSkipFence: a placement that starts the new server while
// the old one may still run (no fence, no lease wait, no lock: a raw
// shared device) is caught by check 1 or 5.
func TestSimCatchesSkipFence(t *testing.T) {
	catches(t, simOpts{skipFence: true}, 100, "check 1", "check 5 (lock order)")
}

// TestSimCatchesEarlyRelease: a lock manager that re-grants a departed
// holder's region before the disk barrier is complete is caught.
func TestSimCatchesEarlyRelease(t *testing.T) {
	catches(t, simOpts{earlyRelease: true}, 100, "check 5", "check read")
}

// TestSimCatchesIgnoreViewTag: a server that takes requests tagged with
// a view older than its barrier applies a write a client cut off (and
// told Lost) sent before the cut, after the next holder's.
func TestSimCatchesIgnoreViewTag(t *testing.T) {
	catches(t, simOpts{core: "ignore-view-tag", cutoffOnly: true}, 100, "check 5")
}

// TestSimCatchesReplayReverse: a client that re-sends its unacknowledged
// pieces to a new server in reverse order.
func TestSimCatchesReplayReverse(t *testing.T) {
	catches(t, simOpts{core: "replay-reverse"}, 100, "check 5 (order)")
}

// TestSimCatchesDupBySeq: a duplicate cache keyed by the sequence number
// alone answers one client's request with another's answer.
func TestSimCatchesDupBySeq(t *testing.T) {
	catches(t, simOpts{core: "dup-by-seq"}, 100, "check read", "check 3", "check 4")
}

// TestSimCatchesNoRetagAtView: a client that does not re-send, re-tagged,
// its pieces in flight at a new view (a refused stale-view piece then goes
// out after newer ones).
func TestSimCatchesNoRetagAtView(t *testing.T) {
	catches(t, simOpts{core: "no-retag-at-view"}, 100, "check 5 (order)")
}

func (s *stats) add(o stats) {
	s.msgs += o.msgs
	s.dropped += o.dropped
	s.ios += o.ios
	s.writes += o.writes
	s.reads += o.reads
	s.flushes += o.flushes
	s.eio += o.eio
	s.crashes += o.crashes
	s.kills += o.kills
	s.partitions += o.partitions
	s.pauses += o.pauses
	s.fences += o.fences
	s.views += o.views
	s.servers += o.servers
	s.moves += o.moves
	s.lost += o.lost
	s.releases += o.releases
}
