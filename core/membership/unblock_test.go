package membership_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/corral-ha/corral/core/membership"
	"github.com/corral-ha/corral/core/quorum"
	"github.com/corral-ha/corral/core/wire"
)

// unblockAt gives the operator's unblock to every node of ids, in the
// view each has installed (the stack does it at the delivery of the
// operator's broadcast in that view).
func (s *script) unblockAt(ids ...wire.NodeID) {
	s.t.Helper()
	for _, id := range ids {
		v := s.ms[id].Status().View.ID
		if err := s.ms[id].Step(s.now, membership.Unblock{View: v, By: ids[0]}); err != nil {
			s.t.Fatalf("unblock at n%d: %v", id, err)
		}
		s.ready(id)
	}
	s.deliver()
}

// TestQuorumUnblock: five nodes, majority with auto_tie_breaker; n3, n4
// and n5 are lost (each alone: down as far as the survivors know). The
// survivors {1,2} are not primary; the unblock makes them primary with
// expected votes 2. G2 is checked after every input (script.checkG2).
// Then n2 gets cut off from n1 and meets n3..n5 again: {2,3,4,5} holds 4
// of the 5 configured votes, but it descends from the unblocked lineage
// ({1,2} is the newest primary n2 knows), so it is judged against {1,2}:
// a tie that the lowest node, n1, breaks for its side. Only {1} is
// primary. Judged by the configured nodes instead (the mutation
// ContinuesUnblock = false), both sides would be primary: the G2 check
// fails. Once every node is back in one view, the lineage is the
// configured nodes' again.
func TestQuorumUnblock(t *testing.T) {
	qc := quorum.Config{Votes: map[wire.NodeID]int{1: 1, 2: 1, 3: 1, 4: 1, 5: 1}, Policy: quorum.Majority, AutoTieBreaker: true}
	s := newScript(t, 5, qc)
	all := ids(1, 2, 3, 4, 5)
	if !s.runUntil(func() bool { return s.inView(all, true) }, 10*time.Second) {
		t.Fatalf("no primary view of all:%s", s.describe())
	}
	s.partition(ids(1, 2), ids(3), ids(4), ids(5))
	if !s.runUntil(func() bool { return s.inView(ids(1, 2), false) }, 10*time.Second) {
		t.Fatalf("{1,2} did not form a non-primary view:%s", s.describe())
	}
	s.run(2 * time.Second)
	if s.inView(ids(1, 2), true) {
		t.Fatalf("{1,2} is primary with 2 of 5 votes before the unblock")
	}
	// a stale view id is refused
	if err := s.ms[1].Step(s.now, membership.Unblock{View: wire.ViewID{Epoch: 1, Coord: 1}}); !errors.Is(err, membership.ErrCannotUnblock) {
		t.Fatalf("unblock in a view that is not installed: %v, want ErrCannotUnblock", err)
	}
	s.unblockAt(1, 2)
	if !s.runUntil(func() bool { return s.inView(ids(1, 2), true) && s.ms[1].Quorate(s.now) }, 10*time.Second) {
		t.Fatalf("{1,2} not primary after the unblock:%s", s.describe())
	}
	if lin := s.ms[1].Status().Lineage; !lin.Unblocked || !lin.AllSeen {
		t.Fatalf("n1's lineage after the unblocked primary: %+v, want Unblocked and AllSeen", lin)
	}
	// the unblock is refused in a primary view
	if err := s.ms[1].Step(s.now, membership.Unblock{View: s.ms[1].Status().View.ID}); !errors.Is(err, membership.ErrCannotUnblock) {
		t.Fatalf("unblock in a primary view: %v, want ErrCannotUnblock", err)
	}
	s.partition(ids(1), ids(2, 3, 4, 5))
	s.run(5 * time.Second)
	if !s.inView(ids(1), true) {
		t.Fatalf("{1} (the tie-breaker's side of {1,2}) is not primary:%s", s.describe())
	}
	if s.inView(ids(2, 3, 4, 5), true) {
		t.Fatalf("{2,3,4,5} is primary beside {1}:%s", s.describe())
	}
	s.partition(all)
	if !s.runUntil(func() bool { return s.inView(all, true) }, 10*time.Second) {
		t.Fatalf("no primary view of all after the heal:%s", s.describe())
	}
	for _, id := range all {
		if s.ms[id].Status().Lineage.Unblocked {
			t.Fatalf("n%d still judges by the unblocked lineage in a view of every node", id)
		}
	}
}

