package sim_test

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/corral-ha/corral/core/sim"
)

// rec is a process that records what happens to it and sends when told.
type rec struct {
	h     *sim.Host
	ticks []time.Duration // local nows
	got   []got
}

type got struct {
	local time.Duration
	link  int
	from  sim.Addr
	data  string
}

// cluster builds a sim of recorders and returns the current recorder of a
// node.
func cluster(t *testing.T, cfg sim.Config) (*sim.Sim, func(id int) *rec) {
	t.Helper()
	s := sim.New(cfg, func(h *sim.Host) sim.Process { return &rec{h: h} })
	return s, func(id int) *rec {
		p, _ := s.Process(id).(*rec)
		if p == nil {
			t.Fatalf("n%d is down", id)
		}
		return p
	}
}

func (r *rec) Tick(now time.Duration) { r.ticks = append(r.ticks, now) }

func (r *rec) Receive(now time.Duration, link int, from sim.Addr, data []byte) {
	r.got = append(r.got, got{now, link, from, string(data)})
}

func (r *rec) heard(from int) int {
	n := 0
	for _, g := range r.got {
		if g.from.Node == from {
			n++
		}
	}
	return n
}

// sendAll makes every up node send one packet to every other on every link.
func sendAll(s *sim.Sim, tag string) {
	cfg := s.Config()
	for i := 1; i <= cfg.Nodes; i++ {
		r, ok := s.Process(i).(*rec)
		if !ok {
			continue
		}
		for j := 1; j <= cfg.Nodes; j++ {
			for l := 0; l < cfg.Links && j != i; l++ {
				r.h.Send(l, sim.Addr{Node: j, Link: l}, []byte(fmt.Sprintf("%s %d->%d/%d", tag, i, j, l)))
			}
		}
	}
}

func TestCrashKeepsOnlySyncedWrites(t *testing.T) {
	s, node := cluster(t, sim.Config{Seed: 1, Nodes: 1})
	d := node(1).h.Disk()
	d.Put("b", []byte("synced"))
	d.Put("a", []byte("synced too"))
	d.Put("gone", []byte("x"))
	d.Sync()
	d.Delete("gone") // unsynced delete: undone by the crash
	d.Put("c", []byte("not synced"))
	d.Put("b", []byte("overwritten, not synced"))
	if got := d.Keys(""); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Fatalf("Keys before crash = %q", got)
	}
	if v, _ := d.Get("b"); string(v) != "overwritten, not synced" {
		t.Fatalf("read your writes: b = %q", v)
	}
	if d.Dirty() != 3 {
		t.Fatalf("Dirty = %d, want 3", d.Dirty())
	}
	s.Crash(1)
	if s.Process(1) != nil || s.Up(1) {
		t.Fatal("crashed node still has a process")
	}
	s.Run(time.Second)
	s.Restart(1)
	d = node(1).h.Disk()
	if got := d.Keys(""); !slices.Equal(got, []string{"a", "b", "gone"}) {
		t.Fatalf("Keys after crash = %q", got)
	}
	if v, _ := d.Get("b"); string(v) != "synced" {
		t.Fatalf("b after crash = %q, want the synced value", v)
	}
	if _, ok := d.Get("c"); ok {
		t.Fatal("unsynced c survived the crash")
	}
	v, _ := d.Get("a")
	v[0] = 'X' // Get returns a copy
	if v, _ := d.Get("a"); string(v) != "synced too" {
		t.Fatalf("Get aliases the store: %q", v)
	}
	if got := d.Keys("g"); !slices.Equal(got, []string{"gone"}) {
		t.Fatalf("Keys(g) = %q", got)
	}
}

func TestBootGrowsAndIsSynced(t *testing.T) {
	s, node := cluster(t, sim.Config{Seed: 2, Nodes: 2})
	if b := node(1).h.Boot(); b != 1 {
		t.Fatalf("first boot = %d", b)
	}
	old := node(1).h
	r1 := old.Rand().Uint64()
	for want := uint32(2); want <= 5; want++ {
		s.Restart(1)
		if b := node(1).h.Boot(); b != want {
			t.Fatalf("boot = %d, want %d", b, want)
		}
	}
	if node(1).h.Rand().Uint64() == r1 {
		t.Fatal("a new boot got the same random stream")
	}
	if node(2).h.Boot() != 1 {
		t.Fatal("n2's boot moved")
	}
	if keys := node(1).h.Disk().Keys(""); len(keys) != 0 {
		t.Fatalf("the boot counter shows in Keys: %q", keys)
	}
	// A stale host does nothing.
	old.Send(0, sim.Addr{Node: 2}, []byte("ghost"))
	s.Run(time.Second)
	if n := node(2).heard(1); n != 0 {
		t.Fatalf("n2 heard %d packets from a dead host", n)
	}
	// Local clock restarts at every start.
	if now := node(1).h.Now(); now > 1100*time.Millisecond || now < 900*time.Millisecond {
		t.Fatalf("n1 local clock after 1 s = %v", now)
	}
}

