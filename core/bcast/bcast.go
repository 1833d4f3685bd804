package bcast

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/corral-ha/corral/core/wire"
)

// Config configures a Bcast.
type Config struct {
	Self wire.NodeID
	// Boot is this incarnation's boot id (persisted, growing at every
	// start): it makes message ids unique across restarts.
	Boot uint32
	// MaxPending bounds the messages this node has broadcast that are not
	// sequenced yet (default 4096); Broadcast returns ErrFull beyond it.
	MaxPending int
	// MaxEarly bounds the messages of a proposed view kept until it is
	// installed (default 4096); more are dropped (the view change after
	// that recovers them).
	MaxEarly int
}

// Level is a delivery level.
type Level uint8

// Delivery levels.
const (
	// Agreed: delivered in sequence order as soon as every earlier message
	// of the view is here.
	Agreed Level = 1
	// Safe: delivered in sequence order once every member of the view holds
	// it (or, with Flush set, at a view change, once every member of the
	// view that survives into the next view holds it).
	Safe Level = 2
)

func (l Level) String() string {
	switch l {
	case Agreed:
		return "agreed"
	case Safe:
		return "safe"
	}
	return fmt.Sprintf("Level(%d)", uint8(l))
}

// Delivery is one message handed to the application. Every message is
// delivered twice, first Agreed then Safe, both in sequence order; a
// consumer that wants one level ignores the other.
type Delivery struct {
	View    wire.ViewID
	Seq     uint64
	ID      MsgID
	Payload []byte
	Level   Level
	// Flush: delivered by Install, while leaving View for the next view.
	Flush bool
}

// Out is a message to send on the circuit to To.
type Out struct {
	To  wire.NodeID
	Msg Message
}

// Ready is what the driver must do: send Messages (on the FIFO circuits),
// hand Deliver to the application in order. Elsewhere lists messages this
// node broadcast that it will never deliver itself because they were
// delivered in a view it was not in (a partition it was cut from); they
// are not resent.
type Ready struct {
	Messages  []Out
	Deliver   []Delivery
	Elsewhere []MsgID
}

// Empty reports whether there is nothing to do.
func (rd Ready) Empty() bool {
	return len(rd.Messages) == 0 && len(rd.Deliver) == 0 && len(rd.Elsewhere) == 0
}

// FlushState is what a node knows of its old view when it promises a new
// one (Propose): membership carries it to the new coordinator.
type FlushState struct {
	Node wire.NodeID
	View wire.ViewID // the proposal it answers
	Old  wire.ViewID // its installed view (zero: none)
	// Contiguous: it holds (and delivered agreed) every message of Old up
	// to this sequence.
	Contiguous uint64
	// Held: every message of Old it still keeps, in sequence order (all
	// those not known stable, and any received out of order).
	Held []Msg
	// Delivered: per sender (latest boot), the highest message id it
	// delivered, in any view.
	Delivered []Mark
}

// OldFlush completes one old view: each survivor of Old delivers every
// message of Old up to Cut (Msgs holds those beyond the lowest Contiguous
// of the survivors) and discards anything beyond.
type OldFlush struct {
	Old  wire.ViewID
	Cut  uint64
	Msgs []Msg
}

// Plan is the new coordinator's flush plan (Complete), the same for every
// member: membership carries it in its commit.
type Plan struct {
	View      wire.ViewID
	Flush     []OldFlush // sorted by Old
	Delivered []Mark     // sorted by Sender
}

// Status is a snapshot for logs and tests.
type Status struct {
	View       wire.View
	Frozen     bool
	Proposed   wire.ViewID
	Contiguous uint64 // agreed-delivered up to here
	Safe       uint64 // safe-delivered up to here
	Kept       int    // messages of the view kept (not released)
	Pending    int    // own messages not sequenced yet
	Early      int    // messages of the proposed view waiting for Install
}

// Errors.
var (
	ErrFull    = errors.New("bcast: too many messages waiting to be sequenced")
	ErrInstall = errors.New("bcast: bad install")
	ErrPlan    = errors.New("bcast: bad flush states")
	// ErrNotStep is Step's error for what does not come through it.
	ErrNotStep = errors.New("not a bcast circuit message")
)

type pending struct {
	id      MsgID
	payload []byte
}

type early struct {
	from wire.NodeID
	msg  Message
}

