package bcast_test

import (
	"errors"
	"reflect"
	"testing"

	"github.com/corral-ha/corral/core/bcast"
	"github.com/corral-ha/corral/core/wire"
)

// TestStepAndReady (issue 17): Step takes the sealed Input and refuses
// what does not come through it; Ready changes nothing (the Ack due is in
// every Ready until Advance records it as sent). Ready used to record it.
func TestStepAndReady(t *testing.T) {
	v := wire.View{ID: wire.ViewID{Epoch: 1, Coord: 1}, Members: []wire.NodeID{1, 2}}
	var bs [3]*bcast.Bcast
	for id := wire.NodeID(1); id <= 2; id++ {
		b, err := bcast.New(bcast.Config{Self: id, Boot: 1})
		if err != nil {
			t.Fatal(err)
		}
		b.Propose(v.ID)
		if err := b.Install(v, bcast.Plan{View: v.ID}); err != nil {
			t.Fatal(err)
		}
		bs[id] = b
	}
	if err := bs[2].Step(0, bcast.Receive{From: 1, Msg: &bcast.FlushState{}}); !errors.Is(err, bcast.ErrNotStep) {
		t.Fatalf("a FlushState through Step: %v, want ErrNotStep", err)
	}
	if err := bs[2].Step(0, nil); !errors.Is(err, bcast.ErrNotStep) {
		t.Fatalf("nil through Step: %v, want ErrNotStep", err)
	}
	if _, err := bs[1].Broadcast([]byte("x")); err != nil {
		t.Fatal(err)
	}
	rd := bs[1].Ready()
	bs[1].Advance()
	for _, o := range rd.Messages {
		if err := bs[2].Step(0, bcast.Receive{From: 1, Msg: o.Msg}); err != nil {
			t.Fatal(err)
		}
	}
	rd = bs[2].Ready()
	if again := bs[2].Ready(); !reflect.DeepEqual(again, rd) {
		t.Fatalf("a second Ready differs:\n%+v\n%+v", rd, again)
	}
	acks := 0
	for _, o := range rd.Messages {
		if a, ok := o.Msg.(*bcast.Ack); ok && o.To == 1 && a.Contiguous == 1 {
			acks++
		}
	}
	if acks != 1 || len(rd.Deliver) != 1 {
		t.Fatalf("Ready %+v: want the delivery and one Ack of 1 to n1", rd)
	}
	bs[2].Advance()
	if rd := bs[2].Ready(); !rd.Empty() {
		t.Fatalf("after Advance: %+v", rd)
	}
}
