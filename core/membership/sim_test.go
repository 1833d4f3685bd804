package membership_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/corral-ha/corral/core/bcast"
	"github.com/corral-ha/corral/core/conn"
	"github.com/corral-ha/corral/core/membership"
	"github.com/corral-ha/corral/core/quorum"
	"github.com/corral-ha/corral/core/sim"
	"github.com/corral-ha/corral/core/sim/simtest"
	"github.com/corral-ha/corral/core/wire"
)

var testKey = []byte("0123456789abcdef0123456789abcdef")

const persistKey = "membership"

// world runs conn + membership on every simulated node and checks the
// guarantees after every step of every node.
type world struct {
	t     testing.TB
	s     *sim.Sim
	n     int
	qc    quorum.Config
	nodes map[int]*mnode

	views   map[wire.ViewID]viewRec // G1: every installed view id, as first installed
	actings int                     // checks made
	events  []string                // membership events other than view changes, "nK kind ..."

	override func(id int, c *membership.Config) // per-node config changes
	arbiter  *simArbiter                        // the witness, when configured
	links    int                                // links per node (0: 2)
	// periodic, when set, leaves the G2 check to a periodic one (large
	// clusters: a check after every step would dominate the run).
	periodic bool
	bc       *bcastWorld // ordered broadcast on top, when set
}

// simArbiter is the witness's grant rule (core/witness) on the simulated
// clock: one member set at a time for a lease, only sets holding a member
// of the last primary view it recorded. Answers are immediate.
type simArbiter struct {
	lp    []wire.NodeID
	grant []wire.NodeID
	until time.Duration
	lease time.Duration
	asks  int
}

func (a *simArbiter) ask(now time.Duration, req membership.WitnessReq) bool {
	a.asks++
	members := req.View.Members
	if a.lp != nil && !slices.ContainsFunc(members, func(id wire.NodeID) bool { return slices.Contains(a.lp, id) }) {
		return false
	}
	if a.grant != nil && now < a.until && !slices.Equal(a.grant, members) {
		return false
	}
	a.grant, a.until = slices.Clone(members), now+a.lease
	if req.Installed {
		a.lp = slices.Clone(members)
	}
	return true
}

type viewRec struct {
	members []wire.NodeID
	primary bool
}

type mnode struct {
	w *world
	h *sim.Host
	c *conn.Conn
	m *membership.Membership
	b *bcast.Bcast // nil unless w.bc is set
}

func newWorld(r *simtest.Run, n int, policy quorum.Policy, net sim.NetConfig, random bool) *world {
	w := &world{t: r, n: n, nodes: map[int]*mnode{}, views: map[wire.ViewID]viewRec{}}
	w.qc = quorum.Config{Votes: map[wire.NodeID]int{}, Policy: policy, Window: 10 * time.Second}
	for i := 1; i <= n; i++ {
		w.qc.Votes[wire.NodeID(i)] = 1
	}
	w.s = r.New(sim.Config{Nodes: n, Links: 2, Net: net, RandomNet: random}, w.factory)
	return w
}

func (w *world) factory(h *sim.Host) sim.Process {
	links := w.links
	if links == 0 {
		links = 2
	}
	var peers []conn.Peer
	var all []wire.NodeID
	for i := 1; i <= w.n; i++ {
		all = append(all, wire.NodeID(i))
		if i != h.ID() {
			peers = append(peers, conn.Peer{ID: wire.NodeID(i), Links: links})
		}
	}
	c, err := conn.New(conn.Config{Cluster: "sim", Key: testKey, Self: wire.NodeID(h.ID()), Boot: h.Boot(), Links: links, Peers: peers}, h.Rand())
	if err != nil {
		w.t.Fatalf("conn.New: %v", err)
	}
	var p membership.Persisted
	if b, ok := h.Disk().Get(persistKey); ok {
		if p, err = membership.UnmarshalPersisted(b); err != nil {
			w.t.Fatalf("n%d: %v", h.ID(), err)
		}
	}
	mc := membership.Config{Self: wire.NodeID(h.ID()), Nodes: all, Quorum: w.qc}
	var b *bcast.Bcast
	if w.bc != nil {
		if b, err = bcast.New(bcast.Config{Self: wire.NodeID(h.ID()), Boot: h.Boot()}); err != nil {
			w.t.Fatalf("bcast.New: %v", err)
		}
		mc.Flusher = bcast.Hooks{B: b}
	}
	if w.override != nil {
		w.override(h.ID(), &mc)
	}
	mc.Persisted, mc.Start = p, h.Now()
	m, err := membership.New(mc)
	if err != nil {
		w.t.Fatalf("membership.New: %v", err)
	}
	nd := &mnode{w: w, h: h, c: c, m: m, b: b}
	w.nodes[h.ID()] = nd
	return nd
}

