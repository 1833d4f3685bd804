package stack_test

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/corral-ha/corral/core/cdb"
	"github.com/corral-ha/corral/core/wire"
)

// The checks of TestSimulation (see sim_test.go for the list). Each one
// records what it needs from the nodes' outputs and fails the run with the
// guarantee's name.

// simID names one committed update: the view and sequence that ordered it
// and the client request it carries.
type simID struct {
	view   wire.ViewID
	seq    uint64
	client string
	cseq   uint64
}

func idOf(e cdb.Entry) simID {
	return simID{view: e.View, seq: e.Seq, client: e.Update.Client, cseq: e.Update.Seq}
}

type simViewRec struct {
	members []wire.NodeID
	primary bool
}

// simAck is an answer a client took: when, and the revision.
type simAck struct {
	at  time.Duration
	rev uint64
}

// simChecks is the checkers' record of the run.
type simChecks struct {
	views     map[wire.ViewID]simViewRec // G1: every installed view, as first installed
	committed map[uint64]simID           // G3: revision -> the update committed there
	acks      []simAck                   // G3: answers in time order
	ackMax    []uint64                   // ackMax[i] = max rev of acks[:i+1]

	// G4: what may run where: resource -> node -> the incarnation (boot)
	// whose agent was asked to start it and has not stopped it since (a
	// resource runs from its start call until its stop succeeds, and dies
	// with its incarnation).
	running map[string]map[int]uint32
	groupOf map[string]string // resource -> group, as configured
}

func newSimChecks() simChecks {
	return simChecks{views: map[wire.ViewID]simViewRec{}, committed: map[uint64]simID{},
		running: map[string]map[int]uint32{}, groupOf: map[string]string{}}
}

// checkInstalled is G1: a node installs only a view it is a member of,
// and every node that installs a view id installs the same members and
// primary flag.
func (w *simWorld) checkInstalled(id int, v wire.ViewID, members []wire.NodeID, primary bool) {
	if !slices.Contains(members, wire.NodeID(id)) {
		w.fatalf("G1: n%d installed view %v without being a member %v", id, v, members)
	}
	rec, seen := w.chk.views[v]
	if !seen {
		w.chk.views[v] = simViewRec{members: slices.Clone(members), primary: primary}
		return
	}
	if !slices.Equal(rec.members, members) || rec.primary != primary {
		w.fatalf("G1: view %v installed as %v primary=%v by one node and %v primary=%v by n%d",
			v, rec.members, rec.primary, members, primary, id)
	}
}

// checkActing is G2 by the real lease rule: no two running nodes act as
// primary (membership's Quorate: a quorum of its view answered a lease
// request sent less than lease/(1+drift) ago, and the takeover wait has
// passed) from different views at one simulated instant; and a node that
// still holds a lease (Leased, carried over or its own) while another
// acts in a primary view W is a member of W or holds the lease of a view
// newer than W. Under two_node both halves of a split hold a 1-of-2
// quorum until one fences the other, and the stack keeps a lone view from
// acting until its peer is down (Stack.Alone): such a view does not act.
// The check runs at most once per simActingEvery of simulated time (it
// asks every node; a lease outlives that many times over).
func (w *simWorld) checkActing() {
	now := w.s.Now()
	if now < w.actingAt {
		return
	}
	w.actingAt = now + simActingEvery
	var who []string
	var first wire.ViewID
	var actor *simNode
	for i := 1; i <= w.n; i++ {
		nd := w.running(i)
		if nd == nil || w.s.Paused(i) || !nd.quorate() {
			continue
		}
		if w.qc.TwoNode {
			if alone, _ := nd.st.Alone(); alone {
				continue // a lone two_node view that does not act (yet)
			}
		}
		v := nd.view.ID
		who = append(who, fmt.Sprintf("n%d in %d/%d", i, v.Epoch, v.Coord))
		if actor == nil {
			first, actor = v, nd
		} else if v != first {
			w.fatalf("G2: two nodes act as primary from different views at %v: %v", w.s.Now(), who)
		}
	}
	if actor == nil || w.qc.TwoNode {
		return // (under two_node a lone view holds a lease of 1 of 2 and does nothing with it until its peer is down)
	}
	members := actor.view.Members
	for i := 1; i <= w.n; i++ {
		nd := w.running(i)
		if nd == nil || w.s.Paused(i) || slices.Contains(members, wire.NodeID(i)) {
			continue
		}
		if v, ok := nd.leaseView(); ok && idLess(v, first) {
			w.fatalf("G2: n%d holds the lease of view %d/%d at %v while %s acts in %d/%d %v without it",
				i, v.Epoch, v.Coord, w.s.Now(), who[0], first.Epoch, first.Coord, members)
		}
	}
}

const simActingEvery = time.Millisecond

func idLess(a, b wire.ViewID) bool {
	return a.Epoch < b.Epoch || a.Epoch == b.Epoch && a.Coord < b.Coord
}

