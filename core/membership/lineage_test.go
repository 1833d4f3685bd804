package membership_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/corral-ha/corral/core/membership"
	"github.com/corral-ha/corral/core/quorum"
	"github.com/corral-ha/corral/core/wire"
)

// script runs membership state machines on a scripted network: the test
// decides who reaches whom and which messages are lost, and time moves in
// 10 ms steps. Every message goes through the wire encoding. G2 (no two
// nodes act as primary from different views at one instant) is checked
// after every input.
type script struct {
	t     *testing.T
	now   time.Duration
	ids   []wire.NodeID
	ms    map[wire.NodeID]*membership.Membership
	disk  map[wire.NodeID]membership.Persisted
	group map[wire.NodeID]int // nodes in one group reach each other
	drop  func(from, to wire.NodeID, m wire.Message) bool
	queue []scriptMsg
	qc    quorum.Config
	link  func(a, b wire.NodeID) bool // when set, who reaches whom (overrides group)
}

type scriptMsg struct {
	from, to wire.NodeID
	data     []byte
}

func newScript(t *testing.T, n int, qc quorum.Config) *script {
	s := &script{t: t, ms: map[wire.NodeID]*membership.Membership{}, disk: map[wire.NodeID]membership.Persisted{},
		group: map[wire.NodeID]int{}, qc: qc}
	for i := 1; i <= n; i++ {
		s.ids = append(s.ids, wire.NodeID(i))
	}
	for _, id := range s.ids {
		s.start(id)
	}
	s.partition(s.ids)
	return s
}

func (s *script) start(id wire.NodeID) {
	m, err := membership.New(membership.Config{Self: id, Nodes: s.ids, Quorum: s.qc, Persisted: s.disk[id], Start: s.now})
	if err != nil {
		s.t.Fatalf("membership.New: %v", err)
	}
	s.ms[id] = m
}

// partition makes each group of nodes reach each other and no one else.
func (s *script) partition(groups ...[]wire.NodeID) {
	old := s.group
	s.group = map[wire.NodeID]int{}
	for g, ids := range groups {
		for _, id := range ids {
			s.group[id] = g + 1
		}
	}
	for _, a := range s.ids {
		for _, b := range s.ids {
			if a == b {
				continue
			}
			was := old[a] != 0 && old[a] == old[b]
			if up := s.reaches(a, b); up != was {
				_ = s.ms[a].Step(s.now, membership.Reach{Peer: b, Up: up})
				s.ready(a)
			}
		}
	}
	s.deliver()
}

// restart crashes a node and starts it again from its disk: the others
// see it go and come back with a new boot id.
func (s *script) restart(id wire.NodeID) {
	g := s.group[id]
	var rest []wire.NodeID
	for _, x := range s.ids {
		if x != id && s.group[x] == g {
			rest = append(rest, x)
		}
	}
	groups := map[int][]wire.NodeID{}
	for _, x := range s.ids {
		if x != id {
			groups[s.group[x]] = append(groups[s.group[x]], x)
		}
	}
	var without [][]wire.NodeID
	for k := range len(s.ids) + 1 {
		if len(groups[k]) > 0 {
			without = append(without, groups[k])
		}
	}
	s.partition(without...) // id reaches nobody: the others drop it
	s.start(id)
	for _, x := range rest {
		_ = s.ms[x].Step(s.now, membership.Restarted{Peer: id})
		s.ready(x)
	}
	s.group[id] = g
	for _, x := range rest {
		_ = s.ms[id].Step(s.now, membership.Reach{Peer: x, Up: true})
		s.ready(id)
		_ = s.ms[x].Step(s.now, membership.Reach{Peer: id, Up: true})
		s.ready(x)
	}
	s.deliver()
}

func (s *script) reaches(a, b wire.NodeID) bool {
	if s.link != nil {
		return s.link(a, b) && s.link(b, a)
	}
	return s.group[a] != 0 && s.group[a] == s.group[b]
}

