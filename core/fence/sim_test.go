package fence

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/corral-ha/corral/core/sim/simtest"
)

// simSeeds is TestSimulation's default sweep (-seeds changes it, -seed
// replays one): seeds 1..1000 run the schedules the private harness ran.
const simSeeds = 1000

// TestSimulation runs seeded fault schedules (crashes, partitions that
// leave nodes cut off but alive, coordinator changes in the middle of a
// fence, failing and hanging devices, several levels, watchdog mode,
// two-node clusters) and checks at every step: never two device calls on
// one node at once, a node is confirmed fenced only while its incarnation
// is dead and only after a device it names succeeded (or its watchdog
// fired); and at the end, once faults stop: every node down is confirmed,
// no operation is left open or doubled, and no node left alive after it
// was to be fenced, unless that op is void and everyone who worked on it
// is really dead. A failure prints the seed, the command that replays it
// and the tail of the simulation's trace (simtest).
//
// Mutation -> seed that catches it (in the default 1000):
//
//   - waitOrAbandon abandons at once a call whose runner cannot be asked
//     (no wait for its deadline) -> seed 961 ("two concurrent fences of
//     n1: n1-l1-d1 on n2 (since 9.146s) and n1-l1-d1 on n3").
//
// The mutation listed here before (state.gone judging only the op's
// coordinator, not the runners of its calls, seed 718) is caught by no
// seed of the default sweep any more, on the private harness as well.
func TestSimulation(t *testing.T) {
	seeds := simtest.SeedsN(simSeeds)
	// The first seed runs twice: its two traces must be equal, or
	// something nondeterministic leaked into the run (a map's order).
	simtest.Deterministic(t, seeds[0], runSim)
	if t.Failed() {
		return
	}
	simtest.SweepSeeds(t, seeds[1:], runSim)
}

