package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/corral-ha/corral/core/bcast"
	"github.com/corral-ha/corral/core/config"
	"github.com/corral-ha/corral/core/conn"
	"github.com/corral-ha/corral/core/crm"
	"github.com/corral-ha/corral/core/membership"
	"github.com/corral-ha/corral/core/stack"
	"github.com/corral-ha/corral/core/transport"
	"github.com/corral-ha/corral/core/wire"
	"github.com/corral-ha/corral/core/witness"
)

// ErrClosed is returned by requests to a node that has stopped.
var ErrClosed = errors.New("node: stopped")

// ErrRestart is Run's error when the node stopped to start again: its
// peers have heard a boot id of this node at least this start's (its data
// directory was wiped or restored), and drop its packets as stale until it
// starts above it (core/wire ErrNewerSelf). The boot id is persisted, so
// the next Open takes one above; the agent starts again at once.
var ErrRestart = errors.New("node: restart needed: peers have seen a newer boot id of this node")

// Options are the parts of a node that are not configuration.
type Options struct {
	Logger *slog.Logger
	// OnMessage, OnEvent and OnMemberEvent receive application messages
	// (sent with Send), connectivity events and membership events, on the
	// event loop: they must not block.
	OnMessage     func(conn.Message)
	OnEvent       func(conn.Event)
	OnMemberEvent func(membership.Event)
	// OnDeliver receives ordered-broadcast deliveries (Broadcast), agreed
	// and safe, in order, on the event loop.
	OnDeliver func(bcast.Delivery)
	// TickEvery is the event loop's tick period (default heartbeat/2, what
	// conn needs; shorter only costs idle CPU: 2.2 % of a core at
	// heartbeat/4, 1.2 % at heartbeat/2, on the connectivity benchmark).
	TickEvery time.Duration
	// Executor runs resource agents; nil: the node's Lua host (tests may
	// pass a nodetest.DummyExecutor). Policy answers groups' failover policies;
	// nil: the node's Lua host runs the policy script the group names
	// (the resource manager's built-in default decides when it fails).
	Executor Executor
	Policy   PolicyHost
	// DNSMaxTCPConns caps each DNS listener's TCP connections (0:
	// config.DNSMaxTCPConns); the agent sizes it against its descriptor
	// limit.
	DNSMaxTCPConns int
	// Transport opens the node's links (nil: UDP sockets,
	// transport.ListenUDP; tests may pass a transport.MemNetwork's).
	Transport Listener
	// Clock is the event loop's clock (nil: the monotonic time since
	// Open).
	Clock func() time.Duration
	// Seed seeds the cores' randomness (0: a random seed).
	Seed uint64
}

// Transport is what the node needs of its links: core/transport's UDP or
// Mem.
type Transport interface {
	transport.Transport
	transport.FaultInjector
	Stats() transport.Stats
}

// Listener opens a node's transport on its links; h receives the
// packets.
type Listener func(links []netip.AddrPort, h transport.Handler, opt transport.Options) (Transport, error)

// ListenUDP is the default Listener: UDP sockets.
func ListenUDP(links []netip.AddrPort, h transport.Handler, opt transport.Options) (Transport, error) {
	return transport.ListenUDP(links, h, opt)
}

// Node is one running cluster node.
type Node struct {
	cfg   *config.Config
	opt   Options
	log   *slog.Logger
	store *Store
	boot  uint32
	self  wire.NodeID
	names map[wire.NodeID]string
	addrs map[wire.NodeID][]netip.AddrPort // peers' link addresses

	tr      Transport
	st      *stack.Stack // the protocol cores and their wiring (core/stack)
	cdb     cdbDriver
	dns     dnsDriver // the DNS responder's feed (dns.go)
	crm     crmDriver
	dlmd    dlmDriver      // lock sessions (dlm.go)
	disk    diskDriver     // the served disk: agent, NBD export, DiskIO (disk.go)
	wd      watchdogDriver // [fence] watchdog, fed while the lease holds (watchdog.go)
	witness voter          // nil without [quorum.witness]
	events  *eventLog
	lua     luaDriver     // the Lua host and the event handlers (lua.go)
	counts  counters      // what /metrics counts beyond the cores (metrics.go)
	start   time.Time     // the loop's clock is time since start (monotonic)
	left    chan struct{} // closed when a clean leave was committed

	// nagged is when each peer refused for different quorum settings was
	// last named in the log (member.go, at most once per nagEvery).
	nagged   map[wire.NodeID]time.Duration
	nagEvery time.Duration

	inbox chan transport.Packet
	bulk  chan bulkSend // full datagrams for the bulk sender (nil: send on the loop)
	reqs  chan func()
	done  chan struct{}

	closeOnce   sync.Once
	running     atomic.Bool
	loopDone    chan struct{}
	releaseOnce sync.Once
	releaseErr  error
	fatalErr    error   // set on the loop by fatal; Run returns it
	drops       dropLog // rate limits of the log lines about dropped packets
	// joined is set once this start has installed a view with another
	// node or a primary view: from then on it may run resources, and it
	// does not restart by itself on wire.ErrNewerSelf (wirelog.go).
	joined bool
}

