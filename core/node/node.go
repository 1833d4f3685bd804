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
	"github.com/corral-ha/corral/core/membership"
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

	tr      *transport.UDP
	conn    *conn.Conn
	mem     *membership.Membership
	bc      *bcast.Bcast
	cdb     cdbDriver
	dns     dnsDriver // the DNS responder's feed (dns.go)
	crm     crmDriver
	fence   fenceDriver    // the fence core's feed (fence.go)
	wd      watchdogDriver // [fence] watchdog, fed while the lease holds (watchdog.go)
	witness voter          // nil without [quorum.witness]
	events  *eventLog
	carry   conn.Ready    // taken from conn by transmit, for the next pass of execute
	lua     luaDriver     // the Lua host and the event handlers (lua.go)
	counts  counters      // what /metrics counts beyond the cores (metrics.go)
	start   time.Time     // the loop's clock is time since start (monotonic)
	left    chan struct{} // closed when a clean leave was committed
	// packetOut, when set (the full-stack simulation, cdbsim_test.go),
	// takes conn's packets instead of the UDP transport.
	packetOut func(conn.Packet)
	// clock, when set (the full-stack simulation), is the loop's clock
	// instead of the time since start.
	clock func() time.Duration

	// nagged is when each peer refused for different quorum settings was
	// last named in the log (member.go, at most once per nagEvery).
	nagged   map[wire.NodeID]time.Duration
	nagEvery time.Duration

	inbox chan transport.Packet
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
	var peers []conn.Peer
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
		peers = append(peers, conn.Peer{ID: id, Links: len(aps)})
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
	n.conn, err = conn.New(conn.Config{
		Cluster: cfg.Cluster, Key: key, Self: n.self, Boot: n.boot, Start: start, Links: len(self.Addresses), Peers: peers,
		Heartbeat: t.Heartbeat.D(), SuspectMin: t.SuspectMin.D(), SuspectMax: t.SuspectMax.D(),
	}, rand.New(rand.NewPCG(rand.Uint64(), uint64(n.boot))))
	if err != nil {
		n.closeStore()
		return nil, err
	}
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
	if n.bc, err = bcast.New(bcast.Config{Self: n.self, Boot: n.boot}); err != nil {
		n.closeStore()
		return nil, err
	}
	if err = n.openCDB(); err != nil {
		n.closeStore()
		return nil, err
	}
	if err = n.openFence(); err != nil {
		n.closeStore()
		return nil, err
	}
	if err = n.openCRM(); err != nil {
		n.closeStore()
		return nil, err
	}
	if n.mem, err = n.openMembership(); err != nil {
		n.closeStore()
		return nil, err
	}
	var links []netip.AddrPort
	for _, a := range self.Addresses {
		links = append(links, netip.AddrPortFrom(netip.MustParseAddr(a), uint16(cfg.Port)))
	}
	n.tr, err = transport.ListenUDP(links, n.receive, transport.Options{FaultInjection: cfg.Debug.FaultInjection})
	if err != nil {
		n.closeStore()
		return nil, err
	}
	if err = n.openDNS(); err != nil {
		_ = n.tr.Close()
		n.closeStore()
		return nil, err
	}
	if err = n.openWatchdog(); err != nil {
		n.closeDNS()
		_ = n.tr.Close()
		n.closeStore()
		return nil, fmt.Errorf("fencing: %w: fix [fence] watchdog or start the watchdog first", err)
	}
	n.log.Info("node open", "boot", n.boot, "links", links, "peers", len(peers))
	return n, nil
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
			n.conn.Tick(now)
			n.mem.Tick(now)
			n.nagRefused(now)
			n.watchdogTick(now)
			n.cdbTick()
			n.fenceTick(now)
			n.crmTick(now)
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
	if n.clock != nil {
		return n.clock()
	}
	return time.Since(n.start)
}