func (nd *mnode) Tick(now time.Duration) {
	nd.c.Tick(now)
	nd.m.Tick(now)
	if nd.b != nil && nd.w.bc.load && nd.h.Rand().IntN(8) == 0 {
		nd.w.bc.broadcast(nd)
	}
	nd.drain(now)
}

func (nd *mnode) Receive(now time.Duration, link int, from sim.Addr, data []byte) {
	_ = nd.c.Step(now, conn.Received{Link: link, Data: data})
	nd.drain(now)
}

// drain runs the driver's loop: conn output feeds membership, membership
// output is persisted (synced) before its messages go to conn.
func (nd *mnode) drain(now time.Duration) {
	for {
		rc := nd.c.Ready()
		nd.c.Advance()
		for _, p := range rc.Packets {
			nd.h.Send(p.Link, sim.Addr{Node: int(p.To), Link: p.ToLink}, p.Data)
		}
		for _, msg := range rc.Messages {
			wm, err := wire.Decode(msg.Data)
			if err != nil {
				nd.w.t.Fatalf("n%d: undecodable membership message: %v", nd.h.ID(), err)
			}
			if bm, ok := wm.(*wire.Bcast); ok {
				m, err := bcast.Decode(bm.Payload)
				if err != nil {
					nd.w.t.Fatalf("n%d: undecodable bcast message: %v", nd.h.ID(), err)
				}
				if err := nd.b.Step(now, bcast.Receive{From: msg.From, Msg: m}); err != nil {
					nd.w.t.Fatalf("n%d: %v", nd.h.ID(), err)
				}
				continue
			}
			_ = nd.m.Step(now, membership.Receive{From: msg.From, Msg: wm})
		}
		for _, e := range rc.Events {
			switch e.Kind {
			case conn.EventPeerReachable:
				_ = nd.m.Step(now, membership.Reach{Peer: e.Peer, Up: true})
			case conn.EventPeerUnreachable:
				_ = nd.m.Step(now, membership.Reach{Peer: e.Peer, Up: false})
			case conn.EventPeerRestarted:
				_ = nd.m.Step(now, membership.Restarted{Peer: e.Peer})
			}
		}
		var rb bcast.Ready
		if nd.b != nil {
			rb = nd.b.Ready()
			nd.b.Advance()
			for _, o := range rb.Messages {
				if _, err := nd.c.Send(now, o.To, wire.Encode(&wire.Bcast{Payload: bcast.Encode(o.Msg)})); err != nil {
					nd.w.t.Fatalf("n%d: send: %v", nd.h.ID(), err)
				}
			}
			nd.w.bc.delivered(nd, rb)
		}
		if !nd.w.periodic { // the benchmark's world (newBenchWorld) skips it: it costs O(n) per round
			if err := nd.m.CheckShortcuts(now); err != nil {
				nd.w.t.Fatalf("%v", err)
			}
		}
		rm := nd.m.Ready()
		nd.m.Advance()
		if rm.Persist != nil {
			nd.h.Disk().Put(persistKey, rm.Persist.Marshal())
			nd.h.Disk().Sync()
		}
		for _, q := range rm.Witness {
			if nd.w.arbiter != nil {
				ok := nd.w.arbiter.ask(nd.w.s.Now(), q)
				_ = nd.m.Step(now, membership.WitnessAnswer{Members: q.View.Members, Granted: ok, Lease: nd.w.arbiter.lease, At: q.At})
			}
		}
		for _, o := range rm.Messages {
			switch o.Msg.(type) {
			case *wire.LeaseReq, *wire.LeaseAck: // as the node driver does
				if err := nd.c.Datagram(now, o.To, wire.Encode(o.Msg)); err != nil {
					nd.w.t.Fatalf("n%d: datagram: %v", nd.h.ID(), err)
				}
				continue
			}
			if _, err := nd.c.Send(now, o.To, wire.Encode(o.Msg)); err != nil {
				nd.w.t.Fatalf("n%d: send: %v", nd.h.ID(), err)
			}
		}
		for _, e := range rm.Events {
			nd.h.Logf("membership %v", e)
			if e.Kind == membership.EventFlushFailed {
				nd.w.t.Fatalf("n%d: %v", nd.h.ID(), e)
			}
			if e.Kind == membership.EventViewChanged {
				nd.w.installed(nd, e)
				if nd.w.bc != nil {
					nd.w.bc.installed(nd, e.View)
				}
			} else {
				nd.w.events = append(nd.w.events, fmt.Sprintf("n%d %v", nd.h.ID(), e))
			}
		}
		if rc.Empty() && rb.Empty() && rm.Persist == nil && len(rm.Messages) == 0 && len(rm.Events) == 0 && len(rm.Witness) == 0 && !nd.c.HasReady() {
			break
		}
	}
	if !nd.w.periodic {
		nd.w.checkActing()
	}
}