func TestPacketsToDownNodeAreLost(t *testing.T) {
	s, node := cluster(t, sim.Config{Seed: 3, Nodes: 2, Net: sim.NetConfig{MinDelay: 10 * time.Millisecond, MaxDelay: 10 * time.Millisecond}})
	// In flight to a node that crashes and is back before the packet lands:
	// the new incarnation gets it (the network does not know about boots).
	node(1).h.Send(0, sim.Addr{Node: 2}, []byte("to boot 1"))
	s.Crash(2)
	s.Run(5 * time.Millisecond)
	s.Restart(2)
	s.Run(time.Second)
	if g := node(2).got; len(g) != 1 || node(2).h.Boot() != 2 {
		t.Fatalf("boot %d got %v", node(2).h.Boot(), g)
	}
	// Landing while the node is down: lost.
	node(1).h.Send(0, sim.Addr{Node: 2}, []byte("lost"))
	s.Crash(2)
	s.Run(time.Second)
	s.Restart(2)
	s.Run(time.Second)
	if g := node(2).got; len(g) != 0 {
		t.Fatalf("boot 3 got %v", g)
	}
	if st := s.Stats(); st.Delivered != 1 || st.Down != 1 {
		t.Fatalf("delivered %d (want 1), down %d (want 1)", st.Delivered, st.Down)
	}
}

func TestOneWayCut(t *testing.T) {
	s, node := cluster(t, sim.Config{Seed: 4, Nodes: 3, Links: 2})
	s.Cut(1, 2)
	sendAll(s, "a")
	s.Run(time.Second)
	if n := node(2).heard(1); n != 0 {
		t.Fatalf("n2 heard n1 %d times through a cut", n)
	}
	if n := node(1).heard(2); n != 2 {
		t.Fatalf("n1 heard n2 %d times, want 2 (one per link)", n)
	}
	if node(3).heard(1) != 2 || node(2).heard(3) != 2 {
		t.Fatal("the cut leaked to other pairs")
	}
	s.Heal()
	sendAll(s, "b")
	s.Run(time.Second)
	if n := node(2).heard(1); n != 2 {
		t.Fatalf("after heal n2 heard n1 %d times, want 2", n)
	}
}

func TestCutLink(t *testing.T) {
	s, node := cluster(t, sim.Config{Seed: 5, Nodes: 2, Links: 2})
	s.CutLink(sim.Addr{Node: 1, Link: 1}, sim.Addr{Node: 2, Link: 1}, false)
	sendAll(s, "a")
	s.Run(time.Second)
	for _, id := range []int{1, 2} {
		g := node(id).got
		if len(g) != 1 || g[0].link != 0 || g[0].from.Link != 0 {
			t.Fatalf("n%d got %v, want one packet on link 0", id, g)
		}
	}
	// Links are separate networks.
	node(1).h.Send(0, sim.Addr{Node: 2, Link: 1}, []byte("cross"))
	s.Run(time.Second)
	if len(node(2).got) != 1 || s.Stats().Blocked != 3 {
		t.Fatalf("cross-link packet: n2 got %v, blocked %d", node(2).got, s.Stats().Blocked)
	}
	s.Heal()
	s.CutLink(sim.Addr{Node: 1, Link: 1}, sim.Addr{Node: 2, Link: 1}, true)
	sendAll(s, "b")
	s.Run(time.Second)
	if node(1).heard(2) != 3 || node(2).heard(1) != 2 {
		t.Fatalf("one-way link cut: n1 heard n2 %d times (want 3), n2 heard n1 %d (want 2)", node(1).heard(2), node(2).heard(1))
	}
}

func TestPartitionAndIsolate(t *testing.T) {
	s, node := cluster(t, sim.Config{Seed: 6, Nodes: 5})
	s.Partition([]int{1, 2}, []int{3}) // 4 and 5 form a third group
	sendAll(s, "a")
	s.Run(time.Second)
	want := map[[2]int]bool{{1, 2}: true, {2, 1}: true, {4, 5}: true, {5, 4}: true}
	for i := 1; i <= 5; i++ {
		for j := 1; j <= 5; j++ {
			if i == j {
				continue
			}
			if got := node(i).heard(j) == 1; got != want[[2]int{i, j}] {
				t.Errorf("n%d heard n%d: %v", i, j, got)
			}
		}
	}
	s.Heal()
	s.Isolate(3)
	sendAll(s, "b")
	s.Run(time.Second)
	if node(3).heard(1) != 0 || node(1).heard(3) != 0 || node(1).heard(4) != 1 {
		t.Fatal("isolate")
	}
}

