package bcast_test

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/corral-ha/corral/core/bcast"
	"github.com/corral-ha/corral/core/sim"
	"github.com/corral-ha/corral/core/sim/simtest"
	"github.com/corral-ha/corral/core/wire"
)

// The harness plays membership itself: it decides the views, calls Propose
// on their members, runs Complete on the gathered states and Install with
// the plan. Below bcast, each ordered pair of nodes has a reliable FIFO
// circuit (sequence numbers, cumulative acks, retransmission) over the
// simulated lossy, duplicating, reordering network; like conn, a circuit
// is dropped with what it still carries when a node crashes, when the pair
// is partitioned, and at random "flaps".

type inc struct {
	node     int
	boot     uint32
	alive    bool
	cur      wire.ViewID
	agreed   map[wire.ViewID][]bcast.MsgID
	safe     map[wire.ViewID]int
	got      map[bcast.MsgID]bool // agreed-delivered
	gotSafe  map[bcast.MsgID]bool
	sent     []bcast.MsgID
	elsewhr  map[bcast.MsgID]bool
	installs []wire.ViewID
	next     wire.ViewID // being installed
}

type transition struct{ from, to wire.ViewID }

type world struct {
	r     *simtest.Run
	s     *sim.Sim
	n     int
	rng   *rand.Rand
	nodes map[int]*bnode
	gen   map[[2]int]uint64
	epoch uint64

	sending bool
	busy    int // view changes in progress

	incs      []*inc
	order     map[wire.ViewID]map[uint64]bcast.MsgID
	views     map[wire.ViewID][]wire.NodeID
	viewIncs  map[wire.ViewID][]*inc
	sent      map[bcast.MsgID]string
	trans     map[transition][]bcast.MsgID
	transBy   map[transition]int
	delivered map[bcast.MsgID]int
	changes   int
}

type outPkt struct {
	seq  uint64
	data []byte
	at   time.Duration
}

type bnode struct {
	w   *world
	h   *sim.Host
	b   *bcast.Bcast
	inc *inc
	out map[int][]outPkt          // unacked, per peer
	nxt map[int]uint64            // next sequence to send, per peer
	exp map[int]uint64            // next sequence expected, per peer
	buf map[int]map[uint64][]byte // arrived out of order, per peer
	k   int
}

func pair(a, b int) [2]int {
	if a > b {
		a, b = b, a
	}
	return [2]int{a, b}
}

func newWorld(r *simtest.Run, n int) *world {
	w := &world{
		r: r, n: n, rng: rand.New(rand.NewPCG(uint64(r.Seed), 0xbca57)), nodes: map[int]*bnode{},
		gen: map[[2]int]uint64{}, order: map[wire.ViewID]map[uint64]bcast.MsgID{},
		views: map[wire.ViewID][]wire.NodeID{}, viewIncs: map[wire.ViewID][]*inc{},
		sent: map[bcast.MsgID]string{}, trans: map[transition][]bcast.MsgID{}, transBy: map[transition]int{},
		delivered: map[bcast.MsgID]int{}, sending: true,
	}
	w.s = r.New(sim.Config{Nodes: n, Links: 1, RandomNet: true}, w.factory)
	return w
}

func (w *world) factory(h *sim.Host) sim.Process {
	b, err := bcast.New(bcast.Config{Self: wire.NodeID(h.ID()), Boot: h.Boot()})
	if err != nil {
		w.r.Fatalf("bcast.New: %v", err)
	}
	in := &inc{node: h.ID(), boot: h.Boot(), alive: true, agreed: map[wire.ViewID][]bcast.MsgID{},
		safe: map[wire.ViewID]int{}, got: map[bcast.MsgID]bool{}, gotSafe: map[bcast.MsgID]bool{}, elsewhr: map[bcast.MsgID]bool{}}
	w.incs = append(w.incs, in)
	nd := &bnode{w: w, h: h, b: b, inc: in, out: map[int][]outPkt{}, nxt: map[int]uint64{}, exp: map[int]uint64{}, buf: map[int]map[uint64][]byte{}}
	w.nodes[h.ID()] = nd
	return nd
}

// reset drops the circuits between a and b (both directions).
func (w *world) reset(a, b int) {
	w.gen[pair(a, b)]++
	for _, x := range [][2]int{{a, b}, {b, a}} {
		if nd := w.nodes[x[0]]; nd != nil && w.s.Up(x[0]) {
			delete(nd.out, x[1])
			delete(nd.nxt, x[1])
			delete(nd.exp, x[1])
			delete(nd.buf, x[1])
		}
	}
}

const (
	pktData = 1
	pktAck  = 2
)

func (nd *bnode) sendPkt(to int, kind byte, seq uint64, data []byte) {
	b := []byte{kind}
	b = binary.BigEndian.AppendUint64(b, nd.w.gen[pair(nd.h.ID(), to)])
	b = binary.BigEndian.AppendUint64(b, seq)
	b = append(b, data...)
	nd.h.Send(0, sim.Addr{Node: to, Link: 0}, b)
}