// installed checks G1: one view id, one member list and primary flag; and
// a node installs only views it is a member of.
func (w *world) installed(nd *mnode, e membership.Event) {
	if !slices.Contains(e.Members, wire.NodeID(nd.h.ID())) {
		w.t.Fatalf("G1: n%d installed view %v without being a member %v", nd.h.ID(), e.View, e.Members)
	}
	rec, seen := w.views[e.View]
	if !seen {
		w.views[e.View] = viewRec{members: slices.Clone(e.Members), primary: e.Primary}
		return
	}
	if !slices.Equal(rec.members, e.Members) || rec.primary != e.Primary {
		w.t.Fatalf("G1: view %v installed as %v primary=%v by one node and %v primary=%v by n%d",
			e.View, rec.members, rec.primary, e.Members, e.Primary, nd.h.ID())
	}
}

// checkActing checks G2: no two running nodes act as primary from
// different views at the same simulated instant; and a node that holds a
// lease (its view's, or one carried over from its previous primary view)
// while another acts in a primary view W is a member of W or holds the
// lease of a view newer than W: a node W excluded has lost its lease once
// W acts (continuity keeps the lease of members only). Not under two_node:
// both halves of a split act there until one fences the other (core/node).
func (w *world) checkActing() {
	w.actings++
	if w.qc.TwoNode {
		return
	}
	var who []string
	var first wire.ViewID
	var actor *mnode
	for i := 1; i <= w.n; i++ {
		nd := w.nodes[i]
		if nd == nil || w.s.Process(i) == nil || w.s.Paused(i) || !nd.m.Quorate(nd.h.Now()) {
			continue
		}
		iv, _ := nd.m.Installed()
		v := iv.ID
		who = append(who, fmt.Sprintf("n%d in %d/%d", i, v.Epoch, v.Coord))
		if len(who) == 1 {
			first, actor = v, nd
		} else if v != first {
			w.t.Fatalf("G2: two nodes act as primary from different views at %v: %v\n%s", w.s.Now(), who, w.explain())
		}
	}
	if actor == nil {
		return
	}
	av, _ := actor.m.Installed()
	members := av.Members
	for i := 1; i <= w.n; i++ {
		nd := w.nodes[i]
		if nd == nil || w.s.Process(i) == nil || w.s.Paused(i) || slices.Contains(members, wire.NodeID(i)) {
			continue
		}
		if v, ok := nd.m.LeaseView(nd.h.Now()); ok && (v.Epoch < first.Epoch || v.Epoch == first.Epoch && v.Coord < first.Coord) {
			w.t.Fatalf("G2: n%d holds the lease of view %d/%d at %v while %s acts in %d/%d %v without it",
				i, v.Epoch, v.Coord, w.s.Now(), who[0], first.Epoch, first.Coord, members)
		}
	}
}

// explain says why each running node's view is primary or not, with the
// lineage it holds.
func (w *world) explain() string {
	var b strings.Builder
	for i := 1; i <= w.n; i++ {
		nd := w.nodes[i]
		if nd == nil || w.s.Process(i) == nil {
			continue
		}
		st := nd.m.Status()
		l := st.Lineage
		fmt.Fprintf(&b, "n%d %v %v: %s; LP %v%v promised=%v prev %v%v need %v\n", i, st.View.ID, st.View.Members,
			st.Decision.Explain(w.qc), l.LP.ID, l.LP.Members, l.Promised, l.Prev.ID, l.Prev.Members, l.Need)
	}
	return b.String()
}

// converged reports whether every node is up, in one view of all nodes,
// and (when expected) quorate.
func (w *world) converged(wantQuorate bool) bool {
	var id wire.ViewID
	for i := 1; i <= w.n; i++ {
		nd := w.nodes[i]
		if w.s.Process(i) == nil || nd == nil {
			return false
		}
		v, _ := nd.m.Installed()
		if len(v.Members) != w.n || (i > 1 && v.ID != id) || (wantQuorate && !nd.m.Quorate(nd.h.Now())) {
			return false
		}
		id = v.ID
	}
	return true
}

