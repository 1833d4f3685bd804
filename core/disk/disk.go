package disk

import (
	"cmp"
	"fmt"
	"slices"
	"time"

	"github.com/corral-ha/corral/core/wire"
)

// ErrInvalid is returned by Submit for a malformed request (an unknown
// op, a write whose Data is not Len bytes) and by Step for an input that
// makes no sense (Serve at an epoch not above the one served). Added to
// the fixed surface (api.go has no such error).
var ErrInvalid = fmt.Errorf("disk: invalid request")

// testMutation breaks one protocol rule on purpose, for the simulation's
// mutation checks (export_test.go sets it; always "" in production):
// "ignore-view-tag" (the server takes requests tagged older than its
// barrier), "replay-reverse" (a client replays its unacknowledged pieces
// to a new server in reverse order), "dup-by-seq" (the duplicate cache is
// keyed by seq only).
var testMutation string

// Core is one node's disk core: the client half (this node's requests on
// every disk, client.go) and the server half (the disks it serves,
// server.go). See doc.go for the contract.
type Core struct {
	cfg Config
	now time.Duration

	// The view.
	view    View
	hasView bool
	members map[Inc]bool

	// Client half.
	defined map[string]Disk
	cl      map[string]*cdisk
	best    map[string]*known // the newest server announced, per disk

	// Server half.
	srv     map[string]*sdisk
	ios     map[uint64]*sreq // IO in flight, by IO id
	nextIO  uint64
	barrier wire.ViewID       // requests tagged older are refused (stale view)
	stale   map[string]uint64 // per disk: the newest epoch reported in Ready.Stale
	fenced  bool              // the last stepped view's barrier is complete

	selfq []fromMsg // messages to this node, handled before the entry point returns

	rd           Ready
	fencedMoved  bool // rd.Fenced changed since the last Advance
	malformed    uint64
	unknownIO    uint64
	servedEvents map[string]uint64 // per disk: the newest epoch a disk_served event was given for
}

type fromMsg struct {
	from Inc
	m    msg
}

// New returns a core.
func New(cfg Config) (*Core, error) {
	if cfg.Self.Node == 0 {
		return nil, fmt.Errorf("disk config: self is node 0: %w", ErrInvalid)
	}
	return &Core{
		cfg:          cfg.withDefaults(),
		members:      map[Inc]bool{},
		defined:      map[string]Disk{},
		cl:           map[string]*cdisk{},
		best:         map[string]*known{},
		srv:          map[string]*sdisk{},
		ios:          map[uint64]*sreq{},
		stale:        map[string]uint64{},
		servedEvents: map[string]uint64{},
	}, nil
}

// Step takes one input.
func (c *Core) Step(now time.Duration, in Input) error {
	c.now = now
	var err error
	switch in := in.(type) {
	case Define:
		c.define(in)
	case View:
		c.stepView(in)
	case Receive:
		m, derr := decodeMsg(in.Payload)
		if derr != nil {
			c.malformed++
			err = fmt.Errorf("disk: message from node %d: %w", in.From.Node, derr)
			break
		}
		c.handle(in.From, m)
	case Serve:
		err = c.serve(in)
	case Unserve:
		c.unserve(in.Disk)
	case IODone:
		c.ioDone(in)
	default:
		err = fmt.Errorf("disk: unknown input %T: %w", in, ErrInvalid)
	}
	c.drain()
	return err
}

// Tick lets time pass (retry deadlines).
func (c *Core) Tick(now time.Duration) {
	c.now = now
	c.expire()
	c.drain()
}

// HasReady reports whether Ready has anything.
func (c *Core) HasReady() bool {
	r := &c.rd
	return len(r.Messages) > 0 || len(r.IO) > 0 || len(r.Done) > 0 || len(r.Events) > 0 ||
		len(r.Stale) > 0 || c.fencedMoved
}

// Ready returns what the driver must do (see Ready); call Advance after.
func (c *Core) Ready() Ready { return c.rd }

// Advance says the last Ready was carried out.
func (c *Core) Advance() {
	c.rd = Ready{Fenced: c.rd.Fenced}
	c.fencedMoved = false
}

// Dropped reports the malformed messages Step dropped and the IODone of
// unknown ids it ignored (added to the fixed surface, for metrics and
// tests).
func (c *Core) Dropped() (malformed, unknownIO uint64) { return c.malformed, c.unknownIO }

