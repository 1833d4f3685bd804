package cdb

import (
	"errors"
	"testing"
	"time"

	"github.com/corral-ha/corral/core/wire"
)

// pair is a two-node primary view: n1 coordinates (and is the source of
// the adopted history), n2 is a member. Deliveries are given by hand.
type pair struct {
	t    *testing.T
	n    [2]*DB
	view wire.ViewID
	msgs [][]byte // the view's sequence
	seq  [2]int   // held
	com  [2]int   // committed
	done [2][]ReadDone
	out  []Message // messages in flight, from n1 or n2 (To says where)
	from []int
	now  time.Duration // the clock; each pump is a round of 10 ms
}

func newPair(t *testing.T) *pair {
	p := &pair{t: t}
	p.n[0], p.n[1] = mustNew(Config{Self: 1, AskAgain: 200 * time.Millisecond}), mustNew(Config{Self: 2, AskAgain: 200 * time.Millisecond})
	p.install(wire.ViewID{Epoch: 1, Coord: 1})
	return p
}

// install begins a primary view coordinated by n1 on both nodes and
// settles it (the barrier held and committed everywhere).
func (p *pair) install(v wire.ViewID) {
	p.view, p.msgs, p.seq, p.com, p.out, p.from = v, nil, [2]int{}, [2]int{}, nil, nil
	for i := range 2 {
		p.n[i].SetQuorum(true, 2, 2)
		if err := p.n[i].Step(0, BeginAdopt{View: v, Source: 1}); err != nil {
			p.t.Fatal(err)
		}
	}
	p.pump()
	for p.n[1].CatchingUp() {
		p.net()
	}
	p.holdAll()
	p.commitAll()
}

// pump takes both Readies: broadcasts join the sequence, messages go in
// flight, read answers are kept.
func (p *pair) pump() {
	p.now += 10 * time.Millisecond
	for i := range 2 {
		p.n[i].ReadRound(p.now)
		rd := ready(p.n[i])
		p.msgs = append(p.msgs, rd.Broadcast...)
		for _, m := range rd.Messages {
			var w wire.Writer
			m.Append(&w)
			dm, err := DecodeMessage(wire.NewReader(w))
			if err != nil {
				p.t.Fatal(err)
			}
			dm.To = m.To
			p.out, p.from = append(p.out, dm), append(p.from, i)
		}
		p.done[i] = append(p.done[i], rd.Reads...)
	}
}

// net delivers the messages in flight.
func (p *pair) net() {
	out, from := p.out, p.from
	p.out, p.from = nil, nil
	for k, m := range out {
		if err := p.n[m.To-1].Step(0, Receive{From: wire.NodeID(from[k] + 1), Msg: m}); err != nil {
			p.t.Fatal(err)
		}
	}
	p.pump()
}

func (p *pair) hold(i int) {
	for p.seq[i] < len(p.msgs) {
		p.seq[i]++
		if err := p.n[i].Step(0, Hold(Delivery{View: p.view, Primary: true, Seq: uint64(p.seq[i]), Payload: p.msgs[p.seq[i]-1]})); err != nil {
			p.t.Fatal(err)
		}
	}
	p.pump()
}

func (p *pair) commit(i int) {
	for p.com[i] < p.seq[0] && p.com[i] < p.seq[1] {
		p.com[i]++
		if err := p.n[i].Step(0, Commit(Delivery{View: p.view, Primary: true, Seq: uint64(p.com[i]), Payload: p.msgs[p.com[i]-1]})); err != nil {
			p.t.Fatal(err)
		}
	}
	p.pump()
}

func (p *pair) holdAll()   { p.hold(0); p.hold(1) }
func (p *pair) commitAll() { p.commit(0); p.commit(1) }

// write proposes a set on n1 and puts it in the sequence (not delivered).
func (p *pair) write(seq uint64, key, val string) {
	b, err := p.n[0].Propose(Set("c", seq, key, []byte(val)))
	if err != nil {
		p.t.Fatal(err)
	}
	p.msgs = append(p.msgs, b)
}

func (p *pair) takeDone(i int) []ReadDone {
	d := p.done[i]
	p.done[i] = nil
	return d
}

