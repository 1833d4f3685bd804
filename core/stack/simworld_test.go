package stack_test

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/corral-ha/corral/core/quorum"
	"github.com/corral-ha/corral/core/sim"
	"github.com/corral-ha/corral/core/sim/simtest"
	"github.com/corral-ha/corral/core/wire"
)

// simWorld is one run of TestSimulation: the simulated cluster, the
// clients, the witness, the fault schedule and the checkers' record.
type simWorld struct {
	r      *simtest.Run
	s      *sim.Sim
	rng    *rand.Rand // the schedule's and the stand-ins' source (not the nodes')
	n      int
	qc     quorum.Config
	policy string // the quorum policy's name
	shape  string // the run's configuration, for the report
	nodes  map[int]*simNode

	chk     simChecks
	clients []*simClient
	lk      *simLockWorld // the lock clients (simlock_test.go)
	rd      *simReadWorld // the linearizable readers (simread_test.go)
	dsk     *simDiskWorld // the served disk (simdisk_test.go), TestSimulationDisk only
	load    bool          // clients start new requests
	stats   *simStats
	trace   []string // the story, printed on a failure

	witness *simWitness // the quorum witness, when the policy uses one
	// allowErr: an error-level log line that contains it is expected
	allowErr string

	// the stand-ins: stops that fail on a node, the fence devices' mode,
	// resources whose next monitor finds them gone
	failStops map[int]stopMode
	fenceMode fenceMode
	gone      map[string]bool // "node/resource"
	keepDown  map[int]bool    // nodes a fault keeps down (no restart after a fence)
	// quietUntil: no new fault before then (a scenario plays out)
	quietUntil time.Duration
	groups     []string

	// onAnswer, onPropose run right after the next answer a client takes,
	// the next request a node takes (with that node)
	onAnswer  []func(int)
	onPropose []func(int)
	faulting  bool          // faults are on (G7 is checked once they stop)
	actingAt  time.Duration // the next G2 check (checkActing)
}

type simStats struct {
	acked, unknown, retries, refused int
	ioLost                           int // crashes that lost writes whose fsync had not ended
	fences, fenceFails, actions      int
	stopFails, monitorFails, moves   int
	events                           int
	lockOps, lockGrants, deadlocks   int
	lockLost, recoveries             int
	reads, readsFailed               int
}

func (a *simStats) add(b *simStats) {
	a.acked += b.acked
	a.unknown += b.unknown
	a.retries += b.retries
	a.refused += b.refused
	a.ioLost += b.ioLost
	a.fences += b.fences
	a.fenceFails += b.fenceFails
	a.actions += b.actions
	a.stopFails += b.stopFails
	a.monitorFails += b.monitorFails
	a.moves += b.moves
	a.events += b.events
	a.lockOps += b.lockOps
	a.lockGrants += b.lockGrants
	a.deadlocks += b.deadlocks
	a.lockLost += b.lockLost
	a.recoveries += b.recoveries
	a.reads += b.reads
	a.readsFailed += b.readsFailed
}

func (w *simWorld) logf(format string, a ...any) {
	var now time.Duration
	if w.s != nil {
		now = w.s.Now()
	}
	w.trace = append(w.trace, fmt.Sprintf("%v ", now)+fmt.Sprintf(format, a...))
	if len(w.trace) > 4000 {
		w.trace = append(w.trace[:0], w.trace[2000:]...)
	}
}

func (w *simWorld) fatalf(format string, a ...any) {
	t := w.trace
	if len(t) > 300 {
		t = t[len(t)-300:]
	}
	w.r.Logf("%s; the story (last %d lines):\n%s", w.shape, len(t), strings.Join(t, "\n"))
	w.r.Fatalf(format, a...)
}

// running returns node id's running incarnation, nil when it is down.
func (w *simWorld) running(id int) *simNode {
	nd := w.nodes[id]
	if nd == nil || !nd.live() {
		return nil
	}
	return nd
}

// simWitness is the quorum witness's grant rule (core/witness's arbiter)
// on the simulated clock: one member set at a time for a lease, only sets
// that hold a member of the last primary view it recorded. It answers
// after a short simulated delay (a network round trip), or not at all
// while it is down.
type simWitness struct {
	lp    []wire.NodeID
	grant []wire.NodeID
	until time.Duration
	lease time.Duration
	down  bool
	asks  int
}

func (a *simWitness) ask(now time.Duration, members []wire.NodeID, installed bool) bool {
	a.asks++
	if a.lp != nil && !containsAny(a.lp, members) {
		return false
	}
	if a.grant != nil && now < a.until && !equalIDs(a.grant, members) {
		return false
	}
	a.grant, a.until = append([]wire.NodeID{}, members...), now+a.lease
	if installed {
		a.lp = append([]wire.NodeID{}, members...)
	}
	return true
}

func containsAny(a, b []wire.NodeID) bool {
	for _, x := range a {
		for _, y := range b {
			if x == y {
				return true
			}
		}
	}
	return false
}

func equalIDs(a, b []wire.NodeID) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
