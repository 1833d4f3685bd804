package dlm_test

// Benchmarks of lock+unlock through the public API (make bench):
// locally mastered (no message; goal <= 5 us per lock+unlock at p50) and
// with the master on the other node of an in-process pair (messages
// handed over at once: the DLM's own cost of a remote round, no network).
// Each reports p50 and p99 of one lock(EX)+unlock, in microseconds.

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/corral-ha/corral/core/dlm"
	"github.com/corral-ha/corral/core/wire"
)

// benchPair is nodes driven back to back: messages are delivered at once.
type benchPair struct {
	ds      []*dlm.DLM
	now     time.Duration
	comps   []dlm.Completion   // completions of node 0
	all     [][]dlm.Completion // every node's completions, when collecting
	collect bool
}

func newBenchCluster(tb testing.TB, n int) *benchPair {
	tb.Helper()
	var ids []wire.NodeID
	for i := range n {
		ids = append(ids, wire.NodeID(i+1))
	}
	p := &benchPair{}
	for i := range n {
		d, err := dlm.New(dlm.Config{Self: ids[i], Nodes: ids}, rand.New(rand.NewPCG(1, uint64(i))))
		if err != nil {
			tb.Fatal(err)
		}
		p.ds = append(p.ds, d)
	}
	v := dlm.View{ID: wire.ViewID{Epoch: 1, Coord: 1}, Members: ids, Primary: true}
	for i, d := range p.ds {
		if err := d.Step(p.now, v); err != nil {
			tb.Fatalf("node %d: view: %v", i+1, err)
		}
	}
	// Let recovery of the first view finish.
	for range 200 {
		p.now += time.Millisecond
		for _, d := range p.ds {
			d.Tick(p.now)
		}
		p.pump(tb)
	}
	return p
}

// pump drains every node's Ready, handing messages over, until quiet.
func (p *benchPair) pump(tb testing.TB) {
	for busy := true; busy; {
		busy = false
		for i, d := range p.ds {
			for d.HasReady() {
				busy = true
				rd := d.Ready()
				d.Advance()
				if i == 0 {
					p.comps = append(p.comps, rd.Completions...)
				}
				if p.collect {
					p.all[i] = append(p.all[i], rd.Completions...)
				}
				for _, o := range rd.Messages {
					to := p.ds[int(o.To)-1]
					if err := to.Step(p.now, dlm.Receive{From: wire.NodeID(i + 1), Payload: o.Payload}); err != nil {
						tb.Fatalf("receive: %v", err)
					}
				}
			}
		}
	}
}

// await pumps until node 0 has a completion for id.
func (p *benchPair) await(tb testing.TB, id dlm.LockID) dlm.Completion {
	for range 1000 {
		for i, c := range p.comps {
			if c.ID == id {
				p.comps = slices.Delete(p.comps, i, i+1)
				return c
			}
		}
		p.pump(tb)
		if len(p.comps) == 0 {
			p.now += time.Millisecond
			for _, d := range p.ds {
				d.Tick(p.now)
			}
		}
	}
	tb.Fatalf("no completion for lock %d", id)
	return dlm.Completion{}
}

func (p *benchPair) lockUnlock(tb testing.TB, o dlm.Owner, name string) {
	id, err := p.ds[0].Lock(p.now, dlm.Request{Name: name, Mode: dlm.EX, Owner: o})
	if err != nil {
		tb.Fatal(err)
	}
	if c := p.await(tb, id); c.Status != dlm.OK {
		tb.Fatalf("lock: %+v", c)
	}
	if err := p.ds[0].Unlock(p.now, id, 0, nil); err != nil {
		tb.Fatal(err)
	}
	if c := p.await(tb, id); c.Status != dlm.EUNLOCK {
		tb.Fatalf("unlock: %+v", c)
	}
}

func reportPercentiles(b *testing.B, lat []time.Duration) {
	slices.Sort(lat)
	q := func(f float64) float64 {
		return float64(lat[int(f*float64(len(lat)-1))]) / float64(time.Microsecond)
	}
	b.ReportMetric(q(0.5), "p50-us")
	b.ReportMetric(q(0.99), "p99-us")
}

