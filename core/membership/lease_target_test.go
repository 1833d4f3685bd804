package membership_test

import (
	"github.com/corral-ha/corral/core/membership"
	"testing"
	"time"

	"github.com/corral-ha/corral/core/quorum"
	"github.com/corral-ha/corral/core/wire"
)

// TestLeaseAckForAnotherNotCredited (issue 22): lease sequence numbers run
// alike on every member, so an acknowledgement n3 sent to n1, replayed to
// n2, used to be credited by n2 as n3's answer to its own request: n2, cut
// off from everything but the replays, kept its lease. An acknowledgement
// now names the requester it answers (LeaseAck.To) and only that node
// credits it (besides the packet header binding it to that node). Here
// every message to n2 is lost while links stay up (no view change), and
// copies of the acknowledgements n1 and n3 send each other reach n2: n2
// loses its lease within one lease period.
func TestLeaseAckForAnotherNotCredited(t *testing.T) {
	qc := quorum.Config{Votes: map[wire.NodeID]int{1: 1, 2: 1, 3: 1}, Policy: quorum.Majority}
	s := newScript(t, 3, qc)
	all := ids(1, 2, 3)
	if !s.runUntil(func() bool { return s.inView(all, true) && s.ms[2].Leased(s.now) }, 5*time.Second) {
		t.Fatalf("no primary view of 3:%s", s.describe())
	}
	replayed := 0
	s.drop = func(from, to wire.NodeID, m wire.Message) bool {
		if to == 2 {
			return true
		}
		if _, ack := m.(*wire.LeaseAck); ack && from != 2 {
			replayed++
			_ = s.ms[2].Step(s.now, membership.Receive{From: from, Msg: m}) // a recorded copy, to n2
		}
		return false
	}
	cut := s.now
	if !s.runUntil(func() bool { return !s.ms[2].Leased(s.now) }, 3*time.Second) {
		t.Fatalf("n2 still leased %v after it stopped hearing anything but %d acknowledgements meant for others", s.now-cut, replayed)
	}
	if replayed == 0 {
		t.Fatal("test setup: no acknowledgement was replayed")
	}
	t.Logf("n2 lost its lease %v after the cut (%d replayed acknowledgements ignored)", s.now-cut, replayed)
}
