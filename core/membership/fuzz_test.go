package membership_test

import (
	"bytes"
	"slices"
	"testing"
	"time"

	"github.com/corral-ha/corral/core/membership"
	"github.com/corral-ha/corral/core/quorum"
	"github.com/corral-ha/corral/core/wire"
)

// FuzzPeerMessages feeds node 1 of {1,2,3} what its peers can send once
// they hold the key: any membership message that decodes (a Report,
// Propose, Promise, Refuse, Commit, LeaseReq, LeaseAck or Left with
// fields from the fuzzer) from node 2, 3 or a node not configured,
// interleaved with reachability changes, restarts, state requests,
// witness answers and time. Step never panics; what it asks to persist
// never takes back a promise or an epoch, and survives its own encoding
// (UnmarshalPersisted of Marshal); the view it installs holds itself.
func FuzzPeerMessages(f *testing.F) {
	v := wire.View{ID: wire.ViewID{Epoch: 3, Coord: 2}, Members: []wire.NodeID{1, 2, 3}}
	msgs := []wire.Message{
		&wire.Report{State: 2, Promise: v.ID, Installed: v, Reach: []wire.NodeID{1, 3}},
		&wire.Propose{View: v, States: []uint8{2, 2, 2}, Primary: true},
		&wire.Promise{ID: v.ID},
		&wire.Refuse{ID: v.ID, Promise: wire.ViewID{Epoch: 9, Coord: 3}},
		&wire.Commit{ID: v.ID, Plan: []byte("p")},
		&wire.LeaseReq{ID: v.ID, Seq: 1, To: 1},
		&wire.LeaseAck{ID: v.ID, Seq: 1, To: 1},
		&wire.Left{ID: v.ID},
	}
	var all []byte
	for _, m := range msgs {
		b := wire.Encode(m)
		f.Add(append([]byte{0, byte(len(b))}, b...))
		all = append(all, 0x08, byte(len(b)))
		all = append(all, b...)
		all = append(all, 3, 20)
	}
	f.Add(append([]byte{1, 1, 0x09, 1, 3, 50}, all...))
	f.Fuzz(func(t *testing.T, prog []byte) {
		qc := quorum.Config{Votes: map[wire.NodeID]int{1: 1, 2: 1, 3: 1}, Policy: quorum.Majority}
		m, err := membership.New(membership.Config{Self: 1, Nodes: []wire.NodeID{1, 2, 3}, Quorum: qc, Witness: true})
		if err != nil {
			t.Fatal(err)
		}
		peers := []wire.NodeID{2, 3, 9, 1}
		now := time.Duration(0)
		var promise wire.ViewID
		var epoch uint64
		for len(prog) >= 2 {
			op, arg := prog[0], prog[1]
			prog = prog[2:]
			peer := peers[int(op>>3)%len(peers)]
			switch op % 7 {
			case 0:
				n := min(int(arg)%128, len(prog))
				msg, err := wire.Decode(prog[:n])
				prog = prog[n:]
				if err == nil {
					_ = m.Step(now, membership.Receive{From: peer, Msg: msg})
				}
			case 1:
				_ = m.Step(now, membership.Reach{Peer: peer, Up: arg&1 == 1})
			case 2:
				_ = m.Step(now, membership.Restarted{Peer: peer})
			case 3:
				now += time.Duration(arg+1) * 10 * time.Millisecond
				m.Tick(now)
			case 4:
				_ = m.Step(now, membership.SetState{State: membership.State(arg % 6)})
			case 5:
				var ms []wire.NodeID
				for i, p := range []wire.NodeID{1, 2, 3} {
					if arg&(1<<i) != 0 {
						ms = append(ms, p)
					}
				}
				_ = m.Step(now, membership.WitnessAnswer{Members: ms, Granted: arg&8 != 0, Lease: time.Duration(arg) * 10 * time.Millisecond, At: now})
			case 6:
				now += time.Duration(arg) * time.Millisecond
			}
			rd := m.Ready()
			if p := rd.Persist; p != nil {
				if p.Promise.Epoch < promise.Epoch || p.Promise.Epoch == promise.Epoch && p.Promise.Coord < promise.Coord {
					t.Fatalf("promise went back from %v to %v", promise, p.Promise)
				}
				if p.Epoch < epoch {
					t.Fatalf("epoch went back from %d to %d", epoch, p.Epoch)
				}
				promise, epoch = p.Promise, p.Epoch
				b := p.Marshal()
				q, err := membership.UnmarshalPersisted(b)
				if err != nil || !bytes.Equal(q.Marshal(), b) {
					t.Fatalf("persisted state %s does not survive its encoding: %v", b, err)
				}
			}
			m.Advance()
			if st := m.Status(); len(st.View.Members) > 0 && !slices.Contains(st.View.Members, 1) {
				t.Fatalf("node 1 installed %v", st.View)
			}
		}
	})
}

// FuzzUnmarshalPersisted: what a node reads back from its data directory
// either decodes or is refused with an error; what decodes encodes to
// bytes that decode to the same.
func FuzzUnmarshalPersisted(f *testing.F) {
	p := membership.Persisted{Promise: wire.ViewID{Epoch: 4, Coord: 2}, Epoch: 4,
		Installed: wire.View{ID: wire.ViewID{Epoch: 4, Coord: 2}, Members: []wire.NodeID{1, 2}}, Primary: true,
		States: []membership.State{2, 2}}
	f.Add(p.Marshal())
	f.Add([]byte(`{"Promise":{"Epoch":1e30},"States":[-1]}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, b []byte) {
		q, err := membership.UnmarshalPersisted(b)
		if err != nil {
			return
		}
		x := q.Marshal()
		r, err := membership.UnmarshalPersisted(x)
		if err != nil || !bytes.Equal(r.Marshal(), x) {
			t.Fatalf("%s re-encodes to %s, which does not round trip: %v", b, x, err)
		}
	})
}