// Open prepares a node from its configuration: it reads the key, takes
// the next boot id from the data store and binds the links. Run starts it.
func Open(cfg *config.Config, opt Options) (*Node, error) {
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	if opt.TickEvery == 0 {
		opt.TickEvery = cfg.Timers.Heartbeat.D() / 2
	}
	key, err := cfg.LoadKey()
	if err != nil {
		return nil, err
	}
	self := cfg.Self()
	if self == nil {
		return nil, fmt.Errorf("node %q is not in the node list", cfg.Node)
	}
	n := &Node{cfg: cfg, opt: opt, self: wire.NodeID(self.ID), names: map[wire.NodeID]string{},
		addrs: map[wire.NodeID][]netip.AddrPort{}, inbox: make(chan transport.Packet, 4096),
		reqs: make(chan func(), 64), done: make(chan struct{}), loopDone: make(chan struct{}), left: make(chan struct{})}
	n.log = opt.Logger.With("node", cfg.Node)
	n.start = time.Now()
	n.counts.init()
	n.nagged, n.nagEvery = map[wire.NodeID]time.Duration{}, settingsNagEvery
	for _, nd := range cfg.Nodes {
		id := wire.NodeID(nd.ID)
		n.names[id] = nd.Name
		var aps []netip.AddrPort
		for _, a := range nd.Addresses {
			aps = append(aps, netip.AddrPortFrom(netip.MustParseAddr(a), uint16(cfg.Port)))
		}
		if id == n.self {
			continue
		}
		n.addrs[id] = aps
	}
	if n.store, err = OpenStore(cfg.DataDir); err != nil {
		return nil, err
	}
	// The boot id never goes back, even when the data directory is wiped
	// or restored: at least the wall clock's seconds (wire doc.go).
	if n.boot, err = n.store.NextBoot(bootFloor(time.Now())); err != nil {
		n.closeStore()
		return nil, err
	}
	start, err := startID()
	if err != nil {
		n.closeStore()
		return nil, err
	}
	t := cfg.Timers
	if n.events, err = openEventLog(n.store, cfg.Node); err != nil {
		n.closeStore()
		return nil, err
	}
	if err = n.openLua(); err != nil {
		n.closeStore()
		return nil, err
	}
	switch w := cfg.Quorum.Witness; {
	case w.Disk != "":
		var ids []uint16
		for _, nd := range cfg.Nodes {
			ids = append(ids, uint16(nd.ID))
		}
		if n.witness, err = witness.NewDisk(w.Disk, key, uint16(n.self), ids, witness.DefaultLease, t.Drift); err != nil {
			n.closeStore()
			return nil, err
		}
	case w.Arbiter != "":
		if n.witness, err = witness.NewClient(w.Arbiter, cfg.Cluster, key); err != nil {
			n.closeStore()
			return nil, err
		}
	}
	if err = n.openStack(key, start); err != nil {
		n.closeStore()
		return nil, err
	}
	n.openCRM()
	var links []netip.AddrPort
	for _, a := range self.Addresses {
		links = append(links, netip.AddrPortFrom(netip.MustParseAddr(a), uint16(cfg.Port)))
	}
	listen := opt.Transport
	if listen == nil {
		listen = ListenUDP
	}
	n.tr, err = listen(links, n.receive, transport.Options{FaultInjection: cfg.Debug.FaultInjection})
	if err != nil {
		n.closeStore()
		return nil, err
	}
	if err = n.openDNS(); err != nil {
		_ = n.tr.Close()
		n.closeStore()
		return nil, err
	}
	if err = n.openNBD(); err != nil {
		n.closeDNS()
		_ = n.tr.Close()
		n.closeStore()
		return nil, err
	}
	if err = n.openWatchdog(); err != nil {
		n.closeDisks()
		n.closeDNS()
		_ = n.tr.Close()
		n.closeStore()
		return nil, fmt.Errorf("fencing: %w: fix [fence] watchdog or start the watchdog first", err)
	}
	n.log.Info("node open", "boot", n.boot, "links", links, "peers", len(n.addrs))
	return n, nil
}

