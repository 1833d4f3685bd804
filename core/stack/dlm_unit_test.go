package stack

import (
	"errors"
	"slices"
	"testing"

	"github.com/corral-ha/corral/core/cdb"
	"github.com/corral-ha/corral/core/dlm"
	"github.com/corral-ha/corral/core/fence"
	"github.com/corral-ha/corral/core/wire"
)

// primaryOf waits for a primary view of every node but the cut one.
func (c *unitCluster) primaryOf(n int) {
	c.t.Helper()
	c.runUntil("a primary view", func() bool {
		for i, s := range c.nodes {
			if i+1 == c.cut {
				continue
			}
			if ms := s.Membership(); !ms.Primary || len(ms.View.Members) != n || !s.Quorate(c.now) {
				return false
			}
		}
		return true
	})
}

// TestDLMViewWithoutFencing: without a fence device, a node cut off is
// released by the survivors only once their view's takeover wait passed
// (Quorate), and the cut-off node, once its lease lapsed, is told Lost.
// Before that wait, no Release: the cut-off node may still believe in its
// locks. The lock manager is given a Primary view only with the lease.
func TestDLMViewWithoutFencing(t *testing.T) {
	c := newUnitCluster(t, 3)
	c.primaryOf(3)
	for i, s := range c.nodes {
		v := s.dlm.view
		if !v.Primary || v.Lost || len(v.Release) != 0 || len(v.Members) != 3 {
			t.Fatalf("n%d: the lock manager's view %+v, want primary of 3, nothing released", i+1, v)
		}
	}
	c.cut = 3
	s1, s3 := c.nodes[0], c.nodes[2]
	sawNotReleased := false
	c.runUntil("n3 released by n1 and lost on n3", func() bool {
		v1 := s1.dlm.view
		if ms := s1.Membership(); len(ms.View.Members) == 2 && ms.Primary {
			released := slices.Contains(v1.Release, 3)
			if released && !s1.Quorate(c.now) {
				t.Fatalf("n1 releases n3 before the takeover wait passed (not Quorate): %+v", v1)
			}
			if !released {
				sawNotReleased = true
			}
		}
		return slices.Contains(v1.Release, 3) && s3.dlm.view.Lost
	})
	if !sawNotReleased {
		t.Fatal("n3 was released as soon as the view excluded it: the takeover wait was not seen")
	}
	if v := s3.dlm.view; v.Primary {
		t.Fatalf("n3 cut off without a lease is given a primary view: %+v", v)
	}
}

// TestDLMViewWithFencing: with a fence device for every node, a node cut
// off keeps its locks (no Lost) and the survivors release it only once
// its fence is confirmed, however long they wait.
func TestDLMViewWithFencing(t *testing.T) {
	c := newUnitClusterWith(t, 3, func(cfg *Config) {
		for name := range cfg.Fence.Targets {
			cfg.Fence.Targets[name] = fence.Target{Levels: [][]fence.Device{{{Name: "power", Driver: "test"}}}}
		}
	})
	c.primaryOf(3)
	c.cut = 3
	s1, s3 := c.nodes[0], c.nodes[2]
	c.runUntil("n1 in a quorate view without n3", func() bool {
		ms := s1.Membership()
		return len(ms.View.Members) == 2 && s1.Quorate(c.now) && !s3.mem.Leased(c.now)
	})
	for range 300 { // 3 s more: the fence is never confirmed (nobody answers its call)
		c.step()
	}
	if v := s1.dlm.view; slices.Contains(v.Release, 3) || !v.Primary {
		t.Fatalf("n1 released n3 without its fence confirmed, or is not primary: %+v", v)
	}
	if v := s3.dlm.view; v.Lost || v.Primary {
		t.Fatalf("n3, cut off with a fence device, is told Lost or primary: %+v", v)
	}
}

// TestDLMRestartedRelease: a peer back with a new boot id is in Release
// (its old incarnation's locks may go), member or not, until a recovery
// of a view that holds the new incarnation finished and purged it; then
// it leaves Release (its new locks must not go).
func TestDLMRestartedRelease(t *testing.T) {
	c := newUnitClusterWith(t, 3, func(cfg *Config) {
		for name := range cfg.Fence.Targets {
			cfg.Fence.Targets[name] = fence.Target{Levels: [][]fence.Device{{{Name: "power", Driver: "test"}}}}
		}
	})
	c.primaryOf(3)
	s := c.nodes[0]
	s.dlmRestarted(2)
	v := s.dlmViewNow(c.now)
	if !slices.Contains(v.Release, 2) {
		t.Fatalf("a restarted member is not released: %+v", v)
	}
	cur := s.Membership().View.ID
	if s.dlm.restarted[2] != cur {
		t.Fatalf("restarted[2] = %v, want the view holding it %v", s.dlm.restarted[2], cur)
	}
	// a recovery of an older view leaves it; one of this view ends it
	s.rd.Events = nil
	s.dlmRecovered(dlm.Recovered{View: wire.ViewID{Epoch: cur.Epoch - 1, Coord: cur.Coord}})
	if _, ok := s.dlm.restarted[2]; !ok {
		t.Fatal("a recovery of an older view ended the release of a restarted peer")
	}
	// nor does one of this view that did not purge it (the disk
	// barrier withheld Release while it ran: wiring rule 13)
	s.dlmRecovered(dlm.Recovered{View: cur, Members: []wire.NodeID{1, 2, 3}})
	if _, ok := s.dlm.restarted[2]; !ok {
		t.Fatal("a recovery that did not purge a restarted peer ended its release")
	}
	s.dlmRecovered(dlm.Recovered{View: cur, Members: []wire.NodeID{1, 2, 3}, Purged: []wire.NodeID{2}})
	if v := s.dlmViewNow(c.now); slices.Contains(v.Release, 2) {
		t.Fatalf("a restarted peer stays released after the recovery of its view: %+v", v)
	}
}