type mark struct {
	boot uint32
	n    uint64
}

// Bcast is the ordered broadcast state machine of one node. It is not safe
// for concurrent use.
type Bcast struct {
	cfg Config

	view     wire.View
	coord    bool
	frozen   bool
	proposed wire.ViewID

	kept       map[uint64]Msg // messages of view held, by sequence
	contiguous uint64         // held and agreed-delivered up to here
	safe       uint64         // safe-delivered (and released) up to here
	ackSent    uint64

	// coordinator
	next      uint64                 // next sequence to assign
	acks      map[wire.NodeID]uint64 // members' contiguous
	announced uint64
	last      map[wire.NodeID]MsgID // last submission sequenced per sender in this view

	// sender
	counter   uint64
	pend      []pending // in N order
	submitted int       // pend[:submitted] were submitted in this view
	prevSent  uint64

	delivered map[wire.NodeID]mark // highest id delivered per sender
	early     []early

	rd Ready
}

// New returns a node with no view: it broadcasts nothing until its first
// Install.
func New(cfg Config) (*Bcast, error) {
	if cfg.Self == 0 {
		return nil, errors.New("bcast: Self must be set")
	}
	if cfg.MaxPending <= 0 {
		cfg.MaxPending = 4096
	}
	if cfg.MaxEarly <= 0 {
		cfg.MaxEarly = 4096
	}
	return &Bcast{cfg: cfg, kept: map[uint64]Msg{}, delivered: map[wire.NodeID]mark{}}, nil
}

// Status returns a snapshot.
func (b *Bcast) Status() Status {
	return Status{
		View: wire.View{ID: b.view.ID, Members: slices.Clone(b.view.Members)}, Frozen: b.frozen, Proposed: b.proposed,
		Contiguous: b.contiguous, Safe: b.safe, Kept: len(b.kept), Pending: len(b.pend), Early: len(b.early),
	}
}

// Ready returns what to do: what the inputs since the last Advance
// produced, and the Stable announcement or the Ack due now. It changes
// nothing: calling it twice returns the same.
func (b *Bcast) Ready() Ready {
	rd := b.rd
	rd.Messages = slices.Clone(rd.Messages)
	if b.live() {
		if b.coord && b.stable() > b.announced {
			for _, m := range b.view.Members {
				if m != b.cfg.Self {
					rd.Messages = append(rd.Messages, Out{To: m, Msg: &Stable{View: b.view.ID, Seq: b.stable()}})
				}
			}
		}
		if !b.coord && b.contiguous > b.ackSent {
			rd.Messages = append(rd.Messages, Out{To: b.view.ID.Coord, Msg: &Ack{View: b.view.ID, Contiguous: b.contiguous}})
		}
	}
	return rd
}

// Advance acknowledges the last Ready: the driver carried it out (or is
// carrying it out in order). Call it before the next input.
func (b *Bcast) Advance() {
	if b.live() {
		if b.coord && b.stable() > b.announced {
			b.announced = b.stable()
		}
		if !b.coord && b.contiguous > b.ackSent {
			b.ackSent = b.contiguous
		}
	}
	b.rd = Ready{}
}

func (b *Bcast) live() bool { return b.view.ID != (wire.ViewID{}) && !b.frozen }

func (b *Bcast) send(to wire.NodeID, m Message) {
	b.rd.Messages = append(b.rd.Messages, Out{To: to, Msg: m})
}

// Broadcast sends payload to every member of the current view in total
// order. Before the first view, or during a view change, it waits and is
// submitted after the next Install. payload must not be modified later.
func (b *Bcast) Broadcast(payload []byte) (MsgID, error) {
	if len(b.pend) >= b.cfg.MaxPending {
		return MsgID{}, ErrFull
	}
	b.counter++
	id := MsgID{Sender: b.cfg.Self, Boot: b.cfg.Boot, N: b.counter}
	b.pend = append(b.pend, pending{id: id, payload: payload})
	b.submit()
	return id, nil
}

// submit hands the pending messages not yet submitted in this view to the
// coordinator (or sequences them, on the coordinator).
func (b *Bcast) submit() {
	if !b.live() {
		return
	}
	for b.submitted < len(b.pend) {
		p := b.pend[b.submitted]
		b.submitted++
		if b.coord {
			b.sequence(p.id, p.payload)
		} else {
			b.send(b.view.ID.Coord, &Submit{View: b.view.ID, ID: p.id, Prev: b.prevSent, Payload: p.payload})
		}
		b.prevSent = p.id.N
	}
}

