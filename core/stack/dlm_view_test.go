package stack

import (
	"slices"
	"testing"
	"time"

	"github.com/corral-ha/corral/core/conn"
	"github.com/corral-ha/corral/core/dlm"
	"github.com/corral-ha/corral/core/fence"
	"github.com/corral-ha/corral/core/membership"
)

// TestDLMPausedNodeReceiveBeforeLost (review2): a node without a fence
// device is paused (no Tick, no Ready) past its lease; the survivors
// exclude it, wait the takeover, release it, recover and grant the
// resource to another client. When it resumes, the driver first steps the
// packets that waited in its socket and asks for a Ready (no Tick yet):
// the round hands the lock manager a peer's message (a grant, or an
// unlock that lets it grant as master) while the lock manager still holds
// the old Primary view, because the receive path does not re-judge the
// lease (dlmView is called at Tick, request and installed view only).
// Its client is told it holds EX while the survivor's client holds EX
// too: G5.
func TestDLMPausedNodeReceiveBeforeLost(t *testing.T) {
	c := newUnitCluster(t, 3)
	c.primaryOf(3)
	comps := map[int][]dlm.Completion{}
	c.check = func(id int, rd *Ready) { comps[id] = append(comps[id], rd.DLMCompletions...) }
	granted := func(id int, o dlm.Owner) bool {
		for _, cp := range comps[id] {
			if cp.Owner == o && cp.Status == dlm.OK && cp.Mode == dlm.EX {
				return true
			}
		}
		return false
	}
	s1, s3 := c.nodes[0], c.nodes[2]
	a := dlm.Owner{Node: 1, ID: 1}
	idA, err := s1.LockDLM(c.now, dlm.Request{Name: "r", Mode: dlm.EX, Owner: a})
	if err != nil {
		t.Fatal(err)
	}
	c.runUntil("A granted EX on n1", func() bool { return granted(1, a) })
	b := dlm.Owner{Node: 3, ID: 1}
	if _, err := s3.LockDLM(c.now, dlm.Request{Name: "r", Mode: dlm.EX, Owner: b}); err != nil {
		t.Fatal(err)
	}
	for range 20 { // B queues behind A at the master
		c.step()
	}
	if granted(3, b) {
		t.Fatal("B granted while A holds EX")
	}
	// pause n3: it runs nothing; what is sent to it waits in its socket
	var held []conn.Packet
	pausedStep := func() {
		c.now += 10 * time.Millisecond
		net := c.net
		c.net = nil
		for _, p := range net {
			if p.To == 3 {
				held = append(held, p)
				continue
			}
			_ = c.nodes[p.To-1].Step(c.now, Packet{Link: p.ToLink, Data: p.Data})
		}
		for i, s := range c.nodes[:2] {
			if c.now%(50*time.Millisecond) == 0 {
				s.Tick(c.now)
			}
			for range 100 {
				rd := s.Ready()
				if rd.Empty() {
					break
				}
				c.check(i+1, &rd)
				c.net = append(c.net, rd.Packets...)
				c.net = append(c.net, rd.After...)
				s.Advance(c.now)
			}
		}
	}
	if err := s1.UnlockDLM(c.now, idA, 0, nil); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		pausedStep()
	}
	end := c.now + 60*time.Second
	for !slices.Contains(s1.dlm.view.Release, 3) || len(s1.Membership().View.Members) != 2 {
		if c.now > end {
			t.Fatal("n1 never released n3")
		}
		pausedStep()
	}
	cc := dlm.Owner{Node: 1, ID: 2}
	if _, err := s1.LockDLM(c.now, dlm.Request{Name: "r", Mode: dlm.EX, Owner: cc}); err != nil {
		t.Fatal(err)
	}
	for end := c.now + 30*time.Second; !granted(1, cc); pausedStep() {
		if c.now > end {
			t.Fatal("C never granted on n1")
		}
	}
	t.Logf("n1 granted C EX at %v; n3 resumes with %d packets waiting", c.now, len(held))
	// n3 resumes: the packets first, then its Ready (no Tick yet)
	c.now += 10 * time.Millisecond
	for _, p := range held {
		_ = s3.Step(c.now, Packet{Link: p.ToLink, Data: p.Data})
	}
	for range 100 {
		rd := s3.Ready()
		if rd.Empty() {
			break
		}
		for _, cp := range rd.DLMCompletions {
			if cp.Owner == b && cp.Status == dlm.OK && cp.Mode == dlm.EX && !s3.mem.Leased(c.now) {
				t.Fatalf("n3's client B is granted EX on r without a lease (view given %+v) while n1's client C holds EX: G5", s3.dlm.view)
			}
		}
		s3.Advance(c.now)
	}
}

