package stack_test

import (
	"testing"
	"time"

	"github.com/corral-ha/corral/core/cdb"
	"github.com/corral-ha/corral/core/quorum"
	"github.com/corral-ha/corral/core/sim/simtest"
	"github.com/corral-ha/corral/core/wire"
)

// TestSimReadMinorityCoordinator (R1): the coordinator of a three-node
// view is cut off; the other two form a primary view and commit a write;
// reads then begun on the old coordinator, again and again until it
// leaves the old view, must each see that write or be refused (it holds
// no lease: core/cdb "Linearizable reads"). This is the one place where
// the read path's lease checks (Read, ReadRound on the reader and on the
// coordinator) are all that stand between a client and a stale value:
// the random sweep (TestSimulation, 30 seeds) does not catch their
// removal (all three at once); this scenario does (seed 3: "linearizable
// read: r1 read 2 of /a ... served at revision 1 ... but api:r1 seq 1
// returned revision 5 ... before it began"). Without the mutation every
// read begun on the cut-off node is refused (no quorum).
func TestSimReadMinorityCoordinator(t *testing.T) {
	if testing.Short() {
		t.Skip("a simulation")
	}
	simtest.SweepSeeds(t, simtest.SeedsN(3), func(r *simtest.Run) {
		w := newSimWorldWith(r, func(w *simWorld) {
			w.n, w.policy, w.witness = 3, "majority", nil
			w.qc = quorum.Config{Votes: map[wire.NodeID]int{1: 1, 2: 1, 3: 1}, Policy: quorum.Majority}
			w.shape = "read on a cut-off coordinator: 3 nodes, majority"
		})
		w.load = false
		if !w.s.RunUntil(w.sampled(w.converged), 30*time.Second) {
			w.fatalf("no first view:%s", w.describe())
		}
		co := int(w.nodes[1].view.ID.Coord)
		var a int
		for id := 1; id <= 3; id++ {
			if id != co {
				a = id
				break
			}
		}
		w.rd = newSimReadWorld(r.Seed)
		w.s.Isolate(co)
		na := w.nodes[a]
		if !w.s.RunUntil(func() bool { return na.quorate() && !na.db().Stale() && na.view.ID.Coord != wire.NodeID(co) }, 30*time.Second) {
			w.fatalf("the majority formed no quorate view without n%d:%s", co, w.describe())
		}
		na.request(func() {
			if err := na.st.Propose(na.h.Now(), cdb.Request{Client: "api:r1", Seq: 1, Then: []cdb.Op{{Kind: cdb.OpPut, Key: "/a", Value: []byte(`"new"`)}}}); err != nil {
				w.fatalf("write on n%d: %v", a, err)
			}
		})
		var rev uint64
		if !w.s.RunUntil(func() bool {
			for id := 1; id <= 3; id++ {
				if id == co {
					continue
				}
				kv, found, _ := w.nodes[id].db().Get("/a")
				if !found || string(kv.Value) != `"new"` {
					return false
				}
				rev = kv.ModRev
			}
			return true
		}, 30*time.Second) {
			w.fatalf("the majority never committed the write:%s", w.describe())
		}
		// committed on every member of the majority's view: acknowledgeable
		w.writeReturned("api:r1", 1, rev)
		rd := &simReader{name: "r1", key: "/a"}
		w.rd.readers = []*simReader{rd}
		var begun, refused int
		end := w.s.Now() + 3*time.Second
		for w.s.Now() < end {
			if rd.id != 0 && (rd.on == nil || !rd.on.live()) {
				rd.id, rd.on = 0, nil // the node stopped (self-fence, restart)
			}
			old := w.running(co)
			if rd.id == 0 && old != nil {
				w.rd.nextID++
				rd.id, rd.on, rd.inv = w.rd.nextID, old, w.s.Now()
				rid := rd.id
				old.request(func() {
					if err := old.st.CDBRead(old.h.Now(), rid); err != nil {
						refused++
						rd.id, rd.on = 0, nil
						return
					}
					begun++
				})
			}
			w.s.Run(20 * time.Millisecond)
		}
		r.Logf("reads on the cut-off n%d: %d begun, %d refused, %d served, %d failed", co, begun, refused, w.rd.served, w.rd.failed)
	})
}
