package dlm

// A randomized run of the cluster harness (cluster_test.go): random
// locks, conversions, unlocks, cancels and force-unlocks on four nodes
// and four names, messages delivered in a random order (FIFO per pair),
// nodes killed and restarted, views with Release given at once or later.
// Checked at every step: G5 on what live clients believe (the harness),
// one completion per accepted operation, no blocking notice to a lock
// its client does not hold; at the end, with every node back, every
// operation completed and each resource has one master, the one its
// directory names. H5's sim_test.go is the full simulation; this one
// exercises the distribution's own paths quickly.
//
//	go test ./core/dlm -run TestClusterRandom -dlm.seeds=2000

import (
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/corral-ha/corral/core/wire"
)

var (
	randomSeeds = flag.Int("dlm.seeds", 150, "seeds for TestClusterRandom")
	randomSeed  = flag.Int64("dlm.seed", -1, "run TestClusterRandom with this seed only")
)

type rlock struct {
	ref     lref
	name    string
	pending bool // an accepted operation awaits its completion
	gr      Mode // what the client believes granted
}

func TestClusterRandom(t *testing.T) {
	first, n := int64(1), int64(*randomSeeds)
	if *randomSeed >= 0 {
		first, n = *randomSeed, 1
	}
	for seed := first; seed < first+n; seed++ {
		if !runRandom(t, seed) {
			t.Fatalf("seed %d failed; replay: go test ./core/dlm -run TestClusterRandom -dlm.seed=%d -v", seed, seed)
		}
	}
}

