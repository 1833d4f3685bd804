package stack

import (
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/corral-ha/corral/core/bcast"
	"github.com/corral-ha/corral/core/cdb"
	"github.com/corral-ha/corral/core/conn"
	"github.com/corral-ha/corral/core/crm"
	"github.com/corral-ha/corral/core/fence"
	"github.com/corral-ha/corral/core/membership"
	"github.com/corral-ha/corral/core/quorum"
	"github.com/corral-ha/corral/core/wire"
)

// Node is one configured node.
type Node struct {
	ID   wire.NodeID
	Name string
}

// Config is a stack's configuration (FromConfig builds it from a config
// file).
type Config struct {
	Self wire.NodeID
	Boot uint32
	// Nodes are every configured node, this one included.
	Nodes []Node
	// Conn is the connectivity core's configuration (Self and Boot as
	// above).
	Conn conn.Config
	// Membership is the membership core's configuration; New sets its
	// Flusher (bcast's flush and the config DB's head, flush.go).
	Membership membership.Config
	// Fence is the fence core's configuration (Self is this node's name).
	Fence fence.Config
	// Start is the clock's reading at New (membership's timers start
	// there).
	Start time.Duration
	// DeadlockTimeout is how long a lock request waits before the
	// cluster-wide deadlock search looks at it ([dlm] deadlock_timeout;
	// dlm.DefaultDeadlockTimeout when 0); DLMLinger how long an unused
	// resource lingers (dlm.DefaultLinger when 0).
	DeadlockTimeout time.Duration
	DLMLinger       time.Duration
}

// Saved is what the store held at start (the zero Saved for a new node).
type Saved struct {
	Membership []byte        // membership.Persisted.Marshal
	CDB        cdb.Persisted // the config DB's log and snapshot
	CRM        []byte        // crm.EncodeKnown: the owner table
	Fence      []byte        // the fence core's state
}

var (
	// ErrStopped is returned by Step and the requests once the stack
	// stopped (Ready.Stop was set).
	ErrStopped = errors.New("stack: stopped")
	// ErrUnknownInput is returned by Step for an input it does not know
	// (nil).
	ErrUnknownInput = errors.New("unknown input")
)

// Stack is one node's composition of the protocol cores. It is not safe
// for concurrent use: the driver owns it.
type Stack struct {
	cfg   Config
	self  string // this node's name
	names map[wire.NodeID]string
	qc    quorum.Config

	conn    *conn.Conn
	mem     *membership.Membership
	bc      *bcast.Bcast
	cdb     cdbState
	crm     crmState
	fence   fenceState
	dlm     dlmState
	unblock unblockState // quorum unblock and declared fences (unblock.go)
	disk    diskState
	flush   *flusher // membership's Flusher (flush.go)

	now   time.Duration
	rd    Ready      // the round being built, or handed out (ready)
	ready bool       // rd is computed: Ready returns it until Advance
	given bool       // the Ready computed last was not empty: handed out
	carry conn.Ready // conn's messages and events taken mid-round (transmit)
	later []Log      // logged while a Ready was handed out: for the next
	stop  error      // set once the stack stopped
}

