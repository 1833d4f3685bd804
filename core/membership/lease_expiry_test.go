package membership_test

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/corral-ha/corral/core/quorum"
	"github.com/corral-ha/corral/core/wire"
)

// TestLeaseExpiryMatchesLeased: LeaseExpiry(t) is later than t exactly
// when Leased(t), and it is the end of the lease: Leased holds just
// before it and not at it. Checked at random times ahead of the clock on
// every node of a cluster that forms a view, loses a member (the survivors
// carry the old view's lease across the install of the new one) and gets
// it back, and on the node cut off, whose lease lapses.
func TestLeaseExpiryMatchesLeased(t *testing.T) {
	qc := quorum.Config{Votes: map[wire.NodeID]int{1: 1, 2: 1, 3: 1}, Policy: quorum.Majority}
	s := newScript(t, 3, qc)
	rng := rand.New(rand.NewPCG(19, 3))
	leased, lapsed, finite := 0, 0, 0
	check := func() {
		for _, id := range s.ids {
			m := s.ms[id]
			for range 8 {
				at := s.now + time.Duration(rng.Int64N(int64(3*time.Second)))
				e, ok := m.LeaseExpiry(at)
				l := m.Leased(at)
				if ok != l || ok != (e > at) {
					t.Fatalf("n%d at %v: LeaseExpiry = %v, %v; Leased = %v", id, at, e, ok, l)
				}
				if !ok {
					lapsed++
					continue
				}
				leased++
				if m.Leased(e) || !m.Leased(e-1) {
					t.Fatalf("n%d at %v: the lease ends at %v, but Leased there %v, just before %v", id, at, e, m.Leased(e), m.Leased(e-1))
				}
				if e < time.Duration(1<<62) {
					finite++
				}
			}
		}
	}
	step := func(d time.Duration) {
		for end := s.now + d; s.now < end; {
			s.run(10 * time.Millisecond)
			check()
		}
	}
	step(3 * time.Second)
	s.partition([]wire.NodeID{1, 2}, []wire.NodeID{3})
	step(3 * time.Second)
	s.partition(s.ids)
	step(3 * time.Second)
	if leased == 0 || lapsed == 0 || finite == 0 {
		t.Fatalf("test setup: %d leased, %d lapsed, %d finite samples", leased, lapsed, finite)
	}
}