// TestReadIndex walks one read on a member: its ask to the coordinator,
// the coordinator's answer (its log head, tentative entries included),
// and the wait until the member committed that far.
func TestReadIndex(t *testing.T) {
	p := newPair(t)
	p.write(1, "/k", "1")
	p.holdAll() // /k=1 is held everywhere (sequenced), committed nowhere
	if err := p.n[1].Read(7); err != nil {
		t.Fatal(err)
	}
	p.pump()
	if len(p.out) != 1 || p.out[0].ReadAsk == nil || p.out[0].To != 1 || p.out[0].ReadAsk.View != p.view {
		t.Fatalf("n2's read asks n1 for an index: %+v", p.out)
	}
	p.net() // n1 answers
	if len(p.out) != 1 || p.out[0].ReadIndex == nil || !p.out[0].ReadIndex.OK || p.out[0].ReadIndex.Index != p.n[0].Head().Rev {
		t.Fatalf("n1 answers its log head %d: %+v", p.n[0].Head().Rev, p.out)
	}
	p.net() // n2 takes it
	if d := p.takeDone(1); len(d) != 0 {
		t.Fatalf("n2 served the read before it committed the index: %+v (state rev %d)", d, p.n[1].Rev())
	}
	p.commit(0)
	p.commit(1)
	d := p.takeDone(1)
	if len(d) != 1 || d[0].ID != 7 || d[0].Err != nil {
		t.Fatalf("read done %+v", d)
	}
	if kv, found, _ := p.n[1].Get("/k"); !found || string(kv.Value) != "1" {
		t.Fatalf("the read misses the write sequenced before it began: %+v %v", kv, found)
	}
}

// TestReadLease: on the coordinator a read takes its own log head, with
// no round, and waits for it to commit.
func TestReadLease(t *testing.T) {
	p := newPair(t)
	p.write(1, "/k", "1")
	p.holdAll()
	if err := p.n[0].Read(1); err != nil {
		t.Fatal(err)
	}
	p.pump()
	if len(p.out) != 0 || len(p.takeDone(0)) != 0 {
		t.Fatalf("a coordinator's read sends nothing and waits for its head: %+v", p.out)
	}
	p.commit(0)
	if d := p.takeDone(0); len(d) != 1 || d[0].Err != nil || d[0].Index != p.n[0].Rev() {
		t.Fatalf("read done %+v at rev %d", d, p.n[0].Rev())
	}
}

// TestReadRefusals: a node without quorum refuses a read; a coordinator
// without its lease answers no (the read fails, retryable); a read waiting
// when its node loses quorum fails; the coordinator holds an ask until
// it settled in the view.
func TestReadRefusals(t *testing.T) {
	p := newPair(t)
	p.n[1].SetQuorum(false, 1, 2)
	var nq ErrNoQuorum
	if err := p.n[1].Read(1); !errors.As(err, &nq) {
		t.Fatalf("read without quorum: %v", err)
	}
	p.n[1].SetQuorum(true, 2, 2)
	p.n[0].SetQuorum(false, 1, 2) // the coordinator's lease lapsed
	if err := p.n[1].Read(2); err != nil {
		t.Fatal(err)
	}
	p.pump()
	p.net()
	p.net()
	if d := p.takeDone(1); len(d) != 1 || !errors.Is(d[0].Err, ErrReadRetry) {
		t.Fatalf("a coordinator without its lease gives no index: %+v", d)
	}
	p.n[0].SetQuorum(true, 2, 2)
	if err := p.n[1].Read(3); err != nil {
		t.Fatal(err)
	}
	p.pump()
	p.n[1].SetQuorum(false, 1, 2)
	p.pump()
	if d := p.takeDone(1); len(d) != 1 || !errors.As(d[0].Err, &nq) {
		t.Fatalf("a read waiting when quorum is lost fails: %+v", d)
	}
	p.n[1].SetQuorum(true, 2, 2)
	p.out, p.from = nil, nil

	// The coordinator begins a new view; a member's ask for it waits
	// until the coordinator settled in it.
	v2 := wire.ViewID{Epoch: 2, Coord: 1}
	p.view, p.msgs, p.seq, p.com = v2, nil, [2]int{}, [2]int{}
	for i := range 2 {
		_ = p.n[i].Step(0, BeginAdopt{View: v2, Source: 1})
	}
	p.pump()
	for p.n[1].CatchingUp() {
		p.net()
	}
	p.hold(1)
	if err := p.n[1].Read(4); err != nil {
		t.Fatal(err)
	}
	p.pump()
	if len(p.out) != 0 {
		t.Fatalf("a member asks nothing before it settled: %+v", p.out)
	}
	p.hold(0)
	p.commit(1) // n2 settled; n1 not yet
	if len(p.out) != 1 || p.out[0].ReadAsk == nil || p.out[0].ReadAsk.View != v2 {
		t.Fatalf("n2 asks in view 2: %+v", p.out)
	}
	p.net()
	if len(p.out) != 0 {
		t.Fatalf("n1 answers before it settled in view 2: %+v", p.out)
	}
	p.commit(0)
	p.net()
	if d := p.takeDone(1); len(d) != 1 || d[0].Err != nil {
		t.Fatalf("read done %+v", d)
	}
}