// New builds a stack from its configuration and what the store held.
// rng seeds the cores' randomness (conn's heartbeat jitter).
func New(cfg Config, saved Saved, rng *rand.Rand) (*Stack, error) {
	if rng == nil {
		return nil, errors.New("stack: New needs a *rand.Rand")
	}
	s := &Stack{cfg: cfg, names: map[wire.NodeID]string{}, now: cfg.Start}
	for _, nd := range cfg.Nodes {
		s.names[nd.ID] = nd.Name
	}
	s.self = s.names[cfg.Self]
	if s.self == "" {
		return nil, fmt.Errorf("stack: node %d is not in the node list", cfg.Self)
	}
	s.qc = cfg.Membership.Quorum
	var err error
	if s.conn, err = conn.New(cfg.Conn, rand.New(rand.NewPCG(rng.Uint64(), rng.Uint64()))); err != nil {
		return nil, err
	}
	if s.bc, err = bcast.New(bcast.Config{Self: cfg.Self, Boot: cfg.Boot}); err != nil {
		return nil, err
	}
	if err = s.openCDB(saved.CDB); err != nil {
		return nil, err
	}
	if err = s.openFence(saved.Fence); err != nil {
		return nil, err
	}
	if err = s.openCRM(saved.CRM); err != nil {
		return nil, err
	}
	if err = s.openMembership(saved.Membership); err != nil {
		return nil, err
	}
	if err = s.openDLM(rand.New(rand.NewPCG(rng.Uint64(), rng.Uint64()))); err != nil {
		return nil, err
	}
	if err = s.openDisk(); err != nil {
		return nil, err
	}
	return s, nil
}

// Step takes one input. The work it calls for is done when the driver
// asks for the next Ready.
func (s *Stack) Step(now time.Duration, in Input) error {
	if s.stop != nil {
		return ErrStopped
	}
	s.advanceClock(now)
	switch in := in.(type) {
	case Packet:
		return s.conn.Step(now, conn.Received{Link: in.Link, Data: in.Data})
	case AgentResult:
		return s.crm.c.Step(now, crm.ActionDone(in))
	case MonitorFailed:
		return s.crm.c.Step(now, crm.MonitorFailed(in))
	case PolicyAnswer:
		return s.crm.c.Step(now, crm.PolicyAnswer(in))
	case FenceResult:
		return s.fence.f.Step(now, fence.Result(in))
	case WitnessAnswer:
		return s.mem.Step(now, membership.WitnessAnswer{Members: in.Members, Granted: in.Granted, Lease: in.Lease, At: in.At})
	case TimeOfDay:
		return s.crm.c.Step(now, crm.TimeOfDay(in))
	case DiskServe, DiskUnserve, DiskIODone:
		return s.diskStep(now, in)
	}
	return fmt.Errorf("stack: input %T: %w", in, ErrUnknownInput)
}

// Tick runs the cores' timers.
func (s *Stack) Tick(now time.Duration) {
	if s.stop != nil {
		return
	}
	s.advanceClock(now)
	s.cdbTick()
	s.conn.Tick(now)
	s.mem.Tick(now)
	s.fenceTick(now)
	s.crmTick(now)
	s.dlmTick(now) // the lock manager's and the disk core's, in the next round
}

// Ready returns what the driver must do now (doc.go). It carries out the
// wiring for the inputs stepped since the last Advance the first time it
// is called, and returns the same until Advance: calling it again forgets
// nothing and does nothing more.
func (s *Stack) Ready() Ready {
	if !s.handedOut() {
		s.process()
		s.ready = true
		s.given = !s.rd.Empty()
	}
	return s.rd
}

// handedOut reports whether Ready returned a Ready that is not empty and
// not advanced yet: until Advance, nothing more is built.
func (s *Stack) handedOut() bool { return s.ready && s.given }

// Advance tells the stack that the driver carried out the last Ready
// (its Persist is durable) at now.
//
// When nothing was handed out (the last Ready was empty, or none was
// asked for), Advance only moves the clock: what was queued since (a log
// line, a commit mark) stays for the next Ready.
func (s *Stack) Advance(now time.Duration) {
	s.advanceClock(now)
	if s.handedOut() {
		s.rd = Ready{}
	}
	s.ready, s.given = false, false
}

func (s *Stack) advanceClock(now time.Duration) {
	if now > s.now {
		s.now = now
		s.dlm.judged = false // judged at an earlier time: a lease may have lapsed since
	}
}

// logf queues a log line (for the next Ready when one is handed out: a
// request or a Tick between Ready and Advance).
func (s *Stack) logf(level slog.Level, msg string, args ...any) {
	l := Log{Level: level, Msg: msg, Args: args}
	if s.handedOut() {
		s.later = append(s.later, l)
		return
	}
	s.rd.Logs = append(s.rd.Logs, l)
}

