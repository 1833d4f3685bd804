package stack_test

import (
	"fmt"
	"slices"
	"time"

	"github.com/corral-ha/corral/core/sim"
)

// fault injects one fault of the schedule (what it does later is done
// only while faults are on: runSim ends them all at once), drawn from the world's source:
// partitions of any shape, one-way cuts of a node or of one link, crashes
// and restarts at any instant (in the middle of an update, right after a
// client took an answer, right after a node took a request), power losses
// (every node at one instant; they come back one by one), pauses, loss,
// duplication and reordering; and the stack's own: a resource that fails
// its monitor, a stop that fails (the node escalates to its fence), fence
// devices that start failing or hanging, the witness down for a while,
// operator moves, and issue 15's G4 case (cutOwner).
func (w *simWorld) fault() {
	s, n, rng := w.s, w.n, w.rng
	a := 1 + rng.IntN(n)
	b := 1 + (a+rng.IntN(n-1))%n
	switch k := rng.IntN(23); k {
	case 0: // a partition of random shape
		groups := make([][]int, 1+rng.IntN(3))
		for i := 1; i <= n; i++ {
			g := rng.IntN(len(groups))
			groups[g] = append(groups[g], i)
		}
		w.logf("fault: partition %v", groups)
		s.Partition(groups...)
	case 1: // a one-way cut
		w.logf("fault: cut n%d -> n%d", a, b)
		s.Cut(a, b)
	case 2: // one link cut, one or both ways
		l := rng.IntN(2)
		w.logf("fault: cut link %d n%d -> n%d", l, a, b)
		s.CutLink(sim.Addr{Node: a, Link: l}, sim.Addr{Node: b, Link: l}, rng.IntN(2) == 0)
	case 3, 4: // a crash, or a restart of a node that is down (data kept)
		if s.Process(a) != nil {
			w.logf("fault: crash n%d", a)
			s.Crash(a)
		} else {
			w.logf("fault: restart n%d", a)
			s.Restart(a)
		}
	case 5:
		d := time.Duration(100+rng.IntN(3000)) * time.Millisecond
		w.logf("fault: pause n%d for %v", a, d)
		s.Pause(a, d)
	case 6:
		nc := sim.NetConfig{MinDelay: 100 * time.Microsecond, MaxDelay: 5 * time.Millisecond,
			Drop: rng.Float64() * 0.2, Dup: rng.Float64() * 0.05, Reorder: rng.Float64() * 0.1}
		w.logf("fault: net %v", nc)
		s.SetNet(nc)
	case 7:
		w.logf("fault: isolate n%d", a)
		s.Isolate(a)
	case 8: // a crash in the middle of an update: soon, at a random instant
		s.After(time.Duration(rng.IntN(40))*time.Millisecond, func() {
			if w.faulting && s.Process(a) != nil {
				w.logf("fault: crash n%d (soon)", a)
				s.Crash(a)
				s.After(time.Duration(200+rng.IntN(1500))*time.Millisecond, func() { w.restart(a) })
			}
		})
	case 9, 10: // a power loss: every node at one instant, soon or right after a client got an answer
		power := func(last int) { // (last, when not 0, comes back last)
			if !w.faulting {
				return
			}
			w.logf("fault: power loss")
			for i := 1; i <= n; i++ {
				s.Crash(i)
			}
			order := rng.Perm(n)
			if last != 0 {
				order = slices.DeleteFunc(order, func(i int) bool { return i == last-1 })
				order = append(order, last-1)
			}
			var at time.Duration
			for _, i := range order {
				at += time.Duration(100+rng.IntN(1500)) * time.Millisecond
				s.After(at, func() { w.restart(i + 1) })
			}
		}
		if k := rng.IntN(3); k == 0 {
			s.After(time.Duration(rng.IntN(40))*time.Millisecond, func() { power(0) })
		} else {
			w.onAnswer = append(w.onAnswer, func(id int) {
				if rng.IntN(2) == 0 {
					id = 0
				}
				s.After(time.Duration(rng.IntN(1000*k))*time.Microsecond, func() { power(id) })
			})
		}
	case 11: // the node that just took a request is cut off for a while
		w.onPropose = append(w.onPropose, func(id int) {
			s.After(time.Duration(rng.IntN(3000))*time.Microsecond, func() {
				if !w.faulting {
					return
				}
				w.logf("fault: isolate n%d after it took a request", id)
				s.Isolate(id)
				s.After(time.Duration(300+rng.IntN(2000))*time.Millisecond, s.Heal)
			})
		})
	case 12:
		w.logf("fault: heal")
		s.Heal()
	case 13, 14: // a resource fails where it runs (its monitor finds it gone)
		w.failSome()
	case 15: // stops that fail on a node, at once or at their timeout (the resource keeps running)
		w.failStops[a] = stopFail
		if rng.IntN(2) == 0 {
			w.failStops[a] = stopHang
		}
		w.logf("fault: stops %v on n%d", w.failStops[a], a)
	case 16: // fence devices fail or hang for a while
		mode := fenceFail
		if rng.IntN(2) == 0 {
			mode = fenceHang
		}
		w.fenceMode = mode
		w.logf("fault: fence devices %v", mode)
		s.After(time.Duration(500+rng.IntN(4000))*time.Millisecond, func() { w.fenceMode = fenceOK })
	case 17, 18: // an operator moves a group
		w.move()
	case 19: // the witness is down for a while (or, without one, quiet for a while)
		if w.witness != nil {
			w.witness.down = true
			w.logf("fault: the witness is down")
			s.After(time.Duration(500+rng.IntN(3000))*time.Millisecond, func() { w.witness.down = false })
		}
	case 20, 21: // issue 15's G4 case: an owner is cut off with hung stops, and sometimes all the others restart at once
		w.cutOwner()
	case 22: // issue 15's G4 case: the next coordinator was away while a group moved, and comes back as its new owner is cut off
		w.awayCoordinator()
	}
}