// TestDLMLVBConfig: a lockspace's value block length is checked when
// proposed (a multiple of 8 in 8..256, no delete, no change), its first
// write is conditioned on the key being absent, and the lock manager
// takes the committed value once (a later change is ignored).
func TestDLMLVBConfig(t *testing.T) {
	c := newUnitCluster(t, 3)
	c.primaryOf(3)
	s := c.nodes[0]
	key := LVBPrefix + "ls1" + lvbSuffix
	seq := uint64(0)
	put := func(v string) error {
		seq++
		return s.Propose(c.now, cdb.Set("t", seq, key, []byte(v)))
	}
	for _, bad := range []string{"0", "12", "264", "x", ""} {
		if err := put(bad); !errors.Is(err, ErrLVBFixed) {
			t.Fatalf("lvb_len %q: err %v, want ErrLVBFixed", bad, err)
		}
	}
	seq++
	if err := s.Propose(c.now, cdb.Del("t", seq, key)); !errors.Is(err, ErrLVBFixed) {
		t.Fatalf("delete: err %v, want ErrLVBFixed", err)
	}
	req := cdb.Set("t", 100, key, []byte("64"))
	if err := s.dlmCheckPropose(&req); err != nil || len(req.If) != 1 || req.If[0] != (cdb.Cond{Key: key}) {
		t.Fatalf("first write: %v, conditions %+v; want the key absent", err, req.If)
	}
	if err := put("64"); err != nil {
		t.Fatal(err)
	}
	c.runUntil("every node took 64", func() bool {
		for _, n := range c.nodes {
			if n.dlm.lvb["ls1"] != 64 {
				return false
			}
		}
		return true
	})
	if err := put("128"); !errors.Is(err, ErrLVBFixed) {
		t.Fatalf("a change: err %v, want ErrLVBFixed", err)
	}
	if err := put("64"); err != nil {
		t.Fatalf("the same value again: %v", err)
	}
	// a change that got past the check (another node's older DB) is
	// ignored: the first value stays
	s.dlmSetLVB(key, []byte("128"))
	if s.dlm.lvb["ls1"] != 64 {
		t.Fatalf("lvb_len changed to %d", s.dlm.lvb["ls1"])
	}
}

// TestFenceDownAt: a fence confirmation or a clean leave releases a
// node's locks only at the incarnation conn last talked to; one of an
// older incarnation (the fence core has not seen the new one's reports
// yet) does not release a newer incarnation cut off alive.
func TestFenceDownAt(t *testing.T) {
	for _, tc := range []struct {
		cb        uint64
		confirmed bool
		left      bool
		fb        uint64
		seen      uint32
		fresh     bool
		want      bool
	}{
		{cb: 5, confirmed: true, seen: 5, want: true},
		{cb: 5, confirmed: true, seen: 0, want: true},
		{cb: 5, confirmed: true, seen: 6, want: false}, // fenced at 5, alive at 6
		{left: true, fb: 7, seen: 7, want: true},
		{left: true, fb: 7, seen: 8, want: false}, // left at 7, back at 8
		{cb: 5, confirmed: true, left: true, fb: 9, seen: 9, want: true},
		{seen: 3, want: false},
		// back at 6, never a member of a view installed here: holds nothing
		{cb: 5, confirmed: true, seen: 6, fresh: true, want: true},
		{left: true, fb: 7, seen: 8, fresh: true, want: true},
		{seen: 3, fresh: true, want: false}, // neither confirmed nor left
	} {
		if got := fenceDownAt(tc.cb, tc.confirmed, tc.left, tc.fb, tc.seen, tc.fresh); got != tc.want {
			t.Errorf("fenceDownAt(%+v) = %v", tc, got)
		}
	}
}

// TestDLMRestartedAbsentNotReleased: a peer back with a new boot id that
// is absent from the view is not released for its restart (its new
// incarnation may hold locks and be cut off alive): with a fence device,
// only its fence releases it.
func TestDLMRestartedAbsentNotReleased(t *testing.T) {
	c := newUnitClusterWith(t, 3, func(cfg *Config) {
		for name := range cfg.Fence.Targets {
			cfg.Fence.Targets[name] = fence.Target{Levels: [][]fence.Device{{{Name: "power", Driver: "test"}}}}
		}
	})
	c.primaryOf(3)
	c.cut = 3
	s := c.nodes[0]
	c.runUntil("n1 in a view without n3", func() bool { return len(s.Membership().View.Members) == 2 })
	s.dlmRestarted(3)
	for range 100 {
		c.step()
		if v := s.dlmViewNow(c.now); slices.Contains(v.Release, 3) {
			t.Fatalf("an absent restarted peer is released (it is cut off, not fenced): %+v", v)
		}
	}
}