// execute carries out the cores' Ready in order: connectivity output
// feeds membership; membership's state is persisted (fsync) before its
// messages go out; then events reach the handlers. Again while there is
// more (a reply sent with SendOnLoop goes out now, not at the next tick).
func (n *Node) execute() {
	for {
		if n.fatalErr != nil {
			return // stopping: nothing more leaves this node
		}
		now := n.now()
		var stream []Event
		rc := n.conn.Ready()
		n.conn.Advance()
		if len(n.carry.Messages) > 0 || len(n.carry.Events) > 0 {
			rc.Messages = append(n.carry.Messages, rc.Messages...)
			rc.Events = append(n.carry.Events, rc.Events...)
			n.carry = conn.Ready{}
		}
		n.sendPackets(rc.Packets)
		for _, m := range rc.Messages {
			n.deliver(now, m)
		}
		for _, e := range rc.Events {
			n.logEvent(e)
			var in membership.Input
			switch e.Kind {
			case conn.EventPeerReachable:
				in = membership.Reach{Peer: e.Peer, Up: true}
			case conn.EventPeerUnreachable:
				in = membership.Reach{Peer: e.Peer, Up: false}
			case conn.EventPeerRestarted:
				in = membership.Restarted{Peer: e.Peer}
			}
			if in != nil {
				if err := n.mem.Step(now, in); err != nil {
					n.log.Warn("membership refused a connectivity event", "peer", n.names[e.Peer], "err", err)
				}
			}
			if ev, ok := n.connEvent(e); ok {
				stream = append(stream, ev)
			}
			if n.opt.OnEvent != nil {
				n.opt.OnEvent(e)
			}
		}
		// deliveries to the config DB, its Persist durable, then bcast's
		// messages (cdb.go)
		rb := n.bc.Ready()
		n.bc.Advance()
		cdbBusy := n.cdbRound(now, rb)
		rm := n.mem.Ready()
		n.mem.Advance()
		if rm.Persist != nil {
			if err := n.store.Put(keyMembership, rm.Persist.Marshal()); err != nil {
				// Promises that are not durable must not be sent, and
				// membership believes they are (Advance cleared its dirty
				// flag: a re-sent proposal would be promised from memory,
				// not disk): stop the node, as a failed config DB or
				// fence write does; a restart recovers from the disk.
				n.fatal(fmt.Errorf("membership: cannot persist the promise, epoch and lineage: %w", err))
				return
			}
		}
		for _, q := range rm.Witness {
			n.askWitness(q)
		}
		for _, o := range rm.Messages {
			if lease(o.Msg) {
				// Worthless when late: outside the circuit, never behind
				// bulk data, never retransmitted.
				if err := n.conn.Datagram(now, o.To, wire.Encode(o.Msg)); err != nil {
					n.log.Warn("membership send", "to", n.names[o.To], "err", err)
				}
				continue
			}
			if _, err := n.conn.Send(now, o.To, wire.Encode(o.Msg)); err != nil {
				n.log.Warn("membership send", "to", n.names[o.To], "err", err)
			}
		}
		for _, e := range rm.Events {
			n.logMemberEvent(e)
			if e.Kind == membership.EventViewChanged && (e.Primary || len(e.Members) > 1) {
				n.joined = true
			}
			if e.Kind == membership.EventLeft {
				n.closeWatchdog(true, "clean leave")
				close(n.left)
			}
			if ev, ok := n.memberEvent(e); ok {
				stream = append(stream, ev)
			}
			if n.opt.OnMemberEvent != nil {
				n.opt.OnMemberEvent(e)
			}
		}
		n.events.append(stream)
		n.cdbQuorum(now, len(rm.Events) > 0)
		fenceBusy := n.fenceRound(now, rm.Events)
		crmBusy := n.crmRound(now, len(rm.Events) > 0)
		if rc.Empty() && !n.conn.HasReady() && !cdbBusy && !crmBusy && !fenceBusy && rm.Persist == nil && len(rm.Messages) == 0 && len(rm.Events) == 0 && len(rm.Witness) == 0 &&
			!n.cdb.db.HasReady() {
			n.dnsRefresh(now)
			return
		}
	}
}

// lease reports whether m is a lease heartbeat or its answer.
func lease(m wire.Message) bool {
	switch m.(type) {
	case *wire.LeaseReq, *wire.LeaseAck:
		return true
	}
	return false
}