// restart starts node id again if it is down.
func (w *simWorld) restart(id int) {
	if w.s.Process(id) == nil {
		w.s.Restart(id)
	}
}

// fenceMode is how the simulated fence devices behave now.
type fenceMode int

const (
	fenceOK   fenceMode = iota // the device powers the target off, then answers success
	fenceFail                  // the device answers failure
	fenceHang                  // the device never answers (the call's deadline fails it)
)

func (m fenceMode) String() string {
	return [...]string{"succeed", "fail", "hang"}[m]
}

// cutOwner cuts off a node that runs something, with stops that hang there
// until their timeout (so it keeps running meanwhile), and half the time crashes all the others a while
// later and starts them again one by one: a coordinator that comes back
// knows the owner only from the members' persisted owner tables (G4).
func (w *simWorld) cutOwner() {
	s, rng := w.s, w.rng
	var owners []int
	for _, res := range sortedKeys(w.chk.running) {
		for _, id := range sortedKeys(w.chk.running[res]) {
			if w.running(id) != nil && !slices.Contains(owners, id) {
				owners = append(owners, id)
			}
		}
	}
	if len(owners) == 0 {
		return
	}
	a := owners[rng.IntN(len(owners))]
	w.failStops[a] = stopHang
	w.logf("fault: owner n%d cut off, its stops hang", a)
	w.quietUntil = s.Now() + 5*time.Second
	s.Isolate(a)
	w.slowFence()
	if rng.IntN(2) == 0 {
		return
	}
	s.After(time.Duration(rng.IntN(1500))*time.Millisecond, func() {
		if !w.faulting {
			return
		}
		w.logf("fault: every node but n%d crashes", a)
		var at time.Duration
		for i := 1; i <= w.n; i++ {
			if i != a {
				s.Crash(i)
			}
		}
		for _, i := range rng.Perm(w.n) {
			if i+1 != a {
				at += time.Duration(50+rng.IntN(500)) * time.Millisecond
				s.After(at, func() { w.restart(i + 1) })
			}
		}
	})
}

// stopMode is how the stand-in agents' stops behave on a node.
type stopMode int

const (
	stopOK   stopMode = iota
	stopFail          // a stop fails (the resource keeps running)
	stopHang          // a stop hangs until its timeout, then fails
)

func (m stopMode) String() string {
	return [...]string{"succeed", "fail", "hang"}[m]
}

// awayCoordinator: n1 (the lowest id, the coordinator of any view it is
// in) is down while an operator moves a group to another node X; once it
// runs there, X is cut off with stops that hang, and n1 starts again: it
// coordinates the next view, and only the other members' owner tables
// (their full reports) name X as the group's owner (G4).
func (w *simWorld) awayCoordinator() {
	s, rng := w.s, w.rng
	if w.n < 3 || len(w.groups) == 0 || s.Process(1) == nil {
		return
	}
	g := w.groups[rng.IntN(len(w.groups))]
	x := 2 + rng.IntN(w.n-1)
	w.logf("fault: n1 away while %s moves to n%d", g, x)
	w.quietUntil = s.Now() + 8*time.Second
	s.Crash(1)
	w.keepDown[1] = true
	s.After(time.Duration(500+rng.IntN(1000))*time.Millisecond, func() {
		for id := 2; id <= w.n; id++ {
			if nd := w.running(id); nd != nil {
				nd.request(func() {
					err := nd.move(g, fmt.Sprintf("n%d", x), 0)
					w.logf("operator: move %s to n%d through n%d: %v", g, x, id, err)
				})
				break
			}
		}
		s.After(time.Duration(1000+rng.IntN(1500))*time.Millisecond, func() {
			if !w.faulting {
				return
			}
			w.failStops[x] = stopHang
			w.logf("fault: n%d cut off, its stops hang; n1 starts again", x)
			s.Isolate(x)
			w.keepDown[1] = false
			w.restart(1)
			w.slowFence()
		})
	})
}

// slowFence, half the time, makes the fence devices hang for a few seconds
// (a slow power switch): what a cut-off owner runs must wait for its fence
// all that time, not only the takeover wait.
func (w *simWorld) slowFence() {
	if w.rng.IntN(2) == 0 {
		return
	}
	w.fenceMode = fenceHang
	w.logf("fault: fence devices hang")
	w.s.After(time.Duration(3000+w.rng.IntN(3000))*time.Millisecond, func() { w.fenceMode = fenceOK })
}