// openStack builds the protocol stack from what the store holds.
func (n *Node) openStack(key []byte, start uint64) error {
	var saved stack.Saved
	var err error
	if saved.Membership, err = n.store.Get(keyMembership); err != nil {
		return err
	}
	if saved.CDB, err = n.store.GetCDB(); err != nil {
		return err
	}
	if saved.CRM, err = n.store.Get(keyCRM); err != nil {
		return err
	}
	if saved.Fence, err = n.store.Get(keyFence); err != nil {
		return err
	}
	id := stack.Identity{Boot: n.boot, Start: start, Key: key, Witness: n.witness != nil, WitnessWait: n.witnessWait(), Now: n.now()}
	sc, err := stack.FromConfig(n.cfg, id)
	if err != nil {
		return err
	}
	n.cdb.client = fmt.Sprintf("%s/%d", n.cfg.Node, n.boot)
	n.cdb.waiters = map[cdbKey]chan cdbReply{}
	seed := n.opt.Seed
	if seed == 0 {
		seed = rand.Uint64()
	}
	if n.st, err = stack.New(sc, saved, rand.New(rand.NewPCG(seed, uint64(n.boot)))); err != nil {
		return fmt.Errorf("%s: %w", n.cfg.DataDir, err)
	}
	return nil
}

// voter is a quorum witness: the arbiter's client or the disk witness.
type voter interface {
	Ask(ctx context.Context, node uint16, v witness.View, installed bool) (witness.Answer, error)
	Timeout() time.Duration // how long one Ask may take
}

// fatal stops the node after an error it cannot go on from (the disk
// failed): the loop ends and Run returns err.
func (n *Node) fatal(err error) {
	n.log.Error("stopping the node", "err", err)
	n.fatalErr = err
	n.closeOnce.Do(func() { close(n.done) })
}

// closeStore undoes Open's store and event log when Open fails.
func (n *Node) closeStore() {
	n.closeLua()
	if n.events != nil {
		n.events.close()
	}
	n.store.Close()
}

// receive is the transport's handler: it queues the packet for the loop.
func (n *Node) receive(p transport.Packet) {
	select {
	case n.inbox <- p:
	case <-n.done:
	}
}

// Boot is this start's boot id.
func (n *Node) Boot() uint32 { return n.boot }

// ID is this node's id.
func (n *Node) ID() wire.NodeID { return n.self }

// Name returns a node's name.
func (n *Node) Name(id wire.NodeID) string { return n.names[id] }

// Faults is the transport's fault injector (active only with [debug]
// fault_injection = true).
func (n *Node) Faults() transport.FaultInjector { return n.tr }

// PeerAddrs returns the IP addresses of a peer's links, for fault rules.
func (n *Node) PeerAddrs(id wire.NodeID) []netip.Addr {
	var out []netip.Addr
	for _, ap := range n.addrs[id] {
		out = append(out, ap.Addr())
	}
	return out
}

// Run runs the event loop until ctx ends or Close is called.
func (n *Node) Run(ctx context.Context) error {
	n.running.Store(true)
	defer close(n.loopDone)
	n.startWatchdog()
	n.bulk = make(chan bulkSend, bulkQueue)
	go n.sendBulk(n.bulk)
	go n.watchReloads() // reload.go
	ticker := time.NewTicker(n.opt.TickEvery)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return n.shutdown()
		case <-n.done:
			if err := n.shutdown(); n.fatalErr == nil {
				return err
			}
			return n.fatalErr
		case p := <-n.inbox:
			n.receivePacket(p)
		case f := <-n.reqs:
			f()
		case <-ticker.C:
			n.drain()
			now := n.now()
			n.crmTimeOfDay(now)
			n.st.Tick(now)
			n.nagRefused(now)
			n.watchdogTick(now)
		}
		n.gather()
		n.execute()
	}
}

// maxGather bounds the events gather takes before a round is carried out.
const maxGather = 256