func (w *world) describe() string {
	var s string
	for i := 1; i <= w.n; i++ {
		nd := w.nodes[i]
		if nd == nil || w.s.Process(i) == nil {
			s += fmt.Sprintf(" n%d:down", i)
			continue
		}
		st := nd.m.Status()
		s += fmt.Sprintf(" n%d:%d/%d%v p=%v q=%v", i, st.View.ID.Epoch, st.View.ID.Coord, st.View.Members, st.Primary, st.Quorate)
	}
	return s
}

// convergeBound is G7's bound: after faults stop, every node is in one
// primary view of all nodes and acts on it within this simulated time.
const convergeBound = 10 * time.Second

func TestFormAndFailover(t *testing.T) {
	simtest.Sweep(t, func(r *simtest.Run) {
		w := newWorld(r, 3, quorum.Majority, sim.DefaultNet(), false)
		if !w.s.RunUntil(func() bool { return w.converged(true) }, 5*time.Second) {
			r.Fatalf("3 nodes did not form one quorate view in 5s:%s", w.describe())
		}
		w.s.Crash(3)
		crashed := w.s.Now()
		two := func() bool {
			for _, i := range []int{1, 2} {
				st := w.nodes[i].m.Status()
				if len(st.View.Members) != 2 || !st.Quorate {
					return false
				}
			}
			return true
		}
		if !w.s.RunUntil(two, 5*time.Second) {
			r.Fatalf("after n3 crashed, n1 and n2 did not form a quorate view:%s", w.describe())
		}
		r.Logf("view of 2 quorate %v after the crash", w.s.Now()-crashed)
		w.s.Crash(2)
		lone := func() bool {
			st := w.nodes[1].m.Status()
			return len(st.View.Members) == 1 && !st.Primary && !st.Quorate
		}
		if !w.s.RunUntil(lone, 5*time.Second) {
			r.Fatalf("n1 alone is still primary or not alone:%s", w.describe())
		}
		w.s.Restart(2)
		w.s.Restart(3)
		if !w.s.RunUntil(func() bool { return w.converged(true) }, convergeBound) {
			r.Fatalf("after restarting n2 and n3, no single quorate view of 3:%s", w.describe())
		}
	})
}

// TestLeaseContinuity: a member of consecutive primary views holds its
// lease without a gap while other nodes crash, rejoin and pause, and says
// nothing about quorum; a node whose lease lapsed (paused past it) does
// not hold one when it runs again, though its installed view is still
// primary. Without the carried lease (m.carry = nil at install, or Leased
// = Quorate as before issue 15) seed 1 fails: "continuity: n1 lost its
// lease at 1.44s".
func TestLeaseContinuity(t *testing.T) {
	simtest.SweepSeeds(t, simtest.SeedsN(12), func(r *simtest.Run) {
		w := newWorld(r, 3, quorum.Majority, sim.DefaultNet(), false)
		if !w.s.RunUntil(func() bool { return w.converged(true) }, 5*time.Second) {
			r.Fatalf("no quorate view of 3:%s", w.describe())
		}
		w.events = nil
		gap := ""
		watch := func() {
			for _, i := range []int{1, 2} {
				nd := w.nodes[i]
				if !nd.m.Leased(nd.h.Now()) && gap == "" {
					gap = fmt.Sprintf("n%d lost its lease at %v:%s", i, w.s.Now(), w.describe())
				}
			}
		}
		epoch := w.nodes[1].m.Status().View.ID.Epoch
		changed := func() bool {
			e := w.nodes[1].m.Status().View.ID.Epoch
			if e != epoch && w.converged(false) || e != epoch && len(w.nodes[1].m.Status().View.Members) == 2 {
				epoch = e
				return true
			}
			return false
		}
		step := func(what string, f func()) {
			f()
			if !w.s.RunUntil(func() bool { watch(); return changed() }, 5*time.Second) {
				r.Fatalf("%s: no new view:%s", what, w.describe())
			}
			w.s.RunUntil(func() bool { watch(); return false }, 2*time.Second)
		}
		step("crash n3", func() { w.s.Crash(3) })
		step("restart n3", func() { w.s.Restart(3) })
		step("pause n3", func() { _ = w.nodes[3].m.Step(w.nodes[3].h.Now(), membership.SetState{State: membership.StatePaused}) })
		step("resume n3", func() { _ = w.nodes[3].m.Step(w.nodes[3].h.Now(), membership.SetState{State: membership.StateOnline}) })
		step("SIGSTOP n3", func() { w.s.Pause(3, 3*time.Second) })
		if gap != "" {
			r.Fatalf("continuity: %s", gap)
		}
		for _, e := range w.events {
			if strings.Contains(e, "quorum") && !strings.HasPrefix(e, "n3 ") {
				r.Fatalf("continuity: %q while only n3 changed: %v", e, w.events)
			}
		}
		// n1 stopped past its lease: it holds none when it runs again.
		w.s.Pause(1, 3*time.Second)
		w.s.Run(3*time.Second + time.Millisecond)
		nd := w.nodes[1]
		if st := nd.m.Status(); !st.Primary || len(st.View.Members) < 2 {
			r.Logf("n1 already installed a new view: %s", w.describe())
		}
		if nd.m.Leased(nd.h.Now()) {
			r.Fatalf("n1 holds a lease right after a 3 s pause:%s", w.describe())
		}
	})
}

