package dlm

// Adversarial review tests: each drives the cluster harness
// (cluster_test.go) with script commands, and steps in Go where a script
// cannot place a fault precisely enough.

import (
	"strings"
	"testing"

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

// TestReviewInterruptedRecoveryReappliesWrite: a write completed at once
// (EX→NL with VALBLK) reached the surviving master, which then let
// another lock write a newer value; the writer's confirmation is still in
// flight at a view change, so its report carries wseq. Recovery V2
// (correctly) sees oldSeq >= wseq and skips it. V2 is interrupted after
// the master rebuilt but before rec-done: the writer keeps wseq (cleared
// only by finishRecovery), and in V3 the master's oldSeq is the map
// rebuild() reset, so the stale write is applied again: the value goes
// back in time, valid. (recover.go rebuild: `oldSeq[k] >= l.wseq`, with
// d.mseq reset by the previous rebuild.)
func TestReviewInterruptedRecoveryReappliesWrite(t *testing.T) {
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