// TestDLMNeverSeenFencedNodeReleased (review2): with a fence device for
// every node, a configured node that never joined (never started, or
// died before its first view) must be released once fenced (dlm/doc.go:
// "a configured node never seen since the stack started is released by
// fencing it, as Pacemaker's startup fencing does"), else the lock
// manager never recovers and grants nothing. The fence core fences no
// node whose boot id it never saw (need: b == 0), the operator's
// ConfirmFence refuses it ("never seen"), and a confirmation of a fence
// the operator asked for is at boot id 0, which Confirmed does not
// count: nothing releases it. Every device call is answered OK here.
// Each of the two (the fence the operator asks for, the operator's
// confirmation) must release it on its own.
func TestDLMNeverSeenFencedNodeReleased(t *testing.T) {
	for _, tc := range []struct {
		name           string
		fence, confirm bool
	}{{"fence and confirm", true, true}, {"fence", true, false}, {"confirm", false, true}} {
		t.Run(tc.name, func(t *testing.T) { neverSeenReleased(t, tc.fence, tc.confirm) })
	}
}

func neverSeenReleased(t *testing.T, fenceIt, confirmIt bool) {
	c := newUnitClusterWith(t, 3, func(cfg *Config) {
		for name := range cfg.Fence.Targets {
			cfg.Fence.Targets[name] = fence.Target{Levels: [][]fence.Device{{{Name: "power", Driver: "test"}}}}
		}
	})
	c.cut = 3
	c.primaryOf(2)
	comps := map[int][]dlm.Completion{}
	calls := map[int][]fence.Call{}
	c.check = func(id int, rd *Ready) {
		comps[id] = append(comps[id], rd.DLMCompletions...)
		calls[id] = append(calls[id], rd.FenceCalls...)
	}
	s1 := c.nodes[0]
	a := dlm.Owner{Node: 1, ID: 1}
	if _, err := s1.LockDLM(c.now, dlm.Request{Name: "r", Mode: dlm.EX, Owner: a}); err != nil {
		t.Fatal(err)
	}
	var ferr, cerr error
	if fenceIt {
		ferr = s1.Fence(c.now, "n3", "startup fencing")
	}
	if confirmIt {
		cerr = s1.ConfirmFence(c.now, fence.Confirm{Target: "n3"})
	}
	t.Logf("operator: fence n3: %v; confirm n3: %v", ferr, cerr)
	answered := 0
	for end := c.now + 30*time.Second; c.now < end; {
		for id, cs := range calls { // every device call succeeds
			for _, cl := range cs {
				answered++
				_ = c.nodes[id-1].Step(c.now, FenceResult{Call: cl.ID, OK: true})
			}
			delete(calls, id)
		}
		for _, cp := range comps[1] {
			if cp.Owner == a && cp.Status == dlm.OK {
				return
			}
		}
		c.step()
	}
	cb, ok := s1.fence.f.Confirmed("n3")
	t.Fatalf("after 30 s, n1's lock is never granted: the lock manager's view %+v (n3 never joined; %d device calls answered OK; Confirmed(n3) = %d, %v)", s1.dlm.view, answered, cb, ok)
}