func TestPauseJumpsClockAndQueuesPackets(t *testing.T) {
	s, node := cluster(t, sim.Config{Seed: 7, Nodes: 2, Drift: -1})
	s.Run(time.Second)
	p := node(2)
	ticksBefore := len(p.ticks)
	s.Pause(2, 3*time.Second)
	node(1).h.Send(0, sim.Addr{Node: 2}, []byte("one"))
	s.Run(time.Second)
	node(1).h.Send(0, sim.Addr{Node: 2}, []byte("two"))
	s.Run(1990 * time.Millisecond)
	if !s.Paused(2) || len(p.ticks) != ticksBefore || len(p.got) != 0 {
		t.Fatalf("paused node ran: %d ticks, %d packets", len(p.ticks)-ticksBefore, len(p.got))
	}
	s.Run(20 * time.Millisecond)
	if s.Paused(2) {
		t.Fatal("still paused")
	}
	if len(p.got) != 2 || p.got[0].data != "one" || p.got[1].data != "two" {
		t.Fatalf("after resume got %v", p.got)
	}
	if p.got[0].local < 3990*time.Millisecond {
		t.Fatalf("queued packet delivered at local %v, before the resume", p.got[0].local)
	}
	gap := p.ticks[ticksBefore] - p.ticks[ticksBefore-1]
	if gap < 2900*time.Millisecond {
		t.Fatalf("first tick after the pause jumped %v, want about 3s", gap)
	}
	s.Run(time.Second)
	for i := ticksBefore + 2; i < len(p.ticks); i++ {
		if d := p.ticks[i] - p.ticks[i-1]; d != 10*time.Millisecond {
			t.Fatalf("tick gap %v after the resume", d)
		}
	}
	if st := s.Stats(); st.Queued != 2 {
		t.Fatalf("Queued = %d", st.Queued)
	}
}