// TestQuorumUnblockSurvivesRestart: the unblock is persisted with the
// lineage: a survivor that restarts before the lost nodes come back is
// primary again on its own.
func TestQuorumUnblockSurvivesRestart(t *testing.T) {
	qc := quorum.Config{Votes: map[wire.NodeID]int{1: 1, 2: 1, 3: 1}, Policy: quorum.Majority}
	s := newScript(t, 3, qc)
	if !s.runUntil(func() bool { return s.inView(ids(1, 2, 3), true) }, 10*time.Second) {
		t.Fatalf("no primary view of all:%s", s.describe())
	}
	s.partition(ids(1), ids(2), ids(3))
	if !s.runUntil(func() bool { return s.inView(ids(1), false) }, 10*time.Second) {
		t.Fatalf("n1 alone did not install a view:%s", s.describe())
	}
	s.unblockAt(1)
	if !s.runUntil(func() bool { return s.inView(ids(1), true) && s.ms[1].Quorate(s.now) }, 10*time.Second) {
		t.Fatalf("n1 not primary after the unblock:%s", s.describe())
	}
	s.restart(1)
	s.partition(ids(1), ids(2), ids(3)) // restart puts n1 back in its old group number, which n2 took
	if !s.runUntil(func() bool { return s.inView(ids(1), true) }, 20*time.Second) {
		t.Fatalf("n1 not primary after its restart:%s", s.describe())
	}
	s.partition(ids(1, 2, 3))
	if !s.runUntil(func() bool { return s.inView(ids(1, 2, 3), true) }, 10*time.Second) {
		t.Fatalf("the lost nodes did not rejoin:%s", s.describe())
	}
}

// TestR2UnblockCarriedOutByOneMember: the stack carries an unblock out at
// its Safe delivery in the view it was given in, but ignores the same
// message delivered at a flush (stack.quorumDeliver: d.Flush) and
// membership refuses it while a view change is under way (unblock.go:
// m.pending != nil). So when the view changes between the delivery at one
// member and at another (n1 carries it out and coordinates at once; the
// link to n2 fails, or n2 has already promised n1's next view), only n1
// holds the unblocked lineage. n2, a survivor the operator rightly
// believes is in the unblocked view, meets the written-off nodes when
// they come back (corral help operations: bring them back where they
// reach a survivor): {2,3,4,5} is judged by the configured nodes (4 of
// 5), while {1} is judged against {1,2} and wins the tie. Two primaries.
func TestR2UnblockCarriedOutByOneMember(t *testing.T) {

	qc := quorum.Config{Votes: map[wire.NodeID]int{1: 1, 2: 1, 3: 1, 4: 1, 5: 1}, Policy: quorum.Majority, AutoTieBreaker: true}
	s := newScript(t, 5, qc)
	all := ids(1, 2, 3, 4, 5)
	if !s.runUntil(func() bool { return s.inView(all, true) }, 10*time.Second) {
		t.Fatalf("no primary view of all:%s", s.describe())
	}
	s.partition(ids(1, 2), ids(3), ids(4), ids(5))
	if !s.runUntil(func() bool { return s.inView(ids(1, 2), false) }, 10*time.Second) {
		t.Fatalf("{1,2} did not form a non-primary view:%s", s.describe())
	}
	// The operator's broadcast is Safe-delivered at n1; n2 has it too (Safe)
	// but delivers it only at the flush of the view change below.
	if err := s.ms[1].Step(s.now, membership.Unblock{View: s.ms[1].Status().View.ID, By: 1}); err != nil {
		t.Fatalf("unblock at n1: %v", err)
	}
	s.ready(1)
	s.partition(ids(1), ids(2, 3, 4, 5)) // the written-off nodes come back where they reach a survivor, n2
	s.run(5 * time.Second)               // checkG2 fails here: {1} and {2,3,4,5} both act as primary
	if s.inView(ids(1), true) && s.inView(ids(2, 3, 4, 5), true) {
		t.Fatalf("two primary components after an unblock given in {1,2}:%s", s.describe())
	}
}

