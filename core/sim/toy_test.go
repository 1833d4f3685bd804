package sim_test

import (
	"encoding/binary"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/corral-ha/corral/core/sim"
	"github.com/corral-ha/corral/core/sim/simtest"
)

// The toy protocol: every pingEvery ticks a node sends a ping carrying
// (boot, seq) to every peer on every link; a ping is answered by an ack
// echoing them; a node counts the acks of its current boot, persists the
// count (Put+Sync) and then writes an unsynced marker. A world outside the
// processes checks invariants that a broken simulator (or protocol) would
// violate.

const pingEvery = 10

const (
	msgPing byte = 1
	msgAck  byte = 2
)

func encode(kind byte, boot uint32, seq uint64) []byte {
	b := []byte{kind}
	b = binary.BigEndian.AppendUint32(b, boot)
	return binary.BigEndian.AppendUint64(b, seq)
}

func decode(b []byte) (kind byte, boot uint32, seq uint64, ok bool) {
	if len(b) != 13 {
		return 0, 0, 0, false
	}
	return b[0], binary.BigEndian.Uint32(b[1:]), binary.BigEndian.Uint64(b[5:]), true
}

// world is the test's view across processes and restarts.
type world struct {
	t        testing.TB
	nodes    int
	links    int
	procs    map[int]*toy // the current process per node (looked up only)
	lastBoot []uint32     // per node
	synced   []uint64     // per node: the ack count last synced
	acks     [][][]uint64 // [i][j][link]: acks i accepted from j on link, all boots
	heard    [][]uint64   // [i][j]: pings i received from j, all boots
	stale    uint64       // acks of an earlier boot, ignored
}

func newWorld(t testing.TB, nodes, links int) *world {
	w := &world{t: t, nodes: nodes, links: links, procs: map[int]*toy{},
		lastBoot: make([]uint32, nodes+1), synced: make([]uint64, nodes+1),
		acks: make([][][]uint64, nodes+1), heard: make([][]uint64, nodes+1)}
	for i := range w.acks {
		w.acks[i] = make([][]uint64, nodes+1)
		w.heard[i] = make([]uint64, nodes+1)
		for j := range w.acks[i] {
			w.acks[i][j] = make([]uint64, links)
		}
	}
	return w
}

type toy struct {
	w        *world
	h        *sim.Host
	ticks    int
	seq      uint64 // last ping round sent in this boot
	acks     uint64
	lastTick time.Duration
	lastNow  time.Duration
	maxGap   time.Duration // largest gap between two ticks
}

func (w *world) factory(h *sim.Host) sim.Process {
	id := h.ID()
	if h.Boot() <= w.lastBoot[id] {
		w.t.Fatalf("n%d: boot %d after boot %d", id, h.Boot(), w.lastBoot[id])
	}
	w.lastBoot[id] = h.Boot()
	d := h.Disk()
	var acks uint64
	if v, ok := d.Get("acks"); ok {
		acks, _ = strconv.ParseUint(string(v), 10, 64)
	}
	if acks != w.synced[id] {
		w.t.Fatalf("n%d boot %d: disk has acks=%d, last synced %d", id, h.Boot(), acks, w.synced[id])
	}
	if v, ok := d.Get("pending"); ok {
		p, _ := strconv.ParseUint(string(v), 10, 64)
		if p >= acks {
			w.t.Fatalf("n%d boot %d: unsynced write pending=%d survived a crash (acks=%d)", id, h.Boot(), p, acks)
		}
	}
	h.Logf("start boot=%d acks=%d", h.Boot(), acks)
	p := &toy{w: w, h: h, acks: acks}
	w.procs[id] = p
	return p
}

func (p *toy) checkNow(now time.Duration) {
	if now < p.lastNow {
		p.w.t.Fatalf("n%d: local clock went back from %v to %v", p.h.ID(), p.lastNow, now)
	}
	p.lastNow = now
}