// BenchmarkDLMLockUnlockLocal: lock EX + unlock of a resource this node
// masters (one node, so it is the directory too after the first lookup).
func BenchmarkDLMLockUnlockLocal(b *testing.B) {
	p := newBenchCluster(b, 1)
	o := dlm.Owner{Node: 1, ID: 1}
	p.lockUnlock(b, o, "bench") // first lookup: this node becomes master
	// An NL lock keeps the resource (and its master) from lingering out.
	if _, err := p.ds[0].Lock(p.now, dlm.Request{Name: "bench", Mode: dlm.NL, Owner: dlm.Owner{Node: 1, ID: 2}}); err != nil {
		b.Fatal(err)
	}
	p.pump(b)
	p.comps = nil
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		t0 := time.Now()
		p.lockUnlock(b, o, "bench")
		lat = append(lat, time.Since(t0))
	}
	b.StopTimer()
	reportPercentiles(b, lat)
}

// BenchmarkDLMLockUnlockRemote: node 1 locks EX + unlocks a resource
// node 2 masters (node 2 looked it up first and holds NL on it); the
// messages go through the DLM's codec and are handed over in process.
func BenchmarkDLMLockUnlockRemote(b *testing.B) {
	p := newBenchCluster(b, 2)
	// node 2 takes NL first: it becomes the master and keeps the resource.
	if _, err := p.ds[1].Lock(p.now, dlm.Request{Name: "bench", Mode: dlm.NL, Owner: dlm.Owner{Node: 2, ID: 1}}); err != nil {
		b.Fatal(err)
	}
	p.pump(b)
	o := dlm.Owner{Node: 1, ID: 1}
	p.lockUnlock(b, o, "bench")
	if infos := p.ds[1].Locks(""); len(infos) == 0 || infos[0].Master != 2 {
		b.Fatalf("node 2 does not master the resource: %+v", infos)
	}
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		t0 := time.Now()
		p.lockUnlock(b, o, "bench")
		lat = append(lat, time.Since(t0))
	}
	b.StopTimer()
	reportPercentiles(b, lat)
}

// BenchmarkDLMAcquisitions: acquisitions (lock EX granted + unlock) per
// second on 3 in-process nodes, messages handed over at once (the DLM's
// own cost; the network's is not in it): 1 and 16 clients on distinct
// names spread over the nodes, and 8 clients on one name, where it also
// reports fairness (the fewest and most acquisitions a client got).
func BenchmarkDLMAcquisitions(b *testing.B) {
	for _, bc := range []struct {
		name    string
		clients int
		shared  bool
	}{{"distinct-1", 1, false}, {"distinct-16", 16, false}, {"one-name-8", 8, true}} {
		b.Run(bc.name, func(b *testing.B) {
			p := newBenchCluster(b, 3)
			p.collect = true
			p.all = make([][]dlm.Completion, 3)
			type client struct {
				node int
				o    dlm.Owner
				name string
				id   dlm.LockID
				held bool
				got  int
			}
			cs := make([]*client, bc.clients)
			for i := range cs {
				n := i % 3
				name := fmt.Sprintf("r%d", i)
				if bc.shared {
					name = "shared"
				}
				cs[i] = &client{node: n, o: dlm.Owner{Node: wire.NodeID(n + 1), ID: uint64(i + 1)}, name: name}
			}
			ask := func(c *client) {
				id, err := p.ds[c.node].Lock(p.now, dlm.Request{Name: c.name, Mode: dlm.EX, Owner: c.o})
				if err != nil {
					b.Fatal(err)
				}
				c.id = id
			}
			for _, c := range cs {
				ask(c)
			}
			total := 0
			b.ResetTimer()
			t0 := time.Now()
			for total < b.N {
				p.pump(b)
				progressed := false
				for n := range p.all {
					comps := p.all[n]
					p.all[n] = nil
					for _, cp := range comps {
						for _, c := range cs {
							if c.node != n || c.id != cp.ID {
								continue
							}
							progressed = true
							switch cp.Status {
							case dlm.OK:
								c.got++
								total++
								if err := p.ds[c.node].Unlock(p.now, c.id, 0, nil); err != nil {
									b.Fatal(err)
								}
							case dlm.EUNLOCK:
								ask(c)
							default:
								b.Fatalf("completion %+v", cp)
							}
						}
					}
				}
				if !progressed {
					p.now += time.Millisecond
					for _, d := range p.ds {
						d.Tick(p.now)
					}
				}
			}
			el := time.Since(t0)
			b.StopTimer()
			b.ReportMetric(float64(total)/el.Seconds(), "acq/s")
			if bc.shared {
				lo, hi := cs[0].got, cs[0].got
				for _, c := range cs {
					lo, hi = min(lo, c.got), max(hi, c.got)
				}
				b.ReportMetric(float64(lo), "min/client")
				b.ReportMetric(float64(hi), "max/client")
			}
		})
	}
}