func TestPauseBufferOverflowAndCrash(t *testing.T) {
	s, node := cluster(t, sim.Config{Seed: 8, Nodes: 2, SocketBuffer: 3})
	s.Pause(2, time.Second)
	for i := range 5 {
		node(1).h.Send(0, sim.Addr{Node: 2}, []byte{byte(i)})
	}
	s.Run(100 * time.Millisecond)
	s.Crash(2)
	st := s.Stats()
	if st.Overflow != 2 || st.Down != 3 || st.Delivered != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestDriftBound(t *testing.T) {
	const drift = 0.01
	for seed := int64(1); seed <= 5; seed++ {
		s, node := cluster(t, sim.Config{Seed: seed, Nodes: 8, Drift: drift})
		s.Run(100 * time.Second)
		lo, hi := math.MaxInt, 0
		for id := 1; id <= 8; id++ {
			n := len(node(id).ticks)
			lo, hi = min(lo, n), max(hi, n)
			if now := node(id).h.Now(); now < 99*time.Second || now > 101*time.Second {
				t.Fatalf("seed %d n%d: local clock %v after 100 s", seed, id, now)
			}
			for i, tk := range node(id).ticks[1:] {
				if d := tk - node(id).ticks[i]; d < 10*time.Millisecond-1 || d > 10*time.Millisecond+1 {
					t.Fatalf("local tick period %v", d)
				}
			}
		}
		// 10000 ticks in 100 s at rate 1: rates in [0.99, 1.01] give at most
		// 2·1% of 10000 apart, plus one for the phases.
		if hi-lo > 201 {
			t.Fatalf("seed %d: tick counts %d..%d differ by more than the drift allows", seed, lo, hi)
		}
		if hi-lo < 10 {
			t.Fatalf("seed %d: tick counts %d..%d: no drift at all?", seed, lo, hi)
		}
	}
	s, node := cluster(t, sim.Config{Seed: 1, Nodes: 3, Drift: -1})
	s.Run(10 * time.Second)
	if a, b := len(node(1).ticks), len(node(3).ticks); a != b {
		t.Fatalf("no drift: tick counts %d and %d", a, b)
	}
}

func TestNetStatsBalance(t *testing.T) {
	s, _ := cluster(t, sim.Config{Seed: 9, Nodes: 4, Links: 2,
		Net: sim.NetConfig{MinDelay: time.Millisecond, MaxDelay: 5 * time.Millisecond, Drop: 0.2, Dup: 0.2, Reorder: 0.3}})
	for range 50 {
		sendAll(s, "x")
		s.Run(20 * time.Millisecond)
	}
	s.Run(time.Second)
	st := s.Stats()
	if st.Sent != 50*4*3*2 {
		t.Fatalf("sent %d", st.Sent)
	}
	if st.Sent+st.Duplicated != st.Delivered+st.Dropped() {
		t.Fatalf("sent %d + dup %d != delivered %d + dropped %d", st.Sent, st.Duplicated, st.Delivered, st.Dropped())
	}
	frac := func(n uint64) float64 { return float64(n) / float64(st.Sent) }
	if f := frac(st.Lost); f < 0.15 || f > 0.25 {
		t.Fatalf("loss %.3f, want about 0.2", f)
	}
	if f := frac(st.Duplicated); f < 0.12 || f > 0.2 {
		t.Fatalf("dups %.3f, want about 0.8·0.2", f)
	}
	if st.Reordered == 0 {
		t.Fatal("nothing reordered")
	}
}

func TestReorderChangesOrder(t *testing.T) {
	s, node := cluster(t, sim.Config{Seed: 10, Nodes: 2, Net: sim.NetConfig{MinDelay: time.Millisecond, MaxDelay: 2 * time.Millisecond, Reorder: 0.3}})
	for i := range 200 {
		node(1).h.Send(0, sim.Addr{Node: 2}, []byte{byte(i)})
		s.Run(500 * time.Microsecond)
	}
	s.Run(time.Second)
	g := node(2).got
	if len(g) != 200 {
		t.Fatalf("got %d", len(g))
	}
	inversions := 0
	for i := 1; i < len(g); i++ {
		if g[i].data[0] < g[i-1].data[0] {
			inversions++
		}
	}
	if inversions == 0 {
		t.Fatal("no packet overtook another")
	}
}

func TestSendCopiesData(t *testing.T) {
	s, node := cluster(t, sim.Config{Seed: 11, Nodes: 2, Net: sim.NetConfig{MaxDelay: time.Millisecond, Dup: 1}})
	buf := []byte("hello")
	node(1).h.Send(0, sim.Addr{Node: 2}, buf)
	copy(buf, "XXXXX")
	s.Run(time.Second)
	g := node(2).got
	if len(g) != 2 || g[0].data != "hello" || g[1].data != "hello" {
		t.Fatalf("got %v", g)
	}
}

func TestRunUntilAndAfter(t *testing.T) {
	s, node := cluster(t, sim.Config{Seed: 12, Nodes: 3})
	s.After(500*time.Millisecond, func() { node(1).h.Send(0, sim.Addr{Node: 3}, []byte("hi")) })
	ok := s.RunUntil(func() bool { return len(node(3).got) > 0 }, 10*time.Second)
	if !ok || s.Now() < 500*time.Millisecond || s.Now() > 503*time.Millisecond {
		t.Fatalf("RunUntil = %v at %v", ok, s.Now())
	}
	if s.RunUntil(func() bool { return false }, time.Second) {
		t.Fatal("impossible condition held")
	}
	if s.Now() < 1500*time.Millisecond || s.Now() > 1504*time.Millisecond {
		t.Fatalf("after a timed-out RunUntil, Now = %v", s.Now())
	}
}

func TestRandomNetIsDrawnFromSeed(t *testing.T) {
	net := func(seed int64) sim.NetConfig {
		return sim.New(sim.Config{Seed: seed, RandomNet: true, Net: sim.NetConfig{Dup: 0.5}},
			func(h *sim.Host) sim.Process { return &rec{h: h} }).Config().Net
	}
	a, b := net(1), net(2)
	if a == b || a != net(1) {
		t.Fatalf("nets %v, %v", a, b)
	}
	for _, n := range []sim.NetConfig{a, b} {
		if n.Dup != 0.5 || n.Drop <= 0 || n.Drop > 0.2 || n.MaxDelay < n.MinDelay || n.MaxDelay > 25*time.Millisecond {
			t.Fatalf("drawn net %v", n)
		}
	}
}

func TestTraceTailAndLogs(t *testing.T) {
	var lines []string
	s, node := cluster(t, sim.Config{Seed: 13, Nodes: 2, TraceKeep: 5, OnTrace: func(l string) { lines = append(lines, l) }})
	node(1).h.Logf("hello %d", 42)
	s.Logf("harness note")
	s.Run(100 * time.Millisecond)
	tail := s.TraceTail(100)
	if len(tail) != 5 {
		t.Fatalf("tail has %d lines, want 5", len(tail))
	}
	all := strings.Join(lines, "\n")
	for _, want := range []string{"n1   | hello 42", "# harness note", "tick local=", "START boot=1"} {
		if !strings.Contains(all, want) {
			t.Errorf("trace lacks %q:\n%s", want, all)
		}
	}
	if uint64(len(lines)) != s.TraceLen() {
		t.Fatalf("%d lines, TraceLen %d", len(lines), s.TraceLen())
	}
	if strings.Contains(strings.Join(tail, "\n"), "tick") {
		t.Fatalf("ticks kept without TraceTicks: %q", tail)
	}
}