// gather takes the packets and requests already queued (up to maxGather)
// before a round is carried out, so what arrived during the last round's
// fsync is handled by one round: the config DB writes all of it in one
// transaction (group commit) instead of one fsync each.
func (n *Node) gather() {
	for range maxGather {
		select {
		case p := <-n.inbox:
			n.receivePacket(p)
		case f := <-n.reqs:
			f()
		default:
			return
		}
	}
}

// drain reads every packet already queued (before a tick judges anyone).
func (n *Node) drain() {
	for {
		select {
		case p := <-n.inbox:
			n.receivePacket(p)
		default:
			return
		}
	}
}

func (n *Node) now() time.Duration {
	if n.opt.Clock != nil {
		return n.opt.Clock()
	}
	return time.Since(n.start)
}

// execute carries out the stack's Readies in order (core/stack/doc.go,
// the driver's obligations) until there is nothing more to do, then
// refreshes DNS.
func (n *Node) execute() {
	if n.fatalErr != nil {
		return
	}
	// Nothing is handed out here: the rounds below run at the time now,
	// not at the last input's (a request does not move the stack's clock).
	n.st.Advance(n.now())
	for n.fatalErr == nil {
		rd := n.st.Ready()
		if rd.Empty() {
			now := n.now()
			n.dnsRefresh(now)
			n.diskRefresh(now)
			return
		}
		if !n.carryOut(&rd) {
			return // stopping: nothing more leaves this node
		}
		n.st.Advance(n.now())
	}
}

// carryOut executes one Ready: logs; packets and early replies; the
// persists (fsync); the packets that wait for them; then calls, events,
// handlers and replies. It reports false when the node stops.
func (n *Node) carryOut(rd *stack.Ready) bool {
	for _, l := range rd.Logs {
		n.log.Log(context.Background(), l.Level, l.Msg, l.Args...)
	}
	n.sendPackets(rd.Packets)
	n.traceSent(rd.Sent)
	n.cdbAnswerAll(rd.EarlyReplies)
	if err := n.persist(&rd.Persist); err != nil {
		if rd.SelfFence != "" {
			// this node was fenced: its resources stop whatever the
			// disk does (stopping sends nothing)
			n.stopHere(time.Now().Add(selfFenceStopTimeout), "fenced")
		}
		n.fatal(err)
		for _, r := range rd.Replies {
			n.cdbAnswer(r.Client, r.Seq, cdbReply{err: err})
		}
		return false
	}
	n.sendPackets(rd.After)
	n.traceSent(rd.SentAfter)
	n.handleEvents(rd.Events)
	if n.opt.OnMessage != nil {
		for _, m := range rd.Messages {
			n.opt.OnMessage(m)
		}
	}
	if n.opt.OnDeliver != nil {
		for _, d := range rd.Deliveries {
			n.opt.OnDeliver(d)
		}
	}
	if rd.Stop == nil {
		// (a stopping node asks nothing and starts no calls)
		for _, q := range rd.Witness {
			n.askWitness(q)
		}
		for _, a := range rd.Agent {
			n.crmExec(a)
		}
		for _, p := range rd.Policy {
			n.crmPolicy(p)
		}
		for _, c := range rd.FenceCalls {
			n.fenceCall(c)
		}
	}
	for _, r := range rd.FenceHistory {
		n.fenceHistory(r)
	}
	n.cdbAnswerAll(rd.Replies)
	n.cdbReadsDone(rd.Reads)
	n.cdbFanout(rd.Watch)
	n.dlmReady(rd)
	n.diskReady(rd)
	if rd.GroupsChanged {
		n.crmPublishGroups()
	}
	if rd.LeaveAsked {
		// a clean leave moves this node's groups away first (Leave
		// waits, so not on the loop)
		go func() {
			if err := n.Leave(context.Background()); err != nil {
				n.log.Warn("leave asked by a peer", "err", err)
			}
		}()
	}
	if rd.SelfFence != "" {
		n.stopHere(time.Now().Add(selfFenceStopTimeout), "fenced")
	}
	if rd.Stop != nil {
		n.fatal(rd.Stop)
		return false
	}
	return true
}

