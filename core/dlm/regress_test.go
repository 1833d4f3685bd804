package dlm

// Regression tests from an adversarial review: each drives the cluster harness
// (cluster_test.go) with script commands, and steps in Go where a script
// cannot place a fault precisely enough.

import (
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"

	"github.com/corral-ha/corral/core/wire"
)

// run runs one harness command written as in the scripts and returns
// what it printed.
func (h *harness) run(t *testing.T, line string) string {
	t.Helper()
	f := strings.Fields(line)
	d := &datadriven.TestData{Cmd: f[0]}
	for _, a := range f[1:] {
		k, v, ok := strings.Cut(a, "=")
		ca := datadriven.CmdArg{Key: k}
		if ok {
			v = strings.TrimSuffix(strings.TrimPrefix(v, "("), ")")
			ca.Vals = strings.Split(v, ",")
		}
		d.CmdArgs = append(d.CmdArgs, ca)
	}
	out := h.handle(t, d)
	t.Logf("%s\n%s", line, out)
	return out
}

// stabilizeExcept delivers like stabilize, but leaves in its queue (with
// everything behind it) every message for which keep is true.
func (h *harness) stabilizeExcept(keep func(pair, msg) bool) {
	for i := 0; i < 10000; i++ {
		moved := h.collect()
		for _, p := range sortedPairs(h.q) {
			q := h.q[p]
			n := 0
			for n < len(q) {
				dm, err := decodeMsg(q[n].Payload)
				if err == nil && keep(p, dm) {
					break
				}
				h.deliver(p, q[n])
				n++
				moved = true
			}
			h.q[p] = q[n:]
		}
		if !moved {
			h.checkG5()
			return
		}
	}
	h.t.Fatalf("no quiescence")
}

func sortedPairs(q map[pair][]Out) []pair {
	var ps []pair
	for p := range q {
		ps = append(ps, p)
	}
	for i := range ps {
		for j := i + 1; j < len(ps); j++ {
			if ps[j].from < ps[i].from || (ps[j].from == ps[i].from && ps[j].to < ps[i].to) {
				ps[i], ps[j] = ps[j], ps[i]
			}
		}
	}
	return ps
}

// TestInterruptedRecoveryReappliesWrite: a write completed at once
// (EX→NL with VALBLK) reached the surviving master, which then let
// another lock write a newer value; the writer's confirmation is still in
// flight at a view change, so its report carries wseq. Recovery V2
// (correctly) sees oldSeq >= wseq and skips it. V2 is interrupted after
// the master rebuilt but before rec-done: the writer keeps wseq (cleared
// only by finishRecovery), and in V3 the master's oldSeq is the map
// rebuild() reset, so the stale write is applied again: the value goes
// back in time, valid. (recover.go rebuild: `oldSeq[k] >= l.wseq`, with
// d.mseq reset by the previous rebuild.)
func TestInterruptedRecoveryReappliesWrite(t *testing.T) {
	h := newHarness(t)
	h.run(t, "cluster n=2")
	h.run(t, "lock n=1 l=z name=R mode=NL") // n1 masters R
	h.run(t, "lock n=2 l=y name=R mode=EX flags=(VALBLK)")
	h.run(t, "hold from=1 to=2")
	h.run(t, "convert l=y mode=NL flags=(VALBLK) lvb=old") // completes at once; its confirmation is held
	h.run(t, "convert l=z mode=EX flags=(VALBLK)")
	h.run(t, "convert l=z mode=NL flags=(VALBLK) lvb=new")
	// V2: its recovery runs until both rebuilt, no rec-done delivered.
	v := View{ID: wire.ViewID{Epoch: 2, Coord: 1}, Members: []wire.NodeID{1, 2}, Primary: true}
	h.giveView(v, v.Members)
	h.held = map[pair]bool{}
	h.stabilizeExcept(func(_ pair, m msg) bool { return m.kind == mkRecDone })
	if h.nodes[1].recView != v.ID || h.nodes[1].recovered {
		t.Fatalf("setup: n1 recView=%v recovered=%v", h.nodes[1].recView, h.nodes[1].recovered)
	}
	if r := h.nodes[1].mast[rname{ls: "default", name: "R"}].r; strings.TrimRight(string(r.lvb), "\x00") != "new" {
		t.Fatalf("setup: after V2's rebuild the value is %q", r.lvb)
	}
	h.view = v
	h.run(t, "view")
	out := h.run(t, "convert l=z mode=PR flags=(VALBLK)")
	if strings.Contains(out, `lvb="old"`) && !strings.Contains(out, "VALNOTVALID") {
		t.Errorf("the value went back in time, valid: %s", out)
	}
}

