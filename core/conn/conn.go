package conn

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/corral-ha/corral/core/wire"
)

// Errors returned by Send and Step.
var (
	ErrUnknownPeer = errors.New("conn: unknown peer")
	ErrTooBig      = errors.New("conn: message larger than the limit")
	ErrQueueFull   = errors.New("conn: send queue full: the peer is slower than the sender")
	// ErrUnknownInput is Step's error for an input it does not know (nil).
	ErrUnknownInput = errors.New("conn: unknown input")
)

// Packet is one datagram to send: from local link Link to peer To's link
// ToLink.
type Packet struct {
	Link   int
	To     wire.NodeID
	ToLink int
	Data   []byte
}

// Message is one message delivered from a peer: a circuit message, in
// order, or a datagram (Datagram set), in no particular order.
type Message struct {
	From wire.NodeID
	// Boot is the incarnation of From that sent it (the boot id conn
	// talked to when it arrived).
	Boot     uint32
	Data     []byte
	Datagram bool
}

// Input is one thing that happened, given to Step. The set is closed: only
// this package's types implement it.
type Input interface{ input() }

// Received is one datagram that arrived on local link Link.
type Received struct {
	Link int
	Data []byte
}

func (Received) input() {}

// Ready is what the driver must do after a batch of inputs.
type Ready struct {
	Packets  []Packet
	Messages []Message
	Events   []Event
}

// Empty reports whether there is nothing to do.
func (r Ready) Empty() bool {
	return len(r.Packets) == 0 && len(r.Messages) == 0 && len(r.Events) == 0
}

// chunkSize is the largest circuit chunk: a Data message of this size
// still fits one datagram of the wire layer's default 1400 bytes.
const chunkSize = 1400 - wire.Overhead - 48

// Conn is one node's connectivity state machine. It is not safe for
// concurrent use: the driver owns it.
type Conn struct {
	cfg   Config
	rng   *rand.Rand
	ep    *wire.Endpoint
	peers []*peer // sorted by id
	byID  map[wire.NodeID]*peer

	now      time.Duration
	started  bool
	lastTick time.Duration
	nextBeat time.Duration
	grace    time.Duration // suspect nobody before this (after a local pause)
	nextID   uint64        // message ids handed out by Send

	rd    Ready
	stats Stats
}

// New returns a Conn. rng drives heartbeat jitter; hand in one derived from
// the node's seed (nil: one seeded from the node id and boot).
func New(cfg Config, rng *rand.Rand) (*Conn, error) {
	cfg.fillDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	ep, err := wire.New(wire.Config{
		Cluster: cfg.Cluster,
		Key:     cfg.Key,
		Self:    cfg.Self,
		Boot:    cfg.Boot,
		Start:   cfg.Start,
		Peers:   peerIDs(cfg.Peers),
		// Circuits chunk their messages to fit one datagram; the wire
		// layer's fragmentation only guards against a peer that does not.
		MaxMessage:    64 << 10,
		MaxReassembly: 256 << 10,
	})
	if err != nil {
		return nil, fmt.Errorf("conn: %w", err)
	}
	if rng == nil {
		rng = rand.New(rand.NewPCG(uint64(cfg.Self), uint64(cfg.Boot)))
	}
	c := &Conn{cfg: cfg, rng: rng, ep: ep, byID: map[wire.NodeID]*peer{}}
	ps := slices.Clone(cfg.Peers)
	slices.SortFunc(ps, func(a, b Peer) int { return int(a.ID) - int(b.ID) })
	for _, p := range ps {
		pr := newPeer(p, cfg.Links)
		c.peers = append(c.peers, pr)
		c.byID[p.ID] = pr
	}
	return c, nil
}

// Ready returns what to do now: what the inputs since the last Advance
// produced. It changes nothing.
func (c *Conn) Ready() Ready { return c.rd }

// HasReady reports whether Ready has anything. It changes nothing.
func (c *Conn) HasReady() bool { return !c.rd.Empty() }

// Advance acknowledges the last Ready: the driver carried it out. A round
// ends here: the acknowledgements of what earlier rounds delivered go out
// (in the next Ready) unless a reply carried them, so the driver calls
// Ready again while HasReady.
func (c *Conn) Advance() {
	c.rd = Ready{}
	c.flushAcks()
}

// Send queues payload for peer to; the returned id names it in an
// EventUndeliverable. payload is not copied: do not change it afterwards.
func (c *Conn) Send(now time.Duration, to wire.NodeID, payload []byte) (uint64, error) {
	c.advance(now)
	p := c.byID[to]
	if p == nil {
		return 0, fmt.Errorf("%w %d", ErrUnknownPeer, to)
	}
	if len(payload) > c.cfg.MaxMessage {
		return 0, fmt.Errorf("%w: %d bytes, limit %d", ErrTooBig, len(payload), c.cfg.MaxMessage)
	}
	if p.queuedBytes+len(payload) > c.cfg.QueueBytes {
		c.stats.QueueFull++
		return 0, fmt.Errorf("%w (peer %d, %d bytes queued)", ErrQueueFull, to, p.queuedBytes)
	}
	c.nextID++
	// Chunks are acknowledged and resent one by one, so a big message
	// gets through a lossy path without resending all of it.
	for off := 0; ; off += chunkSize {
		end := min(off+chunkSize, len(payload))
		p.queue = append(p.queue, &outMsg{id: c.nextID, data: payload[off:end:end], more: end < len(payload), queuedAt: c.now})
		if end == len(payload) {
			break
		}
	}
	p.queuedBytes += len(payload)
	c.flush()
	return c.nextID, nil
}

