package dlm_test

// A DLM-level randomized simulation: 3 to 5 nodes, each a dlm.DLM driven
// through the public API only, on a virtual clock; a network of FIFO
// queues per pair with random delays (reliable and in order while both
// incarnations live and the pair is connected; what is in flight to or
// from a dead incarnation, or across a cut, is lost); crashes and
// restarts (a fresh DLM: nothing persists), clean leaves, partitions, long pauses
// (membership removes the node) and short ones (no view change), fence
// devices that fail, client processes that die (PurgeOwner). The harness
// plays membership and the stack: views (members = a connected
// component, Primary for a majority), Release as core/stack decides it
// (a departed incarnation once confirmed fenced, left cleanly, back with
// a higher boot id, or, with no fence device, after the lease wait during which it was
// told Lost or its watchdog killed it), Lost when a node without a fence
// device loses its lease.
//
// Clients (3 owners per node) lock, convert (up and down, QueCvt,
// NoQueue, AltPR, AltCW, NoDlckWt, Expedite), unlock, cancel and read and write value
// blocks on 4 names in 2 lockspaces; some locks are Persistent, and a
// dead owner's become orphans that other owners adopt (Orphan) or a
// PurgeOwner{Node, 0} releases. Checkers, after every Ready:
//   - G5: the modes live clients believe they hold on a resource are
//     pairwise compatible (clients on cut-off and paused nodes count until
//     they get Lost or their node dies);
//   - value blocks: every VALBLK read returns what a sequential model
//     allows (the latest write; for NL/CR reads, racing a PW holder, a
//     write in flight too) or VALNOTVALID; a PW/EX holder that died makes
//     it invalid; zeros once the resource may have been freed;
//   - exactly one completion per accepted operation, with a status the
//     operation allows (EAGAIN only with NoQueue, ECANCEL only after a
//     cancel, EDEADLK never for NoDlckWt, Lost at any time);
//   - no blocking notice before a lock's completion or after its unlock
//     completion (or Lost);
//   - grant order: a new request granted at issue by its own node as
//     master leaves no conversion queued (conversions beat new requests);
//   - once faults stop: an Ask's Answer misses no member and shows each
//     resource as its master holds it; each resource in use has exactly one master, every
//     node agrees on it and its directory node, the master's queues hold
//     exactly the live clients' locks (idle ones at their modes); then
//     every request completes (clients release what they get) and no lock
//     is left anywhere.
//
// Flags: -dlmseeds=N (seeds in the sweep; 300 by default, about 7 s on an idle core),
// -dlmseedbase=N, -dlmseed=N (replay one, with -dlmsimv to print the
// whole trace), -dlmmaxfail=N (stop after N failed seeds, 3 by
// default), -dlmmut=early-release|no-lost (a harness mutation: the stack
// model releases a departed node at once / never tells a node its lease
// lapsed), -dlmknown=lvb-zeros (tolerate a known DLM bug while hunting
// others: a value block read as zeros counts as VALNOTVALID).
//
// Mutations and the first seed that catches them (100 seeds, harness as
// of this comment, DLM at dist df299ec, with -dlmknown=lvb-zeros: the
// unmutated baseline then fails 9 of 100 seeds, all on stale values after
// recovery, none on G5 or grant order):
//   - harness -dlmmut=early-release (a departed node released at once,
//     before its fence is confirmed or its lease wait is over): seed 1,
//     G5 (68 of 100 seeds fail on G5); asserted by
//     TestSimCatchesEarlyRelease.
//   - harness -dlmmut=no-lost (a node without a fence device is never
//     told Lost, and no watchdog kills it): seed 18, G5 (6 of 100; seed 9
//     at dist 1b7219f);
//     asserted by TestSimCatchesNoLost.
//   - DLM: recovery does not wait for Release (recover.go covered()
//     always true: purge before the fence): seed 2, G5 (69 of 100).
//   - DLM: grant during recovery (recover.go stepView sets running on a
//     primary view before recovery ran): all 100 seeds fail, seed 1 first
//     (a lost lock: ENOENT on an unlock), first G5 at seed 6 (41 on G5).
//   - DLM: no value block invalidation when a dead PW/EX VALBLK holder
//     is purged (engine_recover.go purge): seed 3 ("granted PW read v4;
//     the model allows [INVALID v5]"); 29 failing seeds against 9. Since
//     dist dac8579 the rebuild has its own rule (a PW/EX lock of the old
//     master copy that no member reports again makes the value invalid);
//     dropping that one (recover.go rebuild): seed 3 ("granted EX read
//     v25; the model allows [INVALID zeros]"), 40 failing seeds against 1.
//   - DLM: a new request granted at issue with conversions queued (the
//     "convert queue empty" rule dropped, engine_grant.go rule 7): seed 2
//     ("grant order: ... granted while conversions are queued"; 57 of 100).

