package fence

import (
	"testing"
	"time"

	"github.com/corral-ha/corral/core/wire"
)

// TestReachableNonMemberWaitsForTakeover: the coordinator of a new view
// fences a node that left uncleanly at once when it cannot reach it, but a
// non-member it still reaches (left out of a view formed while it
// rejoined) only after the takeover wait, if it is still not a member
// then (issue 15: fencing starts with the view's lease, not after the
// wait; without this a live node was fenced by a restarted coordinator's
// first view).
func TestReachableNonMemberWaitsForTakeover(t *testing.T) {
	f, err := New(Config{Self: "n1", Boot: 1, Targets: map[string]Target{"n3": {Levels: levels("pdu-n3")}}})
	if err != nil {
		t.Fatal(err)
	}
	f.st.boots["n3"] = 4
	f.view = View{ID: wire.ViewID{Epoch: 9, Coord: 1}, Members: []string{"n1", "n2"}, Coordinator: "n1", Primary: true, Lease: true}
	if r, _ := f.need("n3"); r == "" {
		t.Fatal("an unreachable non-member that left uncleanly needs no fence")
	}
	f.view.Reach = []string{"n3"}
	if r, _ := f.need("n3"); r != "" {
		t.Fatalf("a reachable non-member is fenced before the takeover wait: %q", r)
	}
	f.view.Takeover = true
	if r, _ := f.need("n3"); r == "" {
		t.Fatal("a reachable non-member still out of the view after the takeover wait is not fenced")
	}
}

// TestResumedNodeFencedAfterUncleanDeparture: n2 leaves cleanly, is
// resumed at the same boot id (a member again), then departs uncleanly:
// it must be fenced. A clean leave counts only until the node is a member
// of a primary view again, on the coordinator and on a node that learns
// the history only from a report's state (issue 15: the stale clean record
// left its groups waiting for a fence forever, and let both halves of a
// two_node split act).
func TestResumedNodeFencedAfterUncleanDeparture(t *testing.T) {
	cfg := Config{Self: "n1", Boot: 1, Targets: map[string]Target{"n2": {Levels: levels("pdu-n2")}}}
	f, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var now time.Duration
	// install gives f view v and delivers its report and a report of each
	// other member (n2: boot 7), in v.
	install := func(v View, others ...string) []byte {
		v.Coordinator, v.Primary, v.Lease = "n1", true, true
		now += time.Second
		if err := f.Step(now, v); err != nil {
			t.Fatal(err)
		}
		var own []byte
		for _, p := range f.Ready().Broadcast {
			if m, _ := Decode(p); m.Kind == kindReport {
				own = p
			}
		}
		f.Advance()
		if own == nil {
			t.Fatalf("view %v: no report", v.ID)
		}
		pays := [][]byte{own}
		for _, o := range others {
			pays = append(pays, Encode(Message{Kind: kindReport, From: o, FromBoot: 7, Issued: v.ID, Boot: 7, State: newState().encode()}))
		}
		for _, p := range pays {
			if err := f.Step(now, Deliver{View: v.ID, Primary: true, Payload: p}); err != nil {
				t.Fatal(err)
			}
		}
		return own
	}
	begun := func() bool {
		for _, p := range f.Ready().Broadcast {
			if m, _ := Decode(p); m.Kind == kindBegin && m.Target == "n2" {
				return true
			}
		}
		return false
	}
	v := func(e uint64) wire.ViewID { return wire.ViewID{Epoch: e, Coord: 1} }
	install(View{ID: v(1), Members: []string{"n1", "n2"}}, "n2")
	install(View{ID: v(2), Members: []string{"n1"}, Clean: []string{"n2"}})
	f.Tick(now + time.Minute)
	if !f.LeftCleanly("n2") || begun() {
		t.Fatalf("n2 left cleanly: LeftCleanly %v, fence begun %v", f.LeftCleanly("n2"), begun())
	}
	f.Advance()
	install(View{ID: v(3), Members: []string{"n1", "n2"}}, "n2") // resume n2, same boot id
	if f.LeftCleanly("n2") {
		t.Fatal("n2 is a member again but still counts as having left cleanly")
	}
	last := install(View{ID: v(4), Members: []string{"n1"}}) // n2 departs uncleanly
	f.Tick(now + time.Minute)
	if f.LeftCleanly("n2") || !begun() {
		t.Fatalf("n2 departed uncleanly after its resume: LeftCleanly %v, fence begun %v (want false, true)", f.LeftCleanly("n2"), begun())
	}
	// a node that knows only n1's last report derives the same
	g, err := New(Config{Self: "n3", Boot: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Step(now, Deliver{View: v(4), Primary: true, Payload: last}); err != nil {
		t.Fatal(err)
	}
	if g.LeftCleanly("n2") {
		t.Fatal("from n1's report, n3 still counts n2 as having left cleanly")
	}
	// and a stale report of view 2 (clean record only) does not revive it
	st := newState()
	st.boots["n2"] = 7
	st.clean["n2"] = cleanRec{Boot: 7, View: v(2)}
	if err := g.Step(now, Deliver{View: v(4), Primary: true, Payload: Encode(Message{Kind: kindReport, From: "n4", FromBoot: 1, Issued: v(2), Boot: 1, State: st.encode()})}); err != nil {
		t.Fatal(err)
	}
	if g.LeftCleanly("n2") {
		t.Fatal("a stale report brought n2's clean leave back")
	}
}

// TestVersion1OpNeverVoid: an op begun by a version-1 coordinator (its
// boot id unknown: ByBoot 0) is never void, even once some boot of its
// coordinator is known; the same op with a known, ended coordinator
// boot is.
func TestVersion1OpNeverVoid(t *testing.T) {
	s := newState()
	s.boots["n1"], s.boots["n2"] = 3, 1
	id := ID{View: wire.ViewID{Epoch: 5, Coord: 2}, N: 1}
	s.addOp(opRec{ID: id, Target: "n1", Boot: 3, Reason: "left", By: "n2", ByBoot: 0})
	if st := s.view(s.ops[id], 1, 2).status; st != opPending {
		t.Fatalf("version-1 op with no calls: status %d, want pending (%d), never void", st, opPending)
	}
	s.boots["n2"] = 4 // its coordinator restarted: a known boot is over
	s.ops[id].ByBoot = 1
	if st := s.view(s.ops[id], 1, 2).status; st != opVoid {
		t.Fatalf("op whose coordinator boot ended: status %d, want void (%d)", st, opVoid)
	}
}