// TestMalformedSemantics: messages that decode (every field in its
// range) but carry what no correct peer sends must not panic the
// receiver (the doc promises decoding never panics; the handlers index
// tables by mode).
func TestMalformedSemantics(t *testing.T) {
	rn := rname{ls: "default", name: "R"}
	cases := []struct {
		name string
		m    msg
	}{
		{"request IV", msg{kind: mkRequest, rname: rn, id: 77, seq: 1, mode: IV}},
		{"request IV valblk", msg{kind: mkRequest, rname: rn, id: 78, seq: 1, mode: IV, flags: ValBlk}},
		{"request EX all flags", msg{kind: mkRequest, rname: rn, id: 79, seq: 1, mode: EX, flags: 0xffffffff}},
		{"convert IV", msg{kind: mkConvert, rname: rn, id: 1, seq: 2, mode: IV, flags: Convert | ValBlk}},
		{"convert QUECVT IV", msg{kind: mkConvert, rname: rn, id: 1, seq: 2, mode: IV, flags: Convert | QueCvt}},
		{"convert unknown lock", msg{kind: mkConvert, rname: rn, id: 999, seq: 2, mode: EX, flags: Convert | ValBlk}},
		{"unlock unknown", msg{kind: mkUnlock, rname: rn, id: 999, seq: 2, flags: 0xffffffff}},
		{"request long lvb", msg{kind: mkRequest, rname: rn, id: 80, seq: 1, mode: EX, flags: ValBlk, lvb: make([]byte, MaxLVB)}},
		{"request short lvb", msg{kind: mkRequest, rname: rn, id: 81, seq: 1, mode: NL, flags: ValBlk, lvb: []byte{1}}},
		{"victim granted", msg{kind: mkDlVictim, rname: rn, node: 2, id: 1}},
		{"reply IV", msg{kind: mkReply, rname: rn, id: 1, seq: 100, mode: IV, status: OK, lvb: []byte{1}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t)
			h.run(t, "cluster n=2")
			h.run(t, "lock n=1 l=a name=R mode=NL")                // n1 masters R
			h.run(t, "lock n=2 l=b name=R mode=PR flags=(VALBLK)") // n2's lock 1
			for _, to := range []wire.NodeID{1, 2} {
				from := 3 - to
				m := c.m
				m.view = h.nodes[to].view
				m.pseq = h.nodes[to].recvSeq[from] + 1
				func() {
					defer func() {
						if r := recover(); r != nil {
							t.Errorf("n%d panics on %s from n%d: %v", to, c.name, from, r)
						}
					}()
					if err := h.nodes[to].Step(h.now, Receive{From: from, Payload: m.encode(nil)}); err != nil {
						t.Logf("n%d: %v", to, err)
					}
					h.stabilize()
				}()
			}
		})
	}
}