// TestR2UnblockStaleHolder: a survivor that left the unblocked chain
// before the flag ended (n7 holds {6,7} Unblocked) must not make a later
// view LP-judged: mergeLineage takes the flag only from a holder of the
// newest LP. Nine nodes; {6,7} unblocked; n7 cut off; {6} goes on by the
// tie-breaker; n1..n4 rejoin n6: {1,2,3,4,6} holds 5 of 9, the flag ends.
// Then {3,4,6,7} | {1,2,5,8,9}: only the second (5 of 9) may be primary;
// the first holds 3 of the 5 of its newest LP, and would be primary too
// if n7's stale flag counted (the mutation: drop "l.LP.ID == best.v.ID"
// in mergeLineage, which no other test catches).
func TestR2UnblockStaleHolder(t *testing.T) {
	votes := map[wire.NodeID]int{}
	for i := 1; i <= 9; i++ {
		votes[wire.NodeID(i)] = 1
	}
	qc := quorum.Config{Votes: votes, Policy: quorum.Majority, AutoTieBreaker: true}
	s := newScript(t, 9, qc)
	all := ids(1, 2, 3, 4, 5, 6, 7, 8, 9)
	if !s.runUntil(func() bool { return s.inView(all, true) }, 10*time.Second) {
		t.Fatalf("no primary view of all:%s", s.describe())
	}
	s.partition(ids(6, 7), ids(1), ids(2), ids(3), ids(4), ids(5), ids(8), ids(9))
	if !s.runUntil(func() bool { return s.inView(ids(6, 7), false) }, 10*time.Second) {
		t.Fatalf("{6,7} did not form a non-primary view:%s", s.describe())
	}
	s.unblockAt(6, 7)
	if !s.runUntil(func() bool { return s.inView(ids(6, 7), true) }, 10*time.Second) {
		t.Fatalf("{6,7} not primary after the unblock:%s", s.describe())
	}
	s.partition(ids(6), ids(7), ids(1), ids(2), ids(3), ids(4), ids(5), ids(8), ids(9))
	if !s.runUntil(func() bool { return s.inView(ids(6), true) }, 10*time.Second) {
		t.Fatalf("{6} (tie-breaker side of {6,7}) not primary:%s", s.describe())
	}
	if !s.ms[7].Status().Lineage.Unblocked {
		t.Fatalf("n7 does not hold the unblocked lineage: %+v", s.ms[7].Status().Lineage)
	}
	s.partition(ids(1, 2, 3, 4, 6), ids(5), ids(7), ids(8), ids(9))
	if !s.runUntil(func() bool { return s.inView(ids(1, 2, 3, 4, 6), true) }, 10*time.Second) {
		t.Fatalf("{1,2,3,4,6} not primary:%s", s.describe())
	}
	if s.ms[6].Status().Lineage.Unblocked {
		t.Fatalf("n6 still holds the flag in a view of 5 of 9")
	}
	s.partition(ids(3, 4, 6, 7), ids(1, 2, 5, 8, 9))
	s.run(5 * time.Second)
	if s.inView(ids(3, 4, 6, 7), true) {
		t.Fatalf("{3,4,6,7} (4 of 9) is primary through n7's stale flag:%s", s.describe())
	}
	if !s.inView(ids(1, 2, 5, 8, 9), true) {
		t.Fatalf("{1,2,5,8,9} (5 of 9) is not primary:%s", s.describe())
	}
}