// Fenced reports whether the barrier of view v is complete here: v is
// the last view stepped and no request of an incarnation outside it is
// queued or in flight (none will be taken). A view never stepped and
// newer than the last is not fenced; a view older than the last stepped
// is fenced iff the last is (its departed incarnations are departed from
// the last too, or back as members the stack no longer releases).
func (c *Core) Fenced(v wire.ViewID) bool {
	if !c.hasView || viewLess(c.view.ID, v) {
		return false
	}
	return c.fenced
}

// viewLess orders view ids by epoch, then coordinator.
func viewLess(a, b wire.ViewID) bool {
	if a.Epoch != b.Epoch {
		return a.Epoch < b.Epoch
	}
	return a.Coord < b.Coord
}

func incCmp(a, b Inc) int {
	if a.Node != b.Node {
		return cmp.Compare(a.Node, b.Node)
	}
	return cmp.Compare(a.Boot, b.Boot)
}

// send queues m for node to (handled locally when to is this node).
func (c *Core) send(to wire.NodeID, m msg) {
	if to == c.cfg.Self.Node {
		c.selfq = append(c.selfq, fromMsg{from: c.cfg.Self, m: m})
		return
	}
	c.rd.Messages = append(c.rd.Messages, Out{To: to, Payload: m.encode(nil)})
}

// drain handles the messages this node sent itself.
func (c *Core) drain() {
	for len(c.selfq) > 0 {
		f := c.selfq[0]
		c.selfq = c.selfq[1:]
		c.handle(f.from, f.m)
	}
	c.selfq = nil
}

func (c *Core) handle(from Inc, m msg) {
	switch m.kind {
	case mkRequest:
		c.request(from, m)
	case mkReply:
		c.reply(from, m)
	case mkAnnounce:
		c.announced(from, m)
	case mkStopped:
		c.stopped(from, m)
	}
}

func (c *Core) event(e Event) { c.rd.Events = append(c.rd.Events, e) }

// stepView installs a view: the server half's barrier first, then the
// client half's routes.
func (c *Core) stepView(v View) {
	prev := c.view
	hadView := c.hasView
	v.Members = slices.Clone(v.Members)
	slices.SortFunc(v.Members, incCmp)
	c.view, c.hasView = v, true
	c.members = make(map[Inc]bool, len(v.Members))
	for _, m := range v.Members {
		c.members[m] = true
	}
	gone := false
	var fresh []Inc // members not in the previous view
	if hadView {
		for _, m := range prev.Members {
			if !c.members[m] {
				gone = true
			}
		}
		for _, m := range v.Members {
			if !slices.Contains(prev.Members, m) {
				fresh = append(fresh, m)
			}
		}
	} else {
		fresh = v.Members
	}
	if gone {
		c.barrier = v.ID
	}
	c.serverView(fresh)
	c.clientView(!hadView || prev.ID != v.ID)
	c.checkFenced()
}

// Status reports every disk, sorted by name: the defined ones and the
// ones this node serves.
func (c *Core) Status() []Status {
	names := map[string]bool{}
	for n := range c.defined {
		names[n] = true
	}
	for n, s := range c.srv {
		if s.serving {
			names[n] = true
		}
	}
	var out []Status
	for n := range names {
		st := Status{Name: n, Size: c.defined[n].Size, State: "stopped"}
		if s := c.srv[n]; s != nil && s.serving {
			st.Serving = true
			st.ServedReads, st.ServedWrites = s.servedReads, s.servedWrites
		}
		if k := c.best[n]; k != nil && k.valid {
			srv := k.server
			st.Server, st.Epoch = &srv, k.epoch
			st.Clients = slices.Clone(k.clients)
		}
		if d := c.cl[n]; d != nil {
			st.Pending = len(d.reqs)
			st.Reads, st.Writes, st.Flushes = d.reads, d.writes, d.flushes
		}
		switch {
		case c.route(n) != nil:
			st.State = "serving"
		case st.Server != nil || st.Pending > 0:
			st.State = "recovering"
		}
		out = append(out, st)
	}
	slices.SortFunc(out, func(a, b Status) int { return cmp.Compare(a.Name, b.Name) })
	return out
}
