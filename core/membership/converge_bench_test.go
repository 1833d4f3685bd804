package membership_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/corral-ha/corral/core/quorum"
	"github.com/corral-ha/corral/core/sim"
	"github.com/corral-ha/corral/core/sim/simtest"
)

// convergePartition is how long (simulated) the cluster stays split in two
// halves before the partition heals.
const convergePartition = 3 * time.Second

// convergeLimit bounds each simulated phase of BenchmarkConvergence; a run
// that needs longer fails with the cluster's state.
const convergeLimit = 60 * time.Second

// BenchmarkConvergence measures G7 on the simulator: n nodes (two links
// each, the clean DefaultNet LAN, majority) form one quorate view, are
// partitioned into two halves for 3 s of simulated time, then the partition
// heals. It reports the simulated time from the heal until every node is
// in one quorate view of all n nodes (sim-ms, mean and max over the runs),
// the wall time of that phase per run (wall-ms), and the simulated time
// the first formation took (form-sim-ms). Every step still checks G1 and
// G2 (the world of sim_test.go). Run it with -benchtime 1x (make bench);
// each further iteration uses the next seed.
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
// the first formation.
func convergeOnce(r *simtest.Run, n int) (simD, wallD, formD time.Duration) {
	w := newWorld(r, n, quorum.Majority, sim.DefaultNet(), false)
	quorate := func() bool { return w.converged(true) }
	if !w.s.RunUntil(quorate, convergeLimit) {
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
	if w.converged(false) {
		r.Fatalf("%d nodes still in one view after %v split in halves:%s", n, convergePartition, w.describe())
	}
	w.s.Heal()
	healed := w.s.Now()
	start := time.Now()
	if !w.s.RunUntil(quorate, convergeLimit) {
		r.Fatalf("%d nodes not in one quorate view %v after the partition healed:%s", n, convergeLimit, w.describe())
	}
	return w.s.Now() - healed, time.Since(start), formD
}