// fatal stops the stack: the Ready says so (the driver logs it), and
// nothing more leaves.
func (s *Stack) fatal(err error) {
	if s.stop == nil {
		s.stop = err
		s.rd.Stop = err
	}
}

// persisting reports whether the round being built has a Persist: no
// further round is built before the driver made it durable.
func (s *Stack) persisting() bool { return !s.rd.Persist.Empty() }

// process builds the Ready: rounds until one has something to persist
// (obligation 2: what follows it waits for Advance) or nothing happens.
func (s *Stack) process() {
	s.rd.Logs = append(s.rd.Logs, s.later...)
	s.later = nil
	for s.stop == nil && !s.persisting() {
		if !s.round(s.now) {
			return
		}
	}
}

// packets takes what conn has to send: before this round's Persist,
// those go first; after it, they wait for it.
func (s *Stack) packets() {
	rc := s.conn.Ready()
	s.conn.Advance()
	if s.persisting() {
		s.rd.After = append(s.rd.After, rc.Packets...)
	} else {
		s.rd.Packets = append(s.rd.Packets, rc.Packets...)
	}
	s.carry.Messages = append(s.carry.Messages, rc.Messages...)
	s.carry.Events = append(s.carry.Events, rc.Events...)
}

// round is one pass over the cores, in the order of the contract:
// connectivity output feeds membership and the broadcast; the config DB's
// deliveries and Persist (cdb.go); membership's Persist, messages and
// events; the config DB's quorum; the fence core's round, then the
// resource manager's, then the lock manager's, then the disk core's. It
// reports whether anything happened.
func (s *Stack) round(now time.Duration) bool {
	s.dlm.judged = false
	rc := s.conn.Ready()
	s.conn.Advance()
	if len(s.carry.Messages) > 0 || len(s.carry.Events) > 0 {
		rc.Messages = append(s.carry.Messages, rc.Messages...)
		rc.Events = append(s.carry.Events, rc.Events...)
		s.carry = conn.Ready{}
	}
	s.rd.Packets = append(s.rd.Packets, rc.Packets...)
	for _, m := range rc.Messages {
		s.deliver(now, m)
	}
	for _, e := range rc.Events {
		var in membership.Input
		switch e.Kind {
		case conn.EventPeerReachable:
			in = membership.Reach{Peer: e.Peer, Up: true}
		case conn.EventPeerUnreachable:
			in = membership.Reach{Peer: e.Peer, Up: false}
		case conn.EventPeerRestarted:
			in = membership.Restarted{Peer: e.Peer}
			s.dlmRestarted(e.Peer)
		}
		if in != nil {
			if err := s.mem.Step(now, in); err != nil {
				s.logf(slog.LevelWarn, "membership refused a connectivity event", "peer", s.names[e.Peer], "err", err)
			}
		}
		s.rd.Events = append(s.rd.Events, Event{View: s.mem.Status().View.ID, Conn: &e})
	}
	// deliveries to the config DB, its Persist, then bcast's messages
	rb := s.bc.Ready()
	s.bc.Advance()
	cdbBusy := s.cdbRound(now, rb)
	rm := s.mem.Ready()
	s.mem.Advance()
	if rm.Persist != nil {
		// Promises that are not durable must not be sent (membership
		// counts them as written): they go in After.
		s.rd.Persist.Membership = rm.Persist
	}
	s.rd.Witness = append(s.rd.Witness, rm.Witness...)
	for _, o := range rm.Messages {
		if lease(o.Msg) {
			// Worthless when late: outside the circuit, never behind
			// bulk data, never retransmitted.
			if err := s.conn.Datagram(now, o.To, wire.Encode(o.Msg)); err != nil {
				s.logf(slog.LevelWarn, "membership send", "to", s.names[o.To], "err", err)
			}
			continue
		}
		if _, err := s.conn.Send(now, o.To, wire.Encode(o.Msg)); err != nil {
			s.logf(slog.LevelWarn, "membership send", "to", s.names[o.To], "err", err)
		}
	}
	for _, e := range rm.Events {
		s.rd.Events = append(s.rd.Events, Event{View: e.View, Member: &e})
	}
	s.cdbQuorum(now, len(rm.Events) > 0)
	s.cdbReads(now)
	fenceBusy := s.fenceRound(now, rm.Events)
	crmBusy := s.crmRound(now, len(rm.Events) > 0)
	dlmBusy := s.dlmRound(now, rm.Events)
	diskBusy := s.diskRound(now)
	if s.persisting() && s.stop == nil {
		// what this round queued after its Persist waits for it
		s.packets()
	}
	return !rc.Empty() || s.conn.HasReady() || cdbBusy || crmBusy || fenceBusy || dlmBusy || diskBusy || rm.Persist != nil || len(rm.Messages) > 0 || len(rm.Events) > 0 ||
		len(rm.Witness) > 0 || s.cdb.db.HasReady()
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
// broadcast's to bcast, the config DB's transfers to the DB, the lock
// manager's to the lock manager, the disk core's to the disk core, the
// application's to Ready.Messages.
func (s *Stack) deliver(now time.Duration, m conn.Message) {
	msg, err := wire.Decode(m.Data)
	if err != nil {
		s.logf(slog.LevelWarn, "undecodable circuit message", "from", s.names[m.From], "err", err)
		return
	}
	switch msg := msg.(type) {
	case *wire.User:
		s.rd.Messages = append(s.rd.Messages, conn.Message{From: m.From, Boot: m.Boot, Data: msg.Payload, Datagram: m.Datagram})
	case *wire.Bcast:
		bms, err := decodeBcast(msg.Payload)
		if err != nil {
			s.logf(slog.LevelWarn, "undecodable broadcast message", "from", s.names[m.From], "err", err)
			return
		}
		for _, bm := range bms {
			s.stepBcast(now, m.From, bm)
		}
	case *wire.CDB:
		s.cdbStep(m.From, msg.Payload)
	case *wire.DLM:
		s.dlmReceive(now, m.From, msg.Payload)
	case *wire.Disk:
		s.diskReceive(now, m.From, m.Boot, msg.Payload)
	case *wire.SetState:
		if msg.To != s.cfg.Self {
			s.logf(slog.LevelWarn, "state change for another node ignored", "from", s.names[m.From], "for", s.names[msg.To])
			return
		}
		s.logf(slog.LevelInfo, "state change asked by a peer", "from", s.names[m.From], "state", membership.State(msg.State).String())
		if membership.State(msg.State) == membership.StateLeaving {
			// a clean leave moves this node's groups away first: the
			// driver drains, then sets the state
			s.rd.LeaveAsked = true
			return
		}
		s.crmResumed(now, membership.State(msg.State))
		if err := s.mem.Step(now, membership.SetState{State: membership.State(msg.State)}); err != nil {
			s.logf(slog.LevelWarn, "state change asked by a peer refused", "from", s.names[m.From], "err", err)
		}
	default:
		if err := s.mem.Step(now, membership.Receive{From: m.From, Msg: msg}); err != nil {
			s.logf(slog.LevelWarn, "membership message refused", "from", s.names[m.From], "err", err)
		}
	}
}

// transmit takes what conn has queued now, in the middle of a round
// (before a Persist): its packets go first; the messages and events that
// came with them are handled by the next round.
func (s *Stack) transmit() { s.packets() }

// ViewName names a view as the logs and events do: "epoch/coordinator".
func (s *Stack) ViewName(v wire.ViewID) string {
	if v.Epoch == 0 {
		return ""
	}
	return fmt.Sprintf("%d/%s", v.Epoch, s.names[v.Coord])
}

// Name returns a node's name.
func (s *Stack) Name(id wire.NodeID) string { return s.names[id] }