func runRandom(t *testing.T, seed int64) (ok bool) {
	rng := rand.New(rand.NewPCG(uint64(seed), 7))
	h := newHarness(t)
	h.cfg.DeadlockTimeout = 2 * time.Second
	h.cfg.Linger = 3 * time.Second
	nodes := []wire.NodeID{1, 2, 3, 4}
	for _, id := range nodes {
		h.newNode(id, nodes)
	}
	h.now = time.Second
	failed := false
	fail := func(format string, args ...any) {
		if !failed {
			t.Errorf("seed %d at %v: %s", seed, h.now, fmt.Sprintf(format, args...))
		}
		failed = true
	}
	locks := map[lref]*rlock{}
	h.onComplete = func(n wire.NodeID, c Completion) {
		l := locks[lref{n, c.ID}]
		if l == nil {
			fail("n%d: completion %+v of no lock", n, c)
			return
		}
		if c.Status == Lost {
			delete(locks, l.ref)
			return
		}
		if !l.pending {
			fail("n%d: completion %+v with nothing pending", n, c)
		}
		l.pending = false
		l.gr = c.Mode
		if c.Mode == IV {
			delete(locks, l.ref)
		}
	}
	h.onBast = func(n wire.NodeID, b Blocking) {
		l := locks[lref{n, b.ID}]
		if l == nil || l.gr == IV {
			fail("n%d: blocking notice %+v to a lock not held", n, b)
		}
	}
	var epoch uint64
	restarted := map[wire.NodeID]bool{}
	var cutNode wire.NodeID // a node cut off from the others, alive
	cutLost := false        // and told it lost its locks (no fence device covers it)
	giveView := func(release bool) {
		epoch++
		var members, rel []wire.NodeID
		for _, id := range nodes {
			switch {
			case id == cutNode:
				if cutLost {
					rel = append(rel, id) // released after the lease wait
				}
			case h.alive[id]:
				members = append(members, id)
			default:
				rel = append(rel, id)
			}
		}
		for id := range restarted {
			rel = append(rel, id)
		}
		slices.Sort(rel)
		if len(members) == 0 {
			return
		}
		if !release {
			rel = nil
		} else {
			restarted = map[wire.NodeID]bool{}
		}
		v := View{ID: wire.ViewID{Epoch: epoch, Coord: members[0]}, Members: members, Primary: len(members) >= 3, Release: rel}
		if *randomSeed >= 0 && testing.Verbose() {
			fmt.Printf("%v: view %+v\n", h.now, v)
		}
		h.giveView(v, members)
	}
	giveView(true)
	names := []string{"A", "B", "C", "D"}
	modes := []Mode{NL, CR, CW, PR, PW, EX}
	pick := func() *rlock {
		ls := sortedRLocks(locks)
		if len(ls) == 0 {
			return nil
		}
		return ls[rng.IntN(len(ls))]
	}
	aliveNodes := func() []wire.NodeID {
		var out []wire.NodeID
		for _, id := range nodes {
			if h.alive[id] {
				out = append(out, id)
			}
		}
		return out
	}
	pendingView := false
	asks := map[uint64]wire.NodeID{}
	h.onAnswer = func(n wire.NodeID, a Answer) {
		if asks[a.Tag] != n {
			fail("n%d: answer %d never asked or twice", n, a.Tag)
		}
		delete(asks, a.Tag)
	}
	trace := func(format string, args ...any) {
		if *randomSeed >= 0 && testing.Verbose() {
			fmt.Printf("%v: %s\n", h.now, fmt.Sprintf(format, args...))
		}
	}
	if *randomSeed >= 0 && testing.Verbose() {
		h.onDeliver = func(p pair, m msg) {
			trace("deliver %d->%d %v %s id=%d seq=%d mode=%v status=%v view=%d", p.from, p.to, m.kind, m.name, m.id, m.seq, m.mode, m.status, m.view.Epoch)
		}
		h.onEvent = func(n wire.NodeID, e Recovered) {
			trace("n%d recovered %v members=%v purged=%v base-was=%v", n, e.View.Epoch, e.Members, e.Purged, e.Purged)
		}
		prev := h.onComplete
		h.onComplete = func(n wire.NodeID, c Completion) { trace("n%d completion %+v", n, c); prev(n, c) }
	}
	for step := 0; step < 400 && !failed; step++ {
		switch x := rng.IntN(100); {
		case x < 25: // a new lock
			al := aliveNodes()
			n := al[rng.IntN(len(al))]
			r := Request{Name: names[rng.IntN(len(names))], Mode: modes[rng.IntN(len(modes))], Owner: Owner{Node: n, ID: uint64(rng.IntN(3) + 1)}}
			if rng.IntN(4) == 0 {
				r.Flags |= NoQueue
			}
			if rng.IntN(3) == 0 {
				r.Flags |= ValBlk
			}
			id, err := h.nodes[n].Lock(h.now, r)
			if err != nil {
				fail("lock %+v: %v", r, err)
				break
			}
			ref := lref{n, id}
			h.owners[ref] = r.Owner
			trace("n%d lock %d %+v", n, id, r)
			locks[ref] = &rlock{ref: ref, name: r.Name, pending: true, gr: IV}
			h.names[ref] = rname{ls: defaultLockspace, name: r.Name}
		case x < 40: // convert, unlock, cancel, force-unlock
			l := pick()
			if l == nil || !h.alive[l.ref.node] {
				break
			}
			d := h.nodes[l.ref.node]
			switch y := rng.IntN(10); {
			case y < 4 && !l.pending && l.gr != IV:
				r := Request{Name: l.name, Mode: modes[rng.IntN(len(modes))], Flags: Convert, ID: l.ref.id}
				if rng.IntN(4) == 0 {
					r.Flags |= NoQueue
				}
				if rng.IntN(3) == 0 {
					r.Flags |= ValBlk
					r.LVB = make([]byte, DefaultLVB)
					r.LVB[0] = byte(rng.IntN(256))
				}
				trace("convert %v %v flags=%v", l.ref, r.Mode, r.Flags)
				if _, err := d.Lock(h.now, r); err != nil {
					fail("convert %v: %v", l.ref, err)
				}
				l.pending = true
			case y < 7 && !l.pending:
				trace("unlock %v", l.ref)
				if err := d.Unlock(h.now, l.ref.id, 0, nil); err != nil {
					fail("unlock %v: %v", l.ref, err)
				}
				l.pending = true
			case y < 9 && l.pending:
				trace("cancel %v", l.ref)
				if err := d.Unlock(h.now, l.ref.id, Cancel, nil); err != nil && !isBusy(err) {
					fail("cancel %v: %v", l.ref, err)
				}
			default:
				trace("force unlock %v", l.ref)
				if err := d.Unlock(h.now, l.ref.id, ForceUnlock, nil); err != nil {
					fail("force unlock %v: %v", l.ref, err)
				}
				l.pending = true
			}
		case x < 80: // deliver a few messages
			for range rng.IntN(6) + 1 {
				h.collect()
				var ps []pair
				for p, q := range h.q {
					if len(q) > 0 {
						ps = append(ps, p)
					}
				}
				if len(ps) == 0 {
					break
				}
				slices.SortFunc(ps, func(a, b pair) int {
					if a.from != b.from {
						return int(a.from) - int(b.from)
					}
					return int(a.to) - int(b.to)
				})
				p := ps[rng.IntN(len(ps))]
				m := h.q[p][0]
				h.q[p] = h.q[p][1:]
				h.deliver(p, m)
			}
		case x < 88: // time
			h.now += time.Duration(rng.IntN(1000)+1) * time.Millisecond
			for _, id := range aliveNodes() {
				h.nodes[id].Tick(h.now)
			}
		case x < 91: // kill a node
			al := aliveNodes()
			if len(al) < 2 {
				break
			}
			k := al[rng.IntN(len(al))]
			if k == cutNode {
				cutNode = 0 // fenced
				h.cut = map[pair]bool{}
			}
			h.alive[k] = false
			trace("kill %d", k)
			for tag, an := range asks {
				if an == k {
					delete(asks, tag) // its asker died with it
				}
			}
			for p := range h.q {
				if p.from == k || p.to == k {
					delete(h.q, p)
				}
			}
			for ref := range locks {
				if ref.node == k {
					delete(locks, ref)
				}
			}
			pendingView = true
		case x < 94: // restart a dead node
			for _, id := range nodes {
				if !h.alive[id] {
					h.newNode(id, nodes)
					trace("restart %d", id)
					restarted[id] = true
					for ref := range h.believed {
						if ref.node == id {
							delete(h.believed, ref)
						}
					}
					pendingView = true
					break
				}
			}
		case x < 96: // cut a node off (it stays alive), or end the cut
			if cutNode == 0 {
				al := aliveNodes()
				if len(al) < 3 {
					break
				}
				cutNode = al[rng.IntN(len(al))]
				cutLost = rng.IntN(2) == 0
				for _, o := range nodes {
					if o != cutNode {
						h.cut[pair{cutNode, o}] = true
						h.cut[pair{o, cutNode}] = true
						delete(h.q, pair{cutNode, o})
						delete(h.q, pair{o, cutNode})
					}
				}
				epoch++
				v := View{ID: wire.ViewID{Epoch: epoch, Coord: cutNode}, Members: []wire.NodeID{cutNode}, Lost: cutLost}
				trace("cut %d lost=%v", cutNode, cutLost)
				h.giveView(v, []wire.NodeID{cutNode})
				pendingView = true
			} else {
				trace("heal %d", cutNode)
				cutNode = 0
				h.cut = map[pair]bool{}
				pendingView = true
			}
		case x < 97: // an owner's session closes (its locks go, silently), or an Ask
			al := aliveNodes()
			n := al[rng.IntN(len(al))]
			if rng.IntN(2) == 0 {
				tag := uint64(step + 1)
				asks[tag] = n
				if err := h.nodes[n].Step(h.now, Ask{Tag: tag}); err != nil {
					fail("ask: %v", err)
				}
				break
			}
			o := Owner{Node: n, ID: uint64(rng.IntN(3) + 1)}
			trace("purge %+v", o)
			if err := h.nodes[n].Step(h.now, PurgeOwner{Owner: o}); err != nil {
				fail("purge: %v", err)
			}
			for ref, l := range locks {
				if ref.node == n && h.owners[ref] == o {
					delete(locks, ref)
					delete(h.believed, ref)
					_ = l
				}
			}
		default: // the view catches up, maybe releasing later
			if pendingView {
				giveView(rng.IntN(3) > 0)
				pendingView = false
			} else if rng.IntN(2) == 0 {
				giveView(true)
			}
		}
		h.collect()
		h.checkG5()
	}
	if failed {
		return false
	}
	// Faults stop: every node back, one view releasing every departed
	// incarnation, time passes (deadlocks are broken).
	cutNode = 0
	h.cut = map[pair]bool{}
	for _, id := range nodes {
		if !h.alive[id] {
			h.newNode(id, nodes)
			restarted[id] = true
		}
	}
	giveView(true)
	h.stabilize()
	// Clients let go of what they hold, so every waiter gets its turn.
	for range 30 {
		h.now += time.Second
		for _, id := range nodes {
			h.nodes[id].Tick(h.now)
		}
		h.stabilize()
		for _, l := range sortedRLocks(locks) {
			if !l.pending && l.gr != IV {
				if err := h.nodes[l.ref.node].Unlock(h.now, l.ref.id, 0, nil); err != nil {
					fail("final unlock %v: %v", l.ref, err)
				}
				l.pending = true
			}
		}
		h.stabilize()
	}
	if len(asks) > 0 {
		fail("asks never answered: %v", asks)
	}
	for _, l := range locks {
		if l.pending {
			fail("%v on %s: operation never completed", l.ref, l.name)
			if testing.Verbose() {
				dumpCluster(t, h)
			}
		}
	}
	// One master per resource with locks, the one its directory names.
	masters := map[rname][]wire.NodeID{}
	for _, id := range nodes {
		for rn, mr := range h.nodes[id].mast {
			if !mr.r.empty() {
				masters[rn] = append(masters[rn], id)
			}
		}
	}
	for rn, ms := range masters {
		if len(ms) != 1 {
			fail("%s mastered by %v", rn.name, ms)
			continue
		}
		dn := dirNode(nodes, rn.ls, rn.name)
		if got := h.nodes[dn].dir[rn]; got != ms[0] {
			fail("%s mastered by %d, its directory n%d says %d", rn.name, ms[0], dn, got)
		}
	}
	return !failed && !t.Failed()
}