// TestPausedNodeStopsActing: a node stopped for 5 s (SIGSTOP) is evicted;
// when it runs again it does not act as primary (its lease expired), and it
// rejoins in a new view.
func TestPausedNodeStopsActing(t *testing.T) {
	simtest.Sweep(t, func(r *simtest.Run) {
		w := newWorld(r, 3, quorum.Majority, sim.DefaultNet(), false)
		if !w.s.RunUntil(func() bool { return w.converged(true) }, 5*time.Second) {
			r.Fatalf("no quorate view of 3:%s", w.describe())
		}
		before := w.nodes[1].m.Status().View.ID
		w.s.Pause(1, 5*time.Second)
		w.s.Run(4 * time.Second)
		for _, i := range []int{2, 3} {
			if st := w.nodes[i].m.Status(); len(st.View.Members) != 2 || !st.Quorate {
				r.Fatalf("n%d did not evict the paused n1:%s", i, w.describe())
			}
		}
		w.s.Run(time.Second + 20*time.Millisecond) // n1 resumes; checkActing ran at every step
		if !w.s.RunUntil(func() bool { return w.converged(true) }, convergeBound) {
			r.Fatalf("n1 did not rejoin:%s", w.describe())
		}
		if after := w.nodes[1].m.Status().View.ID; before.Epoch >= after.Epoch {
			r.Fatalf("n1 rejoined in view %v, not newer than %v", after, before)
		}
	})
}

// TestMembershipUnderFaults: partitions of every shape, one-way cuts,
// flapping links, crashes, pauses, loss, on 3 and 5 nodes. G1 and G2 are
// checked at every step; G7 once the faults stop.
func TestMembershipUnderFaults(t *testing.T) {
	seeds := simtest.SeedsN(membershipSeeds)
	half := (len(seeds) + 1) / 2
	for i, part := range [][]int64{seeds[:half], seeds[half:]} {
		t.Run(fmt.Sprintf("part%d", i+1), func(t *testing.T) {
			t.Parallel()
			simtest.SweepSeeds(t, part, membershipUnderFaults)
		})
	}
}

// membershipSeeds is how many seeds make test sweeps (the issue asks for
// at least 1,000 of 3- and 5-node clusters).
const membershipSeeds = 1000

func membershipUnderFaults(r *simtest.Run) {
	rng := rand.New(rand.NewPCG(uint64(r.Seed), 7))
	n := 3
	if r.Seed%2 == 0 {
		n = 5
	}
	policy := quorum.Majority
	if r.Seed%3 == 0 {
		policy = quorum.LastManStanding
	}
	w := newWorld(r, n, policy, sim.NetConfig{}, true)
	w.s.Run(2 * time.Second)
	for range 1 + rng.IntN(5) {
		fault(w.s, n, rng)
		w.s.Run(time.Duration(200+rng.IntN(3000)) * time.Millisecond)
	}
	w.stopFaults()
	healed := w.s.Now()
	if !w.s.RunUntil(func() bool { return w.converged(true) }, convergeBound) {
		r.Fatalf("G7: %d nodes (%s) not in one quorate view %v after the faults stopped:%s", n, policy, convergeBound, w.describe())
	}
	r.Logf("converged %v after healing", w.s.Now()-healed)
}

// stopFaults ends every fault: heals the network, makes it clean again and
// restarts the nodes that are down.
func (w *world) stopFaults() {
	w.s.Heal()
	w.s.SetNet(sim.DefaultNet())
	for i := 1; i <= w.n; i++ {
		if w.s.Process(i) == nil {
			w.s.Restart(i)
		}
	}
}