func (p *toy) Tick(now time.Duration) {
	p.checkNow(now)
	if p.ticks > 0 && now-p.lastTick > p.maxGap {
		p.maxGap = now - p.lastTick
	}
	p.lastTick = now
	p.ticks++
	if p.ticks%pingEvery != 0 {
		return
	}
	p.seq++
	msg := encode(msgPing, p.h.Boot(), p.seq)
	for j := 1; j <= p.h.Nodes(); j++ {
		if j == p.h.ID() {
			continue
		}
		for l := 0; l < p.h.Links(); l++ {
			p.h.Send(l, sim.Addr{Node: j, Link: l}, msg)
		}
	}
}

func (p *toy) Receive(now time.Duration, link int, from sim.Addr, data []byte) {
	p.checkNow(now)
	id := p.h.ID()
	kind, boot, seq, ok := decode(data)
	if !ok || from.Link != link || from.Node == id {
		p.w.t.Fatalf("n%d: bad packet on link %d from %v: %x", id, link, from, data)
	}
	switch kind {
	case msgPing:
		p.w.heard[id][from.Node]++
		p.h.Send(link, from, encode(msgAck, boot, seq))
	case msgAck:
		if boot != p.h.Boot() {
			if boot > p.h.Boot() {
				p.w.t.Fatalf("n%d boot %d: ack for a future boot %d", id, p.h.Boot(), boot)
			}
			p.w.stale++
			return
		}
		if seq < 1 || seq > p.seq {
			p.w.t.Fatalf("n%d boot %d: ack from %v for ping %d, never sent (last %d)", id, boot, from, seq, p.seq)
		}
		p.w.acks[id][from.Node][link]++
		p.acks++
		d := p.h.Disk()
		d.Put("acks", []byte(strconv.FormatUint(p.acks, 10)))
		d.Sync()
		p.w.synced[id] = p.acks
		d.Put("pending", []byte(strconv.FormatUint(p.acks, 10))) // unsynced until the next ack
	default:
		p.w.t.Fatalf("n%d: unknown message %d", id, kind)
	}
}

// nemesis draws a fault schedule from the seed and plays it for d.
func nemesis(s *sim.Sim, r *rand.Rand, d time.Duration) {
	cfg := s.Config()
	end := s.Now() + d
	for s.Now() < end {
		s.Run(time.Duration(50+r.IntN(1000)) * time.Millisecond)
		id := 1 + r.IntN(cfg.Nodes)
		switch r.IntN(10) {
		case 0:
			s.Logf("nemesis: crash n%d", id)
			s.Crash(id)
		case 1:
			s.Logf("nemesis: restart n%d", id)
			s.Restart(id)
		case 2:
			p := time.Duration(10+r.IntN(3000)) * time.Millisecond
			s.Logf("nemesis: pause n%d for %v", id, p)
			s.Pause(id, p)
		case 3:
			var a, b []int
			for n := 1; n <= cfg.Nodes; n++ {
				if r.IntN(2) == 0 {
					a = append(a, n)
				} else {
					b = append(b, n)
				}
			}
			s.Partition(a, b)
		case 4:
			s.Cut(id, 1+r.IntN(cfg.Nodes))
		case 5:
			l := r.IntN(cfg.Links)
			s.CutLink(sim.Addr{Node: id, Link: l}, sim.Addr{Node: 1 + r.IntN(cfg.Nodes), Link: l}, r.IntN(2) == 0)
		case 6:
			s.Heal()
		case 7:
			min := time.Duration(r.IntN(2000)) * time.Microsecond
			s.SetNet(sim.NetConfig{MinDelay: min, MaxDelay: min + time.Duration(r.IntN(50))*time.Millisecond,
				Drop: r.Float64() * 0.4, Dup: r.Float64() * 0.1, Reorder: r.Float64() * 0.2})
		case 8:
			s.Isolate(id)
		case 9:
			for n := 1; n <= cfg.Nodes; n++ {
				if !s.Up(n) {
					s.Logf("nemesis: restart down n%d", n)
					s.Restart(n)
				}
			}
		}
	}
}