func (nd *bnode) Tick(now time.Duration) {
	for _, to := range sortedKeys(nd.out) {
		for i := range nd.out[to] {
			p := &nd.out[to][i]
			if now-p.at > 30*time.Millisecond {
				p.at = now
				nd.sendPkt(to, pktData, p.seq, p.data)
			}
			if i > 64 {
				break
			}
		}
	}
	if nd.w.sending && nd.h.Rand().Float64() < 0.3 && nd.b.Status().Pending < 40 {
		nd.k++
		payload := fmt.Sprintf("n%d.%d.%d", nd.h.ID(), nd.h.Boot(), nd.k)
		id, err := nd.b.Broadcast([]byte(payload))
		if err != nil {
			nd.w.r.Fatalf("n%d: Broadcast: %v", nd.h.ID(), err)
		}
		nd.w.sent[id] = payload
		nd.inc.sent = append(nd.inc.sent, id)
	}
	nd.drain(now)
}

func (nd *bnode) Receive(now time.Duration, link int, from sim.Addr, data []byte) {
	if len(data) < 17 || binary.BigEndian.Uint64(data[1:]) != nd.w.gen[pair(nd.h.ID(), from.Node)] {
		return
	}
	seq := binary.BigEndian.Uint64(data[9:])
	switch data[0] {
	case pktAck:
		q := nd.out[from.Node]
		for len(q) > 0 && q[0].seq <= seq {
			q = q[1:]
		}
		nd.out[from.Node] = q
	case pktData:
		if seq >= max(nd.exp[from.Node], 1) {
			if nd.buf[from.Node] == nil {
				nd.buf[from.Node] = map[uint64][]byte{}
			}
			nd.buf[from.Node][seq] = data[17:]
		}
		for {
			exp := max(nd.exp[from.Node], 1)
			b, ok := nd.buf[from.Node][exp]
			if !ok {
				break
			}
			delete(nd.buf[from.Node], exp)
			nd.exp[from.Node] = exp + 1
			m, err := bcast.Decode(b)
			if err != nil {
				nd.w.r.Fatalf("n%d: undecodable message from n%d: %v", nd.h.ID(), from.Node, err)
			}
			if err := nd.b.Step(now, bcast.Receive{From: wire.NodeID(from.Node), Msg: m}); err != nil {
				nd.w.r.Fatalf("n%d: %v", nd.h.ID(), err)
			}
			nd.drain(now)
		}
		nd.sendPkt(from.Node, pktAck, max(nd.exp[from.Node], 1)-1, nil)
	}
}

func (nd *bnode) drain(now time.Duration) {
	for {
		rd := nd.b.Ready()
		nd.b.Advance()
		if rd.Empty() {
			return
		}
		for _, o := range rd.Messages {
			to := int(o.To)
			if to == nd.h.ID() {
				nd.w.r.Fatalf("n%d: message to itself", to)
			}
			seq := max(nd.nxt[to], 1)
			nd.nxt[to] = seq + 1
			data := bcast.Encode(o.Msg)
			nd.out[to] = append(nd.out[to], outPkt{seq: seq, data: data, at: now})
			nd.sendPkt(to, pktData, seq, data)
		}
		for _, d := range rd.Deliver {
			nd.w.delivery(nd.inc, d)
		}
		for _, id := range rd.Elsewhere {
			nd.w.elsewhere(nd.inc, id)
		}
	}
}

