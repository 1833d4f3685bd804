package sim

import (
	"fmt"
	"math/rand/v2"
	"time"
)

// Addr is one end of the network: link Link (0..Links-1) of node Node
// (1..Nodes). Each link index is a network of its own: a packet goes from link
// l of one node to link l of another, never across links.
type Addr struct{ Node, Link int }

func (a Addr) String() string { return fmt.Sprintf("n%d/%d", a.Node, a.Link) }

// Process is one node's protocol logic: a driver around a pure core. The sim
// calls it from one goroutine, never concurrently, with the node's local
// clock reading. A Factory builds a fresh Process at every (re)start; a crash
// simply forgets it.
type Process interface {
	// Tick is the node's periodic timer (Config.Tick of local time; after a
	// pause, the first Tick sees the whole jump).
	Tick(now time.Duration)
	// Receive delivers a packet that arrived on the local link from the
	// sender's address. data belongs to the process.
	Receive(now time.Duration, link int, from Addr, data []byte)
}

// Factory builds the process of a node that starts. It may already use h
// (Boot, Disk, Send...).
type Factory func(h *Host) Process

// Config describes a simulated cluster. The zero value of a field selects its
// default.
type Config struct {
	Seed  int64 // master seed: the whole run is a function of it
	Nodes int   // node ids are 1..Nodes (default 3)
	Links int   // links per node, 0..Links-1 (default 1)

	// Tick is the local period of Process.Tick (default 10ms). Every (re)start
	// draws a phase in (0, Tick], so nodes do not tick in lockstep.
	Tick time.Duration
	// Drift bounds clock rates: each node's clock runs at a rate drawn once
	// from [1-Drift, 1+Drift] (default 0.01; negative: no drift).
	Drift float64

	// Net is the network at the start. Without RandomNet, a zero Net means
	// DefaultNet(). With RandomNet, its zero fields are drawn from the seed:
	// the delays (when both are zero) MinDelay in [50µs, 1.05ms] and MaxDelay
	// up to 20ms above it, Drop up to 0.2, Dup up to 0.05, Reorder up to 0.1.
	Net       NetConfig
	RandomNet bool

	// SocketBuffer is how many packets wait at a paused node before more are
	// dropped (default 1024).
	SocketBuffer int
	// TraceKeep is how many trace records are kept in memory for TraceTail
	// (default 2000). The trace hash covers every record regardless.
	TraceKeep int
	// TraceTicks keeps tick records in memory too (they are always hashed;
	// left out by default, they would crowd everything else out).
	TraceTicks bool
	// OnTrace, when set, receives every trace line as it happens (slow:
	// every event is formatted). For debugging a replayed seed.
	OnTrace func(line string)
}

// NetConfig is the behaviour of the network for every packet sent while it is
// in force (SetNet changes it at run time).
type NetConfig struct {
	MinDelay, MaxDelay time.Duration // one-way delay, uniform in [MinDelay, MaxDelay]
	Drop               float64       // probability that a packet is lost
	Dup                float64       // probability that a packet is delivered twice (independent delays)
	Reorder            float64       // probability of an extra delay in [MaxDelay, 5·MaxDelay+1ms], which reorders it
}

// DefaultNet is a clean LAN: 0.1 to 2 ms, no loss.
func DefaultNet() NetConfig {
	return NetConfig{MinDelay: 100 * time.Microsecond, MaxDelay: 2 * time.Millisecond}
}

func (c NetConfig) validate() {
	if c.MinDelay < 0 || c.MaxDelay < c.MinDelay {
		panic(fmt.Sprintf("sim: bad delays [%v, %v]", c.MinDelay, c.MaxDelay))
	}
	for _, p := range []float64{c.Drop, c.Dup, c.Reorder} {
		if p < 0 || p > 1 || p != p {
			panic(fmt.Sprintf("sim: probability %v out of [0, 1]", p))
		}
	}
}

func (c NetConfig) String() string {
	return fmt.Sprintf("delay=[%v,%v] drop=%.3f dup=%.3f reorder=%.3f", c.MinDelay, c.MaxDelay, c.Drop, c.Dup, c.Reorder)
}