// persist makes a Ready's Persist durable, in the stack's order (config
// DB, membership, fence, resource manager), each write synced. An error
// stops the node: the stack counts the state as written already (its
// promises, Acks and calls rest on it), so going on would act from memory
// on what the disk does not hold; a restart recovers from the disk.
func (n *Node) persist(p *stack.Persist) error {
	if p.CDB != nil {
		if err := n.store.PutCDB(p.CDB); err != nil {
			return fmt.Errorf("config database: cannot persist: %w", err)
		}
		if n.cdb.trace != nil && len(p.CDB.Entries) > 0 {
			n.cdb.trace(cdbEvent{durable: p.CDB.Entries})
		}
	}
	if p.Membership != nil {
		if err := n.store.Put(keyMembership, p.Membership.Marshal()); err != nil {
			return fmt.Errorf("membership: cannot persist the promise, epoch and lineage: %w", err)
		}
	}
	if p.Fence != nil {
		if err := n.store.Put(keyFence, p.Fence); err != nil {
			return fmt.Errorf("fencing: cannot persist the fence state: %w", err)
		}
	}
	if p.CRM != nil {
		if err := n.store.Put(keyCRM, crm.EncodeKnown(*p.CRM)); err != nil {
			// the owner table a new coordinator relies on (G4)
			return fmt.Errorf("resource manager: cannot persist the owner table: %w", err)
		}
	}
	return nil
}

// handleEvents logs the cores' events, hands them to the handlers and
// the event log, and acts on those that concern the node itself (a clean
// leave committed, a view joined).
func (n *Node) handleEvents(evs []stack.Event) {
	var stream []Event
	for _, ev := range evs {
		switch {
		case ev.Conn != nil:
			e := *ev.Conn
			n.logEvent(e)
			if se, ok := n.connEvent(e, ev.View); ok {
				stream = append(stream, se)
			}
			if n.opt.OnEvent != nil {
				n.opt.OnEvent(e)
			}
		case ev.Member != nil:
			e := *ev.Member
			n.logMemberEvent(e)
			if e.Kind == membership.EventViewChanged && (e.Primary || len(e.Members) > 1) {
				n.joined = true
			}
			if e.Kind == membership.EventLeft {
				n.closeWatchdog(true, "clean leave")
				close(n.left)
			}
			if se, ok := n.memberEvent(e); ok {
				stream = append(stream, se)
			}
			if n.opt.OnMemberEvent != nil {
				n.opt.OnMemberEvent(e)
			}
		case ev.CRM != nil:
			e := ev.CRM
			stream = append(stream, Event{Kind: e.Kind, View: n.viewName(ev.View), Resource: e.Resource, Group: e.Group, On: e.On, Error: e.Error,
				Owner: e.Owner, Reason: e.Reason, From: e.From, To: e.To})
		case ev.Fence != nil:
			e := ev.Fence
			stream = append(stream, Event{Kind: e.Kind, View: n.viewName(e.View), Target: e.Target, Device: e.Device, By: e.By, Error: e.Error})
			n.counts.fenceOp(e.Kind)
		case ev.DLM != nil:
			se := n.dlmEvent(*ev.DLM)
			n.dlmRecovered(&se, *ev.DLM) // dlmsurf.go
			stream = append(stream, se)
		case ev.Disk != nil:
			stream = append(stream, n.diskEvent(ev)) // disk.go
		}
	}
	n.events.append(stream)
}

func (n *Node) sendPackets(pkts []conn.Packet) {
	for _, p := range pkts {
		aps := n.addrs[p.To]
		if p.ToLink >= len(aps) {
			continue
		}
		if len(p.Data) >= bulkPacket && n.bulk != nil {
			select {
			case n.bulk <- bulkSend{link: p.Link, to: aps[p.ToLink], data: p.Data}:
				continue
			default: // the sender is behind: the loop sends it (back pressure)
			}
		}
		if err := n.tr.Send(p.Link, aps[p.ToLink], p.Data); err != nil {
			n.log.Debug("send", "to", n.names[p.To], "link", p.Link, "err", err)
		}
	}
}

// bulkPacket is the size from which a datagram is handed to the bulk
// sender: a full fragment (a disk piece's or a large message's), never a
// heartbeat, ack or small message. A bulk copy through a non-serving node
// sends ~190 full datagrams per 256 KiB piece; each sendto on loopback
// also runs the receiver's delivery, so sent on the loop they made it
// late on a loaded machine (heartbeats and lease answers went out late,
// leases lapsed, the disk restarted at a new epoch again and again).
// Off the loop, the small packets leave at once. Datagrams are not
// ordered anyway (conn reorders and retransmits), and one goroutine keeps
// the bulk ones in their order.
const bulkPacket = 1024