// topology sets an arbitrary symmetric reachability graph.
func (s *script) topology(up func(a, b wire.NodeID) bool) {
	was := map[[2]wire.NodeID]bool{}
	for _, a := range s.ids {
		for _, b := range s.ids {
			was[[2]wire.NodeID{a, b}] = s.reaches(a, b)
		}
	}
	s.link = up
	for _, a := range s.ids {
		for _, b := range s.ids {
			if a == b {
				continue
			}
			if now := s.reaches(a, b); now != was[[2]wire.NodeID{a, b}] {
				_ = s.ms[a].Step(s.now, membership.Reach{Peer: b, Up: now})
				s.ready(a)
			}
		}
	}
	s.deliver()
}

// ready takes a node's output: persist, queue its messages, check G2.
func (s *script) ready(id wire.NodeID) {
	rd := s.ms[id].Ready()
	s.ms[id].Advance()
	if rd.Persist != nil {
		s.disk[id] = rd.Persist.Clone()
	}
	for _, o := range rd.Messages {
		s.queue = append(s.queue, scriptMsg{from: id, to: o.To, data: wire.Encode(o.Msg)})
	}
	for _, e := range rd.Events {
		s.t.Logf("%v n%d %v", s.now, id, e)
	}
	s.checkG2()
}

func (s *script) deliver() {
	for len(s.queue) > 0 {
		q := s.queue[0]
		s.queue = s.queue[1:]
		if !s.reaches(q.from, q.to) {
			continue
		}
		msg, err := wire.Decode(q.data)
		if err != nil {
			s.t.Fatalf("n%d -> n%d: %v", q.from, q.to, err)
		}
		if s.drop != nil && s.drop(q.from, q.to, msg) {
			continue
		}
		_ = s.ms[q.to].Step(s.now, membership.Receive{From: q.from, Msg: msg})
		s.ready(q.to)
	}
}

// run lets d pass in 10 ms steps.
func (s *script) run(d time.Duration) {
	s.runUntil(func() bool { return false }, d)
}

// runUntil runs until cond holds (true) or d has passed (false).
func (s *script) runUntil(cond func() bool, d time.Duration) bool {
	end := s.now + d
	for s.now < end {
		if cond() {
			return true
		}
		s.now += 10 * time.Millisecond
		for _, id := range s.ids {
			s.ms[id].Tick(s.now)
			s.ready(id)
		}
		s.deliver()
	}
	return cond()
}

func (s *script) checkG2() {
	var who []string
	var first wire.ViewID
	for _, id := range s.ids {
		m := s.ms[id]
		if !m.Quorate(s.now) {
			continue
		}
		v := m.Status().View.ID
		who = append(who, fmt.Sprintf("n%d in %d/%d %v", id, v.Epoch, v.Coord, m.Status().View.Members))
		if len(who) == 1 {
			first = v
		} else if v != first {
			s.t.Fatalf("G2: two nodes act as primary from different views at %v: %v", s.now, who)
		}
	}
}

// inView reports whether every node of ids has installed one view of
// exactly ids, primary as given.
func (s *script) inView(ids []wire.NodeID, primary bool) bool {
	var id wire.ViewID
	for i, n := range ids {
		st := s.ms[n].Status()
		if !slices.Equal(st.View.Members, ids) || st.Primary != primary || (i > 0 && st.View.ID != id) {
			return false
		}
		id = st.View.ID
	}
	return true
}

func (s *script) describe() string {
	var out string
	for _, id := range s.ids {
		st := s.ms[id].Status()
		out += fmt.Sprintf(" n%d:%d/%d%v p=%v q=%v pending=%d/%d lp=%v promised=%v need=%d",
			id, st.View.ID.Epoch, st.View.ID.Coord, st.View.Members, st.Primary, s.ms[id].Quorate(s.now),
			st.Pending.Epoch, st.Pending.Coord, st.Lineage.LP.ID, st.Lineage.Promised, len(st.Lineage.Need))
	}
	return out
}

func ids(xs ...int) []wire.NodeID {
	var out []wire.NodeID
	for _, x := range xs {
		out = append(out, wire.NodeID(x))
	}
	return out
}