// runToy runs the toy cluster for seed under random faults, then heals
// everything and checks that every node hears every other on every link.
func runToy(r *simtest.Run, nodes, links int, chaos time.Duration) *sim.Sim {
	w := newWorld(r, nodes, links)
	s := r.New(sim.Config{Nodes: nodes, Links: links, RandomNet: true}, w.factory)
	nemesis(s, rand.New(rand.NewPCG(uint64(r.Seed), 0x70ff)), chaos)

	s.Logf("quiet: heal, clean network, restart the down nodes")
	s.Heal()
	s.SetNet(sim.DefaultNet())
	for n := 1; n <= nodes; n++ {
		if !s.Up(n) {
			s.Restart(n)
		}
	}
	s.Run(4 * time.Second) // every pause (< 3.1 s) is over, every stale packet landed
	before := make([][][]uint64, nodes+1)
	for i := 1; i <= nodes; i++ {
		before[i] = make([][]uint64, nodes+1)
		for j := 1; j <= nodes; j++ {
			before[i][j] = append([]uint64(nil), w.acks[i][j]...)
		}
	}
	s.Run(2 * time.Second)
	for i := 1; i <= nodes; i++ {
		for j := 1; j <= nodes; j++ {
			for l := 0; l < links && i != j; l++ {
				if got := w.acks[i][j][l] - before[i][j][l]; got < 10 {
					r.Errorf("after heal: n%d got %d acks from n%d on link %d in 2s, want >= 10", i, got, j, l)
				}
			}
		}
	}
	return s
}

func TestToySweep(t *testing.T) {
	simtest.Sweep(t, func(r *simtest.Run) {
		runToy(r, 5, 2, 30*time.Second)
	})
}

func TestSameSeedSameTrace(t *testing.T) {
	h := simtest.Deterministic(t, 42, func(r *simtest.Run) { runToy(r, 4, 2, 10*time.Second) })
	if len(h) != 1 || h[0] == 0 {
		t.Fatalf("hashes %x", h)
	}
}

func TestDifferentSeedsDiffer(t *testing.T) {
	seen := map[uint64]int64{}
	for seed := int64(1); seed <= 8; seed++ {
		simtest.Check(t, seed, func(r *simtest.Run) {
			s := runToy(r, 3, 1, 3*time.Second)
			if other, ok := seen[s.TraceHash()]; ok {
				t.Fatalf("seeds %d and %d have the same trace hash %x", other, seed, s.TraceHash())
			}
			seen[s.TraceHash()] = seed
		})
	}
}

// Two seeds differ even without faults: clock rates, phases and delays are
// all drawn from the seed.
func TestDifferentSeedsDifferQuiet(t *testing.T) {
	run := func(seed int64) uint64 {
		w := newWorld(t, 3, 1)
		s := sim.New(sim.Config{Seed: seed, Nodes: 3}, w.factory)
		s.Run(time.Second)
		return s.TraceHash()
	}
	if a, b := run(1), run(2); a == b {
		t.Fatalf("seeds 1 and 2: same hash %x", a)
	}
	if a, b := run(3), run(3); a != b {
		t.Fatalf("seed 3 twice: hashes %x and %x", a, b)
	}
}

func BenchmarkEvents(b *testing.B) {
	var events uint64
	for i := 0; b.Loop(); i++ {
		w := newWorld(b, 5, 2)
		s := sim.New(sim.Config{Seed: int64(i), Nodes: 5, Links: 2, RandomNet: true}, w.factory)
		s.Run(10 * time.Second)
		events += s.Stats().Events
	}
	b.ReportMetric(float64(events)/b.Elapsed().Seconds(), "events/s")
}