func fault(s *sim.Sim, n int, rng *rand.Rand) {
	a := 1 + rng.IntN(n)
	b := 1 + (a+rng.IntN(n-1))%n
	switch rng.IntN(7) {
	case 0: // a partition of random shape
		groups := make([][]int, 1+rng.IntN(3))
		for i := 1; i <= n; i++ {
			g := rng.IntN(len(groups))
			groups[g] = append(groups[g], i)
		}
		s.Partition(groups...)
	case 1:
		s.Cut(a, b) // one way
	case 2: // a flapping link
		l := rng.IntN(2)
		for k := range 6 {
			at := time.Duration(k*150) * time.Millisecond
			s.After(at, func() {
				if k%2 == 0 {
					s.CutLink(sim.Addr{Node: a, Link: l}, sim.Addr{Node: b, Link: l}, false)
				} else {
					s.Heal()
				}
			})
		}
	case 3:
		if s.Process(a) != nil {
			s.Crash(a)
		} else {
			s.Restart(a)
		}
	case 4:
		s.Pause(a, time.Duration(100+rng.IntN(4000))*time.Millisecond)
	case 5:
		s.SetNet(sim.NetConfig{MinDelay: 100 * time.Microsecond, MaxDelay: 5 * time.Millisecond,
			Drop: rng.Float64() * 0.2, Dup: rng.Float64() * 0.05, Reorder: rng.Float64() * 0.1})
	case 6:
		s.Isolate(a)
	}
}

// TestSettingsMismatchRefused: a node whose quorum policy differs is never
// put in a view with the others, and they say which setting differs.
func TestSettingsMismatchRefused(t *testing.T) {
	simtest.Sweep(t, func(r *simtest.Run) {
		cl := &world{t: r, n: 3, nodes: map[int]*mnode{}, views: map[wire.ViewID]viewRec{}}
		cl.qc = quorum.Config{Votes: map[wire.NodeID]int{1: 1, 2: 1, 3: 1}, Policy: quorum.Majority, Window: 10 * time.Second}
		cl.override = func(id int, c *membership.Config) {
			if id == 3 {
				c.Quorum.Policy = quorum.LastManStanding
			}
		}
		cl.s = r.New(sim.Config{Nodes: 3, Links: 2}, cl.factory)
		cl.s.Run(3 * time.Second)
		for _, i := range []int{1, 2} {
			if st := cl.nodes[i].m.Status(); !slices.Equal(st.View.Members, []wire.NodeID{1, 2}) || !st.Primary {
				r.Fatalf("n%d: view %v primary=%v, want [1 2] primary", i, st.View.Members, st.Primary)
			}
		}
		if st := cl.nodes[3].m.Status(); len(st.View.Members) > 1 {
			r.Fatalf("n3 with another policy joined %v", st.View.Members)
		}
		found := false
		for _, e := range cl.events {
			if strings.HasPrefix(e, "n1 config_differs peer=3 policy: ours \"majority\", theirs \"last_man_standing\"") {
				found = true
			}
		}
		if !found {
			r.Fatalf("n1 did not name the differing policy; events: %v", cl.events)
		}
	})
}

// TestPauseResumeLeave: pausing keeps a node a member with state paused,
// resuming brings it back online, leaving removes it cleanly.
func TestPauseResumeLeave(t *testing.T) {
	simtest.Sweep(t, func(r *simtest.Run) {
		w := newWorld(r, 3, quorum.Majority, sim.DefaultNet(), false)
		if !w.s.RunUntil(func() bool { return w.converged(true) }, 5*time.Second) {
			r.Fatalf("no view of 3:%s", w.describe())
		}
		stateOn := func(on, of int) membership.State {
			return w.nodes[on].m.Status().States[wire.NodeID(of)]
		}
		_ = w.nodes[2].m.Step(w.nodes[2].h.Now(), membership.SetState{State: membership.StatePaused})
		w.nodes[2].drain(w.nodes[2].h.Now())
		if !w.s.RunUntil(func() bool { return stateOn(1, 2) == membership.StatePaused && stateOn(3, 2) == membership.StatePaused }, 2*time.Second) {
			r.Fatalf("n2 not paused in the view: n1 sees %v", stateOn(1, 2))
		}
		if !w.s.RunUntil(func() bool { return w.converged(false) }, time.Second) {
			r.Fatalf("pausing n2 took it out of the view:%s", w.describe())
		}
		_ = w.nodes[2].m.Step(w.nodes[2].h.Now(), membership.SetState{State: membership.StateOnline})
		w.nodes[2].drain(w.nodes[2].h.Now())
		if !w.s.RunUntil(func() bool { return stateOn(1, 2) == membership.StateOnline }, 2*time.Second) {
			r.Fatalf("n2 not resumed: n1 sees %v", stateOn(1, 2))
		}
		_ = w.nodes[3].m.Step(w.nodes[3].h.Now(), membership.SetState{State: membership.StateLeaving})
		w.nodes[3].drain(w.nodes[3].h.Now())
		if !w.s.RunUntil(func() bool { return w.nodes[3].m.Left() }, 2*time.Second) {
			r.Fatalf("n3's leave was not confirmed:%s", w.describe())
		}
		if st := w.nodes[1].m.Status(); !slices.Equal(st.View.Members, []wire.NodeID{1, 2}) {
			r.Fatalf("after n3 left, n1's view is %v", st.View.Members)
		}
		want := []string{"n1 node_paused target=2", "n1 node_resumed target=2", "n1 node_left target=3 clean=true"}
		for _, wv := range want {
			if !slices.Contains(w.events, wv) {
				r.Fatalf("missing event %q in %v", wv, w.events)
			}
		}
	})
}

