package stack_test

import (
	"strings"
	"testing"
	"time"

	"github.com/corral-ha/corral/core/cdb"
	"github.com/corral-ha/corral/core/quorum"
	"github.com/corral-ha/corral/core/sim/simtest"
	"github.com/corral-ha/corral/core/wire"
)

// TestSimInstallFailure (core/node's TestCDBInstallFailure, onto the
// stack): when bcast cannot install a view that membership installs (here
// a plan that does not decode, on n3), the config DB does not stay settled
// on the old view: it refuses writes saying why, even though membership
// counts the view quorate; the next view brings it back with every
// acknowledged update. Three nodes, majority, no faults but the crash of
// n2 that makes the view whose install fails.
func TestSimInstallFailure(t *testing.T) {
	if testing.Short() {
		t.Skip("a simulation")
	}
	simtest.SweepSeeds(t, simtest.SeedsN(5), func(r *simtest.Run) {
		w := newSimWorldWith(r, func(w *simWorld) {
			w.n, w.policy, w.witness = 3, "majority", nil
			w.qc = quorum.Config{Votes: map[wire.NodeID]int{1: 1, 2: 1, 3: 1}, Policy: quorum.Majority}
			w.shape = "install failure: 3 nodes, majority"
		})
		w.allowErr = "could not install the view"
		if !w.s.RunUntil(w.sampled(w.converged), 30*time.Second) {
			w.fatalf("no first view:%s", w.describe())
		}
		n3 := w.nodes[3]
		first := n3.view.ID
		failed := wire.ViewID{}
		n3.st.SimMangle(func(v wire.View, plan []byte) []byte {
			if failed == (wire.ViewID{}) && v.ID != first {
				failed = v.ID
				return plan[:1]
			}
			return plan
		})
		w.load = false // quiet: the writes below are this test's
		w.s.Crash(2)
		if !w.s.RunUntil(func() bool {
			return failed != (wire.ViewID{}) && n3.st.InstalledView() == failed && n3.quorate()
		}, 30*time.Second) {
			w.fatalf("n3 never installed a quorate view whose bcast install failed (failed %v, cdb at %v)", failed, n3.st.InstalledView())
		}
		err := n3.st.Propose(n3.h.Now(), cdb.Request{Client: "api:t", Seq: 1, Then: []cdb.Op{{Kind: cdb.OpPut, Key: "/x", Value: []byte(`"1"`)}}})
		if err == nil || !strings.Contains(err.Error(), "could not install") {
			w.fatalf("a write on n3 in view %v that bcast did not install: %v, want a refusal saying so", failed, err)
		}
		if !n3.db().Stale() {
			w.fatalf("n3's reads are not stale in a view bcast did not install")
		}
		// the next view (n2 back) heals it
		n3.st.SimMangle(nil)
		w.s.Restart(2)
		if !w.s.RunUntil(w.sampled(w.converged), 60*time.Second) {
			w.fatalf("no settled view of three after n2 came back:%s", w.describe())
		}
		acked := w.stats.acked
		w.load = true
		if !w.s.RunUntil(func() bool { return w.stats.acked >= acked+3 }, 30*time.Second) {
			w.fatalf("no writes after the failed install")
		}
		w.load = false
		if !w.s.RunUntil(func() bool { return !w.clientsBusy() }, 30*time.Second) {
			w.fatalf("requests never answered")
		}
		w.settle()
		w.checkHistory()
	})
}