// TestLastManStandingPromisedProposal is issue 15's two primaries under
// last_man_standing. Five nodes, window 10 s. U = {1..5}; {1,2} | {3,4,5}
// for longer than the window: V = {3,4,5} primary. On heal n1 proposes
// W = {1..5} (primary against V); n2 and n3 promise it, 4 and 5 never see
// it; then {1,2,3} | {4,5}. {4,5} holds 2 of 3 of V and is primary.
// {1,2,3} knows W only as a promise, so V may be the last installed
// primary: it must win against V too, and holds 1 of 3 of it. Before the
// fix it judged itself against W and the view before W that n1 held (U):
// primary, and both sides acted at once (G2).
func TestLastManStandingPromisedProposal(t *testing.T) {
	t.Run("coordinator up", func(t *testing.T) { lmsPromisedProposal(t, false) })
	// n1 restarts after n2 and n3 promised: it knows W (and V, its
	// reference) only from its disk.
	t.Run("coordinator restarted", func(t *testing.T) { lmsPromisedProposal(t, true) })
}

func lmsPromisedProposal(t *testing.T, restart bool) {
	qc := quorum.Config{Votes: map[wire.NodeID]int{1: 1, 2: 1, 3: 1, 4: 1, 5: 1}, Policy: quorum.LastManStanding, Window: 10 * time.Second}
	s := newScript(t, 5, qc)
	all := ids(1, 2, 3, 4, 5)
	if !s.runUntil(func() bool { return s.inView(all, true) }, 5*time.Second) {
		t.Fatalf("no primary view of 5:%s", s.describe())
	}
	s.partition(ids(1, 2), ids(3, 4, 5))
	if !s.runUntil(func() bool { return s.inView(ids(3, 4, 5), true) }, 5*time.Second) {
		t.Fatalf("{3,4,5} did not form a primary view:%s", s.describe())
	}
	s.run(11 * time.Second) // V ages past the window
	// Heal; n1's proposals never reach 4 and 5.
	s.drop = func(from, to wire.NodeID, m wire.Message) bool {
		_, prop := m.(*wire.Propose)
		return prop && (to == 4 || to == 5)
	}
	s.partition(all)
	promised := func() bool {
		p := s.ms[1].Status().Pending
		return p.Epoch != 0 && s.ms[2].Status().Pending == p && s.ms[3].Status().Pending == p
	}
	if !s.runUntil(promised, 5*time.Second) {
		t.Fatalf("n2 and n3 did not promise n1's proposal:%s", s.describe())
	}
	if lin := s.ms[2].Status().Lineage; !lin.Promised || len(lin.LP.Members) != 5 {
		t.Fatalf("n2's lineage %+v: want W = {1..5} promised", lin)
	}
	s.drop = nil
	if restart {
		s.restart(1)
	}
	s.partition(ids(1, 2, 3), ids(4, 5))
	s.run(5 * time.Second) // G2 is checked after every input
	if !s.ms[4].Quorate(s.now) || !s.ms[5].Quorate(s.now) {
		t.Fatalf("{4,5} holds 2 of 3 of V and should act:%s", s.describe())
	}
	for _, id := range ids(1, 2, 3) {
		if st := s.ms[id].Status(); st.Primary {
			t.Fatalf("n%d is in a primary view %v: %s:%s", id, st.View.Members, st.Decision.Explain(qc), s.describe())
		}
	}
	t.Logf("{1,2,3}: %s", s.ms[1].Status().Decision.Explain(qc))
	// Healed, all five form one primary view again.
	s.partition(all)
	if !s.runUntil(func() bool { return s.inView(all, true) }, 10*time.Second) {
		t.Fatalf("no primary view of 5 after healing:%s", s.describe())
	}
}