// TestR2UnblockPromisedOnly: a written-off node rejoins the unblocked
// survivors: seven nodes, {1,2} unblocked, n3 comes back and {1,2,3} (3 of
// 7, still flagged) is installed at n1 and n2, but n3 only promised it
// (its commit is lost) when the link fails. n3 must hold the promised
// view with the flag (membership.promise), or {3,4,5,6,7} (the other
// written-off nodes back where they reach n3) is judged by the configured
// nodes, 5 of 7, beside {1,2}, 2 of its LP {1,2,3}. Catches the mutation:
// do not set Lineage.Unblocked at the promise (install only).
func TestR2UnblockPromisedOnly(t *testing.T) {
	votes := map[wire.NodeID]int{}
	for i := 1; i <= 7; i++ {
		votes[wire.NodeID(i)] = 1
	}
	qc := quorum.Config{Votes: votes, Policy: quorum.Majority, AutoTieBreaker: true}
	s := newScript(t, 7, qc)
	all := ids(1, 2, 3, 4, 5, 6, 7)
	if !s.runUntil(func() bool { return s.inView(all, true) }, 10*time.Second) {
		t.Fatalf("no primary view of all:%s", s.describe())
	}
	s.partition(ids(1, 2), ids(3), ids(4), ids(5), ids(6), ids(7))
	if !s.runUntil(func() bool { return s.inView(ids(1, 2), false) }, 10*time.Second) {
		t.Fatalf("{1,2} did not form a non-primary view:%s", s.describe())
	}
	s.unblockAt(1, 2)
	if !s.runUntil(func() bool { return s.inView(ids(1, 2), true) }, 10*time.Second) {
		t.Fatalf("{1,2} not primary after the unblock:%s", s.describe())
	}
	s.drop = func(from, to wire.NodeID, m wire.Message) bool {
		_, commit := m.(*wire.Commit)
		return commit && to == 3
	}
	s.partition(ids(1, 2, 3), ids(4), ids(5), ids(6), ids(7))
	if !s.runUntil(func() bool {
		return slices.Equal(s.ms[1].Status().View.Members, ids(1, 2, 3)) && s.ms[1].Status().Primary
	}, 10*time.Second) {
		t.Fatalf("n1 did not install {1,2,3} primary:%s", s.describe())
	}
	if slices.Equal(s.ms[3].Status().View.Members, ids(1, 2, 3)) {
		t.Fatalf("n3 installed {1,2,3} although its commit was dropped")
	}
	s.partition(ids(1, 2), ids(3, 4, 5, 6, 7))
	s.drop = nil
	s.run(5 * time.Second) // checkG2 fails if both sides act
	if s.inView(ids(3, 4, 5, 6, 7), true) {
		t.Fatalf("{3,4,5,6,7} is primary beside {1,2}:%s", s.describe())
	}
}

// TestUnblockPromisedAfterOneHolder: seven nodes, {1,2,3} not primary; the
// unblock is carried out at n1 only (the others missed it, as in
// TestR2UnblockCarriedOutByOneMember). n1 proposes {1,2,3} primary (it
// holds every member of the unblocked view), n2 promises it, n3 never
// gets the proposal. Then {1,2} | {3,4,5,6,7}: the second is primary by
// the configured votes (5 of 7; n3 knows no unblock); {1,2} holds the
// promised {1,2,3} and, behind it, the unblocked view, which no primary
// view followed: it must hold all of it (quorum.ViewRef.Whole). Catches
// the mutation: drop PrevUnblocked at the promise (takeLP), so {1,2}
// wins {1,2,3} and the unblocked view by 2 of 3.
func TestUnblockPromisedAfterOneHolder(t *testing.T) {
	votes := map[wire.NodeID]int{}
	for i := 1; i <= 7; i++ {
		votes[wire.NodeID(i)] = 1
	}
	qc := quorum.Config{Votes: votes, Policy: quorum.Majority, AutoTieBreaker: true}
	s := newScript(t, 7, qc)
	all := ids(1, 2, 3, 4, 5, 6, 7)
	if !s.runUntil(func() bool { return s.inView(all, true) }, 10*time.Second) {
		t.Fatalf("no primary view of all:%s", s.describe())
	}
	s.partition(ids(1, 2, 3), ids(4), ids(5), ids(6), ids(7))
	if !s.runUntil(func() bool { return s.inView(ids(1, 2, 3), false) }, 10*time.Second) {
		t.Fatalf("{1,2,3} did not form a non-primary view:%s", s.describe())
	}
	s.drop = func(from, to wire.NodeID, m wire.Message) bool {
		_, prop := m.(*wire.Propose)
		return prop && to == 3
	}
	if err := s.ms[1].Step(s.now, membership.Unblock{View: s.ms[1].Status().View.ID, By: 1}); err != nil {
		t.Fatalf("unblock at n1: %v", err)
	}
	s.ready(1)
	if !s.runUntil(func() bool {
		l := s.ms[2].Status().Lineage
		return l.Promised && slices.Equal(l.LP.Members, ids(1, 2, 3))
	}, 10*time.Second) {
		t.Fatalf("n2 did not promise {1,2,3} primary:%s", s.describe())
	}
	s.partition(ids(1, 2), ids(3, 4, 5, 6, 7))
	s.drop = nil
	s.run(5 * time.Second) // checkG2 fails if both sides act
	if s.inView(ids(1, 2), true) {
		t.Fatalf("{1,2} is primary beside {3,4,5,6,7}:%s", s.describe())
	}
	if !s.inView(ids(3, 4, 5, 6, 7), true) {
		t.Fatalf("{3,4,5,6,7} (5 of 7, no unblock known) is not primary:%s", s.describe())
	}
}

