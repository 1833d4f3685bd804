package wire_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/corral-ha/corral/core/sim"
	"github.com/corral-ha/corral/core/sim/simtest"
	"github.com/corral-ha/corral/core/wire"
)

var simKey = bytes.Repeat([]byte{7}, 32)

// bigSender seals one 200 KiB Ping into fragments and sends them all again
// every resend period until a Pong with its Seq comes back; bigReceiver
// answers every complete Ping with a Pong.
type bigNode struct {
	t        testing.TB
	h        *sim.Host
	ep       *wire.Endpoint
	msg      []byte
	next     time.Duration
	done     bool
	attempts int
	got      [][]byte // complete messages received
}

func (n *bigNode) Tick(now time.Duration) {
	n.ep.Expire(now)
	if n.msg == nil || n.done || now < n.next {
		return
	}
	n.attempts++
	n.next = now + 100*time.Millisecond
	pkts, err := n.ep.Seal(wire.Dest{ID: 2}, wire.Encode(&wire.Ping{Seq: 1, Payload: n.msg}))
	if err != nil {
		n.t.Fatalf("seal: %v", err)
	}
	for _, p := range pkts {
		n.h.Send(0, sim.Addr{Node: 2, Link: 0}, p)
	}
}

func (n *bigNode) Receive(now time.Duration, link int, from sim.Addr, data []byte) {
	d, err := n.ep.Open(now, data)
	if err != nil || d.Msg == nil {
		return
	}
	m, err := wire.Decode(d.Msg)
	if err != nil {
		n.t.Fatalf("n%d: decode a complete message: %v", n.h.ID(), err)
	}
	switch m := m.(type) {
	case *wire.Ping:
		n.got = append(n.got, m.Payload)
		pkts, _ := n.ep.Seal(wire.Dest{ID: wire.NodeID(from.Node)}, wire.Encode(&wire.Pong{Seq: m.Seq}))
		for _, p := range pkts {
			n.h.Send(0, from, p)
		}
	case *wire.Pong:
		n.done = true
	}
}

// TestFragmentationOverLossySimulatedLink sends a 200 KiB message, sealed
// into about 150 fragments, over a simulated link that drops, duplicates
// and reorders packets; the sender resends the whole message until it is
// acknowledged. The message arrives intact.
func TestFragmentationOverLossySimulatedLink(t *testing.T) {
	simtest.Sweep(t, func(r *simtest.Run) {
		nodes := map[int]*bigNode{}
		msg := make([]byte, 200<<10)
		for i := range msg {
			msg[i] = byte(i*7 + i>>9)
		}
		net := sim.NetConfig{MinDelay: 100 * time.Microsecond, MaxDelay: 3 * time.Millisecond,
			Drop: 0.01, Dup: 0.02, Reorder: 0.1}
		s := r.New(sim.Config{Nodes: 2, Net: net}, func(h *sim.Host) sim.Process {
			ep, err := wire.New(wire.Config{Cluster: "sim", Key: simKey, Self: wire.NodeID(h.ID()), Boot: h.Boot()})
			if err != nil {
				r.Fatalf("wire.New: %v", err)
			}
			n := &bigNode{t: r, h: h, ep: ep}
			if h.ID() == 1 {
				n.msg = msg
			}
			nodes[h.ID()] = n
			return n
		})
		if !s.RunUntil(func() bool { return nodes[1].done }, 30*time.Second) {
			r.Fatalf("200 KiB message not acknowledged after %d attempts in 30s", nodes[1].attempts)
		}
		got := nodes[2].got
		if len(got) == 0 {
			r.Fatalf("acknowledged but nothing delivered")
		}
		for _, g := range got {
			if !bytes.Equal(g, msg) {
				r.Fatalf("delivered %d bytes that differ from the 200 KiB sent", len(g))
			}
		}
		st := nodes[2].ep.Stats()
		if st.Replay == 0 && s.Stats().Duplicated > 0 {
			r.Fatalf("the network duplicated packets but the receiver counted no replays")
		}
		r.Logf("seed %d: %d attempts, %d packets lost, receiver stats %+v", r.Seed, nodes[1].attempts, s.Stats().Lost, st)
	})
}