// TestPersistedOldFormat: state written before Lineage.Need existed still
// decodes (Need empty), and Need survives a round trip.
func TestPersistedOldFormat(t *testing.T) {
	old := []byte(`{"Promise":{"Epoch":6,"Coord":1},"Epoch":6,"Installed":{"ID":{"Epoch":3,"Coord":1},"Members":[1,2]},` +
		`"Primary":true,"States":[2,2],"Lineage":{"LP":{"ID":{"Epoch":6,"Coord":1},"Members":[1,2,3]},` +
		`"Prev":{"ID":{"Epoch":3,"Coord":1},"Members":[1,2]},"LPAge":0,"AllSeen":true,"Promised":true}}`)
	p, err := membership.UnmarshalPersisted(old)
	if err != nil {
		t.Fatalf("old state: %v", err)
	}
	if p.Lineage.LP.ID != (wire.ViewID{Epoch: 6, Coord: 1}) || !p.Lineage.Promised || p.Lineage.Need != nil {
		t.Fatalf("old state decoded as %+v", p.Lineage)
	}
	p.Lineage.Need = []wire.View{{ID: wire.ViewID{Epoch: 5, Coord: 3}, Members: ids(3, 4, 5)}}
	q, err := membership.UnmarshalPersisted(p.Marshal())
	if err != nil || len(q.Lineage.Need) != 1 || !slices.Equal(q.Lineage.Need[0].Members, ids(3, 4, 5)) {
		t.Fatalf("round trip: %+v, %v", q.Lineage, err)
	}
}

// TestLastManStandingTwoPromisedProposals: the same cluster, but the
// reference is two promises deep. After V = {3,4,5} (older than the
// window), n1 alone promises W1 = {1..5}; then, with n5 cut off, n1, n2 and
// n3 promise W2 = {1,2,3,4} (judged against W1 and V), n4 never sees it;
// then {1,2,3} | {4,5}. Neither W1 nor W2 was installed, so V may be the
// last installed primary: {1,2,3} holds 1 of 3 of it and must not be
// primary while {4,5} is. Before the fix {1,2,3} judged itself against W2
// and n1's Prev U: primary.
func TestLastManStandingTwoPromisedProposals(t *testing.T) {
	qc := quorum.Config{Votes: map[wire.NodeID]int{1: 1, 2: 1, 3: 1, 4: 1, 5: 1}, Policy: quorum.LastManStanding, Window: 10 * time.Second}
	s := newScript(t, 5, qc)
	all := ids(1, 2, 3, 4, 5)
	if !s.runUntil(func() bool { return s.inView(all, true) }, 5*time.Second) {
		t.Fatalf("no primary view of 5:%s", s.describe())
	}
	s.partition(ids(1, 2), ids(3, 4, 5))
	if !s.runUntil(func() bool { return s.inView(ids(3, 4, 5), true) }, 5*time.Second) {
		t.Fatalf("{3,4,5} did not form a primary view:%s", s.describe())
	}
	s.run(11 * time.Second)
	// W1: n1's proposals reach nobody.
	s.drop = func(from, to wire.NodeID, m wire.Message) bool {
		_, prop := m.(*wire.Propose)
		return prop && from == 1
	}
	s.partition(all)
	var w1 wire.ViewID
	if !s.runUntil(func() bool {
		w1 = s.ms[1].Status().Pending
		return w1.Epoch != 0 && s.ms[1].Status().Lineage.Promised
	}, 5*time.Second) {
		t.Fatalf("n1 did not propose W1:%s", s.describe())
	}
	// W2: n5 cut off, n1's proposals do not reach n4.
	s.drop = func(from, to wire.NodeID, m wire.Message) bool {
		_, prop := m.(*wire.Propose)
		return prop && to == 4
	}
	s.partition(ids(1, 2, 3, 4), ids(5))
	promised := func() bool {
		p := s.ms[1].Status().Pending
		return p != w1 && s.ms[2].Status().Pending == p && s.ms[3].Status().Pending == p && s.ms[1].Status().Lineage.Promised
	}
	if !s.runUntil(promised, 5*time.Second) {
		t.Fatalf("n2 and n3 did not promise W2:%s", s.describe())
	}
	if lin := s.ms[1].Status().Lineage; len(lin.Need) == 0 {
		t.Errorf("n1 forgot W1: %+v", lin)
	}
	s.drop = nil
	s.partition(ids(1, 2, 3), ids(4, 5))
	s.run(5 * time.Second)
	if !s.ms[4].Quorate(s.now) || !s.ms[5].Quorate(s.now) {
		t.Fatalf("{4,5} holds 2 of 3 of V and should act:%s", s.describe())
	}
	for _, id := range ids(1, 2, 3) {
		if st := s.ms[id].Status(); st.Primary {
			t.Fatalf("n%d is in a primary view %v: %s:%s", id, st.View.Members, st.Decision.Explain(qc), s.describe())
		}
	}
	t.Logf("{1,2,3}: %s", s.ms[1].Status().Decision.Explain(qc))
	s.partition(all)
	if !s.runUntil(func() bool { return s.inView(all, true) }, 10*time.Second) {
		t.Fatalf("no primary view of 5 after healing:%s", s.describe())
	}
}