// checkDB is G3 on one node after its step: committed entries agree
// (revision r holds the same update on every node that committed it and
// wrote it durably, for good: nothing committed is truncated, nothing is
// lost in a crash); every
// committed entry was sequenced by a primary view; and a node settled in
// a primary view installed after an update was acknowledged holds it.
func (w *simWorld) checkDB(nd *simNode) {
	id := nd.h.ID()
	db := nd.db()
	rev := db.Rev()
	if rev < nd.rev {
		w.fatalf("G3: n%d: committed revision went back from %d to %d", id, nd.rev, rev)
	}
	for r := nd.rev + 1; r <= rev; r++ {
		if !nd.dk.cdbDurable(r) {
			// committed in memory only: it counts once its write is
			// durable (until then nothing of it has left the node: its
			// answers and Acks wait for the fsync; a crash takes it
			// with the incarnation that saw it)
			rev = r - 1
			break
		}
		e, ok := db.Entry(r)
		if !ok {
			continue // folded into a snapshot it took
		}
		got := idOf(e)
		want, seen := w.chk.committed[r]
		if seen && want != got {
			w.fatalf("G3: n%d committed %+v at revision %d, another node %+v", id, got, r, want)
		}
		if !seen {
			w.logf("n%d commits rev %d: %+v", id, r, got)
		}
		w.chk.committed[r] = got
		if !w.chk.views[e.View].primary {
			w.fatalf("G3: n%d committed revision %d sequenced by view %v, which is not primary", id, r, e.View)
		}
	}
	nd.rev = rev
	rev = db.Rev()
	if acks := w.chk.acks; !db.Stale() && len(acks) > 0 {
		i := sort.Search(len(acks), func(i int) bool { return acks[i].at >= nd.inst })
		if i > 0 && rev < w.chk.ackMax[i-1] {
			w.fatalf("G3: n%d settled in view %v (installed at %v) at revision %d without the update acknowledged at revision %d before it",
				id, nd.view.ID, nd.inst, rev, w.chk.ackMax[i-1])
		}
	}
}

// acked records an answer a client took.
func (w *simWorld) acked(rev uint64) {
	w.chk.acks = append(w.chk.acks, simAck{at: w.s.Now(), rev: rev})
	m := rev
	if k := len(w.chk.ackMax); k > 0 && w.chk.ackMax[k-1] > m {
		m = w.chk.ackMax[k-1]
	}
	w.chk.ackMax = append(w.chk.ackMax, m)
}

// agentStart records a start call on node id (incarnation boot): the
// resource may run there from now on, until a stop of it succeeds there
// or the incarnation dies.
func (w *simWorld) agentStart(id int, boot uint32, res string) {
	m := w.chk.running[res]
	if m == nil {
		m = map[int]uint32{}
		w.chk.running[res] = m
	}
	m[id] = boot
	w.checkRuns()
}

// agentStopped records a stop that succeeded.
func (w *simWorld) agentStopped(id int, boot uint32, res string) {
	if m := w.chk.running[res]; m != nil && m[id] == boot {
		delete(m, id)
	}
}

// died: an incarnation's processes die with it (Pdeathsig, the process
// group): what it ran runs no more.
func (w *simWorld) died(id int) {
	for _, m := range w.chk.running {
		delete(m, id)
	}
}

// checkRuns is G4: a group never runs on two live incarnations at once,
// one of which is not confirmed fenced. A confirmed fence here is a
// device call that succeeded, and the simulated device powers its target
// off (a crash) before it answers, as the demo's process device kills the
// node: so two live incarnations that may run resources of one group are
// two that nobody fenced.
func (w *simWorld) checkRuns() {
	on := map[string]map[int]bool{}
	for res, m := range w.chk.running {
		g := w.chk.groupOf[res]
		if g == "" {
			g = res
		}
		for id, boot := range m {
			if w.s.Process(id) == nil || w.nodes[id] == nil || w.nodes[id].h.Boot() != boot {
				continue
			}
			if on[g] == nil {
				on[g] = map[int]bool{}
			}
			on[g][id] = true
		}
	}
	for _, g := range sortedKeys(on) {
		if len(on[g]) > 1 {
			var ids []string
			for _, id := range sortedKeys(on[g]) {
				ids = append(ids, fmt.Sprintf("n%d", id))
			}
			w.fatalf("G4: group %s runs on %s at once, all alive and none fenced", g, strings.Join(ids, " and "))
		}
	}
}

// checkSelfStop is continuity: a node stops a resource on its own (an
// operation no coordinator issued) only while its installed view is not
// primary or it lost its lease: a member of consecutive primary views that
// holds its lease across the change never stops what it runs. The lease
// is the real rule's (membership's lease of its view, or the one carried
// over from its previous primary view: LeaseView), not the stack's
// Leased, so a stack that judged the lease wrongly is caught.
func (w *simWorld) checkSelfStop(nd *simNode, res string, issued bool) {
	if issued || !nd.prim {
		return
	}
	if _, held := nd.leaseView(); !held {
		return
	}
	w.fatalf("continuity: n%d stops %s on its own while it holds the lease of primary view %v %v",
		nd.h.ID(), res, nd.view.ID, nd.view.Members)
}

func sortedKeys[K ~string | ~int, V any](m map[K]V) []K {
	out := make([]K, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// checkMayStart is G2 for the resource manager: a node starts a resource
// only while its installed view is primary and it holds a lease by the
// real rule (its view's, or the one carried over from its previous
// primary view: a member of consecutive primary views completes a group
// it runs part of).
func (w *simWorld) checkMayStart(nd *simNode, res string) {
	if _, held := nd.leaseView(); !nd.prim || !held {
		w.fatalf("G2: n%d starts %s in view %v (primary %v) without a lease", nd.h.ID(), res, nd.view.ID, nd.prim)
	}
}

// checkMayFence is G2 for the fence core: a node calls a fence device only
// while it holds the lease of its installed primary view itself (G4: the
// coordinator of a new primary view fences once a quorum answered it in
// that view).
func (w *simWorld) checkMayFence(nd *simNode, target string) {
	if v, held := nd.leaseView(); !nd.prim || !held || v != nd.view.ID {
		w.fatalf("G2: n%d calls a fence device on %s in view %v (primary %v) holding the lease of %v (%v), not its view's own",
			nd.h.ID(), target, nd.view.ID, nd.prim, v, held)
	}
}
