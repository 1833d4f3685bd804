package bcast_test

import (
	"slices"
	"testing"
	"time"

	"github.com/corral-ha/corral/core/sim/simtest"
	"github.com/corral-ha/corral/core/wire"
)

// up returns the nodes that run, in id order.
func (w *world) up() []int {
	var ids []int
	for i := 1; i <= w.n; i++ {
		if w.s.Up(i) {
			ids = append(ids, i)
		}
	}
	return ids
}

// groupOf returns the up members of id's current (or coming) view.
func (w *world) groupOf(id int) []int {
	in := w.nodes[id].inc
	v := in.cur
	if in.next != (wire.ViewID{}) {
		v = in.next
	}
	var g []int
	for _, m := range w.views[v] {
		if w.s.Up(int(m)) && w.nodes[int(m)].inc.alive {
			g = append(g, int(m))
		}
	}
	return g
}

// fault injects one random fault and the view changes it causes.
func (w *world) fault() {
	up := w.up()
	var down []int
	for i := 1; i <= w.n; i++ {
		if !w.s.Up(i) {
			down = append(down, i)
		}
	}
	switch x := w.rng.IntN(100); {
	case x < 22 && len(up) > 1: // crash: the survivors of its view move on
		k := up[w.rng.IntN(len(up))]
		g := w.groupOf(k)
		w.s.Crash(k)
		w.nodes[k].inc.alive = false
		for o := 1; o <= w.n; o++ {
			if o != k {
				w.reset(k, o)
			}
		}
		w.changeView([][]int{slices.DeleteFunc(g, func(i int) bool { return i == k })}, 2)
	case x < 40 && len(down) > 0: // restart: a fresh node in a view of its own
		k := down[w.rng.IntN(len(down))]
		w.s.Restart(k)
		w.changeView([][]int{{k}}, 0)
	case x < 65 && len(up) > 1: // partition the running nodes in two, each side gets a view
		w.rng.Shuffle(len(up), func(i, j int) { up[i], up[j] = up[j], up[i] })
		cut := 1 + w.rng.IntN(len(up)-1)
		a, b := slices.Clone(up[:cut]), slices.Clone(up[cut:])
		w.s.Partition(a, b)
		for _, i := range a {
			for _, j := range b {
				w.reset(i, j)
			}
		}
		w.changeView([][]int{a, b}, 2)
	case x < 90: // heal and merge everyone running into one view
		w.s.Heal()
		w.changeView([][]int{up}, 2)
	case len(up) > 1: // a circuit flap inside a view: a gap the next view change repairs
		a := up[w.rng.IntN(len(up))]
		b := up[w.rng.IntN(len(up))]
		if a != b {
			w.reset(a, b)
		}
	}
}

// runScenario: a view of all nodes, chaos for a while, then the faults
// stop, every node is restarted if down and merged into one view, and the
// load stops; then everything must settle.
func runScenario(r *simtest.Run, n int) {
	w := newWorld(r, n)
	all := w.up()
	w.changeView([][]int{all}, 0)
	chaos := time.Duration(1000+w.rng.IntN(1500)) * time.Millisecond
	var loop func()
	loop = func() {
		if w.s.Now() >= chaos {
			return
		}
		if w.busy == 0 {
			w.fault()
		}
		w.s.After(time.Duration(40+w.rng.IntN(160))*time.Millisecond, loop)
	}
	w.s.After(50*time.Millisecond, loop)
	w.s.Run(chaos)
	w.s.RunUntil(func() bool { return w.busy == 0 }, time.Second)
	// Faults stop.
	w.s.Heal()
	for i := 1; i <= n; i++ {
		if !w.s.Up(i) {
			w.s.Restart(i)
		}
	}
	w.changeView([][]int{w.up()}, 0)
	w.s.Run(300 * time.Millisecond)
	w.sending = false
	w.s.Run(2 * time.Second)
	w.check()
}

// check verifies liveness and bounded memory once faults and load stopped
// (properties 3 and 5): every node is in the last view, holds nothing,
// waits for nothing, delivered (agreed and safe) everything it sent unless
// a partition it was cut from delivered it, and every node delivered the
// same messages in the last view.
func (w *world) check() {
	t := w.r
	for i := 1; i <= w.n; i++ {
		st := w.nodes[i].b.Status()
		t.Logf("n%d: %+v", i, st)
		for _, o := range sortedKeys(w.nodes[i].out) {
			q := w.nodes[i].out[o]
			if len(q) > 0 {
				t.Logf("  to n%d: %d unacked from %d, nxt %d; peer expects %d; gen %d", o, len(q), q[0].seq, w.nodes[i].nxt[o], w.nodes[o].exp[i], w.gen[pair(i, o)])
			}
		}
	}
	var last wire.ViewID
	var lastList []string
	for i := 1; i <= w.n; i++ {
		nd := w.nodes[i]
		st := nd.b.Status()
		if i == 1 {
			last = st.View.ID
		}
		if st.View.ID != last || len(st.View.Members) != w.n || st.Frozen {
			t.Fatalf("n%d: not settled in the last view: %+v", i, st)
		}
		if st.Kept != 0 || st.Pending != 0 || st.Early != 0 || st.Safe != st.Contiguous {
			t.Fatalf("n%d: not settled: %+v", i, st)
		}
		in := nd.inc
		for _, id := range in.sent {
			if (!in.got[id] || !in.gotSafe[id]) && !in.elsewhr[id] {
				t.Fatalf("self-delivery: n%d never delivered its own %v", i, id)
			}
		}
		var l []string
		for _, id := range in.agreed[last] {
			l = append(l, id.String())
		}
		if i > 1 && !slices.Equal(l, lastList) {
			t.Fatalf("liveness: n%d delivered %v in the last view, n1 %v", i, l, lastList)
		}
		lastList = l
	}
	t.Logf("n=%d: %d view changes, %d sent, %d delivered, sim %v, %+v", w.n, w.changes, len(w.sent), len(w.delivered), w.s.Now(), w.s.Stats())
	if w.changes < 2 {
		t.Fatalf("only %d view changes", w.changes)
	}
}

func TestSweep3(t *testing.T) {
	simtest.SweepSeeds(t, simtest.SeedsN(150), func(r *simtest.Run) { runScenario(r, 3) })
}

func TestSweep5(t *testing.T) {
	simtest.SweepSeeds(t, simtest.SeedsN(150), func(r *simtest.Run) { runScenario(r, 5) })
}

func TestDeterministic(t *testing.T) {
	simtest.Deterministic(t, 7, func(r *simtest.Run) { runScenario(r, 5) })
}