// TestPromisedProposalsRemembered: a node that promised the primary
// proposal A and then a proposal P judged without A (its coordinator had a
// stale report) still names A: A may have been installed by its other
// members, so a later view must win against it too. Prev stays the last
// view it installed.
func TestPromisedProposalsRemembered(t *testing.T) {
	qc := quorum.Config{Votes: map[wire.NodeID]int{1: 1, 2: 1, 3: 1, 4: 1, 5: 1}, Policy: quorum.LastManStanding, Window: 10 * time.Second}
	u := wire.View{ID: wire.ViewID{Epoch: 1, Coord: 1}, Members: ids(1, 2, 3, 4, 5)}
	v := wire.View{ID: wire.ViewID{Epoch: 2, Coord: 3}, Members: ids(3, 4, 5)}
	a := wire.View{ID: wire.ViewID{Epoch: 3, Coord: 2}, Members: ids(2, 3, 4, 5)}
	p := wire.View{ID: wire.ViewID{Epoch: 4, Coord: 1}, Members: ids(1, 2, 3)}
	m, err := membership.New(membership.Config{Self: 3, Nodes: ids(1, 2, 3, 4, 5), Quorum: qc,
		Persisted: membership.Persisted{Promise: v.ID, Epoch: 2, Lineage: wire.Lineage{LP: v, Prev: u}}})
	if err != nil {
		t.Fatal(err)
	}
	_ = m.Step(time.Millisecond, membership.Receive{From: 2, Msg: &wire.Propose{View: a, States: []uint8{2, 2, 2, 2}, Primary: true, Ref: v.ID, RefMembers: v.Members}})
	_ = m.Step(2*time.Millisecond, membership.Receive{From: 1, Msg: &wire.Propose{View: p, States: []uint8{2, 2, 2}, Primary: true, Ref: u.ID, RefMembers: u.Members}})
	if st := m.Status(); st.Pending != p.ID {
		t.Fatalf("pending %v, want %v", st.Pending, p.ID)
	}
	l := m.Status().Lineage
	if l.LP.ID != p.ID || !l.Promised || l.Prev.ID != v.ID {
		t.Fatalf("lineage %+v: want LP %v promised, Prev %v", l, p.ID, v.ID)
	}
	if !slices.ContainsFunc(l.Need, func(x wire.View) bool { return x.ID == a.ID && slices.Equal(x.Members, a.Members) }) {
		t.Fatalf("n3 forgot the proposal %v it promised: Need %v", a.ID, l.Need)
	}
	for _, x := range l.Need {
		if x.ID == u.ID {
			t.Fatalf("Need keeps %v, older than Prev %v", u.ID, v.ID)
		}
	}
	// After restarting from what it persisted, it still names A.
	rd := m.Ready()
	m.Advance()
	if rd.Persist == nil {
		t.Fatal("nothing to persist after two promises")
	}
	m2, err := membership.New(membership.Config{Self: 3, Nodes: ids(1, 2, 3, 4, 5), Quorum: qc, Persisted: *rd.Persist, Start: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if l2 := m2.Status().Lineage; len(l2.Need) != len(l.Need) || l2.LP.ID != p.ID {
		t.Fatalf("after a restart: %+v, before %+v", l2, l)
	}
}
