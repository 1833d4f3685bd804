package crm

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/corral-ha/corral/core/sim/simtest"
)

// simSeeds is TestSimulation's default sweep (-seeds changes it, -seed
// replays one): seeds 1..2500 run the schedules the private harness ran.
const simSeeds = 2500

// TestSimulation runs seeded fault schedules: crashes, restarts, partitions,
// coordinator changes, pauses, monitor and start failures, moves, target
// changes and cleanups, with the stand-in agents; failed stops, restarts
// of the coordinator, fences that never come, and the takeover wait at a
// new view's start. It checks on every step that a group never runs on two
// nodes of one primary view, nor (G4) on a node of the primary view while
// a node excluded from it and not fenced may still run it; and G7 once
// faults stop: every group reaches its target state or states why not. A
// failure prints the seed and the command that replays it (simtest).
//
// Mutations the G4 check catches (issue 15; default 2500 seeds, found in
// the first 300):
//
//	a new coordinator ignores the owner tables in its members' full
//	reports (coReport does not keep m.Known)                 -> seed 12
//	a restarted node forgets its persisted owner table
//	(New ignores Config.Known)                               -> seed 18
func TestSimulation(t *testing.T) {
	seeds := simtest.SeedsN(simSeeds)
	// The first seed runs twice: its two traces must be equal, or
	// something nondeterministic leaked into the run (a map's order).
	simtest.Deterministic(t, seeds[0], simRun)
	if t.Failed() {
		return
	}
	simtest.SweepSeeds(t, seeds[1:], simRun)
}