// Stats counts what happened so far.
type Stats struct {
	Events uint64 // events processed
	Ticks  uint64 // Process.Tick calls

	Sent       uint64 // packets handed to Send
	Delivered  uint64 // Process.Receive calls
	Duplicated uint64 // extra copies made by the network
	Reordered  uint64 // packets given an extra reordering delay
	Queued     uint64 // packets that waited at a paused node

	Lost     uint64 // dropped at random (NetConfig.Drop)
	Blocked  uint64 // dropped by a partition, a cut or a cut link
	Down     uint64 // dropped because the destination was down (or crashed while they waited)
	Overflow uint64 // dropped because a paused node's buffer was full
}

// Dropped is the number of packets (copies included) that were not delivered.
func (st Stats) Dropped() uint64 { return st.Lost + st.Blocked + st.Down + st.Overflow }

// node is the simulator's view of one machine.
type node struct {
	id   int
	num  uint64 // clock rate numerator (over rateDen)
	disk *Disk

	up    bool
	inc   uint64 // incarnation: grows at every start and crash; stale events carry an old one
	boot  uint32
	start time.Duration // global time of the current start
	host  *Host
	proc  Process

	nextTick   time.Duration // local time of the next tick
	paused     bool
	pauseEnd   time.Duration // global
	tickMissed bool          // a tick fell inside the pause
	inbox      []*packet     // packets waiting for the pause to end
}

// Sim is a simulated cluster on a virtual clock. It is single-threaded and
// deterministic: a run is a function of Config (the seed above all), the
// Factory and the calls made on the Sim. Its methods must not be called
// concurrently.
type Sim struct {
	cfg     Config
	factory Factory
	now     time.Duration
	q       queue
	nodes   []*node // index 0 unused
	rng     *rand.Rand
	net     NetConfig
	stats   Stats
	nextPkt uint64

	group    []int                // partition group per node (0: not named)
	cut      []bool               // (from-1)*Nodes + (to-1): one-way node cuts
	linkCuts map[[2]Addr]struct{} // one-way link cuts, looked up only

	trace tracer
}

// New builds a cluster and starts every node at time 0 (in id order), with
// Boot() = 1 on its fresh disk. Invalid configurations panic.
func New(cfg Config, f Factory) *Sim {
	if f == nil {
		panic("sim: nil Factory")
	}
	if cfg.Nodes == 0 {
		cfg.Nodes = 3
	}
	if cfg.Links == 0 {
		cfg.Links = 1
	}
	if cfg.Nodes < 0 || cfg.Links < 0 {
		panic("sim: negative Nodes or Links")
	}
	if cfg.Tick == 0 {
		cfg.Tick = 10 * time.Millisecond
	}
	if cfg.Tick < 0 {
		panic("sim: negative Tick")
	}
	if cfg.Drift == 0 {
		cfg.Drift = 0.01
	}
	if cfg.Drift < 0 {
		cfg.Drift = 0
	}
	if cfg.Drift >= 0.5 {
		panic("sim: Drift must be below 0.5")
	}
	if cfg.SocketBuffer == 0 {
		cfg.SocketBuffer = 1024
	}
	if cfg.TraceKeep == 0 {
		cfg.TraceKeep = 2000
	}
	setup := newRand(cfg.Seed, streamSetup)
	if cfg.RandomNet {
		cfg.Net = drawNet(cfg.Net, setup)
	} else if cfg.Net == (NetConfig{}) {
		cfg.Net = DefaultNet()
	}
	cfg.Net.validate()

	s := &Sim{
		cfg:      cfg,
		factory:  f,
		nodes:    make([]*node, cfg.Nodes+1),
		rng:      newRand(cfg.Seed, streamNet),
		net:      cfg.Net,
		group:    make([]int, cfg.Nodes+1),
		cut:      make([]bool, cfg.Nodes*cfg.Nodes),
		linkCuts: map[[2]Addr]struct{}{},
	}
	s.trace.init(s, cfg.TraceKeep, cfg.OnTrace)
	s.trace.add(record{kind: kNote, text: fmt.Sprintf("sim seed=%d nodes=%d links=%d tick=%v drift=%g net: %v",
		cfg.Seed, cfg.Nodes, cfg.Links, cfg.Tick, cfg.Drift, cfg.Net)})
	ppbMax := int64(cfg.Drift * rateDen)
	for id := 1; id <= cfg.Nodes; id++ {
		num := uint64(rateDen)
		if ppbMax > 0 {
			num = uint64(rateDen + setup.Int64N(2*ppbMax+1) - ppbMax)
		}
		s.nodes[id] = &node{id: id, num: num, disk: newDisk(s, id)}
	}
	for id := 1; id <= cfg.Nodes; id++ {
		s.start(s.nodes[id])
	}
	return s
}

