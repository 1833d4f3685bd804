package membership_test

import (
	"encoding/binary"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/corral-ha/corral/core/bcast"
	"github.com/corral-ha/corral/core/quorum"
	"github.com/corral-ha/corral/core/sim"
	"github.com/corral-ha/corral/core/sim/simtest"
	"github.com/corral-ha/corral/core/wire"
)

// bcastWorld checks ordered broadcast running on real membership views:
// total order per view, no duplicates, virtual synchrony across view
// changes, and that a live sender's messages get delivered.
type bcastWorld struct {
	t    testing.TB
	load bool // nodes broadcast at random

	order map[viewSeq]bcast.MsgID   // (view, seq) -> message, as first delivered
	seen  map[incarnation]*incState // per node incarnation
	sets  map[viewPair][]bcast.MsgID
	sent  map[bcast.MsgID]bool // every broadcast
	where map[bcast.MsgID]bool // reported delivered elsewhere by its sender
	safe  map[bcast.MsgID]int  // safe deliveries anywhere
}

type viewSeq struct {
	view wire.ViewID
	seq  uint64
}

type incarnation struct {
	node int
	boot uint32
}

type viewPair struct{ from, to wire.ViewID }

type incState struct {
	view    wire.ViewID          // the bcast view it delivers in
	agreed  map[bcast.MsgID]bool // delivered agreed, any view
	inView  map[wire.ViewID][]bcast.MsgID
	mine    []bcast.MsgID // what it broadcast
	safeOwn map[bcast.MsgID]bool
}

func newBcastWorld(t testing.TB) *bcastWorld {
	return &bcastWorld{t: t, load: true, order: map[viewSeq]bcast.MsgID{}, seen: map[incarnation]*incState{},
		sets: map[viewPair][]bcast.MsgID{}, sent: map[bcast.MsgID]bool{}, where: map[bcast.MsgID]bool{},
		safe: map[bcast.MsgID]int{}}
}

func (bw *bcastWorld) inc(nd *mnode) *incState {
	k := incarnation{nd.h.ID(), nd.h.Boot()}
	st := bw.seen[k]
	if st == nil {
		st = &incState{agreed: map[bcast.MsgID]bool{}, inView: map[wire.ViewID][]bcast.MsgID{}, safeOwn: map[bcast.MsgID]bool{}}
		bw.seen[k] = st
	}
	return st
}

func (bw *bcastWorld) broadcast(nd *mnode) {
	payload := binary.BigEndian.AppendUint32(nil, uint32(nd.h.ID()))
	id, err := nd.b.Broadcast(payload)
	if err != nil {
		return // full: fine under a long partition
	}
	bw.sent[id] = true
	st := bw.inc(nd)
	st.mine = append(st.mine, id)
}

func (bw *bcastWorld) delivered(nd *mnode, rd bcast.Ready) {
	st := bw.inc(nd)
	for _, id := range rd.Elsewhere {
		bw.where[id] = true
	}
	for _, d := range rd.Deliver {
		if !bw.sent[d.ID] {
			bw.t.Fatalf("n%d delivered %v, never broadcast", nd.h.ID(), d.ID)
		}
		if d.Level == bcast.Safe {
			bw.safe[d.ID]++
			if d.ID.Sender == wire.NodeID(nd.h.ID()) {
				st.safeOwn[d.ID] = true
			}
			continue
		}
		k := viewSeq{d.View, d.Seq}
		if o, ok := bw.order[k]; ok && o != d.ID {
			bw.t.Fatalf("total order: view %v seq %d is %v at one node and %v at n%d", d.View, d.Seq, o, d.ID, nd.h.ID())
		}
		bw.order[k] = d.ID
		if st.agreed[d.ID] {
			bw.t.Fatalf("n%d delivered %v twice", nd.h.ID(), d.ID)
		}
		st.agreed[d.ID] = true
		st.inView[d.View] = append(st.inView[d.View], d.ID)
	}
}

// installed records, at a view change, what the node delivered in the
// view it leaves: two nodes that go from the same view to the same next
// view delivered the same messages in the first (virtual synchrony).
func (bw *bcastWorld) installed(nd *mnode, next wire.ViewID) {
	st := bw.inc(nd)
	if st.view != (wire.ViewID{}) {
		got := slices.Clone(st.inView[st.view])
		k := viewPair{st.view, next}
		if prev, ok := bw.sets[k]; ok && !slices.Equal(prev, got) {
			bw.t.Fatalf("virtual synchrony: going from %v to %v, one node delivered %d messages %v and n%d %d %v",
				st.view, next, len(prev), prev, nd.h.ID(), len(got), got)
		}
		bw.sets[k] = got
	}
	st.view = next
}

// checkLive: every message a live incarnation broadcast was delivered safe
// by itself, or reported delivered elsewhere (and delivered by someone).
func (bw *bcastWorld) checkLive(w *world) {
	for i := 1; i <= w.n; i++ {
		nd := w.nodes[i]
		st := bw.seen[incarnation{i, nd.h.Boot()}]
		if st == nil {
			continue
		}
		for _, id := range st.mine {
			if !st.safeOwn[id] && (!bw.where[id] || bw.safe[id] == 0) {
				bw.t.Fatalf("n%d's message %v was never delivered (own safe=%v elsewhere=%v safe anywhere=%d); status %+v",
					i, id, st.safeOwn[id], bw.where[id], bw.safe[id], nd.b.Status())
			}
		}
	}
}

// TestBroadcastOnMembership: ordered broadcast on top of real membership,
// under partitions, crashes, pauses and loss: total order, no duplicates,
// virtual synchrony at every view change, and every live sender's message
// delivered once the faults stop.
func TestBroadcastOnMembership(t *testing.T) {
	simtest.SweepSeeds(t, simtest.SeedsN(bcastSeeds), func(r *simtest.Run) {
		rng := rand.New(rand.NewPCG(uint64(r.Seed), 11))
		n := 3 + 2*int(r.Seed%2)
		w := &world{t: r, n: n, nodes: map[int]*mnode{}, views: map[wire.ViewID]viewRec{}, bc: newBcastWorld(r)}
		w.qc = quorum.Config{Votes: map[wire.NodeID]int{}, Policy: quorum.Majority, Window: 10 * time.Second}
		for i := 1; i <= n; i++ {
			w.qc.Votes[wire.NodeID(i)] = 1
		}
		w.s = r.New(sim.Config{Nodes: n, Links: 2, RandomNet: true}, w.factory)
		w.s.Run(2 * time.Second)
		for range 1 + rng.IntN(4) {
			fault(w.s, n, rng)
			w.s.Run(time.Duration(300+rng.IntN(2500)) * time.Millisecond)
		}
		w.stopFaults()
		if !w.s.RunUntil(func() bool { return w.converged(true) }, convergeBound) {
			r.Fatalf("no single view after the faults:%s", w.describe())
		}
		w.bc.load = false
		w.s.Run(3 * time.Second)
		w.bc.checkLive(w)
		if len(w.bc.order) == 0 {
			r.Fatalf("nothing was delivered")
		}
	})
}

// bcastSeeds is how many seeds make test sweeps.
const bcastSeeds = 200
