package disk

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/corral-ha/corral/core/wire"
)

var randomSeeds = flag.Int("disk.random", 100, "TestRandomCluster: how many seeds")

// TestRandomCluster drives the cluster harness with random faults
// (views, kills and restarts, held and dropped messages, servers moving,
// IO completed late or failed, time passing) and checks that every
// request a live incarnation submitted is answered exactly once, and
// that once everything heals (one server, every node in a primary view,
// the network whole) every one is answered. Failures print the seed:
// go test ./core/disk/ -run TestRandomCluster -disk.random=N.
func TestRandomCluster(t *testing.T) {
	for seed := 1; seed <= *randomSeeds; seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) { randomRun(t, uint64(seed)) })
	}
}

func randomRun(t *testing.T, seed uint64) {
	r := rand.New(rand.NewPCG(seed, 99))
	h := newHarness(t)
	h.cfg.Retry = 30 * time.Second
	h.cfg.Window = 1 + r.IntN(4)
	const n = 3
	h.sizes["d"] = 4 << 20
	h.store["d"] = make([]byte, 4<<20)
	type key struct {
		n    wire.NodeID
		boot uint32
		id   uint64
	}
	pending := map[key]bool{}
	h.onDone = func(nd wire.NodeID, d Done) {
		k := key{nd, h.boot[nd], d.ID}
		if !pending[k] {
			t.Fatalf("seed %d: n%d: Done for id %d not pending (twice?)", seed, nd, d.ID)
		}
		delete(pending, k)
	}
	for i := 1; i <= n; i++ {
		h.boot[wire.NodeID(i)] = 1
		h.newCore(wire.NodeID(i))
	}
	all := []wire.NodeID{1, 2, 3}
	epoch := uint64(0)
	server := wire.NodeID(0)
	newView := func(members []wire.NodeID, primary bool) {
		v := View{ID: wire.ViewID{Epoch: h.view.ID.Epoch + 1, Coord: members[0]}, Primary: primary}
		for _, m := range members {
			v.Members = append(v.Members, h.inc(m))
		}
		h.view = v
		h.giveView(members)
	}
	newView(all, true)
	serve := func(nd wire.NodeID) {
		if server != 0 && h.alive[server] {
			_ = h.nodes[server].Step(h.now, Unserve{Disk: "d"})
			h.completeAll(server, OK) // the driver's stop waits for its IO
		}
		epoch++
		server = nd
		if err := h.nodes[nd].Step(h.now, Serve{Disk: "d", Epoch: epoch}); err != nil {
			t.Fatal(err)
		}
	}
	serve(1)
	var id uint64
	for step := 0; step < 300; step++ {
		nd := all[r.IntN(n)]
		switch x := r.IntN(100); {
		case x < 40:
			if !h.alive[nd] {
				break
			}
			id++
			req := Request{ID: id, Disk: "d", Op: Op(1 + r.IntN(5)), Off: uint64(r.IntN(64)) * 4096, Len: uint32(1 + r.IntN(300000))}
			if r.IntN(4) == 0 {
				req.Len = uint32(1 + r.IntN(100))
			}
			if req.Op == OpWrite {
				req.Data = make([]byte, req.Len)
			}
			if err := h.nodes[nd].Submit(h.now, req); err == nil {
				pending[key{nd, h.boot[nd], id}] = true
			}
		case x < 55:
			for h.collect() {
			}
			for k := 0; k < 1+r.IntN(6); k++ {
				h.deliverOne()
				for h.collect() {
				}
			}
		case x < 62:
			h.manual[nd] = !h.manual[nd]
		case x < 68:
			if len(h.ios[nd]) > 0 {
				i := r.IntN(len(h.ios[nd]))
				io := h.ios[nd][i]
				h.ios[nd] = append(h.ios[nd][:i], h.ios[nd][i+1:]...)
				e := OK
				if r.IntN(8) == 0 {
					e = EIO
				}
				h.complete(nd, io, e)
			}
		case x < 74:
			var ms []wire.NodeID
			for _, m := range all {
				if h.alive[m] && (m == nd || r.IntN(4) > 0) {
					ms = append(ms, m)
				}
			}
			if len(ms) > 0 {
				newView(ms, r.IntN(5) > 0)
			}
		case x < 78:
			p := pair{nd, all[r.IntN(n)]}
			if p.from != p.to {
				h.held[p] = !h.held[p]
			}
		case x < 80:
			p := pair{nd, all[r.IntN(n)]}
			if len(h.q[p]) > 0 {
				h.q[p] = h.q[p][1:]
			}
		case x < 83:
			if h.alive[nd] {
				serve(nd)
			}
		case x < 85:
			if h.alive[nd] && nd != server {
				for k := range pending {
					if k.n == nd {
						delete(pending, k)
					}
				}
				h.alive[nd] = false
				h.ios[nd] = nil
				for p := range h.q {
					if p.from == nd || p.to == nd {
						delete(h.q, p)
					}
				}
			} else if !h.alive[nd] {
				h.boot[nd]++
				h.newCore(nd)
				h.viewIDs[nd] = wire.ViewID{}
			}
		default:
			h.now += time.Duration(r.IntN(5000)) * time.Millisecond
			for _, m := range all {
				if h.alive[m] {
					h.nodes[m].Tick(h.now)
				}
			}
		}
	}
	// Heal: every node alive, the network whole, IO automatic, one
	// primary view of all, the server kept if it lives. Then, with no
	// time passing (no retry deadline helps), every request is answered
	// and a new write of each node is answered OK.
	for _, m := range all {
		if !h.alive[m] {
			h.boot[m]++
			h.newCore(m)
			h.viewIDs[m] = wire.ViewID{}
		}
		h.manual[m] = false
	}
	h.held = map[pair]bool{}
	h.stabilize()
	newView(all, true)
	if !h.nodes[server].Status()[0].Serving {
		serve(all[r.IntN(n)])
	}
	h.stabilize()
	fresh := map[key]bool{}
	for _, m := range all {
		id++
		if err := h.nodes[m].Submit(h.now, Request{ID: id, Disk: "d", Op: OpWrite, Off: 0, Len: 1, Data: []byte{1}}); err != nil {
			t.Fatal(err)
		}
		k := key{m, h.boot[m], id}
		pending[k], fresh[k] = true, true
	}
	h.onDone = func(nd wire.NodeID, d Done) {
		k := key{nd, h.boot[nd], d.ID}
		if !pending[k] {
			t.Fatalf("seed %d: n%d: Done for id %d not pending (twice?)", seed, nd, d.ID)
		}
		if fresh[k] && d.Err != OK {
			t.Fatalf("seed %d: n%d: a write after the heal: %v", seed, nd, d.Err)
		}
		delete(pending, k)
	}
	h.stabilize()
	for k := range pending {
		if k.boot == h.boot[k.n] {
			t.Fatalf("seed %d: n%d: request %d never answered", seed, k.n, k.id)
		}
	}
	h.out.Reset()
}