// TestRandomMessages: random decodable messages (small fields, so
// they hit existing names, locks and nodes) injected into a live
// cluster, in the running state and during a recovery: no panic.
func TestRandomMessages(t *testing.T) {
	modes := []Mode{IV, NL, CR, CW, PR, PW, EX}
	names := []rname{{"default", "R"}, {"default", "S"}, {"default", ""}}
	for seed := uint64(1); seed <= 60; seed++ {
		rng := newRegressRand(seed)
		h := newHarness(t)
		h.out = &strings.Builder{}
		h.run(t, "cluster n=3")
		h.run(t, "lock n=1 l=a name=R mode=PR flags=(VALBLK)")
		h.run(t, "lock n=2 l=b name=R mode=CW")
		h.run(t, "lock n=3 l=c name=S mode=EX flags=(VALBLK)")
		h.run(t, "lock n=2 l=d name=S mode=PR")
		for i := 0; i < 200; i++ {
			if i == 100 {
				v := View{ID: wire.ViewID{Epoch: 2, Coord: 1}, Members: []wire.NodeID{1, 2, 3}, Primary: true}
				h.giveView(v, v.Members)
			}
			to := wire.NodeID(rng.IntN(3) + 1)
			from := wire.NodeID(rng.IntN(3) + 1)
			if from == to {
				continue
			}
			m := msg{kind: msgKind(rng.IntN(int(mkLast)-1) + 1), rname: names[rng.IntN(len(names))],
				id: LockID(rng.IntN(4)), seq: uint32(rng.IntN(5)), mode: modes[rng.IntN(len(modes))],
				flags: Flags(rng.Uint32()), status: Status(rng.IntN(40)), sb: SBFlags(rng.IntN(8)),
				node: wire.NodeID(rng.IntN(4)), tag: uint64(rng.IntN(3)),
				owner: Owner{Node: wire.NodeID(rng.IntN(4)), ID: uint64(rng.IntN(3))}}
			if rng.IntN(2) == 0 {
				m.lvb = make([]byte, rng.IntN(40))
			}
			for j := rng.IntN(3); j > 0; j-- {
				m.names = append(m.names, names[rng.IntN(len(names))])
				m.masters = append(m.masters, wire.NodeID(rng.IntN(4)))
				m.locks = append(m.locks, reclock{rname: names[rng.IntN(len(names))], id: LockID(rng.IntN(4)),
					gr: modes[rng.IntN(len(modes))], flags: Flags(rng.Uint32()), lvb: m.lvb, wseq: uint32(rng.IntN(3)),
					lvbBad: rng.IntN(2) == 0, lvbStale: rng.IntN(2) == 0, orphan: rng.IntN(2) == 0})
				m.edges = append(m.edges, edge{from: m.owner, to: Owner{Node: 1, ID: 1}, rname: m.rname,
					lock: lkey{Node: wire.NodeID(rng.IntN(4)), ID: LockID(rng.IntN(4))}, master: wire.NodeID(rng.IntN(4))})
			}
			m.view = h.nodes[to].view
			m.pseq = h.nodes[to].recvSeq[from] + 1
			func() {
				defer func() {
					if r := recover(); r != nil {
						t.Fatalf("seed %d: n%d panics on %+v from n%d: %v", seed, to, m, from, r)
					}
				}()
				_ = h.nodes[to].Step(h.now, Receive{From: from, Payload: m.encode(nil)})
				for k := 0; k < 3; k++ {
					h.collect()
					for _, p := range sortedPairs(h.q) {
						q := h.q[p]
						h.q[p] = nil
						for _, o := range q {
							h.deliver(p, o)
						}
					}
				}
				h.now += 100 * time.Millisecond
				for _, n := range h.sortedNodes() {
					h.nodes[n].Tick(h.now)
				}
			}()
		}
	}
}

func newRegressRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 3)) }

// TestInterruptedRecoveryRevalidatesWrite: the same hole through a
// dead master. n3 masters R and dies after applying n2's write "old"
// and n1's later write "new" (n2's confirmation never came, so n2
// reports wseq). V2's new master rightly marks the value invalid (it
// cannot know what came after). V2 is interrupted after the rebuild; in
// V3 that master counts as surviving, finds n2's lock in its copy with
// oldSeq 0 (rebuild reset d.mseq) and applies "old" as VALID.
func TestInterruptedRecoveryRevalidatesWrite(t *testing.T) {
	h := newHarness(t)
	h.run(t, "cluster n=3")
	h.run(t, "lock n=3 l=m name=R mode=NL") // n3 masters R
	h.run(t, "lock n=2 l=y name=R mode=EX flags=(VALBLK)")
	h.run(t, "lock n=1 l=z name=R mode=NL")
	h.run(t, "hold from=3 to=2")
	h.run(t, "convert l=y mode=NL flags=(VALBLK) lvb=old") // completes at once; n3 applies it, its confirmation held
	h.run(t, "convert l=z mode=EX flags=(VALBLK)")
	h.run(t, "convert l=z mode=NL flags=(VALBLK) lvb=new")
	h.run(t, "kill n=3")
	v := View{ID: wire.ViewID{Epoch: 2, Coord: 1}, Members: []wire.NodeID{1, 2}, Primary: true, Release: []wire.NodeID{3}}
	h.giveView(v, v.Members)
	h.held = map[pair]bool{}
	h.stabilizeExcept(func(_ pair, m msg) bool { return m.kind == mkRecDone })
	for _, n := range []wire.NodeID{1, 2} {
		if mr := h.nodes[n].mast[rname{ls: "default", name: "R"}]; mr != nil {
			t.Logf("after V2's rebuild n%d masters R: lvb=%q invalid=%v", n, strings.TrimRight(string(mr.r.lvb), "\x00"), mr.r.invalid)
		}
	}
	h.view = v
	h.run(t, "view release=(3)")
	out := h.run(t, "convert l=z mode=PR flags=(VALBLK)")
	if strings.Contains(out, `lvb="old"`) && !strings.Contains(out, "VALNOTVALID") {
		t.Errorf("the value went back in time, valid: %s", out)
	}
}