import (
	"flag"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/corral-ha/corral/core/dlm"
)

var (
	flagSeeds   = flag.Int("dlmseeds", 300, "dlm sim: how many seeds the sweep runs")
	flagSeed    = flag.Int64("dlmseed", -1, "dlm sim: replay only this seed")
	flagBase    = flag.Int64("dlmseedbase", 1, "dlm sim: first seed of the sweep")
	flagV       = flag.Bool("dlmsimv", false, "dlm sim: print the whole trace")
	flagMut     = flag.String("dlmmut", "", "dlm sim: harness mutation (early-release, no-lost)")
	flagMaxFail = flag.Int("dlmmaxfail", 3, "dlm sim: stop the sweep after this many failed seeds")
	flagKnown   = flag.String("dlmknown", "", "dlm sim: comma-separated known DLM bugs to tolerate while hunting others (lost-after-unlock)")
)

// knownOverride, when set, replaces -dlmknown (a test that needs them).
var knownOverride string

func knownBug(name string) bool {
	known := *flagKnown
	if knownOverride != "" {
		known = knownOverride
	}
	for _, k := range strings.Split(known, ",") {
		if k == name {
			return true
		}
	}
	return false
}

const (
	faultPhase = 12 * time.Second
	settle     = 8 * time.Second
	drainMax   = 40 * time.Second
)

func optsFromFlag(t testing.TB) simOpts {
	var o simOpts
	switch *flagMut {
	case "":
	case "early-release":
		o.earlyRelease = true
	case "no-lost":
		o.noLost = true
	default:
		t.Fatalf("unknown -dlmmut %q", *flagMut)
	}
	return o
}

// runSim runs one seed and returns the world (failed is set on a failure).
func runSim(seed int64, opts simOpts, verbose bool) *world {
	n := 3 + int(uint64(seed)%3)
	w := newWorld(seed, n, opts)
	w.traceAll = verbose
	defer func() {
		if p := recover(); p != nil {
			w.fail("panic: %v", p)
		}
	}()
	w.tracef("seed %d: %d nodes, fence failure rate %.1f", seed, n, w.fenceFail)
	for _, nd := range w.nodes {
		w.start(nd)
	}
	w.recompute()
	var fault func()
	fault = func() {
		if w.now >= faultPhase {
			return
		}
		w.randomFault()
		w.at(w.between(150*time.Millisecond, 1500*time.Millisecond), fault)
	}
	w.at(w.between(300*time.Millisecond, time.Second), fault)
	for w.now < faultPhase && w.failed == nil {
		w.step(clientsActive)
	}
	if w.failed != nil {
		return w
	}
	w.quietDown()
	for end := w.now + settle; w.now < end && w.failed == nil; {
		w.step(clientsHold)
	}
	if w.failed != nil {
		return w
	}
	w.chk.checkMasters()
	if w.failed != nil {
		return w
	}
	// The shell's `locks`: an Ask to one node gathers every member's.
	asker := w.nodes[w.rng.IntN(len(w.nodes))]
	if err := asker.d.Step(w.now, dlm.Ask{Tag: 1}); err != nil {
		w.fail("node %d: Ask: %v", asker.id, err)
		return w
	}
	w.drain(asker)
	for end := w.now + 3*time.Second; w.now < end && w.failed == nil; {
		if _, ok := w.chk.answers[1]; ok {
			break
		}
		w.step(clientsHold)
	}
	if w.failed != nil {
		return w
	}
	a, ok := w.chk.answers[1]
	if !ok {
		w.fail("answer: no Answer to node %d's Ask within 3s of a quiet cluster", asker.id)
		return w
	}
	w.chk.checkAnswer(a)
	if w.failed != nil {
		return w
	}
	for end := w.now + drainMax; w.now < end && w.failed == nil; {
		w.step(clientsDrain)
		if len(w.chk.busy()) == 0 && w.quietEnough() {
			break
		}
	}
	if w.failed != nil {
		return w
	}
	if b := w.chk.busy(); len(b) > 0 {
		w.fail("liveness: %d client locks still held or pending %v after the quiet period:\n  %s", len(b), drainMax, strings.Join(b, "\n  "))
		return w
	}
	// Let the resources linger out, then nothing is left anywhere.
	for end := w.now + 3*time.Second; w.now < end && w.failed == nil; {
		w.step(clientsDrain)
	}
	w.chk.checkEmpty()
	return w
}

