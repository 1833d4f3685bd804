package stack

import (
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/corral-ha/corral/core/bcast"
	"github.com/corral-ha/corral/core/cdb"
	"github.com/corral-ha/corral/core/conn"
	"github.com/corral-ha/corral/core/fence"
	"github.com/corral-ha/corral/core/membership"
	"github.com/corral-ha/corral/core/quorum"
	"github.com/corral-ha/corral/core/wire"
)

func TestFlushFraming(t *testing.T) {
	h := cdb.Head{Rev: 7, View: wire.ViewID{Epoch: 3, Coord: 2}, Adopted: wire.ViewID{Epoch: 2, Coord: 1}}
	var w wire.Writer
	w.Uint8(flushVersion)
	w.Bytes([]byte("bcast state"))
	putHead(&w, h)
	st, got, err := splitState(w)
	if err != nil || string(st) != "bcast state" || got != h {
		t.Fatalf("state: %q %+v %v", st, got, err)
	}
	if _, _, err := splitState(append(w, 0)); err == nil {
		t.Fatal("trailing byte accepted")
	}
	if _, _, err := splitState(w[:len(w)-1]); err == nil {
		t.Fatal("truncated state accepted")
	}
	var p wire.Writer
	p.Uint8(flushVersion)
	p.Bytes([]byte("plan"))
	p.Uvarint(2)
	putHead(&p, h)
	putHead(&p, cdb.Head{})
	plan, heads, err := splitPlan(p)
	if err != nil || string(plan) != "plan" || len(heads) != 2 || heads[0] != h || heads[1] != (cdb.Head{}) {
		t.Fatalf("plan: %q %+v %v", plan, heads, err)
	}
	if _, _, err := splitPlan(p[:len(p)-2]); err == nil {
		t.Fatal("truncated plan accepted")
	}
}

// TestBcastBatch: a batch of bcast messages decodes to the same messages
// in order; a single message is sent as bcast encodes it; bad batches are
// refused.
func TestBcastBatch(t *testing.T) {
	v := wire.ViewID{Epoch: 3, Coord: 1}
	msgs := []bcast.Message{&bcast.Ack{View: v, Contiguous: 4}, &bcast.Stable{View: v, Seq: 3}, &bcast.Ack{View: v, Contiguous: 5}}
	var enc [][]byte
	for _, m := range msgs {
		enc = append(enc, bcast.Encode(m))
	}
	got, err := decodeBcast(encodeBcast(enc))
	if err != nil || !reflect.DeepEqual(got, msgs) {
		t.Fatalf("batch decoded to %v, %v; want %v", got, err, msgs)
	}
	if one := encodeBcast(enc[:1]); string(one) != string(enc[0]) {
		t.Fatalf("a single message is %x, want bcast's encoding %x", one, enc[0])
	}
	got, err = decodeBcast(enc[1])
	if err != nil || !reflect.DeepEqual(got, msgs[1:2]) {
		t.Fatalf("single message decoded to %v, %v", got, err)
	}
	b := encodeBcast(enc)
	for _, bad := range [][]byte{b[:len(b)-1], append(slices.Clone(b), 0), {bcastBatch}, {bcastBatch, 0xff, 0xff, 0xff}} {
		if _, err := decodeBcast(bad); err == nil {
			t.Fatalf("bad batch %x accepted", bad)
		}
	}
}

// unitCluster is a hand-driven cluster of stacks on a perfect network:
// every packet of a Ready reaches its peer at the next step.
type unitCluster struct {
	t       *testing.T
	now     time.Duration
	nodes   []*Stack
	net     []conn.Packet
	replies map[uint64]Reply // node 1's answers by seq
	check   func(id int, rd *Ready)
	cut     int          // a node whose packets are lost both ways (0: none)
	down    map[int]bool // more nodes whose packets are lost both ways
}

func newUnitCluster(t *testing.T, n int) *unitCluster { return newUnitClusterWith(t, n, nil) }