// TestDLMRestartedCutOffBeforeJoinReleased (review2): with a fence device
// for every node, n3 is cut off; while its fence call runs, n3 comes back
// with a new boot id (the device rebooted it, or it crash-loops), talks
// to n1 just long enough for conn to see the new boot id, and is gone
// again before it joins a view. The fence core never saw boot 2 (its
// boots come from fence reports in a view), so it confirms the fence at
// boot 1 and asks for nothing more; fenceDown refuses boot 1's
// confirmation because conn saw boot 2; a restarted peer is released only
// as a member; ConfirmFence confirms at the fence core's boot 1 again.
// Nothing ever releases n3: the lock manager of {n1, n2} never recovers
// and grants nothing (liveness), although every call was answered OK.
func TestDLMRestartedCutOffBeforeJoinReleased(t *testing.T) {
	fenced := func(cfg *Config) {
		for name := range cfg.Fence.Targets {
			cfg.Fence.Targets[name] = fence.Target{Levels: [][]fence.Device{{{Name: "power", Driver: "test"}}}}
		}
	}
	c := newUnitClusterWith(t, 3, fenced)
	c.primaryOf(3)
	calls := map[int][]fence.Call{}
	comps := map[int][]dlm.Completion{}
	c.check = func(id int, rd *Ready) {
		calls[id] = append(calls[id], rd.FenceCalls...)
		comps[id] = append(comps[id], rd.DLMCompletions...)
	}
	s1 := c.nodes[0]
	c.cut = 3
	c.runUntil("a fence call for n3", func() bool { return len(calls[1])+len(calls[2]) > 0 })
	pending := calls
	calls = map[int][]fence.Call{}
	// n3 restarts with boot id 2 and talks to the others briefly
	c2 := newUnitClusterWith(t, 3, func(cfg *Config) {
		fenced(cfg)
		if cfg.Self == 3 {
			cfg.Boot, cfg.Conn.Boot, cfg.Fence.Boot = 2, 2, 2
			cfg.Conn.Start += 100
		}
	})
	c.nodes[2] = c2.nodes[2]
	c.cut = 0
	seen := func() uint32 {
		for _, p := range s1.conn.Status() {
			if p.ID == 3 {
				return p.Boot
			}
		}
		return 0
	}
	for i := 0; seen() != 2; i++ {
		if i > 50 {
			t.Fatal("n1 never saw boot 2")
		}
		c.step()
	}
	c.cut = 3
	if ms := s1.Membership(); slices.Contains(ms.View.Members, 3) {
		t.Skipf("n3 joined before the cut: %+v", ms.View)
	}
	for id, cs := range pending { // the reboot's call succeeds
		for _, cl := range cs {
			_ = c.nodes[id-1].Step(c.now, FenceResult{Call: cl.ID, OK: true})
		}
	}
	a := dlm.Owner{Node: 1, ID: 1}
	if _, err := s1.LockDLM(c.now, dlm.Request{Name: "r", Mode: dlm.EX, Owner: a}); err != nil {
		t.Fatal(err)
	}
	for end := c.now + 30*time.Second; c.now < end; {
		for id, cs := range calls {
			for _, cl := range cs {
				_ = c.nodes[id-1].Step(c.now, FenceResult{Call: cl.ID, OK: true})
			}
			delete(calls, id)
		}
		for _, cp := range comps[1] {
			if cp.Owner == a && cp.Status == dlm.OK {
				return
			}
		}
		c.step()
	}
	cb, ok := s1.fence.f.Confirmed("n3")
	cerr := s1.ConfirmFence(c.now, fence.Confirm{Target: "n3"})
	t.Fatalf("after 30 s n1's lock is not granted: lock manager view %+v; Confirmed(n3) = %d, %v; conn saw boot %d; operator confirm: %v", s1.dlm.view, cb, ok, seen(), cerr)
}

// TestDLMLeaverKeepsLocks (review2): with a fence device for every node,
// n3 holds EX on r and leaves cleanly (SetState leaving: nothing in the
// stack checks that its lock manager gave up its locks first). The
// survivors release n3 at once (LeftCleanly), recover and grant EX on r
// to n1's client, while n3's client was never told its lock is lost (n3
// is covered by a fence device, so View.Lost is never set): G5. dlm/doc.go
// says "the stack releases a leaver only once its DLM gave them up".
func TestDLMLeaverKeepsLocks(t *testing.T) {
	c := newUnitClusterWith(t, 3, func(cfg *Config) {
		for name := range cfg.Fence.Targets {
			cfg.Fence.Targets[name] = fence.Target{Levels: [][]fence.Device{{{Name: "power", Driver: "test"}}}}
		}
	})
	c.primaryOf(3)
	comps := map[int][]dlm.Completion{}
	c.check = func(id int, rd *Ready) { comps[id] = append(comps[id], rd.DLMCompletions...) }
	has := func(id int, o dlm.Owner, st dlm.Status) bool {
		for _, cp := range comps[id] {
			if cp.Owner == o && cp.Status == st {
				return true
			}
		}
		return false
	}
	s1, s3 := c.nodes[0], c.nodes[2]
	b := dlm.Owner{Node: 3, ID: 1}
	if _, err := s3.LockDLM(c.now, dlm.Request{Name: "r", Mode: dlm.EX, Owner: b}); err != nil {
		t.Fatal(err)
	}
	c.runUntil("n3's B granted EX", func() bool { return has(3, b, dlm.OK) })
	if err := s3.SetState(c.now, membership.StateLeaving); err != nil {
		t.Fatal(err)
	}
	c.runUntil("n1 releases n3", func() bool {
		return slices.Contains(s1.dlm.view.Release, 3) && !slices.Contains(s1.Membership().View.Members, 3)
	})
	a := dlm.Owner{Node: 1, ID: 1}
	if _, err := s1.LockDLM(c.now, dlm.Request{Name: "r", Mode: dlm.EX, Owner: a}); err != nil {
		t.Fatal(err)
	}
	for end := c.now + 10*time.Second; c.now < end && !has(1, a, dlm.OK); {
		c.step()
	}
	if has(1, a, dlm.OK) && !has(3, b, dlm.Lost) {
		t.Fatalf("n1's A granted EX on r while n3 (left cleanly) still holds B's EX, never told Lost: n3's view %+v, its locks %+v", s3.dlm.view, s3.DLMLocks(""))
	}
}