func report(t *testing.T, w *world, name string) {
	t.Helper()
	if *flagV {
		// core/dlm's export_test.go: each live node's internal state
		for _, nd := range w.nodes {
			if nd.alive {
				fmt.Printf("node %d (incarnation %d) state:\n%s", nd.id, nd.inc, nd.d.DebugState())
			}
		}
	}
	mut := ""
	if *flagMut != "" {
		mut = " -dlmmut=" + *flagMut
	}
	t.Errorf("%s: seed %d failed: %v\nreplay: go test ./core/dlm/ -run '%s$' -dlmseed=%d%s -dlmsimv\nlast trace lines:\n%s",
		name, w.seed, w.failed, name, w.seed, mut, strings.Join(w.traceTail(), "\n"))
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

func TestSim(t *testing.T) {
	opts := optsFromFlag(t)
	start := time.Now()
	failures := 0
	var st simStats
	for _, seed := range seeds() {
		w := runSim(seed, opts, *flagV)
		st.add(w.stats)
		if w.failed != nil {
			report(t, w, "TestSim")
			if failures++; failures >= *flagMaxFail {
				t.Fatalf("stopping after %d failed seeds", failures)
			}
		}
	}
	t.Logf("%d seeds in %v: %+v", len(seeds()), time.Since(start).Round(time.Millisecond), st)
}

// TestSimCatchesEarlyRelease: the checkers catch a stack that releases a
// departed node before its fence is confirmed (or its lease wait is over).
// Only a G5 failure counts (the DLM bugs still open are tolerated here:
// their failures are other checks').
func TestSimCatchesEarlyRelease(t *testing.T) {
	knownOverride = knownStillOpen
	defer func() { knownOverride = "" }()
	for seed := int64(1); seed <= 100; seed++ {
		w := runSim(seed, simOpts{earlyRelease: true}, false)
		if w.failed != nil && strings.HasPrefix(w.failed.Error(), "G5") {
			t.Logf("early release caught by seed %d: %v", seed, w.failed)
			return
		}
	}
	t.Fatalf("no seed in 1..100 caught a stack that releases departed nodes at once on G5")
}

// TestSimCatchesNoLost: the checkers catch a stack that never tells a
// node without a fence device that its lease lapsed (and no watchdog
// kills it) while the survivors release it after the lease wait.
func TestSimCatchesNoLost(t *testing.T) {
	knownOverride = knownStillOpen
	defer func() { knownOverride = "" }()
	for seed := int64(1); seed <= 150; seed++ {
		w := runSim(seed, simOpts{noLost: true}, false)
		if w.failed != nil && strings.HasPrefix(w.failed.Error(), "G5") {
			t.Logf("no-Lost caught by seed %d: %v", seed, w.failed)
			return
		}
	}
	t.Fatalf("no seed in 1..150 caught a stack that never says Lost on G5")
}

// knownStillOpen are the DLM bugs found by this simulation and not fixed
// yet (see -dlmknown); empty once they are.
const knownStillOpen = ""

func (s *simStats) add(o simStats) {
	s.msgs += o.msgs
	s.dropped += o.dropped
	s.grants += o.grants
	s.completions += o.completions
	s.crashes += o.crashes
	s.partitions += o.partitions
	s.pauses += o.pauses
	s.fences += o.fences
	s.fenceFails += o.fenceFails
	s.lost += o.lost
	s.views += o.views
	s.recovered += o.recovered
}