func sortedKeys[V any](m map[int]V) []int {
	var ks []int
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// delivery checks properties 1, 3 and 4 as deliveries happen.
func (w *world) delivery(in *inc, d bcast.Delivery) {
	t := w.r
	if d.View != in.cur && d.View == in.next {
		w.enter(in)
	}
	if d.View != in.cur {
		t.Fatalf("n%d: delivery %v seq %d in view %v while in view %v", in.node, d.ID, d.Seq, d.View, in.cur)
	}
	if p, ok := w.sent[d.ID]; !ok || p != string(d.Payload) {
		t.Fatalf("n%d: delivered %v %q that was never sent (sent: %q)", in.node, d.ID, d.Payload, p)
	}
	switch d.Level {
	case bcast.Agreed:
		list := in.agreed[d.View]
		if d.Seq != uint64(len(list))+1 {
			t.Fatalf("n%d: agreed seq %d of %v after %d", in.node, d.Seq, d.View, len(list))
		}
		if in.got[d.ID] {
			t.Fatalf("n%d: %v delivered twice (again at %v seq %d)", in.node, d.ID, d.View, d.Seq)
		}
		o := w.order[d.View]
		if o == nil {
			o = map[uint64]bcast.MsgID{}
			w.order[d.View] = o
		}
		if x, ok := o[d.Seq]; ok && x != d.ID {
			t.Fatalf("total order: view %v seq %d is %v at n%d but %v elsewhere", d.View, d.Seq, d.ID, in.node, x)
		}
		o[d.Seq] = d.ID
		in.got[d.ID] = true
		in.agreed[d.View] = append(list, d.ID)
		w.delivered[d.ID]++
	case bcast.Safe:
		n := in.safe[d.View]
		if d.Seq != uint64(n)+1 || d.Seq > uint64(len(in.agreed[d.View])) || in.agreed[d.View][d.Seq-1] != d.ID {
			t.Fatalf("n%d: safe %v seq %d of %v out of order (safe %d, agreed %d)", in.node, d.ID, d.Seq, d.View, n, len(in.agreed[d.View]))
		}
		if in.gotSafe[d.ID] {
			t.Fatalf("n%d: %v delivered safe twice", in.node, d.ID)
		}
		in.gotSafe[d.ID] = true
		in.safe[d.View] = n + 1
		if !d.Flush {
			members := w.views[d.View]
			incs := w.viewIncs[d.View]
			if len(incs) != len(members) {
				t.Fatalf("safe: n%d delivered %v seq %d safe but only %d of %d members of %v installed it", in.node, d.ID, d.Seq, len(incs), len(members), d.View)
			}
			for _, x := range incs {
				if uint64(len(x.agreed[d.View])) < d.Seq {
					t.Fatalf("safe: n%d delivered %v seq %d of %v safe but n%d has only %d", in.node, d.ID, d.Seq, d.View, x.node, len(x.agreed[d.View]))
				}
			}
		}
	default:
		t.Fatalf("n%d: delivery level %v", in.node, d.Level)
	}
}

func (w *world) elsewhere(in *inc, id bcast.MsgID) {
	if id.Sender != wire.NodeID(in.node) || id.Boot != in.boot || in.got[id] || in.elsewhr[id] {
		w.r.Fatalf("n%d: bad Elsewhere %v", in.node, id)
	}
	if w.delivered[id] == 0 {
		w.r.Fatalf("n%d: %v reported delivered elsewhere but no node delivered it", in.node, id)
	}
	in.elsewhr[id] = true
}

func roundTrip[M bcast.Message](t testing.TB, m M) M {
	d, err := bcast.Decode(bcast.Encode(m))
	if err != nil {
		t.Fatalf("decode %T: %v", m, err)
	}
	return d.(M)
}

// changeView gives each group (of up nodes) a new view, like membership
// would: Propose on every member at slightly different times, Complete on
// the coordinator, Install at slightly different times. A proposal is
// sometimes abandoned and replaced by a higher one.
func (w *world) changeView(groups [][]int, retries int) {
	for _, g := range groups {
		if len(g) == 0 {
			continue
		}
		g := slices.Clone(g)
		slices.Sort(g)
		w.epoch++
		v := wire.View{ID: wire.ViewID{Epoch: w.epoch, Coord: wire.NodeID(g[0])}}
		for _, id := range g {
			v.Members = append(v.Members, wire.NodeID(id))
		}
		w.busy++
		w.changes++
		states := make([]bcast.FlushState, len(g))
		for i, id := range g {
			w.s.After(time.Duration(w.rng.Int64N(int64(4*time.Millisecond))), func() {
				nd := w.nodes[id]
				states[i] = *roundTrip(w.r, new(nd.b.Propose(v.ID)))
				nd.drain(nd.h.Now())
			})
		}
		w.s.After(5*time.Millisecond, func() {
			if retries > 0 && w.rng.Float64() < 0.15 {
				w.busy--
				w.changeView([][]int{g}, retries-1)
				return
			}
			plan, err := bcast.Complete(v, states)
			if err != nil {
				w.r.Fatalf("Complete %v: %v", v.ID, err)
			}
			plan = *roundTrip(w.r, &plan)
			w.views[v.ID] = v.Members
			left := len(g)
			for _, id := range g {
				w.s.After(time.Duration(w.rng.Int64N(int64(5*time.Millisecond))), func() {
					nd := w.nodes[id]
					in := nd.inc
					w.viewIncs[v.ID] = append(w.viewIncs[v.ID], in) // before Install: its replayed early messages may ack
					in.next = v.ID
					if err := nd.b.Install(v, plan); err != nil {
						w.r.Fatalf("n%d: Install: %v", id, err)
					}
					nd.drain(nd.h.Now())
					if in.next == v.ID {
						w.enter(in)
					}
					if left--; left == 0 {
						w.busy--
					}
				})
			}
		})
	}
}

// enter moves in from its view to the one it is installing, recording
// what it delivered in the old one (property 2).
func (w *world) enter(in *inc) {
	if in.cur != (wire.ViewID{}) {
		if in.safe[in.cur] != len(in.agreed[in.cur]) {
			w.r.Fatalf("n%d: entered %v with %d of %d messages of %v safe", in.node, in.next, in.safe[in.cur], len(in.agreed[in.cur]), in.cur)
		}
		tr := transition{in.cur, in.next}
		if prev, ok := w.trans[tr]; ok {
			if !slices.Equal(prev, in.agreed[in.cur]) {
				w.r.Fatalf("virtual synchrony: n%d delivered %v in %v before %v, n%d delivered %v", in.node, in.agreed[in.cur], in.cur, in.next, w.transBy[tr], prev)
			}
		} else {
			w.trans[tr] = slices.Clone(in.agreed[in.cur])
			w.transBy[tr] = in.node
		}
	}
	in.cur, in.next = in.next, wire.ViewID{}
	in.installs = append(in.installs, in.cur)
}