// TestWitnessBreaksTies: four nodes split two and two. Without a witness
// neither half is primary; with one, exactly one half is, and never both
// act at once (checked at every step).
func TestWitnessBreaksTies(t *testing.T) {
	simtest.Sweep(t, func(r *simtest.Run) {
		for _, withWitness := range []bool{false, true} {
			w := &world{t: r, n: 4, nodes: map[int]*mnode{}, views: map[wire.ViewID]viewRec{}}
			w.qc = quorum.Config{Votes: map[wire.NodeID]int{1: 1, 2: 1, 3: 1, 4: 1}, Policy: quorum.Majority, Window: 10 * time.Second}
			if withWitness {
				w.arbiter = &simArbiter{lease: 2 * time.Second}
				w.override = func(id int, c *membership.Config) { c.Witness = true }
			}
			w.s = r.New(sim.Config{Nodes: 4, Links: 2}, w.factory)
			if !w.s.RunUntil(func() bool { return w.converged(true) }, 5*time.Second) {
				r.Fatalf("witness=%v: no view of 4:%s", withWitness, w.describe())
			}
			w.s.Partition([]int{1, 2}, []int{3, 4})
			w.s.Run(4 * time.Second)
			quorate := 0
			for i := 1; i <= 4; i++ {
				if w.nodes[i].m.Quorate(w.nodes[i].h.Now()) {
					quorate++
				}
			}
			want := 0
			if withWitness {
				want = 2
			}
			if quorate != want {
				r.Fatalf("witness=%v: %d nodes quorate after a 2|2 split, want %d:%s", withWitness, quorate, want, w.describe())
			}
			w.s.Heal()
			if !w.s.RunUntil(func() bool { return w.converged(true) }, convergeBound) {
				r.Fatalf("witness=%v: no view of 4 after healing:%s", withWitness, w.describe())
			}
		}
	})
}

// TestLineageUnderFaults runs the quorum options the plain sweep does not:
// last_man_standing with a short window (5 nodes, and 4 with a witness), a
// witness under majority (4 nodes), and two_node. The faults aim at the
// lineage: partitions that change while a primary proposal is promised by
// some members and not installed, the coordinator crashing and restarting
// in the middle of its proposal, and partitions long enough for each side
// to form primary views of its own, so that the sides know different
// lineages when they meet. G1 and G2 are checked at every step (G2 not
// under two_node: there a 1-of-2 view acts once it has fenced its peer,
// which core/node enforces), G7 once the faults stop.
//
// Mutations this sweep catches (replay: go test -run TestLineageUnderFaults
// -seed N ./core/membership/):
//   - mergeLineage takes Prev from the first holder of a promised LP and
//     ignores Need and Also (the code before issue 15's fix) -> seed 42
//     (4 nodes, last_man_standing, witness: {2,4} judges itself against a
//     proposal n2 and n4 promised and n2's old Prev {1,2,4}, not the newer
//     {1,3,4} n4 installed; {1,3} holds 2 of 3 of {1,3,4}: G2), also 81.
//   - install asks the witness to record a primary view it rested on only
//     from Tick, while leasing (no recordAtWitness) -> seed 237
//     (TestLineageRegressions).
//   - takeLP forgets a promised LP when it promises the next proposal: not
//     caught in 400 seeds (the proposals' references cover it unless a
//     coordinator judged from a stale report); TestPromisedProposalsRemembered
//     catches it.
func TestLineageUnderFaults(t *testing.T) {
	simtest.SweepSeeds(t, simtest.SeedsN(lineageSeeds), lineageUnderFaults)
}

// lineageSeeds is TestLineageUnderFaults's default sweep.
const lineageSeeds = 50