// TestReadAcrossViewChange: a read whose index was asked in one view is
// asked again in the next (its index is taken after the read began, in
// the view whose history the node holds); the old view's answer is
// ignored.
func TestReadAcrossViewChange(t *testing.T) {
	p := newPair(t)
	if err := p.n[1].Read(1); err != nil {
		t.Fatal(err)
	}
	p.pump()
	p.net() // n1's answer for view 1 is in flight
	stale := p.out
	p.out, p.from = nil, nil
	v2 := wire.ViewID{Epoch: 2, Coord: 1}
	p.view, p.msgs, p.seq, p.com = v2, nil, [2]int{}, [2]int{}
	for i := range 2 {
		_ = p.n[i].Step(0, BeginAdopt{View: v2, Source: 1})
	}
	p.pump()
	for p.n[1].CatchingUp() {
		p.net()
	}
	for _, m := range stale {
		_ = p.n[1].Step(0, Receive{From: 1, Msg: m})
	}
	p.n[1].ReadRound(p.now)
	if d := p.takeDone(1); len(d) != 0 {
		t.Fatalf("served from the old view's index: %+v", d)
	}
	p.holdAll()
	p.commitAll() // the barrier: settles view 2
	var asks int
	for _, m := range p.out {
		if m.ReadAsk != nil && m.ReadAsk.View == v2 {
			asks++
		}
	}
	if asks != 1 {
		t.Fatalf("the read asks again in view 2: %+v", p.out)
	}
	p.net()
	p.net()
	if d := p.takeDone(1); len(d) != 1 || d[0].Err != nil {
		t.Fatalf("read done %+v", d)
	}
}

// TestReadMessageCodec: the read messages round-trip.
func TestReadMessageCodec(t *testing.T) {
	for _, m := range []Message{
		{ReadAsk: &ReadAsk{View: wire.ViewID{Epoch: 3, Coord: 2}, ID: 9}},
		{ReadIndex: &ReadIndex{View: wire.ViewID{Epoch: 3, Coord: 2}, ID: 9, Index: 1 << 40, OK: true}},
		{ReadIndex: &ReadIndex{View: wire.ViewID{Epoch: 3, Coord: 2}, ID: 9}},
	} {
		var w wire.Writer
		m.Append(&w)
		got, err := DecodeMessage(wire.NewReader(w))
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case m.ReadAsk != nil && (got.ReadAsk == nil || *got.ReadAsk != *m.ReadAsk):
			t.Fatalf("%+v -> %+v", m.ReadAsk, got.ReadAsk)
		case m.ReadIndex != nil && (got.ReadIndex == nil || *got.ReadIndex != *m.ReadIndex):
			t.Fatalf("%+v -> %+v", m.ReadIndex, got.ReadIndex)
		}
	}
}

// TestReadLostAskNotStuck (R1): a member's ReadAsk that never reaches the
// coordinator (the stack logs a conn.Send error such as ErrQueueFull
// under backpressure and drops it; nothing tells the DB) leaves the read
// waiting for an answer that will never come, while the coordinator is
// healthy, quorate and settled in the same view: nothing re-asks and
// nothing fails it (ErrReadRetry), so the client waits its whole timeout
// (the API's 10 s) and gets a 503 that blames quorum.
func TestReadLostAskNotStuck(t *testing.T) {
	p := newPair(t)
	p.write(1, "/k", "1")
	p.holdAll()
	p.commitAll()
	if err := p.n[1].Read(1); err != nil {
		t.Fatal(err)
	}
	p.pump()
	if len(p.out) != 1 || p.out[0].ReadAsk == nil {
		t.Fatalf("n2 asks n1: %+v", p.out)
	}
	p.out, p.from = nil, nil // the ask is lost on the way
	for range 100 {
		p.pump() // rounds go by; n1 stays quorate and settled in the view
		p.net()
		if len(p.done[1]) > 0 {
			return // served or failed (retryable): not stuck
		}
	}
	t.Fatalf("the read whose ask was lost is still waiting after 100 rounds with a healthy coordinator (no re-ask, no ErrReadRetry): %d reads pending on n2", len(p.n[1].reads))
}