// TestR4UnblockPromisedByWrittenOffOnly: {2,3} is unblocked (both
// members carry it out). The written-off nodes 1, 4, 5 come back where
// they reach the survivors; n1 proposes the view of all five, primary
// (it holds every member of {2,3}), and 1, 4, 5 promise it, but the
// proposal never reaches n2 and n3 (lost). The view holds the plain
// majority, so the promise drops Lineage.Unblocked (ContinuesUnblock at
// promise). A partition {2,3} | {1,4,5} follows: {2,3} is primary by
// its own unblocked view (all of its members), and {1,4,5}, whose newest
// LP is the promised-only all-five proposal without the flag, is judged
// by the configured nodes under majority (3 of 5) — Also, which names
// {2,3} behind it, is looked at only under last_man_standing judgement.
// Two primary components.
func TestR4UnblockPromisedByWrittenOffOnly(t *testing.T) {
	qc := quorum.Config{Votes: map[wire.NodeID]int{1: 1, 2: 1, 3: 1, 4: 1, 5: 1}, Policy: quorum.Majority, AutoTieBreaker: true}
	s := newScript(t, 5, qc)
	all := ids(1, 2, 3, 4, 5)
	if !s.runUntil(func() bool { return s.inView(all, true) }, 10*time.Second) {
		t.Fatalf("no primary view of all:%s", s.describe())
	}
	s.partition(ids(2, 3), ids(1), ids(4), ids(5))
	if !s.runUntil(func() bool { return s.inView(ids(2, 3), false) }, 10*time.Second) {
		t.Fatalf("{2,3} did not form a non-primary view:%s", s.describe())
	}
	s.unblockAt(2, 3)
	if !s.runUntil(func() bool { return s.inView(ids(2, 3), true) }, 10*time.Second) {
		t.Fatalf("{2,3} is not primary after the unblock:%s", s.describe())
	}
	s.drop = func(from, to wire.NodeID, m wire.Message) bool {
		_, prop := m.(*wire.Propose)
		return prop && (to == 2 || to == 3)
	}
	s.partition(all) // the written-off nodes come back where they reach the survivors
	if !s.runUntil(func() bool {
		for _, id := range ids(1, 4, 5) {
			l := s.ms[id].Status().Lineage
			if !l.Promised || !slices.Contains(l.LP.Members, 2) || !slices.Contains(l.LP.Members, 3) {
				return false
			}
		}
		return true
	}, 10*time.Second) {
		t.Fatalf("1, 4, 5 did not promise a primary proposal holding {2,3}:%s", s.describe())
	}
	s.partition(ids(2, 3), ids(1, 4, 5))
	s.drop = nil
	s.run(5 * time.Second) // checkG2 fails if both sides act
	if s.inView(ids(2, 3), true) && s.inView(ids(1, 4, 5), true) {
		t.Fatalf("two primary components after an unblock given in {2,3}:%s", s.describe())
	}
}