// Input is one thing that happened, given to Step. The set is closed: only
// this package's types implement it.
type Input interface{ input() }

// Receive is a bcast message (Submit, Order, Ack or Stable) from peer
// From's circuit.
type Receive struct {
	From wire.NodeID
	Msg  Message
}

func (Receive) input() {}

// Step takes one input. It returns an error (ErrNotStep) for a message
// that does not come through Step (FlushState and Plan travel with
// membership); a message of another view is dropped silently (normal
// during view changes).
func (b *Bcast) Step(now time.Duration, in Input) error {
	switch in := in.(type) {
	case Receive:
		return b.step(now, in.From, in.Msg)
	default:
		return fmt.Errorf("bcast: input %T: %w", in, ErrNotStep)
	}
}

// step takes a message from a peer's circuit.
func (b *Bcast) step(_ time.Duration, from wire.NodeID, msg Message) error {
	var v wire.ViewID
	switch m := msg.(type) {
	case *Submit:
		v = m.View
	case *Order:
		v = m.View
	case *Ack:
		v = m.View
	case *Stable:
		v = m.View
	default:
		return fmt.Errorf("bcast: message %T: %w", msg, ErrNotStep) // FlushState and Plan travel with membership
	}
	if b.frozen {
		if v == b.proposed && len(b.early) < b.cfg.MaxEarly {
			b.early = append(b.early, early{from: from, msg: msg})
		}
		return nil
	}
	if v != b.view.ID || v == (wire.ViewID{}) || !slices.Contains(b.view.Members, from) {
		return nil
	}
	switch m := msg.(type) {
	case *Submit:
		b.onSubmit(from, m)
	case *Order:
		if from == b.view.ID.Coord && !b.coord {
			b.receive(m.Msg)
			b.onStable(m.Stable)
		}
	case *Ack:
		if b.coord && m.Contiguous > b.acks[from] && m.Contiguous < b.next {
			b.acks[from] = m.Contiguous
			b.advanceStable()
		}
	case *Stable:
		if from == b.view.ID.Coord && !b.coord {
			b.onStable(m.Seq)
		}
	}
	return nil
}

func (b *Bcast) onSubmit(from wire.NodeID, m *Submit) {
	if !b.coord || m.ID.Sender != from {
		return
	}
	last, seen := b.last[from]
	if seen && (m.ID.Boot != last.Boot || m.Prev != last.N || m.ID.N <= last.N) || !seen && m.Prev != 0 {
		return // a duplicate, or a gap left by a broken circuit: the next view recovers it
	}
	b.last[from] = m.ID
	b.sequence(m.ID, m.Payload)
}

// sequence assigns the next sequence (coordinator only) and relays it.
func (b *Bcast) sequence(id MsgID, payload []byte) {
	msg := Msg{Seq: b.next, ID: id, Payload: payload}
	b.next++
	for _, mb := range b.view.Members {
		if mb != b.cfg.Self {
			b.send(mb, &Order{View: b.view.ID, Msg: msg, Stable: b.announced})
		}
	}
	b.receive(msg)
	b.advanceStable()
}

// receive keeps a sequenced message and delivers what became contiguous.
func (b *Bcast) receive(m Msg) {
	if m.Seq <= b.contiguous {
		return
	}
	if _, ok := b.kept[m.Seq]; ok {
		return
	}
	b.kept[m.Seq] = m
	for {
		n, ok := b.kept[b.contiguous+1]
		if !ok {
			return
		}
		b.contiguous++
		b.deliver(n, Agreed, false)
	}
}

func (b *Bcast) deliver(m Msg, l Level, flush bool) {
	b.rd.Deliver = append(b.rd.Deliver, Delivery{View: b.view.ID, Seq: m.Seq, ID: m.ID, Payload: m.Payload, Level: l, Flush: flush})
	if l != Agreed {
		return
	}
	id := m.ID
	if d, ok := b.delivered[id.Sender]; !ok || id.Boot > d.boot || id.Boot == d.boot && id.N > d.n {
		b.delivered[id.Sender] = mark{boot: id.Boot, n: id.N}
	}
	if id.Sender == b.cfg.Self && id.Boot == b.cfg.Boot {
		b.dropPending(id.N, false)
	}
}

