package membership_test

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/corral-ha/corral/core/quorum"
	"github.com/corral-ha/corral/core/sim"
	"github.com/corral-ha/corral/core/sim/simtest"
	"github.com/corral-ha/corral/core/wire"
)

// convergePartition is how long (simulated) the cluster stays split in two
// halves before the partition heals.
const convergePartition = 3 * time.Second

// convergeLimit bounds each simulated phase of BenchmarkConvergence; a run
// that needs longer fails with the cluster's state.
const convergeLimit = 60 * time.Second

// BenchmarkConvergence measures G7 on the simulator: n nodes (majority,
// the clean DefaultNet LAN; two links each, one above 64 nodes) form one
// quorate view, are partitioned into two halves for 3 s of simulated time,
// then the partition heals. It reports the simulated time from the heal
// until every node is in one quorate view of all n nodes (sim-ms, mean and
// max over the runs), the wall time of that phase per run (wall-ms), and
// the simulated time the first formation took (form-sim-ms). It runs the
// world of sim_test.go with G2 checked every 5 ms of simulated time rather
// than after every step (newBenchWorld). Run it with -benchtime 1x (make
// bench); each further iteration uses the next seed.
//
// Every membership input (each report, lease request and lease ack) runs
// the coordinator's greedy rule over all pairs of candidates, so one
// heartbeat round costs O(n⁴) across the cluster: above 16 nodes a run
// gets a wall budget (convergeWallBudget) and is skipped with how far it
// got when the budget runs out.
func BenchmarkConvergence(b *testing.B) {
	for _, n := range []int{16, 64, 256} {
		b.Run(fmt.Sprintf("nodes=%d", n), func(b *testing.B) {
			var simSum, simMax, wallSum, formSum time.Duration
			runs := 0
			for i := 0; b.Loop(); i++ {
				simtest.Check(b, int64(i+1), func(r *simtest.Run) {
					simD, wallD, formD := convergeOnce(r, n)
					simSum += simD
					wallSum += wallD
					formSum += formD
					simMax = max(simMax, simD)
					runs++
				})
				if b.Failed() {
					return
				}
			}
			ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
			b.ReportMetric(ms(simSum)/float64(runs), "sim-ms")
			b.ReportMetric(ms(simMax), "max-sim-ms")
			b.ReportMetric(ms(wallSum)/float64(runs), "wall-ms")
			b.ReportMetric(ms(formSum)/float64(runs), "form-sim-ms")
		})
	}
}

// convergeOnce forms an n-node cluster, splits it in two halves for
// convergePartition, heals it and returns the simulated time to converge
// after the heal, the wall time of that phase, and the simulated time of
// the first formation. When the wall budget runs out first it skips the
// benchmark and says how far the simulation got.
func convergeOnce(r *simtest.Run, n int) (simD, wallD, formD time.Duration) {
	links := 2
	if n > 64 {
		links = 1 // every node heartbeats every path: n²·links² paths
	}
	w := newBenchWorld(r, n, links)
	budget := convergeWallBudget(n)
	began := time.Now()
	over := func() bool { return budget > 0 && time.Since(began) > budget }
	quorate := func() bool { return w.converged(true) || over() }
	outOfTime := func(phase string) {
		if over() {
			r.Skipf("%d nodes, %d link(s): out of the %v wall budget while %s, at %v of simulated time (%d events); "+
				"set CORRAL_CONVERGE_WALL to allow more", n, links, budget, phase, w.s.Now(), w.s.Stats().Events)
		}
	}
	ok := w.s.RunUntil(quorate, convergeLimit)
	outOfTime("forming the first view")
	if !ok {
		r.Fatalf("%d nodes did not form one quorate view in %v:%s", n, convergeLimit, w.describe())
	}
	formD = w.s.Now()
	var lo, hi []int
	for i := 1; i <= n; i++ {
		if i <= n/2 {
			lo = append(lo, i)
		} else {
			hi = append(hi, i)
		}
	}
	w.s.Partition(lo, hi)
	w.s.Run(convergePartition)
	outOfTime("partitioned")
	if w.converged(false) {
		r.Fatalf("%d nodes still in one view after %v split in halves:%s", n, convergePartition, w.describe())
	}
	w.s.Heal()
	healed := w.s.Now()
	start := time.Now()
	ok = w.s.RunUntil(quorate, convergeLimit)
	outOfTime("converging after the heal")
	if !ok {
		r.Fatalf("%d nodes not in one quorate view %v after the partition healed:%s", n, convergeLimit, w.describe())
	}
	return w.s.Now() - healed, time.Since(start), formD
}

// convergeWallBudget is the wall time one run of n nodes may take: none
// up to 16 nodes (go test's -timeout applies), 5 minutes up to 64, 60 s
// above, where every membership input costs O(n²) (see
// BenchmarkConvergence); the
// environment variable CORRAL_CONVERGE_WALL (a duration, 0 for none)
// overrides it.
func convergeWallBudget(n int) time.Duration {
	if s := os.Getenv("CORRAL_CONVERGE_WALL"); s != "" {
		if d, err := time.ParseDuration(s); err == nil {
			return d
		}
	}
	switch {
	case n > 64:
		return 60 * time.Second
	case n > 16:
		return 5 * time.Minute
	}
	return 0
}

// newBenchWorld is newWorld (majority, DefaultNet) with links per node and
// a lighter check of G2: the world's drain checks every node's Quorate
// after every step of every node, O(n) quorum decisions per event, which
// dominates the run at 32 nodes and more; here G2 is checked every 5 ms
// of simulated time instead. G1 is still checked at every install.
func newBenchWorld(r *simtest.Run, n, links int) *world {
	w := &world{t: r, n: n, nodes: map[int]*mnode{}, views: map[wire.ViewID]viewRec{}}
	w.qc = quorum.Config{Votes: map[wire.NodeID]int{}, Policy: quorum.Majority, Window: 10 * time.Second}
	for i := 1; i <= n; i++ {
		w.qc.Votes[wire.NodeID(i)] = 1
	}
	w.links, w.periodic = links, true
	w.s = r.New(sim.Config{Nodes: n, Links: links, Net: sim.DefaultNet()}, w.factory)
	var check func()
	check = func() {
		w.checkActing()
		w.s.After(5*time.Millisecond, check)
	}
	w.s.After(5*time.Millisecond, check)
	return w
}