func runSim(r *simtest.Run) {
	seed := uint64(r.Seed)
	rng := rand.New(rand.NewPCG(seed, 77))
	n := []int{2, 3, 3, 4, 5, 5}[rng.IntN(6)]
	cfg := baseCfg()
	cfg.Timeout = time.Duration(300+rng.IntN(2700)) * time.Millisecond
	if rng.IntN(3) == 0 {
		cfg.Action = ActionOff
	}
	watchdog := n > 2 && rng.IntN(3) == 0
	if watchdog {
		// a starting node must get its lease within W, through the view
		// changes its own start causes
		cfg.WatchdogTimeout = 2500 * time.Millisecond
	}
	cfg.Targets = map[string]Target{}
	var devices []string
	for i := 1; i <= n; i++ {
		name := fmt.Sprintf("n%d", i)
		tg := Target{Watchdog: watchdog}
		nl := 1 + rng.IntN(2)
		if watchdog && rng.IntN(2) == 0 {
			nl = 0
		}
		for l := 0; l < nl; l++ {
			var lv []Device
			for d := 0; d <= rng.IntN(2); d++ {
				dn := fmt.Sprintf("%s-l%d-d%d", name, l+1, d+1)
				lv = append(lv, Device{Name: dn, Driver: "dummy"})
				devices = append(devices, dn)
			}
			tg.Levels = append(tg.Levels, lv)
		}
		if n == 2 && i == 1 {
			tg.Delay = time.Second
		}
		cfg.Targets[name] = tg
	}
	h := newHarness(r, n, seed, cfg)
	h.jitter = true
	h.twoNode = n == 2
	if watchdog {
		h.wd = cfg.WatchdogTimeout
	}
	h.reboot = time.Duration(300+rng.IntN(1500)) * time.Millisecond
	if cfg.Action == ActionOff {
		h.reboot = -1
	}
	h.run(time.Second)
	for i := 0; i < 10 && !h.failed; i++ {
		switch k := rng.IntN(11); {
		case k < 3:
			nd := h.nodes[h.names[rng.IntN(n)]]
			h.crash(nd.name)
			h.regroup()
			if rng.IntN(2) == 0 {
				name := nd.name
				h.at(time.Duration(200+rng.IntN(2000))*time.Millisecond, func() { h.restart(name) })
			}
		case k < 6:
			var a, b []string
			for _, name := range h.names {
				if rng.IntN(2) == 0 {
					a = append(a, name)
				} else {
					b = append(b, name)
				}
			}
			h.partition(a, b)
		case k < 7:
			h.heal()
		case k < 9 && len(devices) > 0:
			d := devices[rng.IntN(len(devices))]
			if rng.IntN(4) == 0 {
				h.hang[d] = !h.hang[d]
			} else {
				h.fail[d] = !h.fail[d]
			}
		case k < 10 && rng.IntN(2) == 0:
			h.freeze(h.names[rng.IntN(n)], time.Duration(100+rng.IntN(4000))*time.Millisecond)
		default:
			for _, name := range h.names {
				if !h.nodes[name].up {
					h.restart(name)
					break
				}
			}
		}
		h.run(time.Duration(50+rng.IntN(2500)) * time.Millisecond)
	}
	if h.failed {
		return
	}
	// Faults stop: devices work, the network heals.
	h.fail, h.hang = map[string]bool{}, map[string]bool{}
	for _, name := range h.names {
		if until, ok := h.frozen[name]; ok {
			h.run(until - h.now + time.Millisecond)
		}
	}
	h.heal()
	h.run(15 * time.Second)
	co := h.coordinator()
	for _, name := range h.names {
		nd := h.nodes[name]
		if nd.up || co == nil { // no quorum left: nothing can be confirmed
			continue
		}
		if _, ok := co.f.Confirmed(name); !ok && co.f.st.boots[name] >= nd.boot && nd.boot > 0 {
			h.fatalf("%s is down (boot %d) and not confirmed fenced by coordinator %s: %+v", name, nd.boot, co.name, h.status(co.name, name))
			return
		}
	}
	// Power everything on again.
	for _, name := range h.names {
		h.restart(name)
	}
	h.run(10 * time.Second)
	co = h.coordinator()
	if co == nil || len(co.view.Members) != n || !co.view.Lease {
		var views []string
		for _, name := range h.names {
			nd := h.nodes[name]
			views = append(views, fmt.Sprintf("%s up=%v view=%v lease=%v", name, nd.up, nd.view.Members, nd.view.Lease))
		}
		h.fatalf("no single primary view of every node at the end: %v", views)
		return
	}
	for _, s := range co.f.Status() {
		if s.State == StatePending || s.State == StateInProgress {
			h.fatalf("fence of %s still %s at the end: %+v", s.Target, s.State, s)
		}
	}
	alive := func(n string, boot uint64) bool { nd := h.nodes[n]; return nd != nil && nd.up && nd.boot == boot }
	for _, o := range co.f.st.sortedOps() {
		v := co.f.st.view(o, co.f.nLevels(o.Target), co.f.cfg.Rounds)
		if v.status == opVoid {
			// it condemns nobody only because everyone who worked on it
			// is dead
			if alive(o.By, o.ByBoot) {
				h.fatalf("op %v against %s is void, but %s at boot %d that began it runs", o.ID, o.Target, o.By, o.ByBoot)
			}
			for _, a := range v.attempts {
				if alive(a.Runner, a.RunnerBoot) {
					h.fatalf("op %v against %s is void, but %s at boot %d that ran a call of it runs", o.ID, o.Target, a.Runner, a.RunnerBoot)
				}
			}
			continue
		}
		if alive(o.Target, o.Boot) && o.Failed == "" {
			h.fatalf("%s runs at boot %d, but op %v (status %d) was to fence that incarnation", o.Target, o.Boot, o.ID, v.status)
		}
	}
	for _, name := range h.names {
		for target, cs := range h.nodes[name].conf {
			seen := map[uint64]bool{}
			for _, c := range cs {
				if seen[c.Boot] {
					h.fatalf("%s confirmed %s at boot %d twice", name, target, c.Boot)
				}
				seen[c.Boot] = true
			}
		}
	}
	if a := co.f.st.outstanding("n1"); a != nil {
		h.fatalf("an outstanding call at the end: %+v", a)
	}
}