func simRun(r *simtest.Run) {
	seed := uint64(r.Seed)
	rng := rand.New(rand.NewPCG(seed, 77))
	n := 3 + rng.IntN(3)
	h := newHarness(r, n, seed)
	h.jitter = true
	if rng.IntN(3) == 0 {
		h.cfg = Config{AssumeFenced: true, FenceDelay: time.Duration(rng.IntN(1000)) * time.Millisecond}
		for _, nm := range h.names {
			h.boot(nm)
		}
		h.regroup()
	} else {
		h.fence = time.Duration(100+rng.IntN(1500)) * time.Millisecond
		if rng.IntN(5) == 0 {
			h.fence = -1 // nobody can fence: a cut-off owner blocks its groups
		}
	}
	h.takeover = time.Duration(rng.IntN(800)) * time.Millisecond
	if rng.IntN(3) == 0 {
		h.policy = func(p PolicyRequest) (PolicyAnswer, time.Duration) {
			d := time.Duration(rng.IntN(3000)) * time.Millisecond // sometimes later than the deadline
			if p.Kind == PolicyChooseOwner {
				return PolicyAnswer{ID: p.ID, Owner: p.Candidates[rng.IntN(len(p.Candidates))]}, d
			}
			return PolicyAnswer{ID: p.ID, Decision: []string{DecideRestart, DecideFailover, DecideIgnore, "bogus"}[rng.IntN(4)]}, d
		}
	}
	pick := func(ss []string) string { return ss[rng.IntN(len(ss))] }
	subset := func() []string {
		var out []string
		for _, nm := range h.names {
			if rng.IntN(2) == 0 {
				out = append(out, nm)
			}
		}
		return out
	}
	ngroups := 2 + rng.IntN(4)
	var groups, resources []string
	for i := 0; i < ngroups; i++ {
		g := fmt.Sprintf("g%d", i)
		groups = append(groups, g)
		spec := map[string]any{}
		var rs []string
		for j := 0; j < 1+rng.IntN(3); j++ {
			r := fmt.Sprintf("%s-r%d", g, j)
			rs = append(rs, r)
			resources = append(resources, r)
			h.put(ResourcePrefix+r, jres{Agent: "dummy", Group: g, Monitor: fmt.Sprintf("%dms", 300+rng.IntN(1000))})
		}
		spec["resources"] = rs
		if rng.IntN(2) == 0 {
			spec["preferred"] = subset()
		}
		if rng.IntN(4) == 0 {
			spec["possible"] = subset()
		}
		if i > 0 && rng.IntN(3) == 0 {
			spec["after"] = []string{groups[rng.IntN(i)]}
		}
		spec["failback"] = map[string]any{"mode": pick([]string{"never", "immediate"})}
		spec["restart"] = map[string]any{"max": rng.IntN(3), "period": "20s"}
		spec["failover"] = map[string]any{"max": 1 + rng.IntN(4), "period": "30s"}
		if h.policy != nil && rng.IntN(2) == 0 {
			spec["policy"] = "random"
		}
		h.group(g, spec)
	}
	h.run(3 * time.Second)
	// faults
	end := h.now + 40*time.Second
	for h.now < end {
		h.run(time.Duration(200+rng.IntN(2000)) * time.Millisecond)
		nm := pick(h.names)
		switch rng.IntN(15) {
		case 14:
			// issue 15 G4: a group's owner is cut off and its stop fails
			// (it keeps running), while the nodes cut off before rejoin
			// (the new coordinator may not have seen that owner); then,
			// sometimes, all the others restart at once
			co := h.coordinator()
			if co == nil {
				break
			}
			owner := ""
			for _, g := range co.crm.Groups() {
				if g.Owner != "" && g.Name == pick(groups) {
					owner = g.Owner
				}
			}
			if owner == "" {
				break
			}
			for _, r := range resources {
				if h.nodes[owner].running[r] {
					h.fails[owner+"/"+r+":stop"] = true
				}
			}
			var rest []string
			for _, x := range h.names {
				if x != owner {
					rest = append(rest, x)
				}
			}
			h.partition(rest, []string{owner})
			if rng.IntN(3) == 0 {
				h.run(time.Duration(rng.IntN(1500)) * time.Millisecond)
				for _, x := range rest {
					if h.nodes[x].up {
						h.crash(x)
					}
				}
				for _, x := range rest {
					h.restart(x)
				}
			}
		case 13:
			// a lease that lapses for a while in the same primary view
			if co := h.coordinator(); co != nil {
				nd := h.nodes[pick(co.view.Members)]
				v := nd.view
				v.Lease, v.Takeover = false, false
				nd.view = v
				h.step(nd, v)
				id := v.ID
				h.at(time.Duration(200+rng.IntN(2000))*time.Millisecond, func() {
					if nd.up && nd.view.ID == id && nd.view.Primary {
						v := nd.view
						v.Lease, v.Takeover = true, true
						nd.view = v
						h.step(nd, v)
					}
				})
			}
		case 0, 1:
			if h.nodes[nm].up {
				h.crash(nm)
			} else {
				h.restart(nm)
			}
		case 2:
			if rng.IntN(2) == 0 {
				h.crash(h.names[0]) // the usual coordinator
			} else if co := h.coordinator(); co != nil {
				// the coordinator restarts at once, with empty runtime state
				h.crash(co.name)
				h.restart(co.name)
			}
		case 3:
			a := subset()
			var b []string
			for _, x := range h.names {
				if !contains(a, x) {
					b = append(b, x)
				}
			}
			h.partition(a, b)
		case 4:
			h.heal()
		case 5:
			h.pause(nm, !h.paused[nm])
		case 6, 7:
			r := pick(resources)
			for _, x := range h.names {
				if h.nodes[x].running[r] {
					h.breakRes(x, r)
				}
			}
		case 8:
			if rng.IntN(3) == 0 {
				h.fails[nm+"/"+pick(resources)+":stop"] = rng.IntN(2) == 0 // a stop that fails: it keeps running
			} else {
				h.fails[nm+"/"+pick(resources)] = rng.IntN(2) == 0
			}
		case 9:
			if co := h.coordinator(); co != nil {
				node := ""
				if rng.IntN(2) == 0 {
					node = pick(co.view.Members)
				}
				h.step(co, Move{Group: pick(groups), Node: node, For: time.Duration(rng.IntN(3)) * 5 * time.Second})
			}
		case 10:
			g := pick(groups)
			var spec map[string]any
			_ = jsonUnmarshal(h.kv[GroupPrefix+g], &spec)
			spec["target"] = pick([]string{"started", "started", "stopped"})
			h.group(g, spec)
		case 11:
			if co := h.coordinator(); co != nil {
				h.step(co, Cleanup{Resource: pick(resources)})
			}
		case 12:
			h.run(3 * time.Second) // quiet for a while
		}
	}
	// faults stop: everything heals and restarts
	h.fails = map[string]bool{}
	h.heal()
	for _, nm := range h.names {
		if !h.nodes[nm].up {
			h.restart(nm)
		}
		if h.paused[nm] {
			h.pause(nm, false)
		}
	}
	// a node whose stop failed is fenced (the driver's escalation: it asks
	// for its fence, or fences itself): it comes back empty
	for _, nm := range h.names {
		for _, l := range h.nodes[nm].crm.local {
			if l.state == StopFailed {
				h.crash(nm)
				h.restart(nm)
				break
			}
		}
	}
	var last error
	for i := 0; i < 120; i++ {
		h.run(time.Second)
		if last = h.converged(); last == nil {
			return
		}
	}
	co := h.coordinator()
	for _, g := range co.crm.Groups() {
		last = fmt.Errorf("%v\n%s", last, co.crm.Explain(g.Name))
	}
	r.Fatalf("no convergence 120s after the faults stopped (at %v, %d events run): %v", h.now, h.s.Stats().Events, last)
}