// dropPending forgets own pending messages up to n (delivered here, or
// elsewhere).
func (b *Bcast) dropPending(n uint64, elsewhere bool) {
	i := 0
	for i < len(b.pend) && b.pend[i].id.N <= n {
		if elsewhere {
			b.rd.Elsewhere = append(b.rd.Elsewhere, b.pend[i].id)
		}
		i++
	}
	b.pend = b.pend[i:]
	b.submitted = max(b.submitted-i, 0)
}

func (b *Bcast) stable() uint64 {
	s := b.contiguous
	for _, m := range b.view.Members {
		if m != b.cfg.Self {
			s = min(s, b.acks[m])
		}
	}
	return s
}

func (b *Bcast) advanceStable() { b.onStable(b.stable()) }

// onStable delivers safe and releases everything up to s.
func (b *Bcast) onStable(s uint64) {
	s = min(s, b.contiguous)
	for b.safe < s {
		b.safe++
		b.deliver(b.kept[b.safe], Safe, false)
		delete(b.kept, b.safe)
	}
}

// Propose is called when this node promises the proposal next (before the
// promise is sent). The node stops sending, sequencing and delivering in
// its view until Install; messages of next that arrive early are kept.
// It returns what the promise must carry to next's coordinator. Calling it
// again (a higher proposal after one that failed) returns the same state
// for the new id.
func (b *Bcast) Propose(next wire.ViewID) FlushState {
	b.frozen = true
	if next != b.proposed {
		b.proposed = next
		b.early = nil
	}
	st := FlushState{Node: b.cfg.Self, View: next, Old: b.view.ID, Contiguous: b.contiguous}
	seqs := make([]uint64, 0, len(b.kept))
	for s := range b.kept {
		seqs = append(seqs, s)
	}
	slices.Sort(seqs)
	for _, s := range seqs {
		st.Held = append(st.Held, b.kept[s])
	}
	st.Delivered = b.marks()
	return st
}

func (b *Bcast) marks() []Mark {
	var out []Mark
	for s, d := range b.delivered {
		out = append(out, Mark{Sender: s, Boot: d.boot, N: d.n})
	}
	slices.SortFunc(out, func(x, y Mark) int { return int(x.Sender) - int(y.Sender) })
	return out
}

// Complete computes the flush plan of view from the FlushStates of every
// member of view (one each, any order). Membership calls it on view's
// coordinator once every member promised, and sends the plan with its
// commit. It is a pure function.
func Complete(view wire.View, states []FlushState) (Plan, error) {
	by := map[wire.NodeID]*FlushState{}
	for i := range states {
		st := &states[i]
		if st.View != view.ID || !slices.Contains(view.Members, st.Node) || by[st.Node] != nil {
			return Plan{}, fmt.Errorf("%w: state of n%d for %v in view %v", ErrPlan, st.Node, st.View, view.ID)
		}
		by[st.Node] = st
	}
	if len(by) != len(view.Members) {
		return Plan{}, fmt.Errorf("%w: %d states for %d members", ErrPlan, len(by), len(view.Members))
	}
	plan := Plan{View: view.ID}
	marks := map[wire.NodeID]mark{}
	note := func(s wire.NodeID, boot uint32, n uint64) {
		if d, ok := marks[s]; !ok || boot > d.boot || boot == d.boot && n > d.n {
			marks[s] = mark{boot: boot, n: n}
		}
	}
	olds := map[wire.ViewID][]*FlushState{}
	for _, m := range view.Members { // member order: deterministic
		st := by[m]
		for _, d := range st.Delivered {
			note(d.Sender, d.Boot, d.N)
		}
		if st.Old != (wire.ViewID{}) {
			olds[st.Old] = append(olds[st.Old], st)
		}
	}
	var ids []wire.ViewID
	for id := range olds {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, cmpView)
	for _, id := range ids {
		group := olds[id]
		lo, hi := group[0].Contiguous, uint64(0)
		have := map[uint64]Msg{}
		for _, st := range group {
			lo, hi = min(lo, st.Contiguous), max(hi, st.Contiguous)
			for _, m := range st.Held {
				if o, ok := have[m.Seq]; ok && o.ID != m.ID {
					return Plan{}, fmt.Errorf("%w: view %v seq %d is %v and %v", ErrPlan, id, m.Seq, o.ID, m.ID)
				}
				have[m.Seq] = m
			}
		}
		f := OldFlush{Old: id, Cut: lo}
		for {
			m, ok := have[f.Cut+1]
			if !ok {
				break
			}
			f.Cut++
			f.Msgs = append(f.Msgs, m)
			note(m.ID.Sender, m.ID.Boot, m.ID.N)
		}
		if f.Cut < hi {
			return Plan{}, fmt.Errorf("%w: view %v: survivors hold up to %d but only %d can be completed", ErrPlan, id, hi, f.Cut)
		}
		plan.Flush = append(plan.Flush, f)
	}
	for s, d := range marks {
		plan.Delivered = append(plan.Delivered, Mark{Sender: s, Boot: d.boot, N: d.n})
	}
	slices.SortFunc(plan.Delivered, func(x, y Mark) int { return int(x.Sender) - int(y.Sender) })
	return plan, nil
}