// drawNet fills the zero fields of base with values drawn from r.
func drawNet(base NetConfig, r *rand.Rand) NetConfig {
	n := base
	if n.MinDelay == 0 && n.MaxDelay == 0 {
		n.MinDelay = 50*time.Microsecond + time.Duration(r.Int64N(int64(time.Millisecond)))
		n.MaxDelay = n.MinDelay + time.Duration(r.Int64N(int64(20*time.Millisecond)))
	}
	if n.Drop == 0 {
		n.Drop = r.Float64() * 0.2
	}
	if n.Dup == 0 {
		n.Dup = r.Float64() * 0.05
	}
	if n.Reorder == 0 {
		n.Reorder = r.Float64() * 0.1
	}
	return n
}

// Config returns the configuration in force, defaults and drawn values filled in.
func (s *Sim) Config() Config { return s.cfg }

// Now is the global virtual time since the start of the run.
func (s *Sim) Now() time.Duration { return s.now }

// Stats returns the counters so far.
func (s *Sim) Stats() Stats { return s.stats }

func (s *Sim) node(id int) *node {
	if id < 1 || id > s.cfg.Nodes {
		panic(fmt.Sprintf("sim: no node %d (nodes are 1..%d)", id, s.cfg.Nodes))
	}
	return s.nodes[id]
}

// Process returns node id's running process, nil while it is down.
func (s *Sim) Process(id int) Process { return s.node(id).proc }

// Up reports whether node id is running (paused counts as running).
func (s *Sim) Up(id int) bool { return s.node(id).up }

// Paused reports whether node id is inside a pause.
func (s *Sim) Paused(id int) bool { return s.node(id).paused }

// Disk returns node id's disk, which outlives crashes (for checks).
func (s *Sim) Disk(id int) *Disk { return s.node(id).disk }

// Run advances virtual time by d, processing every event due until then.
func (s *Sim) Run(d time.Duration) {
	end := s.now + d
	for s.q.len() > 0 && s.q.peek().at <= end {
		s.step()
	}
	if end > s.now {
		s.now = end
	}
}

// RunUntil processes events until cond holds (checked before the first event
// and after each one) or limit has passed. It reports whether cond holds; on
// success Now() is the time of the event that made it true.
func (s *Sim) RunUntil(cond func() bool, limit time.Duration) bool {
	end := s.now + limit
	if cond() {
		return true
	}
	for s.q.len() > 0 && s.q.peek().at <= end {
		s.step()
		if cond() {
			return true
		}
	}
	if end > s.now {
		s.now = end
	}
	return false
}

// After schedules fn (a fault, a client request, a check) to run at Now()+d,
// in order with the other events.
func (s *Sim) After(d time.Duration, fn func()) {
	if d < 0 {
		d = 0
	}
	s.q.push(event{at: s.now + d, kind: evCall, fn: fn})
}

// Logf writes a line from the test harness (not from a node) to the trace.
func (s *Sim) Logf(format string, args ...any) {
	s.trace.add(record{kind: kNote, text: fmt.Sprintf(format, args...)})
}

func (s *Sim) step() {
	e := s.q.pop()
	s.now = e.at
	s.stats.Events++
	switch e.kind {
	case evTick:
		n := s.nodes[e.node]
		if !n.up || n.inc != e.inc {
			return
		}
		if n.paused {
			n.tickMissed = true
			return
		}
		s.tick(n)
	case evDeliver:
		s.deliver(e.pkt)
	case evResume:
		n := s.nodes[e.node]
		if !n.up || n.inc != e.inc || !n.paused || n.pauseEnd != e.at {
			return
		}
		s.resume(n)
	case evCall:
		s.trace.add(record{kind: kCall})
		e.fn()
	}
}