// Datagram sends payload once on the best path to a reachable peer, with
// no acknowledgement and no retransmission; it is dropped (and counted) when
// the peer is unreachable. Lost datagrams are not reported.
func (c *Conn) Datagram(now time.Duration, to wire.NodeID, payload []byte) error {
	c.advance(now)
	p := c.byID[to]
	if p == nil {
		return fmt.Errorf("%w %d", ErrUnknownPeer, to)
	}
	pa := p.best()
	if pa == nil {
		c.stats.DatagramsDropped++
		return nil
	}
	c.stats.Datagrams++
	c.seal(p, pa, &wire.Datagram{Payload: payload})
	c.flush()
	return nil
}

func peerIDs(ps []Peer) []wire.NodeID {
	ids := make([]wire.NodeID, 0, len(ps))
	for _, p := range ps {
		ids = append(ids, p.ID)
	}
	return ids
}

// DropError is Receive's answer for a packet the wire layer dropped: the
// reason (a wire drop reason, test with errors.Is) and the sender and boot
// id its header claims, which the driver may log (rate-limited: a flood of
// forgeries must not flood the log).
type DropError struct {
	From wire.NodeID
	Boot uint32
	Err  error
	// SelfBoot is set with wire.ErrNewerSelf: the boot id of this node
	// the authentic packet was addressed to (wire.Delivery.SelfBoot).
	SelfBoot uint32
}

func (e *DropError) Error() string {
	return fmt.Sprintf("packet from node %d (boot %d) dropped: %v", e.From, e.Boot, e.Err)
}

func (e *DropError) Unwrap() error { return e.Err }

// Step takes one input (Received). For a Received packet it returns a
// *DropError when the wire layer dropped the packet (already counted in
// Stats.Wire), nil otherwise.
func (c *Conn) Step(now time.Duration, in Input) error {
	switch in := in.(type) {
	case Received:
		err := c.receive(now, in.Link, in.Data)
		c.flush()
		return err
	default:
		return fmt.Errorf("conn: input %T: %w", in, ErrUnknownInput)
	}
}

// receive handles one datagram that arrived on local link.
func (c *Conn) receive(now time.Duration, link int, pkt []byte) error {
	c.advance(now)
	c.stats.PacketsIn++
	if link < 0 || link >= c.cfg.Links {
		c.stats.BadLink++
		return nil
	}
	d, err := c.ep.Open(now, pkt)
	p := c.byID[d.From]
	if err != nil {
		if d.NewBoot && p != nil {
			// Dropped, but authentic and from a new incarnation (one
			// addressed to another incarnation of this node, or a bad
			// fragment): seal for that incarnation from now on.
			c.restarted(p, d.Boot, d.Start)
		}
		return &DropError{From: d.From, Boot: d.Boot, Err: err, SelfBoot: d.SelfBoot}
	}
	if p == nil {
		c.stats.UnknownPeer++
		return nil
	}
	if d.NewBoot || p.boot != d.Boot || p.start != d.Start {
		c.restarted(p, d.Boot, d.Start)
	}
	if d.Msg == nil {
		return nil // a fragment; the message is not complete yet
	}
	m, err := wire.Decode(d.Msg)
	if err != nil {
		c.stats.BadMessage++
		return nil
	}
	if _, hb := m.(*wire.Heartbeat); d.Unbound && !hb {
		// The sender did not name this incarnation: the packet may be
		// older than this node's start. Only discovery may use it.
		c.stats.Unbound++
		return nil
	}
	switch m := m.(type) {
	case *wire.Heartbeat:
		c.onHeartbeat(p, link, m)
	case *wire.Data:
		c.onData(p, m)
	case *wire.Ack:
		c.onAck(p, m.DstBoot, m.Circ, m.Cum, m.Sack)
	case *wire.Datagram:
		c.rd.Messages = append(c.rd.Messages, Message{From: p.id, Boot: p.boot, Data: m.Payload, Datagram: true})
	default:
		c.stats.BadMessage++
	}
	return nil
}

// Tick lets time pass: heartbeats, failure detection, retransmission and
// undeliverable timeouts happen here.
func (c *Conn) Tick(now time.Duration) {
	if c.started && now-c.lastTick > c.cfg.SuspectMin {
		// Our own tick is late by more than the detector floor: we were
		// paused. Read what queued up before judging anyone.
		c.stats.LocalPauses++
		c.grace = now + c.cfg.Heartbeat
		for _, p := range c.peers {
			for _, pa := range p.paths {
				pa.in.skip = true
			}
		}
	}
	c.started = true
	c.lastTick = now
	c.advance(now)
	if now >= c.nextBeat {
		c.heartbeat()
		// Up to 10 % jitter keeps nodes from beating in lockstep.
		jitter := time.Duration(c.rng.Int64N(int64(c.cfg.Heartbeat)/10 + 1))
		c.nextBeat = now + c.cfg.Heartbeat - jitter
	}
	if now >= c.grace {
		c.detect()
	}
	for _, p := range c.peers {
		c.checkUndeliverable(p)
	}
	c.ep.Expire(now)
	c.flush()
}

// advance moves the clock forward (never back).
func (c *Conn) advance(now time.Duration) {
	if now > c.now {
		c.now = now
	}
}

func (c *Conn) event(e Event) {
	e.At = c.now
	c.rd.Events = append(c.rd.Events, e)
}

// seal encodes m and appends its packets for peer p on path pa.
func (c *Conn) seal(p *peer, pa *path, m wire.Message) {
	pkts, err := c.ep.Seal(p.dest(), wire.Encode(m))
	if err != nil {
		// Only a counter running out of nonces; the driver restarts.
		c.stats.SealErrors++
		return
	}
	for _, b := range pkts {
		c.rd.Packets = append(c.rd.Packets, Packet{Link: pa.local, To: p.id, ToLink: pa.remote, Data: b})
	}
	c.stats.PacketsOut += uint64(len(pkts))
}