// deliver routes one circuit message: membership's to membership, the
// application's to OnMessage.
func (n *Node) deliver(now time.Duration, m conn.Message) {
	msg, err := wire.Decode(m.Data)
	if err != nil {
		n.log.Warn("undecodable circuit message", "from", n.names[m.From], "err", err)
		return
	}
	switch msg := msg.(type) {
	case *wire.User:
		if n.opt.OnMessage != nil {
			n.opt.OnMessage(conn.Message{From: m.From, Data: msg.Payload})
		}
	case *wire.Bcast:
		bms, err := decodeBcast(msg.Payload)
		if err != nil {
			n.log.Warn("undecodable broadcast message", "from", n.names[m.From], "err", err)
			return
		}
		for _, bm := range bms {
			n.stepBcast(now, m.From, bm)
		}
	case *wire.CDB:
		n.cdbStep(m.From, msg.Payload)
	case *wire.SetState:
		if msg.To != n.self {
			n.log.Warn("state change for another node ignored", "from", n.names[m.From], "for", n.names[msg.To])
			return
		}
		n.log.Info("state change asked by a peer", "from", n.names[m.From], "state", membership.State(msg.State).String())
		if membership.State(msg.State) == membership.StateLeaving {
			// a clean leave moves this node's groups away first (Leave
			// waits, so not on the loop)
			go func() {
				if err := n.Leave(context.Background()); err != nil {
					n.log.Warn("leave asked by a peer", "err", err)
				}
			}()
			return
		}
		if err := n.mem.Step(now, membership.SetState{State: membership.State(msg.State)}); err != nil {
			n.log.Warn("state change asked by a peer refused", "from", n.names[m.From], "err", err)
		}
	default:
		if err := n.mem.Step(now, membership.Receive{From: m.From, Msg: msg}); err != nil {
			n.log.Warn("membership message refused", "from", n.names[m.From], "err", err)
		}
	}
}

// transmit sends what conn has queued now, in the middle of a round (before
// an fsync); the messages and events that Ready may hold are handled by
// the next pass of execute.
func (n *Node) transmit() {
	rc := n.conn.Ready()
	n.conn.Advance()
	n.sendPackets(rc.Packets)
	n.carry.Messages = append(n.carry.Messages, rc.Messages...)
	n.carry.Events = append(n.carry.Events, rc.Events...)
}

func (n *Node) sendPackets(pkts []conn.Packet) {
	for _, p := range pkts {
		if n.packetOut != nil {
			n.packetOut(p)
			continue
		}
		aps := n.addrs[p.To]
		if p.ToLink >= len(aps) {
			continue
		}
		if err := n.tr.Send(p.Link, aps[p.ToLink], p.Data); err != nil {
			n.log.Debug("send", "to", n.names[p.To], "link", p.Link, "err", err)
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
	return n.conn.Send(n.now(), to, wire.Encode(&wire.User{Payload: data}))
}

// Broadcast sends payload to every member of the view in one total order
// (ordered broadcast with virtual synchrony); Options.OnDeliver receives
// it on every member, agreed then safe.
func (n *Node) Broadcast(payload []byte) (bcast.MsgID, error) {
	var id bcast.MsgID
	var err error
	if e := n.do(func() { id, err = n.bc.Broadcast(append([]byte{tagApp}, payload...)) }); e != nil {
		return bcast.MsgID{}, e
	}
	return id, err
}

// Status returns the connectivity state of every peer.
func (n *Node) Status() ([]conn.PeerStatus, error) {
	var st []conn.PeerStatus
	err := n.do(func() { st = n.conn.Status() })
	return st, err
}

// Stats returns the connectivity and transport counters.
func (n *Node) Stats() (conn.Stats, transport.Stats, error) {
	var cs conn.Stats
	err := n.do(func() { cs = n.conn.Stats() })
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
		n.closeDNS()
		trErr := n.tr.Close()
		n.closeLua()
		n.events.close()
		n.releaseErr = errors.Join(trErr, n.store.Close())
		n.log.Info("node stopped")
	})
	return n.releaseErr
}
