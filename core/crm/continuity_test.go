package crm

import (
	"strings"
	"testing"
	"time"
)

// Checks of continuity and of takeover after a confirmed fence
// (corral help design: "Continuity" and G4), run by the harness on
// every step of every simulation (TestSimulation and the scenarios):
//
//   - checkStop: a node stops a resource on its own (selfStop, an
//     operation no coordinator issued) only while its view is not primary
//     or it lost its lease: a member of consecutive primary views that
//     holds its lease across the change never stops what it runs.
//   - checkTakeover: with fencing (not AssumeFenced), a group never runs,
//     nor starts, on a node of the primary component while it may still
//     run on an up node outside it: what an excluded node ran starts
//     elsewhere only once that node is confirmed fenced (the harness
//     powers it off before it says Fenced).
//
// Mutations, each caught by a named seed of TestSimulation (go test ./core/crm/
// -run TestSimulation -seed=N):
//
//   - setView drops the lease at every view change (c.leaseGone = true
//     when the view id changes, as the takeover wait did before issue 15)
//     -> seed 1 (checkStop: "n2 stops g2-r0 on its own while it holds the
//     lease of primary view {3 1} [n2 n3]").
//   - schedule treats every unfenced departed node as fenced at once
//     (coFenced for t < 0 too): a fenced node's group starts before the
//     confirmation -> seed 26 (checkTakeover: "G4: group g1 starts on n1
//     of the primary view [n1 n4 n5] while n2, outside it and not fenced,
//     still runs it").

// takeoverLater gives the members of v Takeover once the takeover wait
// has passed, if they are still in v with its lease.
func (h *harness) takeoverLater(v View) {
	h.at(h.takeover, func() {
		for _, n := range v.Members {
			nd := h.nodes[n]
			if nd.up && nd.view.ID == v.ID && nd.view.Primary && nd.view.Lease && !nd.view.Takeover {
				w := nd.view
				w.Takeover = true
				nd.view = w
				h.step(nd, w)
			}
		}
	})
}

// checkStop: continuity (see above).
func (h *harness) checkStop(nd *hnode, a Action) {
	if a.Op.Epoch != 0 || !nd.view.Primary || !nd.view.Lease {
		return
	}
	h.t.Fatalf("%v: continuity: %s stops %s on its own while it holds the lease of primary view %v %v",
		h.now, nd.name, a.Resource, nd.view.ID, nd.view.Members)
}

// checkTakeover: G4 (see above).
func (h *harness) checkTakeover() {
	if h.cfg.AssumeFenced {
		return
	}
	var prim []string
	for _, c := range h.components() {
		if len(c)*2 > len(h.names) {
			prim = c
		}
	}
	if prim == nil {
		return
	}
	out := map[string]string{} // group -> an up node outside prim that runs it
	for _, n := range h.names {
		nd := h.nodes[n]
		if !nd.up || contains(prim, n) {
			continue
		}
		for _, r := range sortedKeys(nd.running) {
			if nd.running[r] {
				out[h.groupOf(r)] = n
			}
		}
		for _, r := range sortedKeys(nd.starts) {
			if nd.starts[r] > 0 {
				out[h.groupOf(r)] = n
			}
		}
	}
	if len(out) == 0 {
		return
	}
	for _, n := range prim {
		nd := h.nodes[n]
		for _, r := range sortedKeys(nd.running) {
			g := h.groupOf(r)
			if x := out[g]; x != "" && (nd.running[r] || nd.starts[r] > 0) {
				h.t.Fatalf("%v: G4: group %s runs on %s of the primary view %v while %s, outside it and not fenced, still runs it",
					h.now, g, n, prim, x)
			}
		}
		for _, r := range sortedKeys(nd.starts) {
			g := h.groupOf(r)
			if x := out[g]; x != "" && nd.starts[r] > 0 {
				h.t.Fatalf("%v: G4: group %s starts on %s of the primary view %v while %s, outside it and not fenced, still runs it",
					h.now, g, n, prim, x)
			}
		}
	}
}

// TestContinuityAcrossViewChanges: web runs on n1; another node crashes,
// restarts, pauses, resumes, is cut off and comes back. n1 never stops or
// restarts web (checkStop runs throughout too), and no event says web went
// offline.
func TestContinuityAcrossViewChanges(t *testing.T) {
	h := newHarness(t, 4, 1)
	webGroup(h, map[string]any{"preferred": []string{"n1"}})
	h.run(2 * time.Second)
	wantState(t, h, "web", "online", "n1")
	steps := []func(){
		func() { h.crash("n3") },
		func() { h.restart("n3") },
		func() { h.pause("n3", true) },
		func() { h.pause("n3", false) },
		func() { h.partition([]string{"n1", "n2", "n3"}, []string{"n4"}) },
		func() { h.heal() },
	}
	for _, f := range steps {
		f()
		h.run(2 * time.Second)
		wantState(t, h, "web", "online", "n1")
	}
	for _, n := range []string{"n1", "n2"} {
		ev := strings.Join(h.events(n), "\n")
		if strings.Count(ev, "resource_started web on n1") != 1 || strings.Contains(ev, "resource_stopped") ||
			strings.Contains(ev, "group_offline") {
			t.Fatalf("%s: web was disturbed on n1 by view changes of other nodes:\n%s", n, ev)
		}
	}
}

// TestFencedTakeoverNeedsNoLeaseWait: web's owner crashes; with fencing
// its group starts elsewhere right after the fence is confirmed, long
// before the takeover wait; without fencing (AssumeFenced) only after the
// takeover wait.
func TestFencedTakeoverNeedsNoLeaseWait(t *testing.T) {
	for _, fencing := range []bool{true, false} {
		h := newHarness(t, 3, 1)
		h.takeover = 3 * time.Second
		h.fence = 100 * time.Millisecond
		if !fencing {
			h.cfg = Config{AssumeFenced: true}
			for _, nm := range h.names {
				h.boot(nm)
			}
			h.regroup()
		}
		webGroup(h, map[string]any{"preferred": []string{"n1", "n2"}})
		h.run(5 * time.Second)
		wantState(t, h, "web", "online", "n1")
		h.crash("n1")
		h.run(1500 * time.Millisecond) // fence 0.1 s, ip and web start 0.1-0.3 s each
		if fencing {
			wantState(t, h, "web", "online", "n2")
			if h.nodes["n2"].view.Takeover {
				t.Fatalf("the takeover wait passed already: the test shows nothing")
			}
			continue
		}
		for _, n := range []string{"n2", "n3"} {
			if nd := h.nodes[n]; nd.running["ip"] || nd.starts["ip"] > 0 {
				t.Fatalf("without fencing web starts on %s before the takeover wait", n)
			}
		}
		h.run(3 * time.Second)
		wantState(t, h, "web", "online", "n2")
	}
}