// newUnitClusterWith lets fix change each node's Config before New.
func newUnitClusterWith(t *testing.T, n int, fix func(*Config)) *unitCluster {
	c := &unitCluster{t: t, replies: map[uint64]Reply{}}
	var nodes []Node
	var ids []wire.NodeID
	votes := map[wire.NodeID]int{}
	for i := 1; i <= n; i++ {
		nodes = append(nodes, Node{ID: wire.NodeID(i), Name: fmt.Sprintf("n%d", i)})
		ids = append(ids, wire.NodeID(i))
		votes[wire.NodeID(i)] = 1
	}
	for i := 1; i <= n; i++ {
		self := wire.NodeID(i)
		var peers []conn.Peer
		for _, id := range ids {
			if id != self {
				peers = append(peers, conn.Peer{ID: id, Links: 1})
			}
		}
		fc := fence.Config{Self: fmt.Sprintf("n%d", i), Boot: 1, Targets: map[string]fence.Target{}}
		for _, nd := range nodes {
			fc.Targets[nd.Name] = fence.Target{}
		}
		cfg := Config{Self: self, Boot: 1, Nodes: nodes,
			Conn:       conn.Config{Cluster: "unit", Key: make([]byte, 32), Self: self, Boot: 1, Start: uint64(i), Links: 1, Peers: peers},
			Membership: membership.Config{Self: self, Nodes: ids, Quorum: quorum.Config{Votes: votes, Policy: quorum.Majority}},
			Fence:      fc}
		if fix != nil {
			fix(&cfg)
		}
		s, err := New(cfg, Saved{}, rand.New(rand.NewPCG(uint64(i), 1)))
		if err != nil {
			t.Fatal(err)
		}
		c.nodes = append(c.nodes, s)
	}
	return c
}

// step runs 10 ms: the packets in flight arrive, every node ticks (every
// 50 ms) and carries out its Readies.
func (c *unitCluster) step() {
	c.now += 10 * time.Millisecond
	net := c.net
	c.net = nil
	for _, p := range net {
		if int(p.To) == c.cut || c.down[int(p.To)] {
			continue
		}
		_ = c.nodes[p.To-1].Step(c.now, Packet{Link: p.ToLink, Data: p.Data}) // drops are conn's to count
	}
	for i, s := range c.nodes {
		if c.now%(50*time.Millisecond) == 0 {
			s.Tick(c.now)
		}
		for range 100 {
			rd := s.Ready()
			if rd.Empty() {
				break
			}
			if rd.Stop != nil {
				c.t.Fatalf("n%d stopped: %v", i+1, rd.Stop)
			}
			if c.check != nil {
				c.check(i+1, &rd)
			}
			if i+1 != c.cut && !c.down[i+1] {
				c.net = append(c.net, rd.Packets...)
				c.net = append(c.net, rd.After...)
			}
			if i == 0 {
				for _, r := range append(rd.EarlyReplies, rd.Replies...) {
					c.replies[r.Seq] = r
				}
			}
			s.Advance(c.now)
		}
	}
}

func (c *unitCluster) runUntil(what string, cond func() bool) {
	c.t.Helper()
	for end := c.now + 60*time.Second; c.now < end; {
		if cond() {
			return
		}
		c.step()
	}
	c.t.Fatalf("after %v: %s never happened", c.now, what)
}

// TestAcksWaitForTheirPersist: on a cluster of stacks taking writes, no
// Ready sends before its Persist (Packets) an Ack that covers an entry
// that Persist writes (obligation 4: attests go in After), and the writes
// are answered once durable.
func TestAcksWaitForTheirPersist(t *testing.T) {
	c := newUnitCluster(t, 3)
	early, late := 0, 0
	c.check = func(id int, rd *Ready) {
		if rd.Persist.CDB == nil {
			return
		}
		for _, o := range rd.Sent {
			a, ok := o.Msg.(*bcast.Ack)
			if !ok {
				continue
			}
			for _, e := range rd.Persist.CDB.Entries {
				if e.View == a.View && e.Seq <= a.Contiguous {
					t.Fatalf("n%d sends %+v before its Persist writes entry %d (seq %d)", id, a, e.Rev, e.Seq)
				}
			}
		}
		for _, o := range rd.SentAfter {
			if _, ok := o.Msg.(*bcast.Ack); ok && len(rd.Persist.CDB.Entries) > 0 {
				late++
			}
		}
		early += len(rd.Sent)
	}
	c.runUntil("a primary view of three", func() bool {
		for _, s := range c.nodes {
			if ms := s.Membership(); !ms.Primary || len(ms.View.Members) != 3 || !s.Quorate(c.now) {
				return false
			}
		}
		return true
	})
	const writes = 20
	for seq := uint64(1); seq <= writes; seq++ {
		req := cdb.Request{Client: "t", Seq: seq, Then: []cdb.Op{{Kind: cdb.OpPut, Key: fmt.Sprintf("/k%d", seq), Value: []byte("v")}}}
		c.runUntil("the DB takes writes", func() bool { return c.nodes[0].Propose(c.now, req) == nil })
	}
	c.runUntil("every write answered", func() bool { return len(c.replies) == writes })
	for seq, r := range c.replies {
		if r.Err != nil {
			t.Fatalf("write %d: %v", seq, r.Err)
		}
	}
	if late == 0 {
		t.Fatal("no Ack went out after a Persist with entries: the check saw nothing")
	}
	c.runUntil("every node applied every write", func() bool {
		for _, s := range c.nodes {
			if kv, found, _ := s.CDBGet("/k20"); !found || string(kv.Value) != "v" {
				return false
			}
		}
		return true
	})
}