// TestLineageRegressions replays TestLineageUnderFaults's seeds that
// failed once, outside the default sweep, so that make test covers them:
//   - 237 (4 nodes, last_man_standing, witness): n1 formed 6/1 [1 2]
//     against 4/1 [1 4] with the witness's vote and, in the step that
//     installed it, promised 7/1 (the window re-judged [1 2] non-primary),
//     so no member asked the witness to record 6/1 (only a leasing member
//     did, in Tick); the grant lapsed and the witness gave [3 4] its vote:
//     7/3 [3 4] primary against the same 4/1 while 12/1 [1 2] acted. "G2:
//     n3 holds the lease of view 7/3 at 9.359444596s while n1 in 12/1 acts
//     in 12/1 [1 2] without it" before recordAtWitness.
func TestLineageRegressions(t *testing.T) {
	simtest.SweepSeeds(t, []int64{237}, lineageUnderFaults)
}

func lineageUnderFaults(r *simtest.Run) {
	rng := rand.New(rand.NewPCG(uint64(r.Seed), 11))
	n, policy, witness, twoNode := 5, quorum.LastManStanding, false, false
	switch r.Seed % 5 {
	case 2:
		n, witness = 4, true
	case 3:
		n, policy, witness = 4, quorum.Majority, true
	case 4:
		n, policy, twoNode = 2, quorum.Majority, true
	}
	w := &world{t: r, n: n, nodes: map[int]*mnode{}, views: map[wire.ViewID]viewRec{}}
	w.qc = quorum.Config{Votes: map[wire.NodeID]int{}, Policy: policy, Window: time.Second, TwoNode: twoNode}
	for i := 1; i <= n; i++ {
		w.qc.Votes[wire.NodeID(i)] = 1
	}
	if witness {
		w.arbiter = &simArbiter{lease: 2 * time.Second}
		w.override = func(id int, c *membership.Config) { c.Witness = true }
	}
	w.s = r.New(sim.Config{Nodes: n, Links: 2, RandomNet: true}, w.factory)
	w.s.Run(2 * time.Second)
	// promised waits (at most limit) until a running node has promised a
	// primary proposal it has not installed, and returns its coordinator.
	promised := func(limit time.Duration) (coord int) {
		w.s.RunUntil(func() bool {
			for i := 1; i <= n; i++ {
				nd := w.nodes[i]
				if nd == nil || w.s.Process(i) == nil {
					continue
				}
				st := nd.m.Status()
				if st.Pending.Epoch != 0 && st.Lineage.Promised && st.Lineage.LP.ID == st.Pending {
					coord = int(st.Pending.Coord)
					return true
				}
			}
			return false
		}, limit)
		return coord
	}
	partition := func() {
		groups := make([][]int, 2) // mostly two sides
		if rng.IntN(4) == 0 {
			groups = make([][]int, 1+rng.IntN(3))
		}
		for i := 1; i <= n; i++ {
			g := rng.IntN(len(groups))
			groups[g] = append(groups[g], i)
		}
		w.s.Partition(groups...)
	}
	for range 3 + rng.IntN(5) {
		switch rng.IntN(6) {
		case 0: // a partition held longer or shorter than the window
			partition()
			w.s.Run(time.Duration(300+rng.IntN(2500)) * time.Millisecond)
		case 1, 2, 3: // a side forms views of its own past the window; heal;
			// repartition while a primary proposal is promised, not installed
			partition()
			w.s.Run(time.Duration(1100+rng.IntN(1500)) * time.Millisecond)
			w.s.Heal()
			if promised(time.Second) != 0 {
				w.s.Run(time.Duration(rng.IntN(4000)) * time.Microsecond)
			}
			partition()
			w.s.Run(time.Duration(300+rng.IntN(2000)) * time.Millisecond)
		case 4: // the coordinator crashes in the middle of its proposal
			if rng.IntN(2) == 0 {
				w.s.Heal()
			}
			if c := promised(time.Second); c != 0 && w.s.Process(c) != nil {
				w.s.Run(time.Duration(rng.IntN(3000)) * time.Microsecond)
				w.s.Crash(c)
				if rng.IntN(2) == 0 {
					partition()
				}
				w.s.Run(time.Duration(50+rng.IntN(1500)) * time.Millisecond)
				w.s.Restart(c)
			}
			w.s.Run(time.Duration(100+rng.IntN(1000)) * time.Millisecond)
		default:
			fault(w.s, n, rng)
			w.s.Run(time.Duration(200+rng.IntN(1500)) * time.Millisecond)
		}
	}
	w.stopFaults()
	healed := w.s.Now()
	if !w.s.RunUntil(func() bool { return w.converged(true) }, convergeBound) {
		r.Fatalf("G7: %d nodes (%s two_node=%v witness=%v) not in one quorate view %v after the faults stopped:%s",
			n, policy, twoNode, witness, convergeBound, w.describe())
	}
	r.Logf("converged %v after healing", w.s.Now()-healed)
}
