package membership_test

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/corral-ha/corral/core/membership"
	"github.com/corral-ha/corral/core/quorum"
	"github.com/corral-ha/corral/core/wire"
)

func newOne(t *testing.T) *membership.Membership {
	t.Helper()
	qc := quorum.Config{Votes: map[wire.NodeID]int{1: 1, 2: 1, 3: 1}, Policy: quorum.Majority}
	m, err := membership.New(membership.Config{Self: 1, Nodes: ids(1, 2, 3), Quorum: qc})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestStepRefuses (issue 17): Step returns an error for the inputs it
// refuses, where it used to ignore them silently, and a refused input
// changes nothing.
func TestStepRefuses(t *testing.T) {
	m := newOne(t)
	_ = m.Ready()
	m.Advance()
	for _, c := range []struct {
		in   membership.Input
		want error
	}{
		{membership.Receive{From: 1, Msg: &wire.Left{}}, membership.ErrUnknownNode},
		{membership.Receive{From: 9, Msg: &wire.Left{}}, membership.ErrUnknownNode},
		{membership.Reach{Peer: 1, Up: true}, membership.ErrUnknownNode},
		{membership.SetState{State: membership.StateJoining}, membership.ErrBadState},
		{nil, membership.ErrUnknownInput},
	} {
		before := m.Status()
		if err := m.Step(0, c.in); !errors.Is(err, c.want) {
			t.Fatalf("Step(%#v) = %v, want %v", c.in, err, c.want)
		}
		if after := m.Status(); !reflect.DeepEqual(after, before) {
			t.Fatalf("Step(%#v) refused but changed the status:\n%+v\n%+v", c.in, before, after)
		}
	}
	for _, in := range []membership.Input{
		membership.Reach{Peer: 2, Up: true},
		membership.Restarted{Peer: 2},
		membership.SetState{State: membership.StatePaused},
		membership.WitnessAnswer{Members: ids(1, 2), Granted: false},
		membership.Receive{From: 2, Msg: &wire.Left{}},
	} {
		if err := m.Step(time.Millisecond, in); err != nil {
			t.Fatalf("Step(%#v): %v", in, err)
		}
	}
}

// TestReadyIsPure (issue 17): Ready changes nothing, so two calls give
// the same; Advance acknowledges it (the report counts as sent, the state
// as persisted). Ready used to send the report and clear the dirty flag.
func TestReadyIsPure(t *testing.T) {
	m := newOne(t)
	if err := m.Step(time.Millisecond, membership.Reach{Peer: 2, Up: true}); err != nil {
		t.Fatal(err)
	}
	if err := m.Step(2*time.Millisecond, membership.Receive{From: 2, Msg: &wire.Refuse{Promise: wire.ViewID{Epoch: 7, Coord: 2}}}); err != nil {
		t.Fatal(err)
	}
	rd := m.Ready()
	if again := m.Ready(); !reflect.DeepEqual(again, rd) {
		t.Fatalf("a second Ready differs:\n%+v\n%+v", rd, again)
	}
	reports := 0
	for _, o := range rd.Messages {
		if _, ok := o.Msg.(*wire.Report); ok && o.To == 2 {
			reports++
		}
	}
	if reports != 1 || rd.Persist == nil || rd.Persist.Epoch != 7 {
		t.Fatalf("Ready %+v: want one report to n2 and the epoch 7 to persist", rd)
	}
	m.Advance()
	if rd := m.Ready(); len(rd.Messages) != 0 || rd.Persist != nil {
		t.Fatalf("after Advance: %+v", rd)
	}
}
