package node

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/corral-ha/corral/core/cdb"
	"github.com/corral-ha/corral/core/sim/simtest"
	"github.com/corral-ha/corral/core/wire"
)

// TestCDBInstallFailure: when bcast cannot install a view that membership
// installs (here a plan that does not decode, on n3), the config DB does
// not stay settled on the old view: it refuses writes saying why, even
// though membership counts the view quorate; the next view brings it back
// with every acknowledged update.
func TestCDBInstallFailure(t *testing.T) {
	base := t.TempDir()
	simtest.SweepSeeds(t, simtest.SeedsN(5), func(r *simtest.Run) {
		w := newCDBWorld(r, filepath.Join(base, fmt.Sprint(r.Seed)), 3, false, false)
		defer w.close()
		defer os.RemoveAll(w.dir)
		w.allowErr = "could not install the view"
		if !w.s.RunUntil(w.converged, 30*time.Second) {
			r.Fatalf("no first view")
		}
		first := w.node[3].n.mem.Status().View.ID
		failed := wire.ViewID{}
		w.failInstall = func(id int, v wire.View) bool {
			if id == 3 && failed == (wire.ViewID{}) && v.ID != first {
				failed = v.ID
				return true
			}
			return false
		}
		w.load = false // quiet: the writes below are this test's
		w.s.Crash(2)
		n3 := w.node[3]
		if !w.s.RunUntil(func() bool {
			return failed != (wire.ViewID{}) && n3.n.cdb.cur == failed && n3.n.mem.Quorate(n3.h.Now())
		}, 30*time.Second) {
			r.Fatalf("n3 never installed a quorate view whose bcast install failed (failed %v, cdb at %v)", failed, n3.n.cdb.cur)
		}
		ch := make(chan cdbReply, 1)
		err := n3.n.cdbPropose(n3.h.Now(), "api:t", 1, 0, nil, []cdb.Op{{Kind: cdb.OpPut, Key: "/x", Value: []byte("1")}}, ch)
		if err == nil || !strings.Contains(err.Error(), "could not install view") {
			r.Fatalf("a write on n3 in view %v that bcast did not install: %v, want a refusal saying so", failed, err)
		}
		if !n3.n.cdb.db.Stale() {
			r.Fatalf("n3's reads are not stale in a view bcast did not install")
		}
		// the next view (n2 back) heals it
		w.failInstall = nil
		w.s.Restart(2)
		if !w.s.RunUntil(w.converged, 60*time.Second) {
			r.Fatalf("no settled view of three after n2 came back")
		}
		w.load = true
		if !w.s.RunUntil(func() bool { return w.stats.acked >= 3 }, 30*time.Second) {
			r.Fatalf("no writes after the failed install")
		}
		w.load = false
		if !w.s.RunUntil(func() bool { return !w.busy() }, 30*time.Second) {
			r.Fatalf("requests never answered")
		}
		if !w.s.RunUntil(w.converged, 30*time.Second) {
			r.Fatalf("no settled view at the end")
		}
		w.final()
	})
}