func isBusy(err error) bool {
	return err != nil && errors.Is(err, ErrBusy)
}

func sortedRLocks(locks map[lref]*rlock) []*rlock {
	var ls []*rlock
	for _, l := range locks {
		ls = append(ls, l)
	}
	slices.SortFunc(ls, func(a, b *rlock) int { return cmpKey(lkey{a.ref.node, a.ref.id}, lkey{b.ref.node, b.ref.id}) })
	return ls
}

// dumpCluster prints every node's state (a failing seed's replay with -v).
func dumpCluster(t *testing.T, h *harness) {
	for _, n := range h.sortedNodes() {
		d := h.nodes[n]
		fmt.Printf("n%d alive=%v view=%v running=%v rec=%v base=%v members=%v\n", n, h.alive[n], d.view, d.running, d.rec != nil, d.base, d.members)
		for _, p := range d.sortedLocks() {
			fmt.Printf("  lock %d %s gr=%v mgr=%v pend=%+v todo=%d sent=%d unl=%v\n", p.id, p.rn.name, p.gr, p.mgr, p.pend, len(p.todo), len(p.sent), p.unlocking)
			for _, o := range p.sent {
				fmt.Printf("     sent %+v\n", *o)
			}
			for _, o := range p.todo {
				fmt.Printf("     todo %+v\n", *o)
			}
		}
		for rn, pn := range d.names {
			fmt.Printf("  name %s master=%d known=%v looking=%v\n", rn.name, pn.master, pn.known, pn.looking)
		}
		for _, r := range d.masterInfos("") {
			fmt.Printf("  %s\n", infoString(r))
		}
		for rn, m := range d.dir {
			fmt.Printf("  dir %s -> %d\n", rn.name, m)
		}
	}
}