// start boots node n: the boot counter on its disk grows and is synced before
// the process exists, as the production driver does.
func (s *Sim) start(n *node) {
	n.boot = n.disk.bumpBoot()
	n.inc++
	n.up = true
	n.start = s.now
	n.paused, n.tickMissed, n.inbox = false, false, nil
	n.nextTick = 1 + time.Duration(s.rng.Int64N(int64(s.cfg.Tick)))
	h := &Host{s: s, n: n, inc: n.inc, boot: n.boot, start: s.now,
		rand: newRand(s.cfg.Seed, streamNode, uint64(n.id), uint64(n.boot))}
	n.host = h
	s.trace.add(record{kind: kStart, node: n.id, v: int64(n.boot), w: int64(n.num)})
	p := s.factory(h)
	if p == nil {
		panic("sim: Factory returned nil")
	}
	if n.host == h { // the factory did not crash or restart its own node
		n.proc = p
		s.scheduleTick(n)
	}
}

func (s *Sim) local(n *node) time.Duration { return localElapsed(s.now-n.start, n.num) }

func (s *Sim) scheduleTick(n *node) {
	at := n.start + globalElapsed(n.nextTick, n.num)
	s.q.push(event{at: at, kind: evTick, node: n.id, inc: n.inc})
}

func (s *Sim) tick(n *node) {
	now := s.local(n)
	inc := n.inc
	s.stats.Ticks++
	s.trace.add(record{kind: kTick, node: n.id, v: int64(now)})
	n.proc.Tick(now)
	if !n.up || n.inc != inc {
		return
	}
	if n.nextTick <= now { // keep the phase, skip what a pause swallowed
		n.nextTick += ((now-n.nextTick)/s.cfg.Tick + 1) * s.cfg.Tick
	}
	s.scheduleTick(n)
}

// Crash stops node id at once: its process and every unsynced disk write are
// lost, and so are packets waiting for it; packets still in flight to it are
// lost if they arrive while it is down. Crashing a down node does nothing.
func (s *Sim) Crash(id int) {
	n := s.node(id)
	if !n.up {
		return
	}
	s.trace.add(record{kind: kCrash, node: id, v: int64(n.boot)})
	for _, p := range n.inbox {
		s.drop(p, dropDown)
	}
	n.up, n.proc, n.host = false, nil, nil
	n.paused, n.tickMissed, n.inbox = false, false, nil
	n.inc++
	n.disk.crash()
}

// Restart starts node id again with a fresh process and Boot()+1 (a running
// node is crashed first: a hard reset). Its disk keeps only synced data.
func (s *Sim) Restart(id int) {
	n := s.node(id)
	s.Crash(id)
	s.start(n)
}

// Pause freezes node id for d, like a long GC pause or a stopped VM: no ticks
// and no deliveries. Packets arriving meanwhile wait (up to SocketBuffer) and
// are delivered at the resume in arrival order; the local clock keeps
// running, so the first Tick after the resume sees the jump. A tick that fell
// inside the pause fires at the resume, before or after the waiting packets
// (drawn from the seed, as a select would). Pausing a paused node extends the
// pause if d ends later; pausing a down node does nothing.
func (s *Sim) Pause(id int, d time.Duration) {
	n := s.node(id)
	if !n.up || d <= 0 {
		return
	}
	end := s.now + d
	if n.paused && end <= n.pauseEnd {
		return
	}
	n.paused, n.pauseEnd = true, end
	s.trace.add(record{kind: kPause, node: id, v: int64(d)})
	s.q.push(event{at: end, kind: evResume, node: id, inc: n.inc})
}

func (s *Sim) resume(n *node) {
	n.paused = false
	inbox, tick := n.inbox, n.tickMissed
	n.inbox, n.tickMissed = nil, false
	s.trace.add(record{kind: kResume, node: n.id, v: int64(len(inbox))})
	inc := n.inc
	tickFirst := tick && s.rng.IntN(2) == 0
	if tickFirst {
		s.tick(n)
	}
	for i, p := range inbox {
		if !n.up || n.inc != inc {
			for _, q := range inbox[i:] {
				s.drop(q, dropDown)
			}
			return
		}
		if n.paused { // paused again by a callback: keep waiting
			n.inbox = append(append([]*packet(nil), inbox[i:]...), n.inbox...)
			return
		}
		s.receive(n, p)
	}
	if tick && !tickFirst && n.up && n.inc == inc {
		s.tick(n)
	}
}