// bulkQueue bounds the datagrams waiting for the bulk sender (~6 MiB);
// when it is full the loop sends itself, which slows the loop down as
// before rather than queueing without bound.
const bulkQueue = 4096

type bulkSend struct {
	link int
	to   netip.AddrPort
	data []byte
}

// sendBulk is the bulk sender goroutine (started by Run).
func (n *Node) sendBulk(q <-chan bulkSend) {
	for {
		select {
		case b := <-q:
			if err := n.tr.Send(b.link, b.to, b.data); err != nil {
				n.log.Debug("send", "link", b.link, "to", b.to, "err", err)
			}
		case <-n.done:
			return
		}
	}
}

func (n *Node) logEvent(e conn.Event) {
	peer := n.names[e.Peer]
	switch e.Kind {
	case conn.EventLinkUp, conn.EventLinkDown:
		n.log.Info(e.Kind.String(), "peer", peer, "local_link", e.Local, "peer_link", e.Remote)
	case conn.EventUndeliverable:
		n.log.Warn(e.Kind.String(), "peer", peer, "messages", len(e.IDs), "reason", e.Reason)
	case conn.EventPeerRestarted:
		n.log.Warn(e.Kind.String(), "peer", peer, "boot", e.Boot)
	default:
		n.log.Info(e.Kind.String(), "peer", peer)
	}
}

// do runs f on the event loop and waits for it.
func (n *Node) do(f func()) error {
	ran := make(chan struct{})
	select {
	case n.reqs <- func() { f(); close(ran) }:
	case <-n.done:
		return ErrClosed
	case <-n.loopDone:
		return ErrClosed
	}
	select {
	case <-ran:
		return nil
	case <-n.loopDone:
		return ErrClosed
	}
}

// Send queues an application message to a peer; it returns the
// message's id (as conn's undeliverable events name it).
func (n *Node) Send(to wire.NodeID, data []byte) (uint64, error) {
	var id uint64
	var err error
	if e := n.do(func() { id, err = n.SendOnLoop(to, data) }); e != nil {
		return 0, e
	}
	return id, err
}

// SendOnLoop is Send for handlers (Options.OnMessage, OnEvent), which run
// on the event loop: it queues the message directly. Calling it from any
// other goroutine is a data race.
func (n *Node) SendOnLoop(to wire.NodeID, data []byte) (uint64, error) {
	return n.st.Send(n.now(), to, data)
}

// Broadcast sends payload to every member of the view in one total order
// (ordered broadcast with virtual synchrony); Options.OnDeliver receives
// it on every member, agreed then safe.
func (n *Node) Broadcast(payload []byte) (bcast.MsgID, error) {
	var id bcast.MsgID
	var err error
	if e := n.do(func() { id, err = n.st.Broadcast(payload) }); e != nil {
		return bcast.MsgID{}, e
	}
	return id, err
}

// Status returns the connectivity state of every peer.
func (n *Node) Status() ([]conn.PeerStatus, error) {
	var st []conn.PeerStatus
	err := n.do(func() { st = n.st.Peers() })
	return st, err
}

// Stats returns the connectivity and transport counters.
func (n *Node) Stats() (conn.Stats, transport.Stats, error) {
	var cs conn.Stats
	err := n.do(func() { cs = n.st.ConnStats() })
	return cs, n.tr.Stats(), err
}

// Close stops the loop (waiting for it if Run is running) and releases
// the sockets and the store.
func (n *Node) Close() error {
	n.closeOnce.Do(func() { close(n.done) })
	if n.running.Load() {
		<-n.loopDone
	}
	return n.release()
}

func (n *Node) shutdown() error {
	n.closeOnce.Do(func() { close(n.done) })
	if n.fatalErr == nil {
		n.cdbTick()
	}
	return n.release()
}

func (n *Node) release() error {
	n.releaseOnce.Do(func() {
		why := "the node stopped without a clean leave"
		if n.fatalErr != nil {
			why = n.fatalErr.Error()
		}
		n.closeWatchdog(false, why)
		n.closeDisks()
		n.closeDNS()
		trErr := n.tr.Close()
		n.closeLua()
		n.events.close()
		n.releaseErr = errors.Join(trErr, n.store.Close())
		n.log.Info("node stopped")
	})
	return n.releaseErr
}
