package conn_test

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/corral-ha/corral/core/conn"
	"github.com/corral-ha/corral/core/wire"
)

// trio is three Conns of a fresh cluster (every boot id 1, as after a
// first start) wired together directly, with a tap on every packet.
type trio struct {
	t      *testing.T
	now    time.Duration
	c      map[wire.NodeID]*conn.Conn
	got    map[wire.NodeID][]string // messages delivered, by receiver: "from:payload"
	events map[wire.NodeID][]conn.Event
	tap    func(from wire.NodeID, p conn.Packet)
	cut    func(from wire.NodeID, p conn.Packet) bool // drops a packet after tap saw it
	drops  map[wire.NodeID]int                        // packets the wire layer dropped, by receiver
}

func newTrio(t *testing.T) *trio {
	tr := &trio{t: t, c: map[wire.NodeID]*conn.Conn{}, got: map[wire.NodeID][]string{}, events: map[wire.NodeID][]conn.Event{}, drops: map[wire.NodeID]int{}}
	key := bytes.Repeat([]byte{7}, 32)
	for id := wire.NodeID(1); id <= 3; id++ {
		var peers []conn.Peer
		for p := wire.NodeID(1); p <= 3; p++ {
			if p != id {
				peers = append(peers, conn.Peer{ID: p, Links: 1})
			}
		}
		c, err := conn.New(conn.Config{Cluster: "replay", Key: key, Self: id, Boot: 1, Links: 1, Peers: peers}, nil)
		if err != nil {
			t.Fatal(err)
		}
		tr.c[id] = c
	}
	return tr
}

// step lets 10 ms pass and delivers everything until the trio is quiet.
func (tr *trio) step() {
	tr.now += 10 * time.Millisecond
	for id := wire.NodeID(1); id <= 3; id++ {
		tr.c[id].Tick(tr.now)
	}
	for busy := true; busy; {
		busy = false
		for id := wire.NodeID(1); id <= 3; id++ {
			rd := take(tr.c[id])
			for _, m := range rd.Messages {
				tr.got[id] = append(tr.got[id], fmt.Sprintf("%d:%s", m.From, m.Data))
			}
			tr.events[id] = append(tr.events[id], rd.Events...)
			for _, p := range rd.Packets {
				busy = true
				if tr.tap != nil {
					tr.tap(id, p)
				}
				if tr.cut != nil && tr.cut(id, p) {
					continue
				}
				tr.receive(p.To, p.ToLink, p.Data)
			}
			busy = busy || tr.c[id].HasReady()
		}
	}
}

func (tr *trio) receive(to wire.NodeID, link int, data []byte) {
	before := tr.c[to].Stats().Wire.Dropped()
	_ = tr.c[to].Step(tr.now, conn.Received{Link: link, Data: data})
	tr.drops[to] += int(tr.c[to].Stats().Wire.Dropped() - before)
}

func (tr *trio) until(what string, cond func() bool) {
	tr.t.Helper()
	for range 500 {
		if cond() {
			return
		}
		tr.step()
	}
	tr.t.Fatalf("not within 5 s of simulated time: %s", what)
}

// TestCrossDestinationReplayIgnored (issue 22): n3's packets to n1 are
// recorded while n3 asks n1 to pause, then sent to n2. Before packets
// were bound to their destination, n2 took them as n3's circuit messages
// to itself (every node of a fresh cluster has boot 1, and circuit 1
// starts at sequence 1 everywhere): it delivered n3's "pause" meant for n1,
// and n3's real messages to n2 in those slots were dropped as duplicates
// yet acknowledged, so they were lost silently. Now n2 drops every
// replayed packet and gets exactly n3's real messages, in order.
func TestCrossDestinationReplayIgnored(t *testing.T) {
	tr := newTrio(t)
	tr.until("every node reaches every other", func() bool {
		for _, c := range tr.c {
			for _, p := range c.Status() {
				if !p.Reachable {
					return false
				}
			}
		}
		return true
	})

	var recorded []conn.Packet
	tr.tap = func(from wire.NodeID, p conn.Packet) {
		if from == 3 && p.To == 1 {
			recorded = append(recorded, conn.Packet{Link: p.Link, To: p.To, ToLink: p.ToLink, Data: bytes.Clone(p.Data)})
		}
	}
	for i := range 5 {
		if _, err := tr.c[3].Send(tr.now, 1, []byte(fmt.Sprintf("pause #%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	tr.until("n1 gets n3's 5 messages", func() bool { return len(tr.got[1]) == 5 })
	tr.tap = nil

	before := tr.drops[2]
	for _, p := range recorded {
		tr.receive(2, p.ToLink, p.Data)
	}
	if got := tr.drops[2] - before; got != len(recorded) {
		t.Errorf("n2 dropped %d of the %d replayed packets", got, len(recorded))
	}
	for i := range 5 {
		if _, err := tr.c[3].Send(tr.now, 2, []byte(fmt.Sprintf("real #%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	for range 100 {
		tr.step()
	}
	want := "3:real #0 3:real #1 3:real #2 3:real #3 3:real #4"
	if got := strings.Join(tr.got[2], " "); got != want {
		t.Fatalf("n2 delivered %q, want exactly n3's real messages %q", got, want)
	}
}