func cmpView(a, b wire.ViewID) int {
	if a.Epoch != b.Epoch {
		if a.Epoch < b.Epoch {
			return -1
		}
		return 1
	}
	return int(a.Coord) - int(b.Coord)
}

// Install is called when this node installs view, the proposal it last
// promised (Propose), with the coordinator's plan. It first completes its
// old view: delivers agreed the messages of it that it lacked up to the
// plan's cut, then delivers safe (Flush set) everything up to the cut and
// discards the rest. Then it starts view at sequence 1 and resubmits its
// own messages that were not sequenced (those that some member of view
// delivered already are reported in Ready.Elsewhere instead).
func (b *Bcast) Install(view wire.View, plan Plan) error {
	if !b.frozen || view.ID != b.proposed || plan.View != view.ID || !slices.Contains(view.Members, b.cfg.Self) || !slices.Contains(view.Members, view.ID.Coord) {
		return fmt.Errorf("%w: view %v (proposed %v, plan %v)", ErrInstall, view.ID, b.proposed, plan.View)
	}
	if b.view.ID != (wire.ViewID{}) {
		i := slices.IndexFunc(plan.Flush, func(f OldFlush) bool { return f.Old == b.view.ID })
		if i < 0 {
			return fmt.Errorf("%w: plan has nothing for old view %v", ErrInstall, b.view.ID)
		}
		f := plan.Flush[i]
		if f.Cut < b.contiguous {
			return fmt.Errorf("%w: cut %d below what was delivered (%d)", ErrInstall, f.Cut, b.contiguous)
		}
		for _, m := range f.Msgs {
			if m.Seq > b.contiguous && m.Seq <= f.Cut {
				b.kept[m.Seq] = m
			}
		}
		for b.contiguous < f.Cut {
			m, ok := b.kept[b.contiguous+1]
			if !ok {
				return fmt.Errorf("%w: plan lacks seq %d of %v", ErrInstall, b.contiguous+1, b.view.ID)
			}
			b.contiguous++
			b.deliver(m, Agreed, true)
		}
		for b.safe < f.Cut {
			b.safe++
			b.deliver(b.kept[b.safe], Safe, true)
		}
	}
	for _, d := range plan.Delivered {
		if o, ok := b.delivered[d.Sender]; !ok || d.Boot > o.boot || d.Boot == o.boot && d.N > o.n {
			b.delivered[d.Sender] = mark{boot: d.Boot, n: d.N}
		}
	}
	if d, ok := b.delivered[b.cfg.Self]; ok && d.boot == b.cfg.Boot {
		b.dropPending(d.n, true)
	}
	b.view = wire.View{ID: view.ID, Members: slices.Clone(view.Members)}
	b.coord = view.ID.Coord == b.cfg.Self
	b.frozen = false
	b.proposed = wire.ViewID{}
	clear(b.kept)
	b.contiguous, b.safe, b.ackSent, b.announced = 0, 0, 0, 0
	b.next = 1
	b.acks = map[wire.NodeID]uint64{}
	b.last = map[wire.NodeID]MsgID{}
	b.submitted, b.prevSent = 0, 0
	b.submit()
	ea := b.early
	b.early = nil
	for _, e := range ea {
		_ = b.step(0, e.from, e.msg) // only bcast messages are kept early
	}
	return nil
}
