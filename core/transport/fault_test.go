package transport

import (
	"net/netip"
	"testing"
	"time"
)

func newFaultSet(t *testing.T, seed uint64, rules ...Fault) *faultSet {
	t.Helper()
	s := &faultSet{}
	s.init(2, Options{FaultInjection: true, Seed: seed})
	for _, f := range rules {
		if _, err := s.add(f); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// TestJudge: how matching rules combine, and what does not match.
func TestJudge(t *testing.T) {
	p1 := netip.MustParseAddr("10.0.0.1")
	p1b := netip.MustParseAddr("10.0.1.1") // p1's second link
	p2 := netip.MustParseAddr("10.0.0.2")
	mapped := netip.AddrFrom16(p1.As16()) // ::ffff:10.0.0.1
	cases := []struct {
		name  string
		rules []Fault
		link  int
		peer  netip.Addr
		dir   Dir
		want  verdict
	}{
		{"no match: peer", []Fault{{Peer: []netip.Addr{p1, p1b}, Link: -1, Dir: Both, Drop: 1}}, 0, p2, Out, verdict{}},
		{"match: peer's second address", []Fault{{Peer: []netip.Addr{p1, p1b}, Link: -1, Dir: Both, Drop: 1}}, 0, p1b, Out, verdict{drop: true}},
		{"match: mapped address", []Fault{{Peer: []netip.Addr{p1}, Link: -1, Dir: Both, Drop: 1}}, 0, mapped, In, verdict{drop: true}},
		{"no match: link", []Fault{{Link: 1, Dir: Both, Drop: 1}}, 0, p1, Out, verdict{}},
		{"no match: dir", []Fault{{Link: -1, Dir: In, Drop: 1}}, 0, p1, Out, verdict{}},
		{"both matches in", []Fault{{Link: 0, Dir: Both, Dup: 1}}, 0, p1, In, verdict{dup: true}},
		{"delays take the max", []Fault{
			{Link: -1, Dir: Out, Delay: 100 * time.Millisecond},
			{Peer: []netip.Addr{p1}, Link: 0, Dir: Out, Delay: 300 * time.Millisecond},
			{Link: 0, Dir: Out, Delay: 200 * time.Millisecond},
		}, 0, p1, Out, verdict{delay: 300 * time.Millisecond}},
		{"dup twice is one dup", []Fault{{Link: -1, Dir: Out, Dup: 1}, {Link: 0, Dir: Out, Dup: 1}}, 0, p1, Out, verdict{dup: true}},
		{"any drop drops", []Fault{{Link: -1, Dir: Out, Dup: 1, Delay: time.Second}, {Link: 0, Dir: Out, Drop: 1}}, 0, p1, Out,
			verdict{drop: true, dup: true, delay: time.Second}},
	}
	for _, c := range cases {
		s := newFaultSet(t, 1, c.rules...)
		if got := s.judge(s.active(), c.link, c.peer, c.dir); got != c.want {
			t.Errorf("%s: got %+v, want %+v", c.name, got, c.want)
		}
	}
}

// TestJudgeProbability: Drop and Dup are probabilities, rolled from the
// seeded source (the same seed gives the same decisions).
func TestJudgeProbability(t *testing.T) {
	rule := Fault{Link: -1, Dir: Both, Drop: 0.3, Dup: 0.5}
	run := func(seed uint64) (drops, dups int, seq []bool) {
		s := newFaultSet(t, seed, rule)
		for range 10000 {
			v := s.judge(s.active(), 0, netip.MustParseAddr("10.0.0.1"), In)
			if v.drop {
				drops++
			} else if v.dup {
				dups++
			}
			seq = append(seq, v.drop)
		}
		return drops, dups, seq
	}
	drops, dups, seq1 := run(42)
	if drops < 2700 || drops > 3300 {
		t.Errorf("drop 0.3: %d of 10000 dropped", drops)
	}
	// Dup is rolled only for packets not dropped: about 0.5 of 7000.
	if dups < 3200 || dups > 3800 {
		t.Errorf("dup 0.5: %d of the kept packets duplicated", dups)
	}
	_, _, seq2 := run(42)
	_, _, seq3 := run(43)
	same := func(a, b []bool) bool {
		for i := range a {
			if a[i] != b[i] {
				return false
			}
		}
		return true
	}
	if !same(seq1, seq2) {
		t.Error("the same seed gave different decisions")
	}
	if same(seq1, seq3) {
		t.Error("different seeds gave the same decisions")
	}
}

// TestNoRulesNoSet: the packet path sees a nil rule set when there are no
// rules (it takes no lock then).
func TestNoRulesNoSet(t *testing.T) {
	s := newFaultSet(t, 1)
	if s.active() != nil {
		t.Fatal("rule set without rules")
	}
	id, _ := s.add(Fault{Link: -1, Dir: Both, Drop: 1})
	if s.active() == nil {
		t.Fatal("no rule set after add")
	}
	if err := s.remove(id); err != nil {
		t.Fatal(err)
	}
	if s.active() != nil {
		t.Error("rule set left after removing the last rule")
	}
	s.add(Fault{Link: -1, Dir: Both, Drop: 1})
	s.clear()
	if s.active() != nil {
		t.Error("rule set left after clear")
	}
}