// TestReadyIdempotent: Ready returns the same until Advance, and what a
// request between Ready and Advance produces comes in the next Ready.
func TestReadyIdempotent(t *testing.T) {
	c := newUnitCluster(t, 2)
	c.runUntil("a view of two", func() bool {
		ms := c.nodes[0].Membership()
		return len(ms.View.Members) == 2 && ms.Primary
	})
	s := c.nodes[0]
	// a Ready with nothing to persist (a persisting one builds nothing
	// more anyway)
	var rd Ready
	for range 100 {
		c.step()
		s.Tick(c.now)
		if rd = s.Ready(); !rd.Empty() && rd.Persist.Empty() {
			break
		}
		c.net = append(c.net, rd.Packets...)
		c.net = append(c.net, rd.After...)
		s.Advance(c.now)
	}
	if rd.Empty() || !rd.Persist.Empty() {
		t.Fatal("no Ready without a Persist after a tick")
	}
	if _, err := s.Send(c.now, 2, []byte("hello")); err != nil {
		t.Fatal(err)
	}
	again := s.Ready()
	if len(again.Packets) != len(rd.Packets) || len(again.After) != len(rd.After) || len(again.Logs) != len(rd.Logs) {
		t.Fatalf("a second Ready differs: %d/%d packets, %d/%d after", len(again.Packets), len(rd.Packets), len(again.After), len(rd.After))
	}
	c.net = append(c.net, rd.Packets...)
	c.net = append(c.net, rd.After...)
	s.Advance(c.now)
	next := s.Ready()
	if len(next.Packets)+len(next.After) == 0 {
		t.Fatal("the message sent between Ready and Advance never left")
	}
	c.net = append(c.net, next.Packets...)
	c.net = append(c.net, next.After...)
	s.Advance(c.now)
	got := false
	c.check = func(id int, rd *Ready) {
		for _, m := range rd.Messages {
			got = got || id == 2 && string(m.Data) == "hello"
		}
	}
	c.runUntil("n2 got the message", func() bool { return got })
}

// TestStepUnknownInput: a nil input is refused with ErrUnknownInput.
func TestStepUnknownInput(t *testing.T) {
	c := newUnitCluster(t, 2)
	if err := c.nodes[0].Step(0, nil); !errors.Is(err, ErrUnknownInput) {
		t.Fatalf("Step(nil) = %v, want ErrUnknownInput", err)
	}
}

// TestLogBetweenReadyAndAdvance: a line logged while a Ready is handed
// out (a request or a Tick before Advance) comes in the next Ready, not
// lost with the one Advance clears.
func TestLogBetweenReadyAndAdvance(t *testing.T) {
	c := newUnitCluster(t, 2)
	s := c.nodes[0]
	s.Tick(time.Second)
	if rd := s.Ready(); rd.Empty() {
		t.Fatal("nothing to do at the first tick")
	}
	s.logf(slog.LevelInfo, "between")
	s.Advance(time.Second)
	for range 10 {
		rd := s.Ready()
		for _, l := range rd.Logs {
			if l.Msg == "between" {
				return
			}
		}
		s.Advance(time.Second)
	}
	t.Fatal("the line logged between Ready and Advance was lost")
}

// TestLogBetweenEmptyReadyAndAdvance: a line queued after an empty Ready
// survives the Advance that follows it (the driver may advance after
// every Ready, empty or not). Before the fix Advance cleared it: "the
// line logged between an empty Ready and Advance was lost".
func TestLogBetweenEmptyReadyAndAdvance(t *testing.T) {
	c := newUnitCluster(t, 2)
	s := c.nodes[0]
	for range 100 {
		if rd := s.Ready(); rd.Empty() {
			break
		}
		s.Advance(0)
	}
	if rd := s.Ready(); !rd.Empty() {
		t.Fatal("no empty Ready")
	}
	s.logf(slog.LevelInfo, "between")
	s.Advance(0)
	for range 10 {
		rd := s.Ready()
		for _, l := range rd.Logs {
			if l.Msg == "between" {
				return
			}
		}
		s.Advance(0)
	}
	t.Fatal("the line logged between an empty Ready and Advance was lost")
}
